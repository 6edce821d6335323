"""Extensions to Alembic's autogenerate: rename detection and the operations it writes."""
