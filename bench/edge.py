"""The app behind nginx, as deployed: the shipped configuration, with one bench-only change.

nginx is rendered, configured and stopped by support/nginx.py, as the tests run it. The one
change: the template lets a client address have 20 requests in progress (`limit_conn`), and
every connection wrk opens comes from 127.0.0.1 (wrk cannot choose a source address, and on
loopback the kernel picks 127.0.0.1 whatever address is dialled), so wrk's 32 connections
would be one client over its limit, answered 429. The rendered copy lets one address have
as many requests in progress as wrk has connections; the shipped template is not touched.
nginx runs on core 1, with wrk, so that the app keeps core 0 to itself as it does direct.
"""

import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from bench.cases import CONNECTIONS
from bench.harness import pinned
from support.http import answers
from support.nginx import NGINX, START_SECONDS, configure, scratch_folder, stop
from support.scratch import free_port

# Requests in progress the template lets one client address have, and the bench's copy.
SHIPPED_PER_CLIENT = 20
SHIPPED_LIMIT = f"limit_conn per_client {SHIPPED_PER_CLIENT};"
BENCH_LIMIT = f"limit_conn per_client {CONNECTIONS};"


def configure_for_bench(folder: Path, api_url: str, port: int) -> list[str]:
    """Write the shipped configuration into `folder` with the bench's one change.

    Returns the command that runs nginx with it, in the foreground.
    """
    command = configure(folder, api_url, port)
    server = folder / "conf.d" / "default.conf"
    shipped = server.read_text()
    if shipped.count(SHIPPED_LIMIT) != 1:
        raise SystemExit(
            f"bench: the template no longer says {SHIPPED_LIMIT!r} once: update bench/edge.py"
        )
    server.write_text(shipped.replace(SHIPPED_LIMIT, BENCH_LIMIT))
    return command


@contextmanager
def behind_nginx(api_url: str) -> Iterator[str]:
    """nginx with the shipped configuration in front of `api_url`; yield nginx's URL."""
    if not NGINX.exists():
        raise SystemExit(
            f"bench: {NGINX} is needed: install Debian's nginx (apt-get install nginx)"
        )
    port = free_port()
    with scratch_folder() as folder, (folder / "error.log").open("wb") as errors:
        command = configure_for_bench(folder, api_url, port)
        with subprocess.Popen(
            pinned(1, command), stdout=subprocess.DEVNULL, stderr=errors
        ) as nginx:
            try:
                url = f"http://127.0.0.1:{port}"
                if not answers(f"{url}/country/GB", nginx, seconds=START_SECONDS):
                    log = (folder / "error.log").read_text()
                    raise SystemExit(f"bench: nginx did not start: {log}")
                yield url
            finally:
                stop(nginx)
