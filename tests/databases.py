"""Scratch databases for the tests, on TEST_DATABASE_URL or a throwaway embedded server."""

import os
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path
from typing import Any

import httpx
import psycopg
from psycopg import sql
from pydantic import SecretStr
from sqlalchemy import URL, Engine, create_engine, make_url

from alembic_stuff.api.app import create_app
from alembic_stuff.db.embedded import THROWAWAY_SETTINGS, EmbeddedPostgres
from alembic_stuff.settings import Settings

ROOT = Path(__file__).resolve().parent.parent
# Inside the project (git-ignored): as root the server's user must be able to reach it.
SCRATCH_DIR = ROOT / ".data" / "tests"
SCRATCH_PREFIX = "alembic_stuff_test_"


def free_port() -> int:
    """Return a loopback TCP port nothing listens on right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def throwaway_server() -> EmbeddedPostgres:
    """Return a new embedded cluster in its own folder, on a free port (not yet started)."""
    return EmbeddedPostgres(
        SCRATCH_DIR / uuid.uuid4().hex[:12], free_port(), extra_settings=THROWAWAY_SETTINGS
    )


@contextmanager
def server_for_tests() -> Iterator[URL]:
    """Yield an admin URL of a server the tests may create databases on."""
    external = os.environ.get("TEST_DATABASE_URL")
    if external:
        yield make_url(external).set(drivername="postgresql")
        return
    server = throwaway_server()
    try:
        server.start()
        yield server.url()
    finally:
        server.destroy()


def _admin(server: URL) -> psycopg.Connection[tuple[object, ...]]:
    return psycopg.connect(server.render_as_string(hide_password=False), autocommit=True)


@contextmanager
def scratch_database(server: URL) -> Iterator[URL]:
    """Create an empty database with a unique name; drop it afterwards, connections or not."""
    name = f"{SCRATCH_PREFIX}{uuid.uuid4().hex[:12]}"
    with _admin(server) as admin:
        admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    try:
        yield server.set(database=name)
    finally:
        with _admin(server) as admin:
            admin.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )


def settings_for(database: URL, **overrides: Any) -> Settings:
    """Return settings that point at `database` and ignore any .env file."""
    url = SecretStr(database.render_as_string(hide_password=False))
    return Settings(_env_file=None, database_url=url, **overrides)


@contextmanager
def sync_engine(database: URL) -> Iterator[Engine]:
    """A synchronous engine (psycopg, as the migrations use) on `database`, disposed after."""
    engine = create_engine(settings_for(database).migration_url)
    try:
        yield engine
    finally:
        engine.dispose()


@asynccontextmanager
async def serve(settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    """Run the real app (lifespan, engines, pool) against `settings` and yield a client.

    An exception the app does not handle comes back as the 500 a server would answer.
    """
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
            yield client


def server_processes(server: EmbeddedPostgres) -> list[int]:
    """The pids of a running server's postmaster and of every process it started."""
    postmaster = int((server.pgdata / "postmaster.pid").read_text().split()[0])
    children = []
    for entry in Path("/proc").iterdir():
        try:
            # The parent's pid follows the state, after the parenthesised command name.
            ppid = int((entry / "stat").read_text().rpartition(")")[2].split()[1])
        except (OSError, ValueError, IndexError):
            continue
        if ppid == postmaster:
            children.append(int(entry.name))
    return [postmaster, *children]


@contextmanager
def served_api(database: URL, **environment: str) -> Iterator[str]:
    """Serve the API as `alembic-stuff serve` does, in its own process; yield its base URL.

    `environment` adds settings (e.g. REQUEST_HEAD_TIMEOUT_SECONDS="1").
    """
    port = free_port()
    variables = {
        **os.environ,
        "DATABASE_URL": database.render_as_string(hide_password=False),
        **environment,
    }
    command = [sys.executable, "-m", "alembic_stuff", "serve", "--port", str(port)]
    with subprocess.Popen(command, cwd=ROOT, env=variables, stderr=subprocess.DEVNULL) as server:
        try:
            base = f"http://127.0.0.1:{port}"
            deadline = time.monotonic() + 30
            while True:
                try:
                    httpx.get(f"{base}/health", timeout=1)
                    break
                except httpx.TransportError:
                    if time.monotonic() > deadline or server.poll() is not None:
                        raise RuntimeError("the API did not start") from None
                    time.sleep(0.1)
            yield base
        finally:
            server.terminate()
