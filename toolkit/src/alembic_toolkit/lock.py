"""One migration at a time: a PostgreSQL advisory lock held for the whole run.

Many replicas may run `alembic upgrade heads` at once when they start; the first takes the
lock and migrates, the others wait for it, then find nothing left to do.
"""

import logging
import time
from collections.abc import Iterator
from contextlib import contextmanager
from zlib import crc32

from sqlalchemy import Connection, text
from sqlalchemy.exc import SQLAlchemyError

from alembic_toolkit.errors import MigrationLockTimeoutError
from alembic_toolkit.timeouts import MigrationLimits

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


# How often a waiting process tries the lock again.
POLL_SECONDS = 0.2


def acquire(connection: Connection, key: int, limits: MigrationLimits) -> None:
    """Take the lock `key` on `connection`, waiting at most `limits.lock_wait_seconds`.

    It waits by trying again, between tries holding no transaction: a session blocked in
    pg_advisory_lock holds its snapshot all the while, and a CREATE INDEX CONCURRENTLY in the
    holder's migration waits for every older snapshot to end, so the two would deadlock and
    PostgreSQL would kill one of them, perhaps the migration.
    """
    wait = limits.lock_wait_seconds
    deadline = time.monotonic() + wait
    told = False
    while True:
        taken = connection.execute(text("SELECT pg_try_advisory_lock(:key)"), {"key": key})
        # The lock belongs to the session, not to the transaction: committing keeps it.
        connection.commit()
        if taken.scalar_one():
            return
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


def release(connection: Connection, key: int) -> None:
    """Release the lock `key` taken by `acquire`."""
    if connection.in_transaction():
        connection.rollback()
    connection.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": key})
    connection.commit()
