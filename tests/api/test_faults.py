"""The API under load while its database stops, crashes or hangs: 503s within a bound, no 500.

Each fault is injected into a throwaway embedded server of the test's own (never into the
server under test, which may be a shared one) while client tasks keep requesting.
"""

import asyncio
import itertools
import os
import signal
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import httpx
import psycopg
import pytest
from sqlalchemy import URL

from alembic_stuff.api.app import SHUTDOWN_SECONDS
from alembic_stuff.db.embedded import EmbeddedPostgres
from alembic_stuff.db.migrations import upgrade_to_head
from alembic_stuff.settings import Settings
from tests.databases import (
    CRASH_SAFE_SETTINGS,
    scratch_database,
    serve,
    server_processes,
    settings_for,
    throwaway_server,
)

# The request deadline the app runs with here, and what a loaded 2-core CI machine may add
# to it before a task measuring it runs again.
DEADLINE_SECONDS = 1.0
SCHEDULING_SLACK_SECONDS = 1.5
# How long each fault lasts, and how long the app may take to notice the database is back.
FAULT_SECONDS = 1.5
RECOVERY_SECONDS = 2.0
CLIENTS = 8
REQUESTS = [
    ("GET", "/country/GB", None),
    ("GET", "/countries", None),
    ("PATCH", "/country/GB", {"common_name": "Britain"}),
    ("GET", "/country/gb", None),
]


@dataclass(frozen=True)
class Outcome:
    """One request: the phase it was sent in, its status, its Retry-After, its duration."""

    phase: str
    status: int
    retry_after: str | None
    seconds: float


@dataclass(frozen=True)
class Fault:
    """How to break the database, and how to bring it back."""

    inject: Callable[[EmbeddedPostgres], object]
    repair: Callable[[EmbeddedPostgres], object]


def _kill(server: EmbeddedPostgres) -> None:
    postmaster = server_processes(server)[0]
    os.kill(postmaster, signal.SIGKILL)
    deadline = time.monotonic() + 30
    while server.is_running() and time.monotonic() < deadline:
        time.sleep(0.05)  # its children notice the postmaster's death and exit


def _signal_all(signum: int) -> Callable[[EmbeddedPostgres], None]:
    def send(server: EmbeddedPostgres) -> None:
        for pid in server_processes(server):
            os.kill(pid, signum)

    return send


def _start_when_free(server: EmbeddedPostgres) -> None:
    # After a crash the old backends may hold the shared memory for a moment more.
    deadline = time.monotonic() + 30
    while True:
        try:
            server.start()
            return
        except Exception:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)


FAULTS = {
    "fast-stop": Fault(lambda server: server.stop("fast"), _start_when_free),
    "immediate-stop": Fault(lambda server: server.stop("immediate"), _start_when_free),
    "postmaster-sigkill": Fault(_kill, _start_when_free),
    "every-process-sigstop": Fault(_signal_all(signal.SIGSTOP), _signal_all(signal.SIGCONT)),
}


@pytest.fixture(scope="module")
def migrated_server() -> Iterator[tuple[EmbeddedPostgres, URL]]:
    """A server of the module's own, with a migrated database; initdb is the slow part."""
    server = throwaway_server(CRASH_SAFE_SETTINGS)
    server.start()
    try:
        server.ensure_database("app")
        upgrade_to_head(settings_for(server.url("app")), configure_logging=False)
        yield server, server.url("app")
    finally:
        server.destroy()


@pytest.fixture
def own_server(migrated_server: tuple[EmbeddedPostgres, URL]) -> Iterator[EmbeddedPostgres]:
    """The module's server, which the test may stop, crash and freeze; running after it."""
    server = migrated_server[0]
    try:
        yield server
    finally:
        if server.is_running():
            _signal_all(signal.SIGCONT)(server)  # a failed test may leave it frozen
        else:
            _start_when_free(server)


def app_settings(database: URL, request_seconds: float = DEADLINE_SECONDS) -> Settings:
    """The app's settings with short bounds, as a test can wait for them."""
    return settings_for(
        database,
        database_pool_size=4,
        database_connect_timeout_seconds=0.5,
        database_statement_timeout_seconds=0.5,
        request_timeout_seconds=request_seconds,
    )


