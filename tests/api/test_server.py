"""The API as `alembic-stuff serve` serves it, directly on uvicorn: documented settings only.

What a hostile client sends (huge heads, slow clients, floods) is bounded by nginx in front,
tested in tests/edge; here, what uvicorn itself keeps.
"""

import inspect
import socket
import time
from collections.abc import Iterator
from urllib.parse import urlsplit

import httpx
import pytest
import uvicorn
from sqlalchemy import URL

from alembic_stuff.api.server import KEEP_ALIVE_SECONDS, server_options
from tests.databases import served_api, settings_for

REQUEST_TIMEOUT_SECONDS = 1.0
# What a loaded 2-core CI machine may add before the server's timer runs.
SLACK_SECONDS = 2.0
NOWHERE = URL.create("postgresql", username="nobody", host="127.0.0.1", port=1, database="x")


@pytest.fixture(scope="module")
def base_url() -> Iterator[str]:
    """The API served with a 1 s request deadline; /health needs no database."""
    with served_api(NOWHERE, REQUEST_TIMEOUT_SECONDS=str(REQUEST_TIMEOUT_SECONDS)) as base:
        yield base


def connect(base_url: str) -> socket.socket:
    address = urlsplit(base_url)
    connection = socket.create_connection((address.hostname, address.port))
    connection.settimeout(KEEP_ALIVE_SECONDS + SLACK_SECONDS + 5)
    return connection


def read_until_closed(connection: socket.socket) -> bytes:
    received = b""
    with connection:
        while chunk := connection.recv(65536):
            received += chunk
    return received


def test_uvicorn_is_given_only_its_documented_settings() -> None:
    options = server_options(settings_for(NOWHERE))
    assert set(options) <= set(inspect.signature(uvicorn.Config).parameters)
    # Values, not classes: nothing of uvicorn's internals is subclassed or passed in.
    assert all(isinstance(value, str | int | float) for value in options.values())


def test_a_kept_alive_connection_serves_request_after_request(base_url: str) -> None:
    with httpx.Client(base_url=base_url) as client:
        for _ in range(3):
            assert client.get("/health").status_code == 200
            time.sleep(KEEP_ALIVE_SECONDS / 5)


def test_pipelined_requests_are_all_answered_and_the_idle_connection_then_closed(
    base_url: str,
) -> None:
    connection = connect(base_url)
    connection.sendall(b"GET /health HTTP/1.1\r\nhost: x\r\n\r\n" * 3)
    started = time.monotonic()
    received = read_until_closed(connection)
    assert received.count(b"HTTP/1.1 200 OK") == 3
    assert time.monotonic() - started <= KEEP_ALIVE_SECONDS + SLACK_SECONDS


def test_a_body_that_stops_arriving_is_408_not_a_server_error(base_url: str) -> None:
    connection = connect(base_url)
    connection.sendall(
        b"POST /country HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        b'Content-Length: 100\r\n\r\n{"code": "FR"}'
    )
    answer = read_until_closed(connection)
    assert answer.startswith(b"HTTP/1.1 408 "), answer
    assert b"The request body did not arrive within 1 s." in answer
