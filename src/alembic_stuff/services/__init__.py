"""The use cases: synchronous SQLAlchemy on a Connection, run by `Database` (db/database.py)."""
