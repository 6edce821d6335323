"""How the API is served: uvicorn, with its documented settings, in one place.

`alembic-stuff start` and `alembic-stuff serve` (the Docker image's command) both serve
through `serve`, so the settings cannot drift apart.

uvicorn bounds keep-alive idleness, concurrency and shutdown, and nothing a hostile client
sends: no limit on a request head's size or on how long it takes to arrive, none on a body,
none on pipelined requests that are never read. Those are bounded by nginx in front
(deploy/nginx), as in production; `start` serves without it, for development only.
"""

import errno
import math
import socket
from typing import Any

import uvicorn

from alembic_stuff.settings import Settings

# How long an idle keep-alive connection is kept after a response: longer than nginx's 4 s
# keep-alive to the upstream, so that nginx, not uvicorn, closes an idle connection.
KEEP_ALIVE_SECONDS = 5
# Connections and requests at once beyond which uvicorn answers 503 instead of taking more.
MAX_CONCURRENCY = 1000
# How long a shutdown waits for requests in flight, beyond the request deadline.
SHUTDOWN_GRACE_SECONDS = 5
# What `start` says when it serves: no edge in front.
DIRECT_NOTICE = (
    "serving directly on uvicorn, without nginx in front: for development only; request "
    "heads, bodies and slow clients are bounded by nginx (deploy/nginx), as in production"
)


def server_options(settings: Settings) -> dict[str, Any]:
    """Uvicorn's options for serving the app: documented uvicorn.Config settings only."""
    return {
        "http": "httptools",
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
        # A line per request, as developers and operators expect (bench/shipped.py too).
        access_log=True,
        **server_options(settings),
    )
