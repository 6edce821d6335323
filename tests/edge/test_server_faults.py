"""After the API's 500, the next request through nginx is answered, not a 502.

uvicorn closes its connection after an exception it did not handle: nginx must know, or it
sends the next request on that dead keep-alive connection, and a PATCH, POST or DELETE (which
nginx does not retry) gets a 502. The API's 500 says `Connection: close`.
"""

import re
from collections.abc import Iterator

import httpx
import pytest
from sqlalchemy import URL

from support.nginx import Edge, edge, exchange
from tests.databases import BROKEN_TRIGGER, run_sql_script, scratch_database

# Each round is a chance for nginx to reuse the connection uvicorn drops.
ROUNDS = 10


def patch(name: str, *, last: bool = False) -> bytes:
    body = b'{"common_name": "%s"}' % name.encode()
    closing = b"Connection: close\r\n" if last else b""
    return (
        b"PATCH /country/GB HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        b"Content-Length: %d\r\n%s\r\n%s" % (len(body), closing, body)
    )


@pytest.fixture
def faulty_front(server_url: URL, head_template: str) -> Iterator[Edge]:
    """nginx in front of an API whose database fails a PATCH naming the country "Fault"."""
    with scratch_database(server_url, template=head_template) as database:
        run_sql_script(database, BROKEN_TRIGGER)
        with edge(database) as e:
            assert httpx.post(f"{e.url}/country", timeout=10).status_code == 201
            yield e


def test_the_patch_after_a_500_on_the_same_client_is_answered(faulty_front: Edge) -> None:
    with httpx.Client(base_url=faulty_front.url, timeout=10) as client:
        for _ in range(ROUNDS):
            fault = client.patch("/country/GB", json={"common_name": "Fault"})
            assert fault.status_code == 500
            assert fault.json() == {"detail": "Internal Server Error"}
            assert client.patch("/country/GB", json={"common_name": "UK"}).status_code == 200


def test_a_patch_pipelined_behind_a_500_is_answered(faulty_front: Edge) -> None:
    # Pipelined, the second request is at nginx before the first one's answer: nginx takes an
    # upstream connection for it at once, the moment the first one's is back in its cache.
    for _ in range(ROUNDS):
        answer = exchange(faulty_front, patch("Fault") + patch("UK", last=True))
        # A body may end without a line break: the next status line follows it at once.
        assert re.findall(rb"HTTP/1\.1 (\d{3})", answer) == [b"500", b"200"], answer
