"""The API as `alembic-stuff serve` serves it: request heads bounded, idle clients dropped."""

import socket
import time
from collections.abc import Iterator
from urllib.parse import urlsplit

import httpx
import pytest
from sqlalchemy import URL

from alembic_stuff.api.server import MAX_HEAD_BYTES
from tests.databases import served_api

HEAD_TIMEOUT_SECONDS = 1.0
# What a loaded 2-core CI machine may add before the server's timer runs.
SLACK_SECONDS = 2.0


@pytest.fixture(scope="module")
def base_url() -> Iterator[str]:
    """The API served with 1 s deadlines for request heads and requests; /health needs no
    database."""
    nowhere = URL.create("postgresql", username="nobody", host="127.0.0.1", port=1, database="x")
    with served_api(
        nowhere,
        REQUEST_HEAD_TIMEOUT_SECONDS=str(HEAD_TIMEOUT_SECONDS),
        REQUEST_TIMEOUT_SECONDS=str(HEAD_TIMEOUT_SECONDS),
    ) as base:
        yield base


def connect(base_url: str) -> socket.socket:
    address = urlsplit(base_url)
    connection = socket.create_connection((address.hostname, address.port))
    connection.settimeout(HEAD_TIMEOUT_SECONDS + SLACK_SECONDS + 5)
    return connection


def seconds_until_closed(connection: socket.socket, trickle: bytes = b"") -> float:
    """Send `trickle` a byte at a time, a fifth of the head deadline apart, until closed."""
    started = time.monotonic()
    with connection:
        try:
            for byte in trickle:
                connection.sendall(bytes([byte]))
                time.sleep(HEAD_TIMEOUT_SECONDS / 5)
            while connection.recv(65536):
                pass
        except (BrokenPipeError, ConnectionResetError):
            pass
    return time.monotonic() - started


def test_an_oversized_head_is_431(base_url: str) -> None:
    response = httpx.get(f"{base_url}/health", headers={"x-big": "a" * (MAX_HEAD_BYTES + 1)})
    assert response.status_code == 431
    assert response.json() == {"detail": "The request's headers are too large."}


def test_many_small_headers_over_the_limit_are_431(base_url: str) -> None:
    headers = [(f"x-{number}", "a") for number in range(MAX_HEAD_BYTES // 6)]
    assert httpx.get(f"{base_url}/health", headers=headers).status_code == 431


def test_a_huge_head_is_cut_off_and_the_server_answers_on(base_url: str) -> None:
    connection = connect(base_url)
    head = b"GET /health HTTP/1.1\r\nhost: x\r\nx-big: " + b"a" * 8_000_000 + b"\r\n\r\n"
    with connection:
        try:
            connection.sendall(head)
            answer = connection.recv(65536)
        except (BrokenPipeError, ConnectionResetError):
            answer = b""  # closed before it had all been sent: refused all the same
    assert answer == b"" or answer.startswith(b"HTTP/1.1 431 ")
    assert httpx.get(f"{base_url}/health").status_code == 200


def test_an_idle_connection_is_closed(base_url: str) -> None:
    assert seconds_until_closed(connect(base_url)) <= HEAD_TIMEOUT_SECONDS + SLACK_SECONDS


def test_a_head_trickled_a_byte_at_a_time_is_cut_off(base_url: str) -> None:
    trickle = b"GET /health HTTP/1.1\r\nhost: x\r\nx-slow: " + b"a" * 100
    assert seconds_until_closed(connect(base_url), trickle) <= HEAD_TIMEOUT_SECONDS + SLACK_SECONDS


def test_a_kept_alive_connection_serves_request_after_request(base_url: str) -> None:
    with httpx.Client(base_url=base_url) as client:
        for _ in range(3):
            assert client.get("/health").status_code == 200
            time.sleep(HEAD_TIMEOUT_SECONDS / 2)


def test_pipelined_requests_are_all_answered_and_the_connection_then_times_out(
    base_url: str,
) -> None:
    connection = connect(base_url)
    request = b"GET /health HTTP/1.1\r\nhost: x\r\n\r\n"
    connection.sendall(request * 3)
    received = b""
    started = time.monotonic()
    with connection:
        while chunk := connection.recv(65536):
            received += chunk
    assert received.count(b"HTTP/1.1 200 OK") == 3
    assert time.monotonic() - started <= HEAD_TIMEOUT_SECONDS + SLACK_SECONDS


def test_a_body_that_stops_arriving_is_408_not_a_server_error(base_url: str) -> None:
    with connect(base_url) as connection:
        connection.sendall(
            b"POST /country HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            b'Content-Length: 100\r\n\r\n{"code": "FR"}'
        )
        answer = b""
        while chunk := connection.recv(65536):
            answer += chunk
    assert answer.startswith(b"HTTP/1.1 408 "), answer
    assert b"The request body did not arrive within 1 s." in answer
