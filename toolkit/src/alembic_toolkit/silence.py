"""A migration whose server goes silent ends in one line, rather than waiting for it forever.

lock_timeout and statement_timeout bound what a running server does. A server that stops
answering at all (its processes frozen, its host paused, the network to it gone) enforces
neither, and the driver waits on a socket the kernel may keep open. While a migration command
runs, a thread asks the server every PROBE_SECONDS whether it still answers a new connection:
an SSLRequest, the protocol's first message, which PostgreSQL answers before any login. Where
it offers TLS, the probe completes the handshake and closes it cleanly: PostgreSQL logs nothing
for a connection that ends before its startup message (a closed half-made TLS session, or a
CancelRequest, it would log each time). Once the server has
answered nothing for the limit, the migration's connection is shut down, which ends the wait
with a driver error, and the command fails naming the silence. When the server answers again,
PostgreSQL 14 and later end the abandoned session within a second (alembic_toolkit.timeouts,
CLIENT_CHECK), releasing its locks.

One session stuck while the server answers (a backend waiting on hung storage) is not seen.
It watches a psycopg (3 or 2) connection, through its `info` and `fileno()`; a driver without
them (asyncpg) is not watched.
"""

import os
import socket
import ssl
import struct
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from sqlalchemy import Connection

from alembic_toolkit.errors import DatabaseSilentError

# PostgreSQL's SSLRequest: length 8, then the code 80877103; it answers S (TLS) or N.
SSL_REQUEST = struct.pack("!ii", 8, 80877103)
PROBE_SECONDS = 2.0
# How long one probe waits for its answer; a probe unanswered is tried again at once.
ANSWER_SECONDS = 1.0

# A Unix socket's path, or a TCP host (a name, or an address of either family) and port.
Address = str | tuple[str, int]


@contextmanager
def ended_when_silent(connection: Connection, seconds: float, name: str) -> Iterator[None]:
    """Run the block; if the server answers nothing for `seconds`, end it: DatabaseSilentError.

    `name` is where a user sets `seconds`, for the message.
    """
    driver = connection.connection.dbapi_connection
    info, fileno = getattr(driver, "info", None), getattr(driver, "fileno", None)
    host, port = getattr(info, "host", None), getattr(info, "port", None)
    if not host or not port or fileno is None:
        yield
        return
    # psycopg 3's is the address it connected to; psycopg 2 has none (its host is resolved).
    address = server_address(host, getattr(info, "hostaddr", "") or "", int(port))
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
                "When the server answers again it ends that session, rolling back the revision "
                "in progress unless its COMMIT had reached it; then run this again, and it goes "
                "on from where the database stands"
            ) from None
        raise
    finally:
        with guard:
            stopped.set()


def server_address(host: str, hostaddr: str, port: int) -> Address:
    """Where a server listens (psycopg's `ConnectionInfo` fields): a Unix socket, or TCP."""
    if host.startswith("/"):
        return os.path.join(host, f".s.PGSQL.{port}")
    # A name is resolved as libpq resolves it (localhost may be ::1 before 127.0.0.1).
    return hostaddr or host, port


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
    try:
        with _connected(address) as probe:
            probe.settimeout(ANSWER_SECONDS)
            probe.sendall(SSL_REQUEST)
            answer = probe.recv(1)
            if answer == b"S":
                _close_tls_cleanly(probe)
            return answer != b""
    except OSError:  # refused, reset, or no answer in time (ssl.SSLError is an OSError)
        return False


def _connected(address: Address) -> socket.socket:
    """A socket connected to `address` within ANSWER_SECONDS (for each address of a name)."""
    if isinstance(address, tuple):
        return socket.create_connection(address, timeout=ANSWER_SECONDS)
    unix = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        unix.settimeout(ANSWER_SECONDS)
        unix.connect(address)
    except OSError:
        unix.close()
        raise
    return unix


def _close_tls_cleanly(probe: socket.socket) -> None:
    """Make the TLS session the server offered, then end it with a close_notify."""
    # Nothing is sent over it and no one is trusted: the handshake only ends the connection
    # the way PostgreSQL does not log.
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    with context.wrap_socket(probe) as session:
        session.unwrap()


def _shut_down(fileno: int) -> None:
    """Shut the connection's socket down: the driver's wait on it ends with an error."""
    try:
        with socket.socket(fileno=os.dup(fileno)) as duplicate:
            duplicate.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass  # already closed: the wait has ended by itself