async def _client_loop(client: httpx.AsyncClient, phase: list[str], out: list[Outcome]) -> None:
    for method, path, body in itertools.cycle(REQUESTS):
        if phase[0] == "done":
            return
        sent_in = phase[0]
        started = time.monotonic()
        response = await client.request(method, path, json=body)
        out.append(
            Outcome(
                sent_in,
                response.status_code,
                response.headers.get("retry-after"),
                time.monotonic() - started,
            )
        )


@pytest.mark.parametrize("fault", sorted(FAULTS))
async def test_a_database_fault_under_load_is_503s_within_the_bound(
    own_server: EmbeddedPostgres, fault: str
) -> None:
    settings = app_settings(own_server.url("app"))
    outcomes: list[Outcome] = []
    phase = ["before"]

    async with serve(settings) as client:
        assert (await client.post("/country")).status_code in {201, 409}
        clients = [
            asyncio.create_task(_client_loop(client, phase, outcomes)) for _ in range(CLIENTS)
        ]
        await asyncio.sleep(0.3)
        phase[0] = "down"
        await asyncio.to_thread(FAULTS[fault].inject, own_server)
        await asyncio.sleep(FAULT_SECONDS / 2)
        started = time.monotonic()
        ready = await client.get("/ready")
        ready_seconds = time.monotonic() - started
        await asyncio.sleep(FAULT_SECONDS / 2)
        await asyncio.to_thread(FAULTS[fault].repair, own_server)
        phase[0] = "recovering"
        await asyncio.sleep(RECOVERY_SECONDS)
        phase[0] = "after"
        await asyncio.sleep(0.7)
        phase[0] = "done"
        await asyncio.gather(*clients)

    failures = [each for each in outcomes if each.status >= 500]
    assert [each for each in failures if each.status != 503] == []
    assert [each for each in failures if each.retry_after is None] == []
    slow = [each for each in outcomes if each.seconds > DEADLINE_SECONDS + SCHEDULING_SLACK_SECONDS]
    assert slow == []
    assert any(each.phase == "down" for each in failures), "the fault was never noticed"
    after = [each for each in outcomes if each.phase == "after"]
    assert after, "no request was sent after the recovery"
    assert [each for each in after if each.status >= 400] == []
    assert ready.status_code == 503
    assert ready_seconds <= 2.0 + SCHEDULING_SLACK_SECONDS


@pytest.mark.parametrize("body", [b"", b"{}"], ids=["no-body", "a-body-it-never-reads"])
@pytest.mark.parametrize(
    ("statement_seconds", "request_seconds"),
    [(0.5, 30.0), (30.0, 0.5)],
    ids=["statement-timeout", "request-deadline"],
)
async def test_a_request_waiting_on_a_lock_is_a_503_within_its_bound(
    server_url: URL, statement_seconds: float, request_seconds: float, body: bytes
) -> None:
    # What a migration holding an ACCESS EXCLUSIVE lock does to the app's queries.
    with scratch_database(server_url) as database:
        settings = app_settings(database, request_seconds).model_copy(
            update={"database_statement_timeout_seconds": statement_seconds}
        )
        upgrade_to_head(settings, configure_logging=False)
        bound = min(statement_seconds, request_seconds) + SCHEDULING_SLACK_SECONDS
        async with serve(settings) as client:
            assert (await client.post("/country")).status_code == 201
            with psycopg.connect(database.render_as_string(hide_password=False)) as migration:
                migration.execute("LOCK TABLE country IN ACCESS EXCLUSIVE MODE")
                started = time.monotonic()
                async with asyncio.timeout(10):  # what it did before there was a bound
                    # A body on a GET, all sent, is no reason for a 408: the route never reads it.
                    response = await client.request("GET", "/country/GB", content=body)
                waited = time.monotonic() - started
            assert response.status_code == 503
            assert response.headers["retry-after"]
            assert waited <= bound
            assert (await client.get("/country/GB")).status_code == 200


async def test_shutdown_does_not_wait_for_a_hung_database(own_server: EmbeddedPostgres) -> None:
    settings = app_settings(own_server.url("app"))
    async with serve(settings) as client:
        assert (await client.get("/countries")).status_code == 200  # a connection in the pool
        _signal_all(signal.SIGSTOP)(own_server)
        started = time.monotonic()
    shutdown_seconds = time.monotonic() - started
    _signal_all(signal.SIGCONT)(own_server)
    assert shutdown_seconds <= SHUTDOWN_SECONDS + SCHEDULING_SLACK_SECONDS
