"""The bench's peer app (the usual FastAPI + ORM pattern) answers like the app it is measured
against: a create that loses a race for its key is a 409, not an unhandled error."""

import asyncio
import importlib
import sys
import time

import httpx
import psycopg
import pytest
from sqlalchemy import URL

from alembic_stuff.db.migrations import upgrade_to_head
from tests.databases import settings_for

FRANCE = {
    "code": "FR",
    "alpha_3": "FRA",
    "numeric_code": "250",
    "common_name": "France",
    "official_name": "French Republic",
}
INSERT = (
    "INSERT INTO country (code, alpha_3, numeric_code, common_name, official_name)"
    " VALUES (%(code)s, %(alpha_3)s, %(numeric_code)s, %(common_name)s, %(official_name)s)"
)


async def blocked_insert(dsn: str) -> None:
    """Return once a session waits for a lock with an INSERT into country."""
    async with await psycopg.AsyncConnection.connect(dsn, autocommit=True) as observer:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            cursor = await observer.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock'"
                " AND query LIKE 'INSERT INTO country%'"
            )
            if await cursor.fetchone() == (1,):
                return
            await asyncio.sleep(0.02)
    pytest.fail("the peer's INSERT never waited for the other transaction's")


async def test_a_create_that_loses_the_race_for_its_key_is_409(
    monkeypatch: pytest.MonkeyPatch, database: URL
) -> None:
    upgrade_to_head(settings_for(database), configure_logging=False)
    dsn = database.render_as_string(hide_password=False)
    monkeypatch.setenv("DATABASE_URL", dsn)  # the peer reads it when imported
    monkeypatch.delitem(sys.modules, "bench.peer", raising=False)
    peer = importlib.import_module("bench.peer")
    transport = httpx.ASGITransport(app=peer.app)
    try:
        async with (
            httpx.AsyncClient(transport=transport, base_url="http://peer") as client,
            await psycopg.AsyncConnection.connect(dsn) as other,
        ):
            # Another client's create, not committed yet: the peer's lookup cannot see it, and
            # its INSERT waits for it, then violates the primary key.
            await other.execute(INSERT, FRANCE)
            post = asyncio.create_task(client.post("/country", json=FRANCE))
            await blocked_insert(dsn)
            await other.commit()
            response = await post
        assert response.status_code == 409, response.text
        assert response.json() == {"detail": "exists"}
    finally:
        await peer.engine.dispose()
