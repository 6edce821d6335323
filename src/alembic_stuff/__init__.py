"""alembic-stuff: a PostgreSQL schema in version control with SQLAlchemy 2 and Alembic."""
