"""The migration lock's session checks, each step on its own (alembic_toolkit.pooling).

A pooler in transaction mode is caught before the lock by the first step in practice
(test_migrations.py); the later steps are the net for a pooler that let it pass, and each is
made to fire here on a real server: another client's lock in the session, a transaction in
another session, a release in another session. Each refuses in one line and leaves no lock.
"""

from collections.abc import Iterator

import psycopg
import pytest
from alembic_toolkit.errors import PooledConnectionError
from alembic_toolkit.lock import acquire, lock_key, migration_lock, release
from alembic_toolkit.pooling import SETTING
from alembic_toolkit.timeouts import MigrationLimits
from sqlalchemy import URL, Connection, Engine, text
from sqlalchemy.exc import DBAPIError

KEY = lock_key("tests/pooler/test_lock_sessions")
LIMITS = MigrationLimits(lock_wait_seconds=2, database_url_name="MIGRATION_DATABASE_URL")


def holders(database: URL) -> list[int]:
    """The pids of the sessions holding the lock KEY on `database`, seen from one of its own."""
    with psycopg.connect(database.render_as_string(hide_password=False)) as observer:
        rows = observer.execute(
            "SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND granted"
            " AND ((classid::bigint << 32) | objid::bigint) = %s"
            " AND database = (SELECT oid FROM pg_database WHERE datname = current_database())",
            (KEY,),
        ).fetchall()
    return [int(row[0]) for row in rows]


def pid(connection: Connection) -> int:
    """The backend pid of `connection`'s session."""
    found: int = connection.execute(text("SELECT pg_backend_pid()")).scalar_one()
    connection.commit()
    return found


def assert_one_line_refusal(error: PooledConnectionError) -> None:
    """The refusal says what to do, in one line."""
    message = str(error)
    assert "\n" not in message
    assert message.startswith("the migrations' database connection is not one database session")
    assert "connect the migrations to PostgreSQL itself (MIGRATION_DATABASE_URL)" in message


@pytest.fixture
def two_connections(engine: Engine) -> Iterator[tuple[Connection, Connection]]:
    """Two connections, two sessions: the one a client took the lock in, and another."""
    with engine.connect() as first, engine.connect() as second:
        yield first, second


def test_a_session_holding_another_clients_lock_neither_takes_nor_releases_it(
    database: URL, engine: Engine
) -> None:
    with engine.connect() as connection:
        # What a pooler lends a second client: the session of a first, which holds the lock.
        connection.execute(text("SELECT pg_advisory_lock(:key)"), {"key": KEY})
        connection.commit()
        with pytest.raises(PooledConnectionError, match="holds another client's lock") as raised:
            acquire(connection, KEY, LIMITS)
        assert_one_line_refusal(raised.value)
        # Not taken a second time, not released: still the first client's, once.
        assert holders(database) == [pid(connection)]


def test_a_session_marked_by_another_migration_is_refused(engine: Engine) -> None:
    with engine.connect() as connection:
        connection.execute(text(f"SELECT set_config('{SETTING}', 'someone-else', false)"))
        connection.commit()
        with pytest.raises(PooledConnectionError, match="marked by another migration") as raised:
            acquire(connection, KEY, LIMITS)
        assert_one_line_refusal(raised.value)


def test_a_transaction_in_another_session_frees_the_lock_and_stops(
    database: URL, engine: Engine
) -> None:
    ran: list[str] = []

    def migrate(connection: Connection) -> None:
        with migration_lock(connection, KEY, LIMITS):
            ran.append("first revision")
            # The session is gone and the connection gets a new one, as a pooler would hand
            # it another: the lock is not held where the next revision would run.
            connection.invalidate()
            connection.execute(text("SELECT 1"))
            ran.append("second revision")

    with (
        engine.connect() as connection,
        pytest.raises(PooledConnectionError, match="different server sessions") as raised,
    ):
        migrate(connection)
    assert_one_line_refusal(raised.value)
    assert ran == ["first revision"]
    assert holders(database) == []


def test_a_release_in_another_session_frees_the_lock_it_cannot_reach(
    database: URL, two_connections: tuple[Connection, Connection]
) -> None:
    holder, elsewhere = two_connections
    session = acquire(holder, KEY, LIMITS)
    assert holders(database) == [session.pid]
    with pytest.raises(PooledConnectionError, match="freed by ending server session") as raised:
        release(elsewhere, session, KEY)
    assert_one_line_refusal(raised.value)
    # Ended, not stranded: the session that held it is gone, and the lock with it.
    assert holders(database) == []
    with pytest.raises(DBAPIError, match="terminating connection"):
        holder.execute(text("SELECT 1"))
