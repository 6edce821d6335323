"""Lock retries on asyncpg, as `alembic init -t async` runs revisions: the blocker is named.

The async template runs each revision through `AsyncConnection.run_sync`, in a greenlet. The
retries' watcher runs in a thread of its own, outside that greenlet, so it cannot use the
migration's engine: it once printed a MissingGreenlet traceback on every call and named no one.
"""

import psycopg
import pytest
import sqlalchemy as sa
from alembic import op
from alembic_toolkit.zerodowntime import LockRetries, ZeroDowntimeError, with_lock_retries
from sqlalchemy import URL, Connection
from sqlalchemy.ext.asyncio import create_async_engine
from toolkit_support import migration_operations

QUICK = LockRetries(attempts=3, lock_timeout=0.1, backoff=0.05)


def add_note(connection: Connection) -> None:
    """A revision's upgrade(), as the async template's run_sync calls it."""
    with migration_operations(connection):
        with_lock_retries(lambda: op.add_column("ledger", sa.Column("note", sa.Text)), QUICK)


async def test_an_asyncpg_migration_names_the_session_holding_the_lock(database: URL) -> None:
    dsn = database.render_as_string(hide_password=False)
    with psycopg.connect(dsn, autocommit=True) as setup:
        setup.execute("CREATE TABLE ledger (id bigint PRIMARY KEY)")
    # With an option of SQLAlchemy's asyncpg dialect (the PgBouncer recipe's) that libpq lacks.
    asyncpg_only = {**database.query, "prepared_statement_cache_size": "0"}
    engine = create_async_engine(database.set(drivername="postgresql+asyncpg", query=asyncpg_only))
    try:
        with psycopg.connect(dsn) as holder:
            # A reader left idle in its transaction: it holds ACCESS SHARE on ledger.
            holder.execute("SELECT count(*) FROM ledger").fetchone()
            async with engine.connect() as connection:
                with pytest.raises(ZeroDowntimeError) as exhausted:
                    await connection.run_sync(add_note)
            message = str(exhausted.value)
            assert f"blocked by pid {holder.info.backend_pid} (idle in transaction" in message
            assert 'running "SELECT count(*) FROM ledger"' in message
    finally:
        await engine.dispose()


async def test_an_asyncpg_migration_goes_through_once_nothing_blocks(database: URL) -> None:
    dsn = database.render_as_string(hide_password=False)
    with psycopg.connect(dsn, autocommit=True) as setup:
        setup.execute("CREATE TABLE ledger (id bigint PRIMARY KEY)")
    engine = create_async_engine(database.set(drivername="postgresql+asyncpg"))
    try:
        async with engine.connect() as connection:
            await connection.run_sync(add_note)
            columns = await connection.run_sync(
                lambda sync: {c["name"] for c in sa.inspect(sync).get_columns("ledger")}
            )
        assert "note" in columns
    finally:
        await engine.dispose()
