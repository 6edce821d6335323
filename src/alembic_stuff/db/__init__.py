"""Database access: the declarative base, engines and the embedded PostgreSQL server."""
