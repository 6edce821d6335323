"""A migration whose server goes silent ends in one line, rather than waiting for it forever.

lock_timeout and statement_timeout bound what a running server does. A server that stops
answering at all (its processes frozen, its host paused, its storage hung) enforces neither,
and the driver waits on a socket the kernel keeps open. While a migration command runs, a
thread asks the server every PROBE_SECONDS whether it still answers a new connection: an
SSLRequest, which PostgreSQL answers before any login (the protocol's first message). Once it
has answered nothing for the limit, the migration's connection is shut down, which ends the
wait with a driver error, and the command fails naming the silence.

It watches a psycopg connection (its documented `info` and `fileno()`); a driver without them
(asyncpg) is not watched.
"""

import os
import socket
import struct
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from sqlalchemy import Connection

from alembic_toolkit.errors import DatabaseSilentError

# PostgreSQL's SSLRequest: length 8, then the code 80877103; the server answers one byte.
SSL_REQUEST = struct.pack("!ii", 8, 80877103)
PROBE_SECONDS = 2.0
# How long one probe waits for its answer; a probe unanswered is tried again at once.
ANSWER_SECONDS = 1.0

Address = tuple[socket.AddressFamily, str | tuple[str, int]]


@contextmanager
def ended_when_silent(connection: Connection, seconds: float, name: str) -> Iterator[None]:
    """Run the block; if the server answers nothing for `seconds`, end it: DatabaseSilentError.

    `name` is where a user sets `seconds`, for the message.
    """
    driver = connection.connection.dbapi_connection
    info, fileno = getattr(driver, "info", None), getattr(driver, "fileno", None)
    if info is None or fileno is None:
        yield
        return
    address = server_address(info.host, info.hostaddr, info.port)
    stopped = threading.Event()
    guard = threading.Lock()
    fired = threading.Event()

    def end_the_wait() -> None:
        with guard:
            if stopped.is_set():
                return
            fired.set()
            _shut_down(fileno())

    watcher = threading.Thread(
        target=_watch,
        args=(address, seconds, stopped, end_the_wait),
        name="alembic-toolkit: server silence",
        daemon=True,
    )
    watcher.start()
    try:
        yield
    except Exception:
        if fired.is_set():
            raise DatabaseSilentError(
                f"the database answered nothing for {seconds:g} s, not even a new connection "
                f"(frozen, or its host gone; {name}), so this command's connection was closed. "
                "The revision in progress was rolled back unless its COMMIT reached the server "
                "before it stopped: once the server answers, run this again, and it goes on "
                "from where the database stands"
            ) from None
        raise
    finally:
        with guard:
            stopped.set()


def server_address(host: str, hostaddr: str, port: int) -> Address:
    """Where a server listens (psycopg's `ConnectionInfo` fields): a Unix socket, or TCP."""
    if host.startswith("/"):
        return socket.AF_UNIX, os.path.join(host, f".s.PGSQL.{port}")
    target = hostaddr or host
    family = socket.AF_INET6 if ":" in target else socket.AF_INET
    return family, (target, port)


def _watch(
    address: Address, seconds: float, stopped: threading.Event, end_the_wait: Callable[[], None]
) -> None:
    last_answer = time.monotonic()
    pause = PROBE_SECONDS
    while not stopped.wait(pause):
        if answers(address):
            last_answer, pause = time.monotonic(), PROBE_SECONDS
        elif time.monotonic() - last_answer >= seconds:
            end_the_wait()
            return
        else:
            pause = 0.1


def answers(address: Address) -> bool:
    """True when the server answers an SSLRequest within ANSWER_SECONDS."""
    family, target = address
    try:
        with socket.socket(family, socket.SOCK_STREAM) as probe:
            probe.settimeout(ANSWER_SECONDS)
            probe.connect(target)
            probe.sendall(SSL_REQUEST)
            return probe.recv(1) != b""
    except OSError:
        return False


def _shut_down(fileno: int) -> None:
    """Shut the connection's socket down: the driver's wait on it ends with an error."""
    try:
        with socket.socket(fileno=os.dup(fileno)) as duplicate:
            duplicate.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass  # already closed: the wait has ended by itself
