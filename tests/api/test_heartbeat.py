"""The registry of serving replicas, as `alembic-stuff serve` keeps its entry in it."""

import os
import signal
import time

from alembic_toolkit import serving
from sqlalchemy import URL

from alembic_stuff.schema_release import RELEASE
from tests.databases import served_api, sync_engine

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
