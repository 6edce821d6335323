"""PostgreSQL's error codes the toolkit acts on, read from SQLAlchemy's wrapped DBAPI error."""

from sqlalchemy.exc import DBAPIError

# A statement cancelled by lock_timeout, and by statement_timeout (or a cancel request).
LOCK_NOT_AVAILABLE = "55P03"
QUERY_CANCELED = "57014"
# Transactions PostgreSQL aborted so that others could go on: safe to retry.
DEADLOCK_DETECTED = "40P01"
SERIALIZATION_FAILURE = "40001"


def sqlstate(exc: DBAPIError) -> str | None:
    """The SQLSTATE of the driver's error (psycopg and asyncpg both name it `sqlstate`)."""
    state = getattr(exc.orig, "sqlstate", None)
    return state if isinstance(state, str) else None
