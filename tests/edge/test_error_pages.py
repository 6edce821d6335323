"""nginx's own errors, when the API is gone, frozen or flooded: JSON, with Retry-After.

Requests nginx refuses itself (a method, an encoding or an HTTP version it does not take) are
JSON too; the API's own errors pass through as the API sent them.
"""

import json
import os
import signal
import socket
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from support.nginx import TEMPLATE, Edge, exchange, upstream_bound

# nginx's per-client limit on requests in progress (limit_conn in the template).
PER_CLIENT = 20
# Beyond the template's proxy_read_timeout (10 s).
PATIENCE_SECONDS = 20
GET = b"GET /country/GB HTTP/1.1\r\nHost: x\r\n\r\n"


def assert_json_with_retry_after(response: httpx.Response, status: int) -> None:
    assert response.status_code == status
    assert response.headers["content-type"] == "application/json"
    assert response.headers["retry-after"] == "2"
    assert "try again shortly" in response.json()["detail"]


def parse(answer: bytes) -> tuple[int, dict[str, str], bytes]:
    """The status, headers (names in lower case) and body of the one response in `answer`."""
    head, _, body = answer.partition(b"\r\n\r\n")
    status_line, *lines = head.decode("latin-1").split("\r\n")
    headers = {}
    for line in lines:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    return int(status_line.split()[1]), headers, body


def one_over_the_limit(edge: Edge) -> httpx.Response:
    """The first request answered at once, once the others are in progress at nginx."""
    for _ in range(PATIENCE_SECONDS * 2):
        try:
            return httpx.get(f"{edge.url}/country/GB", timeout=0.5)
        except httpx.TimeoutException:  # not over it yet: this one waits like the others
            continue
    raise AssertionError("no request was refused")


def test_a_stopped_api_is_502_json_with_retry_after(own_front: Edge) -> None:
    own_front.api.terminate()
    own_front.api.wait(10)
    assert_json_with_retry_after(httpx.get(f"{own_front.url}/country/GB"), 502)


def test_a_frozen_api_is_504_and_a_client_over_its_limit_429(own_front: Edge) -> None:
    os.kill(own_front.api.pid, signal.SIGSTOP)
    try:
        with (
            httpx.Client(timeout=PATIENCE_SECONDS) as client,
            ThreadPoolExecutor(PER_CLIENT) as pool,
        ):
            waiting = [
                pool.submit(client.get, f"{own_front.url}/country/GB") for _ in range(PER_CLIENT)
            ]
            assert_json_with_retry_after(one_over_the_limit(own_front), 429)
            for request in waiting:
                assert_json_with_retry_after(request.result(PATIENCE_SECONDS), 504)
    finally:
        os.kill(own_front.api.pid, signal.SIGCONT)


def test_requests_beyond_the_apis_places_are_a_json_502_at_once(own_front: Edge) -> None:
    # The API frozen, every request nginx passes on stays in progress: once it has as many as
    # its bound, the next is refused by nginx itself, not queued for uvicorn's plain-text 503.
    bound = upstream_bound(TEMPLATE.read_text())
    os.kill(own_front.api.pid, signal.SIGSTOP)
    waiting: list[socket.socket] = []
    try:
        for number in range(bound):
            # limit_conn lets one address have PER_CLIENT requests in progress.
            address = f"127.0.1.{number // PER_CLIENT + 1}"
            connection = socket.create_connection(
                ("127.0.0.1", own_front.port), timeout=5, source_address=(address, 0)
            )
            waiting.append(connection)
            connection.sendall(GET)
        refused = one_over_the_limit(own_front)
        assert_json_with_retry_after(refused, 502)
        assert "at capacity" in refused.json()["detail"]
    finally:
        for connection in waiting:
            connection.close()
        os.kill(own_front.api.pid, signal.SIGCONT)


@pytest.mark.parametrize(
    ("request_bytes", "status", "detail"),
    [
        (b"TRACE / HTTP/1.1\r\nHost: x\r\n\r\n", 405, "The method is not allowed."),
        (
            b"FOO /country/GB HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
            405,
            "The method is not allowed.",
        ),
        (
            b"POST /country HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: xchunked\r\n\r\n",
            501,
            "The request's Transfer-Encoding is not supported.",
        ),
        (b"GET /country/GB HTTP/2.0\r\nHost: x\r\n\r\n", 505, "The HTTP version is not supported."),
    ],
    ids=[
        "trace-405",
        "unknown-method-405",
        "unknown-transfer-encoding-501",
        "http-2.0-request-line-505",
    ],
)
def test_what_nginx_refuses_itself_is_json(
    front: Edge, request_bytes: bytes, status: int, detail: str
) -> None:
    answered, headers, body = parse(exchange(front, request_bytes))
    assert answered == status
    assert headers["content-type"] == "application/json"
    assert json.loads(body) == {"detail": detail}


@pytest.mark.parametrize(
    "request_bytes",
    [
        b"GET /country/GB HTTP/1.1\r\nHost: x\r\nUser-Agent: a\x01b\r\n\r\n",
        b"GET /country/GB HTTP/1.1\r\nHost: x\r\nX-Note: a\x7fb\r\n\r\n",
        b"GET /country/\xc3\xa9 HTTP/1.1\r\nHost: x\r\n\r\n",
        b"GET /countries?after=\xc3\xa9 HTTP/1.1\r\nHost: x\r\n\r\n",
    ],
    ids=["control-in-a-header-value", "del-in-a-header-value", "utf-8-path", "utf-8-query"],
)
def test_what_the_api_server_refuses_as_not_http_is_nginxs_json_400(
    front: Edge, request_bytes: bytes
) -> None:
    # nginx passes these on; uvicorn's parser answers them with a 400 in plain text.
    answered, headers, body = parse(exchange(front, request_bytes))
    assert answered == 400
    assert headers["content-type"] == "application/json"
    assert json.loads(body) == {"detail": "The request is not valid HTTP."}


def test_asking_for_an_internal_error_page_by_its_path_is_a_json_404(front: Edge) -> None:
    response = httpx.get(f"{front.url}/_edge/400")
    assert response.status_code == 404
    assert response.headers["content-type"] == "application/json"
    assert response.json() == {"detail": "Not Found"}


def test_the_apis_own_405_passes_through_with_its_allow(front: Edge) -> None:
    response = httpx.put(f"{front.url}/country/GB", json={})
    assert response.status_code == 405
    assert response.headers["content-type"] == "application/json"
    assert response.headers["allow"] == "DELETE, GET, PATCH"
    assert response.json() == {"detail": "Method Not Allowed"}
