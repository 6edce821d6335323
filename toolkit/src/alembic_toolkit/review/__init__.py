"""Checks that read the revisions before they run: destroyed data and SQL lint."""
