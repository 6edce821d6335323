"""Each way PostgreSQL says "not now" is a 503 with Retry-After and one log line, on a real server.

The conditions are made for real: a tablespace on a full tmpfs, a role the server refuses,
prepared statements deallocated under the pool, and concurrent transactions that deadlock or
fail to serialise. Each runs on the server under test (embedded, or TEST_DATABASE_URL).
"""

import asyncio
import contextlib
import errno
import logging
import os
import subprocess
import tempfile
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import psycopg
import pytest
from fastapi import FastAPI
from psycopg import sql
from sqlalchemy import URL, Connection
from sqlalchemy.exc import DBAPIError

from alembic_stuff.api import heartbeat
from alembic_stuff.api.app import create_app
from alembic_stuff.api.errors import is_unavailable
from alembic_stuff.db.database import Database
from alembic_stuff.db.migrations import upgrade_to_head
from alembic_stuff.settings import Settings
from tests.databases import scratch_database, settings_for

ERRORS_LOGGER = "alembic_stuff.api.errors"
# Long enough for PostgreSQL's deadlock check (deadlock_timeout, 1 s by default) to run first.
STATEMENT_SECONDS = 5.0
TEST_SECONDS = 20
LOCK_POLLS = 250


def app_settings(database: URL, **overrides: object) -> Settings:
    """One pooled connection per pool, so that the test knows which connection serves."""
    return settings_for(
        database,
        database_pool_size=1,
        database_connect_timeout_seconds=2.0,
        database_statement_timeout_seconds=STATEMENT_SECONDS,
        request_timeout_seconds=STATEMENT_SECONDS * 2,
        **overrides,
    )


@contextlib.asynccontextmanager
async def served(settings: Settings) -> AsyncIterator[tuple[FastAPI, httpx.AsyncClient]]:
    """The real app (lifespan, pools) on `settings`, and a client; a 500 comes back as one."""
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
            yield app, client


def admin(database: URL) -> psycopg.Connection[tuple[object, ...]]:
    return psycopg.connect(database.render_as_string(hide_password=False), autocommit=True)


@pytest.fixture
def migrated(server_url: URL) -> Iterator[URL]:
    """A scratch database of the test's own, migrated, that the test may break."""
    with scratch_database(server_url) as database:
        upgrade_to_head(settings_for(database), configure_logging=False)
        yield database


def assert_one_warning_line(caplog: pytest.LogCaptureFixture, *words: str) -> None:
    """The app logged exactly one WARNING, on one line, with no traceback, naming `words`.

    The registry's heartbeat says once, at start-up, that it cannot reach the database: that
    line is the replica's, not the request's.
    """
    records = [
        r
        for r in caplog.records
        if r.name.startswith("alembic_stuff") and r.name != heartbeat.__name__
    ]
    assert [r.levelno for r in records] == [logging.WARNING], [r.getMessage() for r in records]
    [record] = records
    assert record.exc_info is None
    message = record.getMessage()
    assert "\n" not in message
    for word in words:
        assert word in message


def assert_unavailable(response: httpx.Response) -> None:
    assert response.status_code == 503, response.text
    assert response.headers["retry-after"].isdigit()
    assert "unavailable" in response.json()["detail"]


@contextlib.contextmanager
def full_tablespace(server: psycopg.Connection[tuple[object, ...]]) -> Iterator[tuple[str, Path]]:
    """A tablespace on a 1 MiB tmpfs of its own; yield its name and the mount point."""
    data_directory = Path(str(server.execute("SHOW data_directory").fetchone()[0]))  # type: ignore[index]
    if not data_directory.is_dir():
        pytest.skip("the server under test is not on this machine: its disk cannot be filled")
    owner = data_directory.stat()  # the server's own OS user must own the tablespace
    mount_point = Path(tempfile.mkdtemp(prefix="alembic_stuff_full_"))
    name = f"alembic_stuff_full_{uuid.uuid4().hex[:8]}"
    options = f"size=1m,mode=0700,uid={owner.st_uid},gid={owner.st_gid}"
    subprocess.run(
        ["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(mount_point)], check=True, timeout=10
    )
    try:
        server.execute(
            sql.SQL("CREATE TABLESPACE {} LOCATION {}").format(
                sql.Identifier(name), sql.Literal(str(mount_point))
            )
        )
        try:
            yield name, mount_point
        finally:
            server.execute(sql.SQL("DROP TABLESPACE IF EXISTS {}").format(sql.Identifier(name)))
    finally:
        subprocess.run(["umount", str(mount_point)], check=True, timeout=10)
        mount_point.rmdir()


def fill(folder: Path) -> Path:
    """Write a file into `folder` until its file system has no byte left; return the file."""
    filler = folder / "filler"
    block = b"\0" * 4096
    with filler.open("wb", buffering=0) as out:
        try:
            while True:
                out.write(block)
        except OSError as exc:
            if exc.errno != errno.ENOSPC:
                raise
    return filler


@pytest.mark.skipif(os.geteuid() != 0, reason="mounting a tmpfs to fill needs root")
async def test_a_full_disk_is_a_503_and_one_line(
    server_url: URL, migrated: URL, caplog: pytest.LogCaptureFixture
) -> None:
    with admin(server_url) as server, full_tablespace(server) as (tablespace, mount_point):
        try:
            with admin(migrated) as database:
                # Empty, the table has no page yet: the first row must extend its file.
                database.execute(
                    sql.SQL("ALTER TABLE country SET TABLESPACE {}").format(
                        sql.Identifier(tablespace)
                    )
                )
            filler = fill(mount_point)
            async with asyncio.timeout(TEST_SECONDS), served(app_settings(migrated)) as (_, client):
                caplog.set_level(logging.INFO)
                response = await client.post("/country")
                assert_unavailable(response)
                assert_one_warning_line(caplog, "53100")
                filler.unlink()
                assert (await client.post("/country")).status_code == 201
        finally:
            with admin(migrated) as database:  # the tablespace can be dropped once empty
                database.execute("ALTER TABLE country SET TABLESPACE pg_default")


@pytest.fixture
def role_that_may_not_log_in(server_url: URL) -> Iterator[str]:
    """A role that exists but may not log in: refused whatever the server's authentication."""
    name = f"alembic_stuff_nologin_{uuid.uuid4().hex[:8]}"
    with admin(server_url) as server:
        server.execute(sql.SQL("CREATE ROLE {} NOLOGIN").format(sql.Identifier(name)))
        try:
            yield name
        finally:
            server.execute(sql.SQL("DROP ROLE {}").format(sql.Identifier(name)))


@pytest.mark.parametrize("refused", ["no-such-role", "may-not-log-in"])
async def test_a_refused_role_is_a_503_and_one_warning_without_traceback(
    migrated: URL, refused: str, request: pytest.FixtureRequest, caplog: pytest.LogCaptureFixture
) -> None:
    if refused == "no-such-role":
        role = "alembic_stuff_no_such_role"
    else:
        role = request.getfixturevalue("role_that_may_not_log_in")
    settings = app_settings(migrated.set(username=role, password="not-its-password"))
    async with asyncio.timeout(TEST_SECONDS), served(settings) as (_, client):
        caplog.set_level(logging.INFO)
        for _ in range(2):  # every request, not only the first
            caplog.clear()
            assert_unavailable(await client.get("/country/GB"))
            # 28000, or 28P01 where the server asks a password before it looks the role up.
            assert_one_warning_line(caplog, "refused the API's login", "SQLSTATE 28", role)
        ready = await client.get("/ready")
        assert ready.status_code == 503
        assert ready.json()["detail"].startswith("the database refused the API's login")


async def test_a_database_that_does_not_exist_is_a_503_and_one_warning(
    migrated: URL, caplog: pytest.LogCaptureFixture
) -> None:
    settings = app_settings(migrated.set(database="alembic_stuff_no_such_database"))
    async with asyncio.timeout(TEST_SECONDS), served(settings) as (_, client):
        caplog.set_level(logging.INFO)
        assert_unavailable(await client.get("/country/GB"))
        assert_one_warning_line(caplog, "refused the API's login", "3D000", "DATABASE_URL")


@pytest.fixture
def role_with_no_connection_left(server_url: URL) -> Iterator[str]:
    """A role allowed no connection at all (superusers are exempt from the limit)."""
    name = f"alembic_stuff_full_{uuid.uuid4().hex[:8]}"
    with admin(server_url) as server:
        server.execute(
            sql.SQL("CREATE ROLE {} LOGIN CONNECTION LIMIT 0 PASSWORD 'limited'").format(
                sql.Identifier(name)
            )
        )
        try:
            yield name
        finally:
            server.execute(sql.SQL("DROP ROLE {}").format(sql.Identifier(name)))


async def test_too_many_connections_is_a_503_and_one_line(
    migrated: URL, role_with_no_connection_left: str, caplog: pytest.LogCaptureFixture
) -> None:
    role = role_with_no_connection_left
    settings = app_settings(migrated.set(username=role, password="limited", query={}))
    async with asyncio.timeout(TEST_SECONDS), served(settings) as (_, client):
        caplog.set_level(logging.INFO)
        assert_unavailable(await client.get("/country/GB"))
        assert_one_warning_line(caplog, "53300")


def deallocate_all(connection: Connection) -> None:
    """What a pooler switching server connections, or a stray DEALLOCATE, does to the session."""
    connection.exec_driver_sql("DEALLOCATE ALL")


async def test_lost_prepared_statements_are_a_503_then_a_new_connection(
    migrated: URL, caplog: pytest.LogCaptureFixture
) -> None:
    async with asyncio.timeout(TEST_SECONDS), served(app_settings(migrated)) as (app, client):
        assert (await client.post("/country")).status_code == 201
        assert (await client.get("/country/GB")).status_code == 200  # the statement is prepared
        database: Database = app.state.database
        await database.autocommit_read(deallocate_all)  # on the pool's one connection
        caplog.set_level(logging.INFO)
        assert_unavailable(await client.get("/country/GB"))
        assert_one_warning_line(caplog, "26000")
        assert (await client.get("/country/GB")).status_code == 200


async def wait_until_waiting_on_a_lock(migrated: URL) -> None:
    """Return once a session of the app waits on a lock (the row the test holds)."""
    with admin(migrated) as watcher:
        for _ in range(LOCK_POLLS):
            waiting = watcher.execute(
                "SELECT count(*) FROM pg_stat_activity"
                " WHERE datname = current_database() AND wait_event_type = 'Lock'"
            ).fetchone()
            if waiting and waiting[0]:
                return
            await asyncio.sleep(0.02)
    raise AssertionError("the app's session never waited on the lock")


async def test_a_deadlock_is_a_503(migrated: URL, caplog: pytest.LogCaptureFixture) -> None:
    async with asyncio.timeout(TEST_SECONDS), served(app_settings(migrated)) as (_, client):
        assert (await client.post("/country")).status_code == 201
        with admin(migrated) as other:
            other.execute("BEGIN")
            # The app's session, waiting since before this one, runs the deadlock check first.
            other.execute("SET LOCAL deadlock_timeout = '60s'")
            other.execute("UPDATE country SET common_name = 'Held' WHERE code = 'GB'")
            patch = asyncio.create_task(client.patch("/country/GB", json={"common_name": "UK"}))
            await wait_until_waiting_on_a_lock(migrated)
            caplog.set_level(logging.INFO)
            # The app's UPDATE holds ROW EXCLUSIVE on the table and waits for the row: each
            # transaction now waits for the other.
            await asyncio.to_thread(other.execute, "LOCK TABLE country IN SHARE MODE")
            response = await patch
            other.execute("ROLLBACK")
        assert_unavailable(response)
        assert_one_warning_line(caplog, "40P01")


async def test_a_serialization_failure_is_a_503(
    migrated: URL, caplog: pytest.LogCaptureFixture
) -> None:
    with admin(migrated) as database:
        database.execute(
            sql.SQL(
                "ALTER DATABASE {} SET default_transaction_isolation = 'repeatable read'"
            ).format(sql.Identifier(str(migrated.database)))
        )
    async with asyncio.timeout(TEST_SECONDS), served(app_settings(migrated)) as (_, client):
        assert (await client.post("/country")).status_code == 201
        with admin(migrated) as other:
            other.execute("BEGIN")
            other.execute("UPDATE country SET common_name = 'Changed' WHERE code = 'GB'")
            patch = asyncio.create_task(client.patch("/country/GB", json={"common_name": "UK"}))
            await wait_until_waiting_on_a_lock(migrated)
            caplog.set_level(logging.INFO)
            other.execute("COMMIT")  # the row the app's snapshot saw is no longer the newest
            response = await patch
        assert_unavailable(response)
        assert_one_warning_line(caplog, "40001")


async def test_a_read_only_database_is_a_503_for_writes_and_one_line(
    migrated: URL, caplog: pytest.LogCaptureFixture
) -> None:
    async with asyncio.timeout(TEST_SECONDS), served(app_settings(migrated)) as (_, client):
        assert (await client.post("/country")).status_code == 201
    # What a demoted primary, a standby promoted late, or maintenance's setting does to every
    # new session: reads are served, writes refused with SQLSTATE 25006.
    with admin(migrated) as database:
        database.execute(
            sql.SQL("ALTER DATABASE {} SET default_transaction_read_only = on").format(
                sql.Identifier(str(migrated.database))
            )
        )
    async with asyncio.timeout(TEST_SECONDS), served(app_settings(migrated)) as (_, client):
        assert (await client.get("/country/GB")).status_code == 200
        caplog.set_level(logging.INFO)
        assert_unavailable(await client.patch("/country/GB", json={"common_name": "UK"}))
        assert_one_warning_line(caplog, "25006")


class _DriverError(Exception):
    """A driver's error as SQLAlchemy wraps it: it carries the SQLSTATE."""

    def __init__(self, state: str) -> None:
        super().__init__(f"SQLSTATE {state}")
        self.sqlstate = state


@pytest.mark.parametrize(
    ("state", "unavailable"),
    [
        *[(s, True) for s in ["08006", "28000", "28P01", "53100", "53200", "53300", "53400"]],
        *[(s, True) for s in ["57014", "57P01", "57P02", "57P03", "26000", "40001", "40P01"]],
        *[(s, True) for s in ["3D000", "25006"]],
        *[(s, False) for s in ["23505", "22001", "42P01", "40002", "XX000", ""]],
    ],
)
def test_the_map_reads_postgresqls_classes(state: str, unavailable: bool) -> None:
    error = DBAPIError("SELECT 1", None, _DriverError(state))
    assert is_unavailable(error) is unavailable
