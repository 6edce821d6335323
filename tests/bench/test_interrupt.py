"""`pipenv run bench --zero-downtime` stopped with Ctrl-C: one line, exit 130, nothing left.

Ctrl-C at a terminal sends SIGINT to the whole foreground process group: the test does the
same to the bench's group, once its releases, sampler and migrator are all running.
"""

import os
import signal
import subprocess
import sys
from pathlib import Path

import psutil
import psycopg
from sqlalchemy import URL

from support.terminal import as_foreground_job
from tests.databases import ROOT

LINE = (
    "bench: interrupted: its servers are stopped and its scratch databases dropped; "
    "no report written"
)


def scratch_databases(server_url: URL) -> list[str]:
    """The bench's databases on the server (it names them zero_downtime_...)."""
    with psycopg.connect(server_url.render_as_string(hide_password=False)) as connection:
        rows = connection.execute(
            "SELECT datname FROM pg_database WHERE datname LIKE 'zero\\_downtime\\_%'"
        ).fetchall()
    return [str(row[0]) for row in rows]


def test_ctrl_c_stops_the_children_drops_the_database_and_says_so_in_one_line(
    server_url: URL, tmp_path: Path
) -> None:
    report = tmp_path / "benchmarks.md"
    # Only the bench's own count: a server shared with other runs may hold others'.
    before = set(scratch_databases(server_url))
    command = [sys.executable, "-m", "bench.run", "--zero-downtime", "--rows", "500"]
    output: list[str] = []
    with subprocess.Popen(
        as_foreground_job([*command, "--out", str(report)]),
        cwd=ROOT,
        env={**os.environ, "DATABASE_URL": server_url.render_as_string(hide_password=False)},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,  # a process group of its own, as a terminal's job has
    ) as bench:
        assert bench.stdout is not None
        try:
            for line in bench.stdout:
                output.append(line)
                if "(generated): before" in line:
                    break
            children = psutil.Process(bench.pid).children(recursive=True)
            # Two replicas of release N, the sampler, the migrator.
            assert len(children) >= 4, "".join(output)
            os.killpg(bench.pid, signal.SIGINT)
            output.append(bench.stdout.read())
            bench.wait(timeout=60)
        finally:
            if bench.poll() is None:
                bench.kill()
    text = "".join(output)

    assert bench.returncode == 130, text
    assert text.strip().splitlines()[-1] == LINE
    assert "Traceback" not in text
    assert not [child for child in children if child.is_running()]
    assert set(scratch_databases(server_url)) <= before
    assert not report.exists()
