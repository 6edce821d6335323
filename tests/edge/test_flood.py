"""A pipelining flood through nginx: the API's memory stays bounded, during and after.

Connections that pipeline tens of thousands of requests and read no answer grow a server
that reads everything it is sent: uvicorn alone went from 99 MB to 2.5 GB in 10 s. nginx
takes one request of a connection at a time, and drops a client that stops reading.
"""

import socket
import time

import httpx
import psutil

from support.nginx import Edge

CONNECTIONS = 20
PIPELINED = 50_000
FLOOD_SECONDS = 10
# How long after the flood the memory is measured again.
AFTER_SECONDS = 3
RSS_LIMIT = 300 * 1024 * 1024
REQUEST = b"GET /country/GB HTTP/1.1\r\nHost: x\r\n\r\n"


def flood(port: int, api: psutil.Process) -> tuple[int, int]:
    """Pipeline the requests on every connection for FLOOD_SECONDS, reading nothing.

    Returns the bytes sent, and the API's largest resident memory meanwhile.
    """
    pending: dict[socket.socket, memoryview] = {}
    for _ in range(CONNECTIONS):
        connection = socket.create_connection(("127.0.0.1", port), timeout=5)
        connection.setblocking(False)
        pending[connection] = memoryview(REQUEST * PIPELINED)
    sent = peak = 0
    deadline = time.monotonic() + FLOOD_SECONDS
    try:
        while time.monotonic() < deadline:
            for connection, rest in list(pending.items()):
                try:
                    written = connection.send(rest[:65536])
                except BlockingIOError:
                    continue
                except OSError:  # dropped by the server
                    written = len(rest)
                sent += written
                pending[connection] = rest[written:]
            peak = max(peak, api.memory_info().rss)
            time.sleep(0.02)
    finally:
        for connection in pending:
            connection.close()
    return sent, peak


def test_a_pipelining_flood_leaves_the_api_under_300_mb(front: Edge) -> None:
    api = psutil.Process(front.api.pid)
    sent, peak = flood(front.port, api)
    time.sleep(AFTER_SECONDS)
    after = api.memory_info().rss
    assert sent > 1024 * 1024, "the flood was not sent"
    assert peak < RSS_LIMIT, f"{peak / 1024**2:.0f} MB during the flood"
    assert after < RSS_LIMIT, f"{after / 1024**2:.0f} MB after it"
    assert httpx.get(f"{front.url}/country/GB", timeout=10).status_code == 200
