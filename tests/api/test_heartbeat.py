"""The registry of serving replicas, as `alembic-stuff serve` keeps its entry in it."""

import os
import signal
import time
from collections.abc import Iterator
from contextlib import contextmanager

import httpx
import psycopg
import pytest
from alembic_toolkit import serving
from sqlalchemy import URL, text
from sqlalchemy.exc import OperationalError

from alembic_stuff.schema_release import RELEASE
from tests.databases import registered_replica, served_api, sync_engine

# Long enough for any start-up on a loaded machine; the waits below end as soon as they can.
WAIT_SECONDS = 20.0


def live(database: URL) -> list[serving.Entry]:
    with sync_engine(database) as engine, engine.connect() as connection:
        return serving.live_entries(connection)


def wait_until_gone(database: URL) -> bool:
    deadline = time.monotonic() + WAIT_SECONDS
    while live(database):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.1)
    return True


def test_a_serving_replica_is_registered_and_leaves_when_stopped(head_database: URL) -> None:
    # Renewals far apart: the entry can only go this fast by the replica leaving.
    with served_api(head_database, REPLICA_HEARTBEAT_SECONDS="300"):
        [entry] = live(head_database)
        assert entry.label == "alembic-stuff"
        assert entry.survives_contract == RELEASE.contract_head
        assert entry.pid is not None
    assert wait_until_gone(head_database)


def test_a_replica_killed_without_a_shutdown_expires(head_database: URL) -> None:
    with served_api(head_database, REPLICA_HEARTBEAT_SECONDS="1"):
        [entry] = live(head_database)
        assert entry.pid is not None
        os.kill(entry.pid, signal.SIGKILL)
        # No goodbye: the entry stays until its renewals are missed, then expires.
        assert [each.pid for each in live(head_database)] == [entry.pid]
        assert wait_until_gone(head_database)


@contextmanager
def entry_locked(database: URL, pid: int) -> Iterator[None]:
    """Hold the replica's entry as a frozen session (a hung network) would, until the block ends."""
    with psycopg.connect(database.render_as_string(hide_password=False)) as conn:
        held = conn.execute(
            "SELECT instance FROM zerodowntime.serving_replica WHERE pid = %s FOR UPDATE", (pid,)
        ).fetchall()
        assert len(held) == 1
        yield
        conn.rollback()


def ready_until(base: str, status: int) -> httpx.Response:
    """Probe /ready until it answers `status`; the last answer."""
    deadline = time.monotonic() + WAIT_SECONDS
    while True:
        response = httpx.get(f"{base}/ready", timeout=5)
        if response.status_code == status or time.monotonic() > deadline:
            return response
        time.sleep(0.1)


def test_a_replica_that_cannot_renew_its_entry_turns_unready_before_it_expires(
    head_database: URL,
) -> None:
    with served_api(head_database, REPLICA_HEARTBEAT_SECONDS="2") as base:
        assert ready_until(base, 200).status_code == 200
        [entry] = live(head_database)
        assert entry.pid is not None
        with entry_locked(head_database, entry.pid):
            unready = ready_until(base, 503)
            # Out of rotation while its entry still says it serves: a contract cannot have
            # run under it yet.
            still = [each.pid for each in live(head_database)]
            assert unready.status_code == 503, unready.json()
            assert still == [entry.pid]
            [line] = unready.json()["detail"].splitlines()
            assert "registry of serving replicas" in line
        # Its renewals failed instead of hanging: the first after the lock is gone succeeds.
        assert ready_until(base, 200).status_code == 200


def test_a_blocked_renewal_fails_within_its_bound(head_database: URL) -> None:
    with (
        registered_replica(head_database, RELEASE) as replica,
        sync_engine(head_database) as engine,
    ):
        with entry_locked(head_database, replica.pid), engine.begin() as connection:
            # A bound of its own, far longer: without one of the renewal's, this one ends it.
            connection.execute(text("SET LOCAL statement_timeout = '20s'"))
            with pytest.raises(OperationalError) as raised:
                serving.heartbeat(connection, replica, 60.0, timeout_seconds=0.5)
        assert isinstance(raised.value.orig, psycopg.errors.LockNotAvailable)
