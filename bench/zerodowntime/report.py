"""`pipenv run bench --zero-downtime`: the proof at full size, its section of docs/benchmarks.md.

Deploys release N+1 over release N with the generator's expand/contract pair renaming a
column of a 1,000,000-row table (`--rows`), under load, two replicas of each release behind
the harness's readiness-following load balancer (bench/zerodowntime/harness.py), the
replicas through PgBouncer in transaction mode (`--direct`: without it), then the one-step
rename under the same load for contrast; writes the figures into its own section of
docs/benchmarks.md (between markers, leaving the rest of the file alone) with a chart over
time, docs/zero-downtime.png. It asserts nothing: its last line is the summary

    zero-downtime: failed N of M requests, max lock wait X ms, p99 before A ms during B ms,
    backfill R rows/s, ready gaps G ms

(on one line), for a script to check. `--smoke` runs it small, writing under .data/bench/.
The database: a new one on DATABASE_URL's server, or an embedded server in .data/.
"""

import argparse
import os
import re
from datetime import UTC, datetime
from pathlib import Path

from bench.databases import empty_database
from bench.machine import cpu
from bench.zerodowntime.harness import UNCHANGING, Outcome, Plan, prove
from bench.zerodowntime.revisions import ROOT

DATA = ROOT / ".data" / "bench"
START = "<!-- zero-downtime: written by `pipenv run bench --zero-downtime` -->"
END = "<!-- zero-downtime: end -->"


def main(argv: list[str] | None = None) -> None:
    """Run the proof at full size and write its report."""
    parser = argparse.ArgumentParser(
        prog="bench --zero-downtime", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("--rows", type=int, default=1_000_000, help="rows in the table")
    parser.add_argument("--rate", type=float, default=300.0, help="requests per second at most")
    parser.add_argument("--smoke", action="store_true", help="50,000 rows, short phases")
    parser.add_argument(
        "--direct", action="store_true", help="replicas connect directly, not through PgBouncer"
    )
    parser.add_argument("--out", type=Path, help="report path (default docs/benchmarks.md)")
    args = parser.parse_args(argv)
    if args.smoke:
        plan = Plan(rows=50_000, rate=args.rate)
        naive_plan = Plan(rows=5_000, rate=args.rate, before=1.0)
    else:
        plan = Plan(
            rows=args.rows,
            rate=args.rate,
            before=5.0,
            together=3.0,
            drain=1.0,
            after=2.0,
            pool_size=4,
        )
        naive_plan = Plan(
            rows=args.rows, rate=args.rate, before=5.0, together=3.0, after=2.0, pool_size=4
        )
    out = args.out or (DATA / "benchmarks.md" if args.smoke else ROOT / "docs" / "benchmarks.md")

    busy = os.getloadavg()[0]
    with empty_database("zero_downtime", "zero-downtime-postgres") as url:
        outcome = prove(url, plan, "generated", pooler=not args.direct, log=True)
    with empty_database("zero_downtime_naive", "zero-downtime-postgres") as url:
        naive = prove(url, naive_plan, "naive", pooler=not args.direct, log=True)

    section = render(outcome, naive, f"{busy:.1f} to {os.getloadavg()[0]:.1f}")
    out.parent.mkdir(parents=True, exist_ok=True)
    write_section(out, section)
    chart(outcome, out.parent / "zero-downtime.png")
    print(f"\n{section}\nwrote its section of {out} and {out.parent / 'zero-downtime.png'}")
    print(f"one-step rename: {naive.line().removeprefix('zero-downtime: ')}")
    print(outcome.line())


def render(outcome: Outcome, naive: Outcome, load_average: str) -> str:
    """The report's section, as Markdown."""
    plan = outcome.plan
    single = outcome.single_update_rows_per_second or float("nan")
    backfill = outcome.backfill_rows_per_second or float("nan")
    phases = " → ".join(f"{phase.name} {phase.end - phase.start:.1f} s" for phase in outcome.phases)
    longest = outcome.locks.get("longest")
    longest_wait = (
        f"{longest[0]['mode']} on {longest[0]['relation'] or longest[0]['locktype']}, "
        f"by `{' '.join(str(longest[0]['query']).split())[:120]}`"
        if isinstance(longest, list) and longest
        else "none seen"
    )
    naive_failures = "; ".join(
        f"{kind}: {count}" for kind, count in sorted(naive.failures_by_kind().items())
    )
    measured = f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC"
    reached = (
        "through PgBouncer in transaction mode, the migrations direct"
        if outcome.pooler
        else "directly"
    )
    lines = [
        START,
        "## Zero-downtime rename under load (`pipenv run bench --zero-downtime`)",
        "",
        f"Measured {measured} on {cpu()} (load average "
        f"{load_average} over the run: the latencies are the machine's as much as the app's). "
        "The expand and contract revisions `alembic-revision -x rename=item.label:name "
        "-x rename_mode=expand` writes (generated at run time by the toolkit, see "
        "[docs/zero-downtime-rename.md](zero-downtime-rename.md)) rename `item.label` to "
        f"`item.name` on a table of {plan.rows:,} rows while release N (reads and writes "
        "`label`) and release N+1 (reads and writes `name`) roll out: "
        f"{plan.replicas} uvicorn replicas of each on one PostgreSQL ({reached}), behind a load "
        f"balancer that probes every replica's `/ready` every {plan.probe_interval * 1000:.0f} "
        "ms and routes only to the ready ones; N drains (out of the rotation, then SIGTERM) "
        f"before the contract. {plan.workers} clients send up to {plan.rate:.0f} "
        "requests/s in all: 55% reads by key, 25% renames, 10% creates, 10% deletes, half of "
        "the reads and renames on 64 hot keys. "
        "Every answer is checked against the writes that could explain it; a sampler process "
        f"reads `pg_locks` every {plan.sample_interval_ms:.0f} ms (each sample and pause took "
        f"{outcome.locks.get('mean_interval_ms', float('nan')):.1f} ms on average).",
        "",
        f"Phases: {phases}.",
        "",
        "| figure | expand/contract | one-step rename |",
        "| --- | ---: | ---: |",
        f"| requests | {len(outcome.requests):,} | {len(naive.requests):,} |",
        f"| failed (5xx, no answer, stale read, no ready replica) | {outcome.failed} | "
        f"{naive.failed} |",
        f"| longest time with no ready replica | {outcome.ready_gap_ms:.0f} ms | "
        f"{naive.ready_gap_ms:.0f} ms |",
        f"| probes unready while in rotation | {len(outcome.unready)} | {len(naive.unready)} |",
        f"| longest lock wait seen | {outcome.max_lock_wait_ms:.1f} ms | "
        f"{naive.max_lock_wait_ms:.1f} ms |",
        f"| p99 before the change | {outcome.p99_ms(during=False):.1f} ms | "
        f"{naive.p99_ms(during=False):.1f} ms |",
        f"| p99 during the change | {outcome.p99_ms(during=True):.1f} ms | "
        f"{naive.p99_ms(during=True):.1f} ms |",
        "",
        f"Longest lock wait: {longest_wait}.",
        "",
        *targets(outcome),
        "",
        f"Backfill: {backfill:,.0f} rows/s in committed batches of 500 under the load, "
        f"against {single:,.0f} rows/s for one `UPDATE` of a table as big with no load "
        f"({backfill / single:.2f} of it). The single `UPDATE` would hold every row's lock "
        "until it committed; a request renaming any item would wait that long.",
        "",
        f"The one-step rename's failures: {naive_failures or 'none'}.",
        "",
        "![latency of every request, and lock waits, over time](zero-downtime.png)",
        "",
        f"    {outcome.line()}",
        END,
    ]
    return "\n".join(lines)


def targets(outcome: Outcome) -> list[str]:
    """Each of the issue's targets, met or not, with the figure that decides it."""
    before, during = outcome.p99_ms(during=False), outcome.p99_ms(during=True)
    judged = [
        ("no failed request", outcome.failed == 0, f"{outcome.failed} failed"),
        (
            "a ready replica at every instant",
            outcome.ready_gap_ms == 0,
            f"longest gap {outcome.ready_gap_ms:.0f} ms",
        ),
        (
            "longest lock wait under 100 ms",
            outcome.max_lock_wait_ms < 100,
            f"{outcome.max_lock_wait_ms:.1f} ms",
        ),
        (
            "p99 during the change at most 3 times p99 before",
            during <= 3 * before,
            f"{during / before:.2f} times",
        ),
    ]
    rows = [
        f"| {name} | {figure} | {'met' if met else 'not met'} |" for name, met, figure in judged
    ]
    return ["| target | measured | |", "| --- | ---: | --- |", *rows]


def write_section(out: Path, section: str) -> None:
    """Put `section` in `out` once: where the first marked section was (others go), else last."""
    text = out.read_text() if out.exists() else ""
    pattern = re.compile(r"\n*" + re.escape(START) + ".*?" + re.escape(END) + r"\n*", re.DOTALL)
    first = pattern.search(text)
    if first is None:
        text = f"{text.rstrip()}\n\n{section}\n" if text else f"{section}\n"
    else:
        head, tail = text[: first.start()], pattern.sub("\n\n", text[first.end() :])
        text = f"{head.rstrip()}\n\n{section}\n\n{tail.strip()}".rstrip() + "\n"
    out.write_text(text)


def chart(outcome: Outcome, path: Path) -> None:
    """Every request's latency over time by release, the phases, and the lock waits seen."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    origin = outcome.phases[0].start
    figure, (latency, locks) = plt.subplots(
        2, 1, figsize=(10, 6), sharex=True, height_ratios=[3, 1]
    )
    for release, colour in (("N", "tab:blue"), ("N+1", "tab:orange"), ("none", "tab:red")):
        served = [request for request in outcome.requests if request.release == release]
        latency.scatter(
            [request.sent - origin for request in served],
            [max(request.latency_ms, 0.1) for request in served],
            s=2,
            color=colour,
            label=f"release {release}",
        )
    failed = outcome.failures + [mismatch.request for mismatch in outcome.stale]
    if failed:
        latency.scatter(
            [request.sent - origin for request in failed],
            [max(request.latency_ms, 0.1) for request in failed],
            s=12,
            color="red",
            marker="x",
            label="failed",
        )
    latency.set_yscale("log")
    latency.set_ylabel("latency (ms)")
    series = outcome.locks.get("series")
    if isinstance(series, list) and series:
        shown = [(t - origin, wait) for t, wait in series if t >= origin]
        locks.plot([t for t, _ in shown], [wait for _, wait in shown], linewidth=0.8)
    locks.axhline(100, color="grey", linestyle="--", linewidth=1)
    locks.set_ylabel("lock wait (ms)")
    locks.set_xlabel("seconds")
    for axes in (latency, locks):
        for number, phase in enumerate(outcome.phases):
            if phase.name not in UNCHANGING:
                axes.axvspan(
                    phase.start - origin,
                    phase.end - origin,
                    color=f"C{number + 2}",
                    alpha=0.15,
                    label=phase.name if axes is latency else None,
                )
    latency.legend(fontsize="small", loc="upper left", ncol=3)
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)
