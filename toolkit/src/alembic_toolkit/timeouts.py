"""Bounds on how long one migration statement may wait for a lock, and run.

A revision that waits for a table lock queues every query behind it: a short lock_timeout
turns that outage into a failed (rolled back) revision that can simply be run again.
"""

from dataclasses import dataclass

from sqlalchemy import Connection, text
from sqlalchemy.exc import DBAPIError

from alembic_toolkit.errors import MigrationTimeoutError
from alembic_toolkit.sqlstate import LOCK_NOT_AVAILABLE, QUERY_CANCELED, sqlstate


@dataclass(frozen=True)
class MigrationLimits:
    """How long migrations may wait and run; `setting_names` say where a user changes them."""

    lock_wait_seconds: float = 60.0
    lock_timeout_seconds: float = 5.0
    statement_timeout_seconds: float = 600.0
    # How long the server may answer nothing at all before the command ends (silence.py).
    silence_seconds: float = 15.0
    # Named in error messages, so that "raise the limit" says which knob to turn.
    lock_wait_name: str = "lock_wait_seconds"
    lock_timeout_name: str = "lock_timeout"
    statement_timeout_name: str = "statement_timeout"
    silence_name: str = "silence_seconds"
    # Where the migrations' URL is set, named when a pooler in between is refused.
    database_url_name: str = "the migrations' database URL"


def milliseconds(seconds: float) -> str:
    """`seconds` as a PostgreSQL duration, at least one millisecond (0 would mean no limit)."""
    return f"{max(1, round(seconds * 1000))}ms"


def timeout_statements(limits: MigrationLimits) -> list[str]:
    """The SET statements that apply `limits` (also written into offline SQL scripts)."""
    return [
        f"SET lock_timeout = '{milliseconds(limits.lock_timeout_seconds)}'",
        f"SET statement_timeout = '{milliseconds(limits.statement_timeout_seconds)}'",
    ]


# A statement whose client has gone (a process killed, a command ended because its server
# went silent) runs on, holding its locks, until it ends; PostgreSQL 14 and later check for
# the client every so often while a statement runs, and end it.
CLIENT_CHECK = "SET client_connection_check_interval = '1s'"


def apply_timeouts(connection: Connection, limits: MigrationLimits) -> None:
    """Set `limits` on the migration's connection, for the rest of its session."""
    for statement in timeout_statements(limits):
        connection.exec_driver_sql(statement)
    if (connection.dialect.server_version_info or (0,)) >= (14,):
        try:
            with connection.begin_nested():
                connection.exec_driver_sql(CLIENT_CHECK)
        except DBAPIError:
            pass  # a server whose platform cannot check (Windows): statements run to their end
    connection.commit()


def timed_out(
    exc: DBAPIError,
    connection: Connection,
    limits: MigrationLimits,
    *,
    outcome: str = "the revision was rolled back",
    what: str = "a migration statement",
) -> MigrationTimeoutError | None:
    """A one-line error for a statement cancelled by a migration timeout; None for others.

    Called once the revision's transaction has rolled back: the session holding the lock is
    still in its transaction, so it can be named.
    """
    state = sqlstate(exc)
    if state == QUERY_CANCELED:
        return MigrationTimeoutError(
            f"{what} ran longer than {limits.statement_timeout_seconds:g} s "
            f"({limits.statement_timeout_name}) and was cancelled; {outcome}"
        )
    if state != LOCK_NOT_AVAILABLE:
        return None
    if connection.in_transaction():
        connection.rollback()
    holder = connection.execute(
        text(
            "SELECT a.pid, a.state, round(extract(epoch FROM now() - a.xact_start)::numeric, 1),"
            " left(regexp_replace(a.query, '\\s+', ' ', 'g'), 200)"
            " FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid"
            " WHERE l.granted AND l.locktype = 'relation' AND a.pid <> pg_backend_pid()"
            " AND a.datname = current_database() AND a.xact_start IS NOT NULL"
            " ORDER BY a.xact_start LIMIT 1"
        )
    ).first()
    connection.rollback()
    blocker = (
        f"; the oldest transaction holding a table lock is pid {holder[0]} ({holder[1]} for "
        f'{holder[2]} s) running "{holder[3]}", which pg_terminate_backend({holder[0]}) ends'
        if holder
        else ""
    )
    return MigrationTimeoutError(
        f"{what} waited longer than {limits.lock_timeout_seconds:g} s "
        f"({limits.lock_timeout_name}) for a table lock; {outcome}{blocker}"
    )
