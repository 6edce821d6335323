"""Serving an app as shipped on one core and driving it with wrk on the other."""

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from sqlalchemy import URL

from bench.cases import CONNECTIONS, lua_script
from support.http import answers
from support.scratch import free_port

ROOT = Path(__file__).resolve().parent.parent
# The app the targets are about, served by its own command, and what every ratio is to.
OURS = "alembic-stuff"
YARDSTICK = "yardstick"


@dataclass(frozen=True)
class App:
    """An app the bench serves: where uvicorn finds it, and what its POST takes."""

    target: str
    label: str
    factory: bool = False
    # alembic-stuff completes a country from its code; the others want the whole country.
    code_only_bodies: bool = False


APPS = {
    YARDSTICK: App("bench.yardstick:app", "raw Starlette + asyncpg (yardstick)"),
    "alembic-stuff": App(
        "alembic_stuff.api.app:create_app", "alembic-stuff", factory=True, code_only_bodies=True
    ),
    "greenlet": App(
        "bench.greenlet_data_path:create_app",
        "alembic-stuff on greenlet_spawn (bench only)",
        factory=True,
        code_only_bodies=True,
    ),
    "peer": App("bench.peer:app", "usual FastAPI + SQLAlchemy ORM (peer)"),
}

# How wrk reaches each app: on uvicorn's own port, and through nginx (bench/edge.py).
VIAS = {"direct": "direct", "nginx": "through nginx"}


@dataclass
class Result:
    """One wrk run."""

    requests_per_second: float
    p50_ms: float
    p99_ms: float
    failed: int


def pinned(core: int, command: list[str]) -> list[str]:
    """`command` pinned to one core when taskset is there and the machine has two or more."""
    if shutil.which("taskset") and (os.cpu_count() or 1) >= 2:
        return ["taskset", "--cpu-list", str(core), *command]
    return command


@contextmanager
def serve(app: str, url: URL) -> Iterator[tuple[str, int]]:
    """Serve `app` as shipped (bench/shipped.py) on core 0; yield its base URL and pid.

    Its log, an access-log line a request included, goes to a file, as a container's goes to
    the log collector; the run stops if no request was logged, since the apps are compared
    only as logging alike.
    """
    port = free_port()
    if app == OURS:
        command = [sys.executable, "-m", "alembic_stuff", "serve", "--port", str(port)]
    else:
        command = [sys.executable, "-m", "bench.shipped", APPS[app].target, "--port", str(port)]
        if APPS[app].factory:
            command.append("--factory")
    environment = {**os.environ, "DATABASE_URL": url.render_as_string(hide_password=False)}
    with tempfile.TemporaryFile() as log:
        with subprocess.Popen(
            pinned(0, command), cwd=ROOT, env=environment, stdout=log, stderr=log
        ) as process:
            base = f"http://127.0.0.1:{port}"
            try:
                if not answers(f"{base}/country/GB", process, seconds=30):
                    raise SystemExit(f"bench: {app} did not start: {tail(log)}")
                yield base, process.pid
            finally:
                process.send_signal(signal.SIGTERM)
                process.wait(timeout=30)
        if ' HTTP/1.1" ' not in tail(log):
            raise SystemExit(f"bench: {app} logged no request: {tail(log)}")


def tail(log: IO[bytes], size: int = 2000) -> str:
    """The last `size` bytes of a server's log, as text."""
    log.seek(0, os.SEEK_END)
    log.seek(max(0, log.tell() - size))
    return log.read().decode(errors="replace")


def drive(wrk: str, base: str, app: str, case: str, seconds: int) -> Result:
    """Run wrk against `base` for `seconds`, on core 1."""
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as script:
        script.write(lua_script(case, code_only_bodies=APPS[app].code_only_bodies))
    threads = CONNECTIONS if case == "write" else 2
    command = [
        wrk,
        f"--threads={threads}",
        f"--connections={CONNECTIONS}",
        f"--duration={seconds}s",
        "--timeout=5s",
        f"--script={script.name}",
        base,
    ]
    try:
        output = subprocess.run(
            pinned(1, command), capture_output=True, text=True, check=True, timeout=seconds + 30
        ).stdout
    finally:
        os.unlink(script.name)
    line = next(line for line in output.splitlines() if line.startswith("BENCH "))
    figures = json.loads(line.removeprefix("BENCH "))
    return Result(
        requests_per_second=figures["requests"] / (figures["duration_us"] / 1e6),
        p50_ms=figures["p50_us"] / 1000,
        p99_ms=figures["p99_us"] / 1000,
        failed=figures["errors"] + figures["bad_status"],
    )


def peak_rss_mb(pid: int) -> float:
    """The process's peak resident set (VmHWM), in MB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def ensure_wrk() -> str:
    """The wrk load generator, installed from Debian's packages when missing."""
    found = shutil.which("wrk")
    if found:
        return found
    if os.geteuid() == 0 and shutil.which("apt-get"):
        print("bench: installing wrk (apt-get install wrk)", flush=True)
        for step in (["apt-get", "update"], ["apt-get", "install", "--yes", "wrk"]):
            subprocess.run(step, stdout=subprocess.DEVNULL, timeout=300, check=False)
        found = shutil.which("wrk")
        if found:
            return found
    raise SystemExit("bench: wrk is needed: install it (Debian: apt-get install wrk)")
