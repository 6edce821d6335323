"""The use cases: each reads and writes through a session and commits its own work."""
