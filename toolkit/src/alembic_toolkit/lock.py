"""One migration at a time: a PostgreSQL advisory lock held for the whole run.

Many replicas may run `alembic upgrade heads` at once when they start; the first takes the
lock and migrates, the others wait for it, then find nothing left to do.

The lock is a session's, so every transaction of the migration must run in the session that
holds it: a pooler in transaction mode in between is refused in one line, and a lock taken
before one showed itself is freed, never stranded (alembic_toolkit.pooling says how).
"""

import logging
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any
from zlib import crc32

from sqlalchemy import Connection, event, text
from sqlalchemy.exc import DBAPIError, SQLAlchemyError

from alembic_toolkit.errors import MigrationLockTimeoutError, PooledConnectionError
from alembic_toolkit.pooling import Run, Session, on_connection, on_cursor
from alembic_toolkit.timeouts import MigrationLimits

log = logging.getLogger(__name__)


def lock_key(name: str) -> int:
    """A stable advisory-lock key for a project's migrations, derived from its name."""
    return crc32(f"{name}:migrations".encode())


@contextmanager
def migration_lock(connection: Connection, key: int, limits: MigrationLimits) -> Iterator[None]:
    """Hold the advisory lock `key` on `connection` while the block runs.

    Waits at most `limits.lock_wait_seconds` for another holder, then raises
    `MigrationLockTimeoutError`; refuses a connection through a transaction pooler with
    `PooledConnectionError`. When the block fails, its error is the one raised: a failure to
    release the lock then is logged, never raised in its place.
    """
    session = acquire(connection, key, limits)
    stop_watching = _watch_transactions(connection, session, key)
    try:
        yield
    except BaseException as exc:
        stop_watching()
        if not isinstance(exc, PooledConnectionError):  # that one dealt with the lock already
            _release_after_failure(connection, session, key)
        raise
    stop_watching()
    release(connection, session, key)


def _release_after_failure(connection: Connection, session: Session, key: int) -> None:
    """Release the lock after the block failed, without hiding why it failed."""
    if connection.invalidated:
        # The session died (the server restarted, the network dropped): PostgreSQL freed its
        # advisory locks with it, and releasing would only reconnect to a session holding none.
        return
    try:
        release(connection, session, key)
    except (SQLAlchemyError, PooledConnectionError) as exc:
        detail = str(exc).strip().splitlines()[0]
        log.warning(
            "could not release the migration lock (pg_advisory_lock %s) after the failure "
            "reported below; PostgreSQL frees it when this session ends: %s",
            key,
            detail,
        )


# How often a waiting process tries the lock again.
POLL_SECONDS = 0.2


def acquire(connection: Connection, key: int, limits: MigrationLimits) -> Session:
    """Take the lock `key` on `connection`, waiting at most `limits.lock_wait_seconds`.

    It waits by trying again, between tries holding no transaction: a session blocked in
    pg_advisory_lock holds its snapshot all the while, and a CREATE INDEX CONCURRENTLY in the
    holder's migration waits for every older snapshot to end, so the two would deadlock and
    PostgreSQL would kill one of them, perhaps the migration. Each try first checks, in its
    own transaction, that it runs in the session marked at the start.
    """
    session = Session.mark(connection, limits.database_url_name)
    wait = limits.lock_wait_seconds
    deadline = time.monotonic() + wait
    told = False
    while True:
        state = session.state(on_connection(connection), key)
        moved = session.moved(state)
        if moved is not None:
            connection.rollback()
            session.refuse(moved)
        if state.holds_lock:
            # Taken before this migration marked the session: another client's, lent to this
            # one by a pooler. Neither taken again (it is re-entrant) nor released.
            session.unmark(on_connection(connection))
            connection.commit()
            session.refuse(f"its server session (pid {state.pid}) holds another client's lock")
        taken = connection.execute(text("SELECT pg_try_advisory_lock(:key)"), {"key": key})
        # The lock belongs to the session, not to the transaction: committing keeps it.
        connection.commit()
        if taken.scalar_one():
            return session
        left = deadline - time.monotonic()
        if left <= 0:
            raise MigrationLockTimeoutError(
                f"another process has held the migration lock (pg_advisory_lock {key}) for "
                f"over {wait:g} s; see pg_locks, or raise {limits.lock_wait_name}"
            )
        if not told:
            log.warning(
                "another process holds the migration lock (pg_advisory_lock %s): waiting up "
                "to %g s for it to finish",
                key,
                wait,
            )
            told = True
        time.sleep(min(POLL_SECONDS, left))


def release(connection: Connection, session: Session, key: int) -> None:
    """Release the lock `key` taken by `acquire`, in the session that holds it only."""
    if connection.in_transaction():
        connection.rollback()
    run = on_connection(connection)
    moved = session.moved(session.state(run, key))
    if moved is not None:
        outcome = _free(run, session, key, connection)
        connection.commit()
        session.refuse(moved, outcome)
    connection.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": key})
    session.unmark(run)
    connection.commit()


def _watch_transactions(connection: Connection, session: Session, key: int) -> Callable[[], None]:
    """Check at the start of each transaction on `connection` that it runs in `session`.

    The check runs on the DBAPI cursor of the transaction's first statement, before it: a
    statement run from SQLAlchemy's `begin` event could not fail cleanly. Returns the
    function that stops watching.
    """
    begun = [False]

    def on_begin(_: Connection) -> None:
        begun[0] = True

    def before_first_statement(
        conn: Connection, cursor: Any, statement: str, parameters: Any, context: Any, many: bool
    ) -> None:
        if not begun[0]:
            return
        begun[0] = False
        run = on_cursor(cursor)
        state = session.state(run, key)
        moved = session.moved(state) or (
            None if state.holds_lock else f"its server session (pid {state.pid}) lost the lock"
        )
        if moved is not None:
            session.refuse(moved, f"{_free(run, session, key, conn)}; nothing more was migrated")

    event.listen(connection, "begin", on_begin)
    event.listen(connection, "before_cursor_execute", before_first_statement)

    def stop() -> None:
        event.remove(connection, "begin", on_begin)
        event.remove(connection, "before_cursor_execute", before_first_statement)

    return stop


def _free(run: Run, session: Session, key: int, connection: Connection) -> str:
    """Free the lock left in the marked session, or say which session to end by hand."""
    try:
        return session.free_stranded(run, key)
    except (DBAPIError, connection.dialect.loaded_dbapi.Error) as exc:
        detail = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        return (
            f"the lock it took stays with server session pid {session.pid} until that ends, "
            f"which pg_terminate_backend({session.pid}) does ({detail})"
        )
