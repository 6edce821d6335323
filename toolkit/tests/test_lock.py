"""The migration lock: what a failure inside it reports, and that it is always released."""

import logging
from collections.abc import Callable

import psycopg
import pytest
from alembic_toolkit.lock import lock_key, migration_lock
from alembic_toolkit.timeouts import MigrationLimits
from psycopg import sql
from sqlalchemy import URL, Connection, Engine, text
from sqlalchemy.exc import DBAPIError

KEY = lock_key("toolkit/tests/test_lock")
LIMITS = MigrationLimits(lock_wait_seconds=2)


def dsn(url: URL) -> str:
    return url.render_as_string(hide_password=False)


def holders(database: URL) -> int:
    """How many sessions hold the advisory lock KEY, seen from a session of its own."""
    with psycopg.connect(dsn(database)) as observer:
        row = observer.execute(
            "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND granted"
            " AND ((classid::bigint << 32) | objid::bigint) = %s",
            (KEY,),
        ).fetchone()
    assert row is not None
    return int(row[0])


def migrate(connection: Connection, step: Callable[[], None]) -> None:
    """Run `step` as the migration, under the lock."""
    with migration_lock(connection, KEY, LIMITS):
        step()


def test_a_connection_lost_mid_migration_is_the_error_reported(
    server_url: URL, database: URL, engine: Engine, caplog: pytest.LogCaptureFixture
) -> None:
    lost: list[DBAPIError] = []
    name = sql.Identifier(str(database.database))
    admin = psycopg.connect(dsn(server_url), autocommit=True)

    def lose_the_server(connection: Connection) -> None:
        pid = connection.execute(text("SELECT pg_backend_pid()")).scalar_one()
        # The session dies and the database takes no new one: an unlock, which would
        # reconnect, could not run either.
        admin.execute(sql.SQL("ALTER DATABASE {} ALLOW_CONNECTIONS false").format(name))
        admin.execute("SELECT pg_terminate_backend(%s)", (pid,))
        try:
            connection.execute(text("SELECT 1"))
        except DBAPIError as exc:
            lost.append(exc)
            raise

    try:
        with engine.connect() as connection, pytest.raises(DBAPIError) as raised:
            migrate(connection, lambda: lose_the_server(connection))
    finally:
        admin.execute(sql.SQL("ALTER DATABASE {} ALLOW_CONNECTIONS true").format(name))
        admin.close()
    # The migration's own failure, not the unlock's...
    assert raised.value is lost[0]
    # ...and nothing more to say: the server freed the lock with the session.
    assert not [r for r in caplog.records if r.name == "alembic_toolkit.lock"]
    assert holders(database) == 0


def test_an_unlock_that_fails_after_an_error_is_one_log_line(
    engine: Engine, caplog: pytest.LogCaptureFixture
) -> None:
    def fail(connection: Connection) -> None:
        connection.close()  # whatever went wrong left no connection to unlock on
        raise RuntimeError("the revision failed")

    with engine.connect() as connection, pytest.raises(RuntimeError, match="the revision failed"):
        migrate(connection, lambda: fail(connection))
    [note] = [r for r in caplog.records if r.name == "alembic_toolkit.lock"]
    assert note.levelno == logging.WARNING
    assert "could not release the migration lock" in note.getMessage()
    assert "\n" not in note.getMessage()


def test_the_lock_is_released_after_an_error_in_the_block(database: URL, engine: Engine) -> None:
    held: list[int] = []

    def fail() -> None:
        held.append(holders(database))
        raise ValueError("the revision failed")

    with engine.connect() as connection:
        with pytest.raises(ValueError, match="the revision failed"):
            migrate(connection, fail)
        # Released on the same session, still open.
        assert holders(database) == 0
    assert held == [1]
