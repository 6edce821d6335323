"""Scratch databases and free ports, for the tests and the bench alike."""

import socket
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import psycopg
from psycopg import sql
from sqlalchemy import URL


def free_port() -> int:
    """Return a loopback TCP port nothing listens on right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


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
