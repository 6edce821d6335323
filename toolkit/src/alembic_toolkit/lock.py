"""One migration at a time: a PostgreSQL advisory lock held for the whole run.

Many replicas may run `alembic upgrade heads` at once when they start; the first takes the
lock and migrates, the others wait for it, then find nothing left to do.
"""

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from zlib import crc32

from sqlalchemy import Connection, text
from sqlalchemy.exc import DBAPIError, SQLAlchemyError

from alembic_toolkit.errors import MigrationLockTimeoutError
from alembic_toolkit.sqlstate import LOCK_NOT_AVAILABLE, sqlstate
from alembic_toolkit.timeouts import MigrationLimits, milliseconds

log = logging.getLogger(__name__)


def lock_key(name: str) -> int:
    """A stable advisory-lock key for a project's migrations, derived from its name."""
    return crc32(f"{name}:migrations".encode())


@contextmanager
def migration_lock(connection: Connection, key: int, limits: MigrationLimits) -> Iterator[None]:
    """Hold the advisory lock `key` on `connection` while the block runs.

    Waits at most `limits.lock_wait_seconds` for another holder, then raises
    `MigrationLockTimeoutError`. When the block fails, its error is the one raised: a failure
    to release the lock then is logged, never raised in its place.
    """
    acquire(connection, key, limits)
    try:
        yield
    except BaseException:
        _release_after_failure(connection, key)
        raise
    release(connection, key)


def _release_after_failure(connection: Connection, key: int) -> None:
    """Release the lock after the block failed, without hiding why it failed."""
    if connection.invalidated:
        # The session died (the server restarted, the network dropped): PostgreSQL freed its
        # advisory locks with it, and releasing would only reconnect to a session holding none.
        return
    try:
        release(connection, key)
    except SQLAlchemyError as exc:
        detail = str(exc).strip().splitlines()[0]
        log.warning(
            "could not release the migration lock (pg_advisory_lock %s) after the failure "
            "reported below; PostgreSQL frees it when this session ends: %s",
            key,
            detail,
        )


def acquire(connection: Connection, key: int, limits: MigrationLimits) -> None:
    """Take the lock `key` on `connection`, waiting at most `limits.lock_wait_seconds`."""
    wait = limits.lock_wait_seconds
    connection.execute(
        text("SELECT set_config('lock_timeout', :ms, false)"), {"ms": milliseconds(wait)}
    )
    try:
        connection.execute(text("SELECT pg_advisory_lock(:key)"), {"key": key})
    except DBAPIError as exc:
        connection.rollback()
        if sqlstate(exc) == LOCK_NOT_AVAILABLE:
            raise MigrationLockTimeoutError(
                f"another process has held the migration lock (pg_advisory_lock {key}) for "
                f"over {wait:g} s; see pg_locks, or raise {limits.lock_wait_name}"
            ) from exc
        raise
    # The lock belongs to the session, not to the transaction: committing keeps it.
    connection.commit()


def release(connection: Connection, key: int) -> None:
    """Release the lock `key` taken by `acquire`."""
    if connection.in_transaction():
        connection.rollback()
    connection.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": key})
    connection.commit()
