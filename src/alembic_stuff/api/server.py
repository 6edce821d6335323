"""How the API is served: uvicorn, with the limits a production server sets, in one place.

`alembic-stuff start` and `alembic-stuff serve` (the Docker image's command) both serve
through `serve`, so the limits cannot drift apart.

uvicorn's fast parser, httptools, takes a request head of any size (a 64 MB header was
answered 200, the process grown by 200 MB), and its limit cannot be set; h11's limit can be,
but applies only to a head that arrives over several reads, and h11 is the slower parser.
No uvicorn parser bounds how long a client may take to send a request's head either: a
connection that never sends one, or sends a byte every few seconds, stays open for good.
`BoundedHttpToolsProtocol` measures each head before the parser sees it, answers one over
the limit with 431, and closes a connection whose head has not arrived in time.
"""

import asyncio
import errno
import json
import math
import socket
from typing import Any

import uvicorn
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from alembic_stuff.settings import Settings

# The largest request line and headers accepted together, as nginx and gunicorn allow about.
MAX_HEAD_BYTES = 16 * 1024
# How long an idle keep-alive connection is kept after a response.
KEEP_ALIVE_SECONDS = 5
# Connections and requests at once beyond which uvicorn answers 503 instead of taking more.
MAX_CONCURRENCY = 1000
# How long a shutdown waits for requests in flight, beyond the request deadline.
SHUTDOWN_GRACE_SECONDS = 5


class BoundedHttpToolsProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol, with a deadline on each request's head and a size limit.

    Each head is measured up to its blank line before the parser sees it.
    """

    head_timeout_seconds: float = 10.0
    _head_deadline: asyncio.TimerHandle | None
    _awaited_after: object  # the request cycle current when the clock started
    _head_bytes: int
    _head_tail: bytes  # the last bytes seen, in case the blank line is split across reads

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        """Take the connection, and start waiting for the first request's head."""
        super().connection_made(transport)  # type: ignore[arg-type]  # uvicorn types it as TCP
        self._head_deadline = None
        self._await_head()

    def data_received(self, data: bytes) -> None:
        """Measure the head being received, then parse; a complete head stops its clock."""
        if self._head_deadline is None:
            super().data_received(data)
            return
        window = self._head_tail + data
        end = window.find(b"\r\n\r\n")
        received = len(data) if end < 0 else end + 4 - len(self._head_tail)
        self._head_bytes += received
        if self._head_bytes > MAX_HEAD_BYTES:
            self._refuse_large_head()
            return
        self._head_tail = window[-3:]
        super().data_received(data)
        # uvicorn starts a new request cycle for each request whose head it has parsed.
        if self._head_deadline is not None and self.cycle is not self._awaited_after:
            self._head_deadline.cancel()
            self._head_deadline = None

    def on_response_complete(self) -> None:
        """Finish the response, and give the next request on the connection the same deadline."""
        answered = self.cycle
        super().on_response_complete()
        # Unless uvicorn has just started a pipelined request, whose head has arrived already.
        if not self.transport.is_closing() and self.cycle is answered:
            self._await_head()

    def connection_lost(self, exc: Exception | None) -> None:
        """Forget the connection and its deadline."""
        if self._head_deadline is not None:
            self._head_deadline.cancel()
            self._head_deadline = None
        super().connection_lost(exc)

    def _await_head(self) -> None:
        if self._head_deadline is not None:
            self._head_deadline.cancel()
        self._awaited_after = self.cycle
        self._head_bytes = 0
        self._head_tail = b""
        self._head_deadline = asyncio.get_running_loop().call_later(
            self.head_timeout_seconds, self._head_too_slow
        )

    def _head_too_slow(self) -> None:
        self._head_deadline = None
        if not self.transport.is_closing():
            self.transport.close()

    def _refuse_large_head(self) -> None:
        if self._head_deadline is not None:
            self._head_deadline.cancel()
            self._head_deadline = None
        body = json.dumps({"detail": "The request's headers are too large."}).encode()
        # Written as bytes: there is no request yet for the protocol to answer.
        self.transport.write(
            b"HTTP/1.1 431 Request Header Fields Too Large\r\n"
            b"content-type: application/json\r\n"
            b"content-length: %d\r\n"
            b"connection: close\r\n\r\n%s" % (len(body), body)
        )
        self.transport.close()


def server_options(settings: Settings) -> dict[str, Any]:
    """Uvicorn's options for serving the app: parser, limits and timeouts."""

    class Protocol(BoundedHttpToolsProtocol):
        head_timeout_seconds = settings.request_head_timeout_seconds

    return {
        "http": Protocol,
        "timeout_keep_alive": KEEP_ALIVE_SECONDS,
        "limit_concurrency": MAX_CONCURRENCY,
        "timeout_graceful_shutdown": math.ceil(settings.request_timeout_seconds)
        + SHUTDOWN_GRACE_SECONDS,
    }


class PortTakenError(OSError):
    """Another program listens on the address the API is to be served on."""


def listen_address(
    settings: Settings, host: str | None = None, port: int | None = None
) -> tuple[str, int]:
    """The address to serve on: the one given, else API_HOST and API_PORT."""
    return host or settings.api_host, port or settings.api_port


def ensure_port_free(host: str, port: int) -> None:
    """Raise PortTakenError, saying what to do, when another program listens on host:port.

    Checked before anything starts: uvicorn finds out only once the app has started, and
    then exits with a log line and no more. Other bind errors are left to uvicorn to report.
    """
    try:
        addresses = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except socket.gaierror:
        return
    for family, kind, protocol, _, address in addresses:
        with socket.socket(family, kind, protocol) as probe:
            # As uvicorn's listening socket does: a port whose last connections are in
            # TIME_WAIT is free to listen on, one another program listens on is not.
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                probe.bind(address)
            except OSError as exc:
                if exc.errno == errno.EADDRINUSE:
                    raise PortTakenError(
                        f"port {port} on {host} is taken by another program: stop it, or "
                        "choose another port with --port (or API_PORT)"
                    ) from None


def serve(settings: Settings, host: str | None = None, port: int | None = None) -> None:
    """Serve the API until Ctrl-C or SIGTERM (default address: API_HOST and API_PORT)."""
    host, port = listen_address(settings, host, port)
    uvicorn.run(
        "alembic_stuff.api.app:create_app",
        factory=True,
        host=host,
        port=port,
        # A line per request, as developers and operators expect; `bench` serves without it.
        access_log=True,
        **server_options(settings),
    )
