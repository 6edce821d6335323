"""The timings besides the load: migrations, start-up, the test suite."""

import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
from sqlalchemy import URL

from alembic_stuff.db.embedded import EmbeddedPostgres
from bench.databases import DATA, ROOT, scratch
from support.scratch import free_port


def timed(command: list[str], environment: dict[str, str], cwd: Path = ROOT) -> float:
    """Seconds `command` takes, which must succeed."""
    started = time.perf_counter()
    subprocess.run(command, cwd=cwd, env=environment, check=True, capture_output=True)
    return time.perf_counter() - started


def migration_timings(url: URL, repeats: int) -> dict[str, str]:
    """`alembic-latest` (the project's env.py: lock, timeouts) against a stock env.py."""
    stock = Path(tempfile.mkdtemp(prefix="bench-stock-alembic-"))
    try:
        subprocess.run(
            [sys.executable, "-m", "alembic", "init", str(stock / "alembic")],
            cwd=stock,
            check=True,
            capture_output=True,
        )
        shutil.rmtree(stock / "alembic" / "versions")
        shutil.copytree(
            ROOT / "alembic" / "versions",
            stock / "alembic" / "versions",
            ignore=shutil.ignore_patterns("__pycache__"),
        )
        ours: list[float] = []
        bare: list[float] = []
        for _ in range(repeats):
            with scratch(url) as target:
                environment = {
                    **os.environ,
                    "DATABASE_URL": target.render_as_string(hide_password=False),
                }
                # Two heads (expand and contract) in this project's history.
                ours.append(
                    timed([sys.executable, "-m", "alembic", "upgrade", "heads"], environment)
                )
            with scratch(url) as target:
                set_stock_url(stock / "alembic.ini", target.set(drivername="postgresql+psycopg"))
                bare.append(
                    timed(
                        [sys.executable, "-m", "alembic", "upgrade", "heads"],
                        dict(os.environ),
                        cwd=stock,
                    )
                )
        ours_s, bare_s = statistics.median(ours), statistics.median(bare)
        return {
            "alembic-latest on an empty database": f"{ours_s:.2f} s",
            "bare `alembic upgrade head` (stock env.py)": f"{bare_s:.2f} s",
            "alembic-latest / bare": f"{ours_s / bare_s:.2f}",
        }
    finally:
        shutil.rmtree(stock, ignore_errors=True)


def set_stock_url(ini: Path, url: URL) -> None:
    """Point the stock alembic.ini at `url` (% doubled, as configparser wants)."""
    text = url.render_as_string(hide_password=False).replace("%", "%%")
    ini.write_text(
        "\n".join(
            f"sqlalchemy.url = {text}" if line.startswith("sqlalchemy.url") else line
            for line in ini.read_text().splitlines()
        )
        + "\n"
    )


def start_to_first_200() -> str:
    """Seconds from `alembic-stuff start` on a stopped, initialised embedded database to /ready."""
    server = EmbeddedPostgres(DATA / "start-postgres", free_port())
    server.stop()  # one a killed run left behind, on whatever port it had
    server.start()
    server.ensure_database("alembic-stuff")
    server.stop()
    port = free_port()
    environment = {
        **os.environ,
        "DATABASE_URL": "",
        "EMBEDDED_DATA_DIR": str(server.data_dir),
        "EMBEDDED_PORT": str(server.port),
        "API_PORT": str(port),
    }
    started = time.perf_counter()
    with subprocess.Popen(
        [sys.executable, "-m", "alembic_stuff", "start"],
        cwd=ROOT,
        env=environment,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    ) as process:
        try:
            while time.perf_counter() - started < 60:
                try:
                    if httpx.get(f"http://127.0.0.1:{port}/ready", timeout=1).status_code == 200:
                        return f"{time.perf_counter() - started:.2f} s"
                except httpx.TransportError:
                    time.sleep(0.02)
            return "did not answer within 60 s"
        finally:
            process.send_signal(signal.SIGTERM)
            process.wait(timeout=30)


def test_suite_time() -> str:
    """Wall time of the README's test command, and whether it passed."""
    # Run last, after every measurement: a failing test is reported with the time rather
    # than losing the run's figures.
    started = time.perf_counter()
    finished = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-n", "auto"], cwd=ROOT, capture_output=True
    )
    seconds = time.perf_counter() - started
    if finished.returncode != 0:
        return f"{seconds:.1f} s (the tests failed: exit {finished.returncode})"
    return f"{seconds:.1f} s"
