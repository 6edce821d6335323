"""Slow clients through nginx: 2,000 connections trickling their heads deny no one service.

Each slow connection sends a request line, then a header line a second and never the blank
line that ends the head; when the server drops it, another takes its place. They come from
127.0.0.2, another client address than the normal client's, as an attacker's would.
"""

import resource
import socket
import threading
import time

import httpx
import pytest

from support.nginx import Edge

SLOW_CONNECTIONS = 2000
HOLD_SECONDS = 30
ATTACKER = "127.0.0.2"
TRICKLE = b"X-Slow: a\r\n"
# Room for the slow connections, the normal client, and the test process's own files.
FILES_NEEDED = SLOW_CONNECTIONS + 512


class SlowClients(threading.Thread):
    """SLOW_CONNECTIONS connections held open and trickling until `stop()`."""

    def __init__(self, port: int) -> None:
        super().__init__(daemon=True)
        self.port = port
        self.open: list[socket.socket] = []
        self.most_open = 0
        self.replaced = 0
        self.stopped = threading.Event()

    def connect(self) -> socket.socket | None:
        connection = socket.socket()
        try:
            connection.bind((ATTACKER, 0))
            connection.settimeout(1)
            connection.connect(("127.0.0.1", self.port))
            connection.sendall(b"GET /country/GB HTTP/1.1\r\nHost: x\r\n")
            connection.setblocking(False)
        except OSError:
            connection.close()
            return None
        return connection

    def run(self) -> None:
        while not self.stopped.is_set():
            while len(self.open) < SLOW_CONNECTIONS and not self.stopped.is_set():
                if (connection := self.connect()) is not None:
                    self.open.append(connection)
            self.most_open = max(self.most_open, len(self.open))
            for connection in list(self.open):
                try:
                    connection.send(TRICKLE)
                except (BlockingIOError, InterruptedError):
                    pass
                except OSError:  # dropped by the server: another takes its place
                    connection.close()
                    self.open.remove(connection)
                    self.replaced += 1
            self.stopped.wait(1)

    def stop(self) -> None:
        self.stopped.set()
        self.join(30)
        for connection in self.open:
            connection.close()


@pytest.fixture
def enough_files() -> None:
    """Let the test process hold every slow connection (ulimit -n)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < FILES_NEEDED:
        if hard != resource.RLIM_INFINITY and hard < FILES_NEEDED:
            pytest.fail(f"`ulimit -n` is {hard}: raise it to {FILES_NEEDED} to run this test")
        resource.setrlimit(resource.RLIMIT_NOFILE, (FILES_NEEDED, hard))


@pytest.mark.usefixtures("enough_files")
def test_slow_clients_leave_a_normal_client_99_percent_200(front: Edge) -> None:
    attack = SlowClients(front.port)
    attack.start()
    answered: list[int] = []
    try:
        while attack.most_open < SLOW_CONNECTIONS and attack.is_alive():
            time.sleep(0.1)
        deadline = time.monotonic() + HOLD_SECONDS
        # A new connection each time, as a new visitor's: it must be accepted too.
        with httpx.Client(timeout=5, limits=httpx.Limits(max_keepalive_connections=0)) as client:
            while time.monotonic() < deadline:
                try:
                    answered.append(client.get(f"{front.url}/country/GB").status_code)
                except httpx.TransportError:
                    answered.append(0)
                time.sleep(0.05)
    finally:
        attack.stop()
    assert attack.most_open >= SLOW_CONNECTIONS
    assert len(answered) >= 100, f"only {len(answered)} requests in {HOLD_SECONDS} s"
    assert answered.count(200) >= 0.99 * len(answered), sorted(set(answered))
