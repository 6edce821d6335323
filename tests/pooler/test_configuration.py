"""deploy/pgbouncer/pgbouncer.ini, run by Debian's pgbouncer: what the API relies on in it."""

import asyncio
from pathlib import Path

from sqlalchemy import URL, Connection, text

from alembic_stuff.db.database import Database
from support.pgbouncer import pgbouncer
from tests.databases import settings_for

TRANSACTIONS = 400


def prepared_statements(connection: Connection) -> int:
    """How many prepared statements the server session of this transaction holds."""
    count: int = connection.execute(
        text("SELECT count(*) FROM pg_prepared_statements")
    ).scalar_one()
    return count


async def test_server_sessions_do_not_collect_prepared_statements(
    server_url: URL, database: URL, tmp_path: Path
) -> None:
    # asyncpg prepares each statement under a new name, and closes it in a later transaction,
    # often in another server session: only the pooler's reset keeps sessions from filling up.
    with pgbouncer(server_url, tmp_path, default_pool_size="2") as pooler:
        settings = settings_for(
            pooler.url(database),
            database_pooler="transaction",
            database_pool_size=5,
            # Patient, as the tests may load the machine: what counts is what is left behind.
            database_connect_timeout_seconds=10.0,
            database_statement_timeout_seconds=10.0,
        )
        app_database = Database.connect(settings)
        try:
            await asyncio.gather(
                *(app_database.autocommit_read(prepared_statements) for _ in range(TRANSACTIONS))
            )
            # This transaction's own statement, at most one left from before it.
            assert await app_database.transaction(prepared_statements) <= 2
        finally:
            await app_database.dispose()
