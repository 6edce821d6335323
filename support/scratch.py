"""Scratch databases and free ports, for the tests and the bench alike."""

import socket
import uuid
from collections.abc import Iterator
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
def scratch_database(server: URL, prefix: str) -> Iterator[URL]:
    """Create an empty database named `prefix` and a unique suffix; drop it afterwards.

    `server` is a URL of a database on the server (its maintenance database will do); the
    drop goes ahead whatever connections are left on the scratch database.
    """
    name = f"{prefix}{uuid.uuid4().hex[:12]}"
    with _admin(server) as admin:
        admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    try:
        yield server.set(database=name)
    finally:
        with _admin(server) as admin:
            admin.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )
