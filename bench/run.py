"""`pipenv run bench`: alembic-stuff's request path against raw asyncpg and the usual ORM pattern.

One run, one machine, one database: each app is served by uvicorn (one worker, uvloop,
httptools, no access log) pinned to one core, and wrk, pinned to the other, drives it over
loopback with 32 connections after a warm-up. The apps take turns, in rounds, so that drift
in the machine hits them alike. Every figure is also given as a ratio to the yardstick of the
same run. It prints a table and writes docs/benchmarks.md with a chart.

This is a benchmark, not a test: it asserts nothing about speed. `--smoke` runs each case for
a second or two, so CI can keep the harness working. `--profile CASE` instead samples the app
with py-spy under one case's load (bench/profile.py).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pycountry
from psycopg import sql
from sqlalchemy import URL, make_url

from alembic_stuff.db.embedded import EmbeddedPostgres
from alembic_stuff.db.migrations import upgrade_to_head
from alembic_stuff.settings import Settings

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / ".data" / "bench"
CONNECTIONS = 32

APPS = {
    "yardstick": "bench.yardstick:app",
    "alembic-stuff": "alembic_stuff.api.app:create_app",
    "peer": "bench.peer:app",
}
LABELS = {
    "yardstick": "raw Starlette + asyncpg (yardstick)",
    "alembic-stuff": "alembic-stuff",
    "peer": "usual FastAPI + SQLAlchemy ORM (peer)",
}
CASES = {
    "get": "GET /country/{code} (random codes)",
    "list": "GET /countries?limit=20",
    "write": "POST then DELETE /country (writes)",
}

LUA_DONE = """
done = function(summary, latency, requests)
  io.write(string.format(
    'BENCH {"requests": %d, "duration_us": %d, "p50_us": %d, "p99_us": %d, '
    .. '"errors": %d, "bad_status": %d}\\n',
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(99),
    summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout,
    summary.errors.status))
end
"""


@dataclass
class Result:
    """One wrk run."""

    requests_per_second: float
    p50_ms: float
    p99_ms: float
    failed: int


@dataclass
class Measurements:
    """Everything one harness run measured."""

    runs: dict[tuple[str, str], list[Result]] = field(default_factory=dict)
    measured_at: str = field(default_factory=lambda: f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC")
    peak_rss_mb: dict[str, float] = field(default_factory=dict)
    extras: dict[str, str] = field(default_factory=dict)

    def to_json(self) -> dict[str, object]:
        """Everything, for re-rendering the report without measuring again."""
        return {
            "runs": [
                {"app": app, "case": case, "results": [vars(r) for r in results]}
                for (app, case), results in self.runs.items()
            ],
            "peak_rss_mb": self.peak_rss_mb,
            "extras": self.extras,
            "measured_at": self.measured_at,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Measurements:
        """The inverse of `to_json`."""
        return cls(
            runs={(r["app"], r["case"]): [Result(**x) for x in r["results"]] for r in data["runs"]},
            peak_rss_mb=data["peak_rss_mb"],
            extras=data["extras"],
            measured_at=data.get("measured_at", "at an unrecorded time"),
        )

    def median(self, app: str, case: str) -> Result:
        """The median of each figure over the rounds."""
        runs = self.runs[app, case]
        return Result(
            statistics.median(r.requests_per_second for r in runs),
            statistics.median(r.p50_ms for r in runs),
            statistics.median(r.p99_ms for r in runs),
            sum(r.failed for r in runs),
        )


def main() -> None:
    """Run the benchmark and write its report."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--smoke", action="store_true", help="a second or two a case (CI)")
    parser.add_argument("--duration", type=int, default=10, help="seconds per wrk run")
    parser.add_argument("--rounds", type=int, default=3, help="rounds of every app and case")
    parser.add_argument("--out", type=Path, help="report path (default docs/benchmarks.md)")
    parser.add_argument(
        "--render",
        type=Path,
        metavar="JSON",
        help="write the report from a previous run's last-run.json",
    )
    parser.add_argument(
        "--profile",
        choices=CASES,
        help="instead: sample alembic-stuff with py-spy under this case's load",
    )
    args = parser.parse_args()
    duration, rounds, warmup = (2, 1, 1) if args.smoke else (args.duration, args.rounds, 3)

    if args.profile:
        from bench.profile import profile

        profile(args.profile, duration, args.out or DATA / f"profile-{args.profile}.txt")
        return
    out = args.out or (DATA / "benchmarks.md" if args.smoke else ROOT / "docs" / "benchmarks.md")

    if args.render:
        measurements = Measurements.from_json(json.loads(args.render.read_text()))
        write_report(measurements, out, duration, rounds)
        return

    wrk = ensure_wrk()
    measurements = Measurements()
    with database() as url:
        load_countries(url)
        for round_number in range(1, rounds + 1):
            for app in APPS:
                print(f"round {round_number}/{rounds}: {LABELS[app]}", flush=True)
                with serve(app, url) as (base, pid):
                    for case in CASES:
                        reset_for(case, url)
                        drive(wrk, base, app, case, warmup)  # warm-up, not recorded
                        reset_for(case, url)
                        result = drive(wrk, base, app, case, duration)
                        measurements.runs.setdefault((app, case), []).append(result)
                        load_countries(url)
                    rss = peak_rss_mb(pid)
                    measurements.peak_rss_mb[app] = max(rss, measurements.peak_rss_mb.get(app, 0))
        measurements.extras.update(migration_timings(url, repeats=1 if args.smoke else 3))
    measurements.extras["start to first 200 (initialised embedded database)"] = start_to_first_200()
    if args.smoke:
        measurements.extras["test suite wall time"] = "not measured in --smoke"
    else:
        measurements.extras["test suite wall time"] = test_suite_time()

    DATA.mkdir(parents=True, exist_ok=True)
    (DATA / "last-run.json").write_text(json.dumps(measurements.to_json(), indent=1))
    write_report(measurements, out, duration, rounds)


def write_report(measurements: Measurements, out: Path, duration: int, rounds: int) -> None:
    """Print the report and write it, with its chart, to `out`."""
    report = render(measurements, duration, rounds)
    print("\n" + report)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(report)
    chart(measurements, out.with_suffix(".png"))
    print(f"wrote {out} and {out.with_suffix('.png')}")


# The database --------------------------------------------------------------------------------


@contextmanager
def database() -> Iterator[URL]:
    """A migrated database of its own: on DATABASE_URL's server, else an embedded one."""
    external = os.environ.get("DATABASE_URL")
    if external:
        server = make_url(external).set(drivername="postgresql")
        name = f"alembic_stuff_bench_{os.getpid()}"
        with psycopg.connect(server.render_as_string(hide_password=False), autocommit=True) as c:
            c.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        try:
            yield _migrated(server.set(database=name))
        finally:
            with psycopg.connect(
                server.render_as_string(hide_password=False), autocommit=True
            ) as c:
                c.execute(drop_database(name))
        return
    embedded = EmbeddedPostgres(DATA / "postgres", free_port())
    embedded.stop()  # one a killed run left behind, on whatever port it had
    embedded.start()
    embedded.ensure_database("bench")
    try:
        yield _migrated(embedded.url("bench"))
    finally:
        embedded.stop()


def drop_database(name: str) -> sql.Composed:
    """DROP DATABASE, connections or not."""
    return sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))


def _migrated(url: URL) -> URL:
    settings = Settings(_env_file=None, database_url=url.render_as_string(hide_password=False))
    upgrade_to_head(settings, configure_logging=False)
    return url


def countries() -> list[dict[str, str | None]]:
    """Every ISO 3166-1 country, as the API returns it."""
    return [
        {
            "code": c.alpha_2,
            "alpha_3": c.alpha_3,
            "numeric_code": c.numeric,
            "common_name": c.name,
            "official_name": getattr(c, "official_name", None),
        }
        for c in pycountry.countries
    ]


def load_countries(url: URL) -> None:
    """Fill the table with every country (the state the read cases need)."""
    with psycopg.connect(url.render_as_string(hide_password=False)) as conn:
        conn.execute("DELETE FROM country")
        with conn.cursor() as cursor:
            cursor.executemany(
                # An upsert: a write wrk sent just before it stopped may still land.
                "INSERT INTO country VALUES (%(code)s, %(common_name)s, %(alpha_3)s,"
                " %(numeric_code)s, %(official_name)s) ON CONFLICT (code) DO UPDATE"
                " SET common_name = EXCLUDED.common_name, official_name = EXCLUDED.official_name",
                countries(),
            )


def reset_for(case: str, url: URL) -> None:
    """Empty the table before the write case, whose POSTs create every country afresh."""
    time.sleep(0.5)  # let the requests wrk left in flight finish
    if case == "write":
        # A slow server can still be working through requests queued before wrk stopped (the
        # peer's p99 is a quarter of a second): one landing after the DELETE made the first
        # POST of the run a duplicate. Empty the table until it stays empty.
        with psycopg.connect(url.render_as_string(hide_password=False), autocommit=True) as c:
            while c.execute("DELETE FROM country").rowcount:
                time.sleep(0.5)


# Serving and driving -------------------------------------------------------------------------


def free_port() -> int:
    """A loopback port nothing listens on."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def pinned(core: int, command: list[str]) -> list[str]:
    """`command` pinned to one core when taskset is there and the machine has two or more."""
    if shutil.which("taskset") and (os.cpu_count() or 1) >= 2:
        return ["taskset", "--cpu-list", str(core), *command]
    return command


@contextmanager
def serve(app: str, url: URL) -> Iterator[tuple[str, int]]:
    """Serve `app` with uvicorn on core 0; yield its base URL and pid."""
    port = free_port()
    command = [
        sys.executable,
        "-m",
        "uvicorn",
        APPS[app],
        "--port",
        str(port),
        "--loop",
        "uvloop",
        "--http",
        "httptools",
        "--no-access-log",
        "--log-level",
        "warning",
    ]
    if app == "alembic-stuff":
        command.append("--factory")
    environment = {**os.environ, "DATABASE_URL": url.render_as_string(hide_password=False)}
    with subprocess.Popen(pinned(0, command), cwd=ROOT, env=environment) as process:
        base = f"http://127.0.0.1:{port}"
        try:
            deadline = time.monotonic() + 30
            while True:
                try:
                    if httpx.get(f"{base}/country/GB", timeout=1).status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                if time.monotonic() > deadline or process.poll() is not None:
                    raise SystemExit(f"bench: {app} did not start")
                time.sleep(0.1)
            yield base, process.pid
        finally:
            process.send_signal(signal.SIGTERM)
            process.wait(timeout=30)


def lua_script(app: str, case: str) -> str:
    """The wrk script for `case`, with the country list written in."""
    data = countries()
    if case == "get":
        codes = ", ".join(f'"{c["code"]}"' for c in data)
        return f"""
