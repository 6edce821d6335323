"""Scratch databases and free ports, for the tests and the bench alike."""

import itertools
import os
import socket
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import psycopg
from psycopg import sql
from sqlalchemy import URL

# The ports handed out lie outside the kernel's ephemeral range, the one it takes a local port
# from for each outgoing connection: a port picked from that range can be taken by a client's
# socket (an edge test opens thousands) before the server it was picked for binds it. Each
# pytest-xdist worker has a slice of its own, walked in turn, so that two workers never pick
# the same port and one worker does not pick again a port it has just handed out.
EPHEMERAL_RANGE = Path("/proc/sys/net/ipv4/ip_local_port_range")
LOWEST_PORT = 10000
HIGHEST_PORT = 65535


def outside_the_ephemeral_range() -> range:
    """The larger of the port ranges below and above the kernel's ephemeral range."""
    try:
        low, high = map(int, EPHEMERAL_RANGE.read_text().split()[:2])
    except (OSError, ValueError):
        low, high = 32768, 60999  # Linux's defaults
    below, above = range(LOWEST_PORT, max(LOWEST_PORT, low)), range(high + 1, HIGHEST_PORT + 1)
    return max(below, above, key=len)


def _ports_of_this_process() -> Iterator[int]:
    ports = outside_the_ephemeral_range()
    workers = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1") or 1)
    worker = os.environ.get("PYTEST_XDIST_WORKER", "gw0").removeprefix("gw")
    size = max(1, len(ports) // max(1, workers))
    first = ports.start + (int(worker) if worker.isdigit() else 0) % max(1, workers) * size
    start = os.getpid() % size
    for step in itertools.count():
        yield first + (start + step) % size


_ports = _ports_of_this_process()


def _bindable(port: int) -> bool:
    # On every IPv4 address, as nginx's `listen PORT` binds it.
    with socket.socket() as probe:
        try:
            probe.bind(("0.0.0.0", port))  # noqa: S104 (a probe, closed at once)
        except OSError:
            return False
        return True


def free_port() -> int:
    """Return a TCP port nothing uses right now and no outgoing connection will be given."""
    for _ in range(len(outside_the_ephemeral_range())):
        port = next(_ports)
        if _bindable(port):
            return port
    raise RuntimeError("no free port outside the kernel's ephemeral range")


def _admin(server: URL) -> psycopg.Connection[tuple[object, ...]]:
    return psycopg.connect(server.render_as_string(hide_password=False), autocommit=True)


@contextmanager
def scratch_database(server: URL, prefix: str, template: str | None = None) -> Iterator[URL]:
    """Create a database named `prefix` and a unique suffix; drop it afterwards.

    `server` is a URL of a database on the server (its maintenance database will do); the
    drop goes ahead whatever connections are left on the scratch database. The database is
    empty, or a copy of the database named `template` (see `template_database`).
    """
    name = _unique(prefix)
    with _database(server, name, template):
        yield server.set(database=name)


@contextmanager
def template_database(server: URL, prefix: str, prepare: Callable[[URL], None]) -> Iterator[str]:
    """A scratch database that `prepare` fills, then closed to connections; yield its name.

    Copying it (`scratch_database(..., template=name)`) is a file copy, much cheaper than
    preparing each copy again. PostgreSQL refuses to copy a database anyone is connected
    to, so `prepare` must leave no connection open; closing it then keeps it unchanged and
    copyable while it lives, whatever the code under test does.
    """
    name = _unique(prefix)
    with _database(server, name, template=None):
        prepare(server.set(database=name))
        with _admin(server) as admin:
            admin.execute(
                sql.SQL("ALTER DATABASE {} WITH ALLOW_CONNECTIONS false").format(
                    sql.Identifier(name)
                )
            )
        yield name


def _unique(prefix: str) -> str:
    return f"{prefix}{uuid.uuid4().hex[:12]}"


@contextmanager
def _database(server: URL, name: str, template: str | None) -> Iterator[None]:
    create = sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name))
    if template is not None:
        create = sql.SQL("{} TEMPLATE {}").format(create, sql.Identifier(template))
    with _admin(server) as admin:
        admin.execute(create)
    try:
        yield
    finally:
        with _admin(server) as admin:
            admin.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )
