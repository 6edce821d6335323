"""`pipenv run bench`: alembic-stuff's request path against raw asyncpg and the usual ORM pattern.

One run, one machine, one database: each app is served as `alembic-stuff serve` serves the
app (one uvicorn worker, its documented settings, uvloop, httptools, an access-log line a
request: bench/shipped.py) pinned to one core, and wrk, pinned to the other, drives it over
loopback after a warm-up, directly and through nginx with the shipped configuration
(bench/edge.py). The apps take turns, in rounds, so that drift in the machine hits them
alike. Every figure is also given as a ratio to the yardstick of the same run and the same
path. It prints a table, then each target as MET or MISSED with its figures and the CPU, and
writes docs/benchmarks.md with a chart.

This is a benchmark, not a test: it asserts nothing about speed. `--smoke` runs each case for
a second or two, so CI can keep the harness working. `--profile CASE` instead samples the app
with py-spy under one case's load (bench/profile.py).

This module is the command line; bench/harness.py serves and drives, bench/edge.py puts
nginx in front, bench/cases.py is the load, bench/databases.py the database,
bench/timings.py the other timings, and bench/report.py the report.
"""

import argparse
import json
import sys
from pathlib import Path

from bench.cases import CASES
from bench.databases import DATA, ROOT, bench_database, load_countries, reset_for
from bench.edge import behind_nginx
from bench.harness import APPS, VIAS, YARDSTICK, drive, ensure_wrk, peak_rss_mb, serve
from bench.profile import profile
from bench.report import Measurements, write_report
from bench.timings import migration_timings, start_to_first_200, test_suite_time

# A shell's exit status for a command stopped by SIGINT (128 + 2).
INTERRUPTED = 130


def main() -> None:
    """Run the benchmark and write its report."""
    if "--zero-downtime" in sys.argv[1:]:
        from bench.zerodowntime.report import main as run_zerodowntime

        run_zerodowntime([arg for arg in sys.argv[1:] if arg != "--zero-downtime"])
        return
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument(
        "--zero-downtime",
        action="store_true",
        help="instead: the expand/contract rename under load (--rows, --rate, --smoke)",
    )
    parser.add_argument("--smoke", action="store_true", help="a second or two a case (CI)")
    parser.add_argument("--duration", type=int, default=10, help="seconds per wrk run")
    parser.add_argument("--rounds", type=int, default=3, help="rounds of every app and case")
    parser.add_argument(
        "--cases",
        nargs="+",
        choices=CASES,
        default=list(CASES),
        help="only these cases, and none of the other timings (default: every case, and them)",
    )
    parser.add_argument(
        "--apps",
        nargs="+",
        choices=APPS,
        default=list(APPS),
        help="only these apps; the yardstick always, every ratio is to it (default: every app)",
    )
    parser.add_argument("--warmup", type=int, default=3, help="seconds of load before each run")
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
    # --smoke keeps the harness working, not the figures: one short run a case, no warm-up.
    duration, rounds, warmup = (
        (1, 1, 0) if args.smoke else (args.duration, args.rounds, args.warmup)
    )

    if args.profile:
        profile(args.profile, duration, args.out or DATA / f"profile-{args.profile}.txt")
        return
    out = args.out or (DATA / "benchmarks.md" if args.smoke else ROOT / "docs" / "benchmarks.md")

    if args.render:
        measurements = Measurements.from_json(json.loads(args.render.read_text()))
        write_report(measurements, out, duration, rounds, warmup)
        return

    wrk = ensure_wrk()
    every_case = set(args.cases) == set(CASES)
    apps = [app for app in APPS if app in args.apps or app == YARDSTICK]
    measurements = Measurements()
    with bench_database() as url:
        load_countries(url)
        for round_number in range(1, rounds + 1):
            for app in apps:
                print(f"round {round_number}/{rounds}: {APPS[app].label}", flush=True)
                with serve(app, url) as (direct, pid), behind_nginx(direct) as edge:
                    for case in args.cases:
                        for via, base in zip(VIAS, (direct, edge), strict=True):
                            if warmup:
                                reset_for(case, url)
                                drive(wrk, base, app, case, warmup)  # not recorded
                            reset_for(case, url)
                            result = drive(wrk, base, app, case, duration)
                            measurements.runs.setdefault((app, case, via), []).append(result)
                            load_countries(url)
                    rss = peak_rss_mb(pid)
                    measurements.peak_rss_mb[app] = max(rss, measurements.peak_rss_mb.get(app, 0))
        if every_case:
            measurements.extras.update(migration_timings(url, repeats=1 if args.smoke else 3))
    if every_case:
        measurements.extras["start to first 200 (initialised embedded database)"] = (
            start_to_first_200()
        )
        if args.smoke:
            measurements.extras["test suite wall time"] = "not measured in --smoke"
        else:
            measurements.extras["test suite wall time"] = test_suite_time()

    DATA.mkdir(parents=True, exist_ok=True)
    (DATA / "last-run.json").write_text(json.dumps(measurements.to_json(), indent=1))
    write_report(measurements, out, duration, rounds, warmup)


def interrupted() -> None:
    """Ctrl-C: the servers are stopped and the scratch databases dropped; say so in one line."""
    print(
        "bench: interrupted: its servers are stopped and its scratch databases dropped; "
        "no report written",
        file=sys.stderr,
    )
    sys.exit(INTERRUPTED)


if __name__ == "__main__":
    try:
        main()
    except KeyboardInterrupt:
        interrupted()