local codes = {{{codes}}}
request = function()
  return wrk.format("GET", "/country/" .. codes[math.random(#codes)])
end
{LUA_DONE}"""
    if case == "list":
        return f'wrk.path = "/countries?limit=20"\n{LUA_DONE}'
    # Writes: each wrk thread has one connection and its own share of the codes, and
    # alternates POST and DELETE of one code, so every request succeeds.
    bodies = [{"code": c["code"]} if app == "alembic-stuff" else c for c in data]
    entries = ", ".join(
        f"{{code = {json.dumps(c['code'])}, body = {json.dumps(json.dumps(b))}}}"
        for c, b in zip(data, bodies, strict=True)
    )
    return f"""
local countries = {{{entries}}}
local counter = 0
function setup(thread)
  counter = counter + 1
  thread:set("id", counter)
end
function init(args)
  mine = {{}}
  for i, c in ipairs(countries) do
    if (i % {CONNECTIONS}) == (id - 1) then table.insert(mine, c) end
  end
  answered = 0
end
-- The step comes from the responses, not from calls to request(): wrk calls it once more
-- than it sends, to look at the request, and a counter kept here would drift by one.
request = function()
  local c = mine[math.floor(answered / 2) % #mine + 1]
  if answered % 2 == 0 then
    return wrk.format("POST", "/country", {{["Content-Type"] = "application/json"}}, c.body)
  end
  return wrk.format("DELETE", "/country/" .. c.code)
end
response = function(status, headers, body)
  answered = answered + 1
end
{LUA_DONE}"""


def drive(wrk: str, base: str, app: str, case: str, seconds: int) -> Result:
    """Run wrk against `base` for `seconds`, on core 1."""
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as script:
        script.write(lua_script(app, case))
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


# The other timings ---------------------------------------------------------------------------


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
                ours.append(
                    timed([sys.executable, "-m", "alembic", "upgrade", "heads"], environment)
                )
            with scratch(url) as target:
                set_stock_url(stock / "alembic.ini", target.set(drivername="postgresql+psycopg"))
                bare.append(
                    timed(
                        [sys.executable, "-m", "alembic", "upgrade", "head"],
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


@contextmanager
def scratch(url: URL) -> Iterator[URL]:
    """An empty database beside the bench's."""
    name = f"bench_scratch_{os.getpid()}_{time.monotonic_ns()}"
    admin = url.set(database="postgres").render_as_string(hide_password=False)
    with psycopg.connect(admin, autocommit=True) as c:
        c.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    try:
        yield url.set(database=name)
    finally:
        with psycopg.connect(admin, autocommit=True) as c:
            c.execute(drop_database(name))


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
    """Wall time of the README's test command."""
    seconds = timed([sys.executable, "-m", "pytest", "-q", "-n", "auto"], dict(os.environ))
    return f"{seconds:.1f} s"


# The report ----------------------------------------------------------------------------------


def versions() -> str:
    """The machine and the versions the figures were measured on."""
    import asyncpg
    import fastapi
    import sqlalchemy
    import uvicorn

    cpu = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        ),
        platform.processor(),
    )
    return (
        f"{os.cpu_count()} cores ({cpu}), {platform.system()} {platform.release()}; "
        f"Python {platform.python_version()}, SQLAlchemy {sqlalchemy.__version__}, "
        f"FastAPI {fastapi.__version__}, asyncpg {asyncpg.__version__}, "
        f"uvicorn {uvicorn.__version__}"
    )


def render(measurements: Measurements, duration: int, rounds: int) -> str:
    """The report, as Markdown."""
    lines = [
        "# Benchmarks",
        "",
        f"Measured {measurements.measured_at} by `pipenv run bench` on {versions()}.",
        f"Each app served by uvicorn (1 worker, uvloop, httptools) pinned to one core; wrk with "
        f"{CONNECTIONS} connections pinned to the other; {rounds} round(s) of {duration} s per "
        "case after a warm-up; medians. Ratios are to the yardstick of the same run.",
        "",
        "| case | app | requests/s | ratio | p50 ms | p99 ms | p99 ratio | failed |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for case, title in CASES.items():
        yard = measurements.median("yardstick", case)
        for app in APPS:
            r = measurements.median(app, case)
            lines.append(
                f"| {title} | {LABELS[app]} | {r.requests_per_second:,.0f} | "
                f"{r.requests_per_second / yard.requests_per_second:.2f} | {r.p50_ms:.2f} | "
                f"{r.p99_ms:.2f} | {r.p99_ms / yard.p99_ms:.2f} | {r.failed} |"
            )
    lines += ["", "## Targets", "", "| target | measured | |", "| --- | ---: | --- |"]
    lines += [
        f"| {name} | {value} | {'met' if ok else 'not met'} |"
        for name, value, ok in targets(measurements)
    ]
    lines += [
        "",
        "| server | peak RSS |",
        "| --- | ---: |",
        *(f"| {LABELS[a]} | {measurements.peak_rss_mb[a]:.0f} MB |" for a in APPS),
        "",
        "| other timing | value |",
        "| --- | ---: |",
        *(f"| {name} | {value} |" for name, value in measurements.extras.items()),
        "",
        "![requests/s as a ratio to the yardstick](benchmarks.png)",
        "",
        (Path(__file__).parent / "findings.md").read_text(),
    ]
    return "\n".join(lines)


def targets(measurements: Measurements) -> list[tuple[str, str, bool]]:
    """Each target of the performance issue, what was measured, and whether it holds."""

    def ratio(case: str, app: str = "alembic-stuff", to: str = "yardstick") -> float:
        return (
            measurements.median(app, case).requests_per_second
            / measurements.median(to, case).requests_per_second
        )

    p99 = (
        measurements.median("alembic-stuff", "get").p99_ms
        / measurements.median("yardstick", "get").p99_ms
    )
    rows = [
        ("GET /country/{code}: ≥ 0.5 of the yardstick", f"{ratio('get'):.2f}", ratio("get") >= 0.5),
        ("GET /country/{code}: p99 ≤ 2 times the yardstick's", f"{p99:.1f} times", p99 <= 2),
        (
            "GET /country/{code}: ≥ 2.5 times the peer",
            f"{ratio('get', to='peer'):.2f} times",
            ratio("get", to="peer") >= 2.5,
        ),
        ("GET /countries: ≥ 0.4 of the yardstick", f"{ratio('list'):.2f}", ratio("list") >= 0.4),
        ("POST (writes): ≥ 0.4 of the yardstick", f"{ratio('write'):.2f}", ratio("write") >= 0.4),
    ]
    start = measurements.extras.get("start to first 200 (initialised embedded database)", "")
    if start.endswith(" s"):
        rows.append(("start to first 200: < 3 s", start, float(start[:-2]) < 3))
    latest = measurements.extras.get("alembic-latest / bare", "")
    if latest:
        rows.append(("alembic-latest within 10% of bare Alembic", latest, float(latest) <= 1.1))
    return rows


def chart(measurements: Measurements, path: Path) -> None:
    """A bar chart of each app's requests/s as a ratio to the yardstick, per case."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(figsize=(8, 5))
    width = 0.25
    for offset, app in enumerate(APPS):
        ratios = [
            measurements.median(app, case).requests_per_second
            / measurements.median("yardstick", case).requests_per_second
            for case in CASES
        ]
        positions = [i + (offset - 1) * width for i in range(len(CASES))]
        axes.bar(positions, ratios, width, label=LABELS[app])
    axes.axhline(0.5, color="grey", linestyle="--", linewidth=1, label="target for GET: 0.5")
    axes.set_xticks(range(len(CASES)), [title.split(" (")[0] for title in CASES.values()])
    axes.set_ylabel("requests/s ÷ yardstick")
    axes.legend(fontsize="small", loc="upper center", bbox_to_anchor=(0.5, -0.1), ncol=2)
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)


if __name__ == "__main__":
    main()
