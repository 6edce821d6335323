"""The API through PgBouncer in transaction mode: no 5xx under load with DATABASE_POOLER set.

The pooler lends a server session for one transaction at a time, so the load mixes reads and
writes from many client connections over a few server sessions: a statement prepared in one
transaction and run in the next, or a setting sent on connecting, would fail here. The same
load with the default setting shows the failure the setting prevents, as a 503 whose log line
names the fix.
"""

import asyncio
import logging
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy import URL

from alembic_stuff.iso import alpha_2_codes
from support.pgbouncer import pgbouncer
from tests.databases import scratch_database, serve, settings_for

# Client connections (two pools of POOL_SIZE) outnumber the pooler's server sessions, so
# consecutive transactions of one connection land in different sessions.
POOL_SIZE = 8
SERVER_SESSIONS = "3"
REQUESTS = 600
AT_ONCE = 40
SECONDS = 120
# Where the API logs why it answered 503.
ERRORS_LOG = "alembic_stuff.api.errors"
CODES = alpha_2_codes()[:60]
# The kinds of request below; each country gets one of each in turn.
KINDS = 5
# Limits generous enough that a loaded machine (tests in parallel) answers no 503 of its own:
# what is tested is what the pooler does, not how fast.
PATIENT = {
    "database_pool_size": POOL_SIZE,
    "database_connect_timeout_seconds": 10.0,
    "database_statement_timeout_seconds": 10.0,
    "request_timeout_seconds": 30.0,
}


@pytest.fixture
def pooled_database(server_url: URL, head_template: str, tmp_path: Path) -> Iterator[URL]:
    """A database at the heads, reached through PgBouncer with few server sessions."""
    with (
        scratch_database(server_url, head_template) as database,
        pgbouncer(server_url, tmp_path, default_pool_size=SERVER_SESSIONS) as pooler,
    ):
        yield pooler.url(database)


def request(client: httpx.AsyncClient, number: int) -> "asyncio.Future[httpx.Response]":
    """The `number`th request of the load: writes and reads of a few countries."""
    code = CODES[number // KINDS % len(CODES)]
    calls = (
        lambda: client.post("/country", json={"code": code}),
        lambda: client.get(f"/country/{code}"),
        lambda: client.get("/countries", params={"limit": 5}),
        lambda: client.patch(f"/country/{code}", json={"common_name": f"Name {number}"}),
        lambda: client.delete(f"/country/{code}"),
    )
    return asyncio.ensure_future(calls[number % KINDS]())


async def load(client: httpx.AsyncClient) -> Counter[int]:
    """Send REQUESTS requests, AT_ONCE at a time; count the statuses."""
    slots = asyncio.Semaphore(AT_ONCE)

    async def one(number: int) -> int:
        async with slots:
            return (await request(client, number)).status_code

    statuses = await asyncio.wait_for(
        asyncio.gather(*(one(number) for number in range(REQUESTS))), SECONDS
    )
    return Counter(statuses)


async def test_the_api_serves_through_a_transaction_pooler_without_errors(
    pooled_database: URL,
) -> None:
    settings = settings_for(pooled_database, database_pooler="transaction", **PATIENT)
    async with serve(settings) as client:
        statuses = await load(client)
        # Alone, not in the load: its own 1.5 s deadline is for a database that hangs, and a
        # loaded machine queueing it behind AT_ONCE requests would miss it.
        ready = await client.get("/ready")
    print(f"statuses through the pooler: {dict(sorted(statuses.items()))}")
    assert not {status for status in statuses if status >= 500}, statuses
    # Every kind of request got through: creations, reads, updates, deletions.
    for kind in (200, 201, 204):
        assert statuses[kind], statuses
    assert ready.status_code == 200, ready.text


async def test_the_direct_setting_through_the_pooler_is_a_503_naming_the_fix(
    pooled_database: URL, caplog: pytest.LogCaptureFixture
) -> None:
    settings = settings_for(pooled_database, **PATIENT)
    with caplog.at_level(logging.WARNING, logger=ERRORS_LOG):
        async with serve(settings) as client:
            statuses = await load(client)
    assert set(statuses) == {503}, statuses
    causes = {record.getMessage() for record in caplog.records if record.name == ERRORS_LOG}
    assert causes
    for cause in causes:
        assert "\n" not in cause
        assert "unsupported startup parameter" in cause
        assert "set DATABASE_POOLER=transaction" in cause
