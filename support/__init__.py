"""Helpers the tests and the bench both need; neither may import the other."""
