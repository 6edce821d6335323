"""What one bench run measured, and its report: a Markdown table, the targets, a chart."""

import platform
import statistics
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench.cases import CASES, CONNECTIONS
from bench.edge import SHIPPED_PER_CLIENT
from bench.harness import APPS, OURS, VIAS, YARDSTICK, Result
from bench.machine import cpu
from bench.zerodowntime.report import END as ZERO_DOWNTIME_END
from bench.zerodowntime.report import START as ZERO_DOWNTIME_START

# The variant of the app measured beside it.
VARIANT = "greenlet"


@dataclass
class Measurements:
    """Everything one harness run measured."""

    runs: dict[tuple[str, str, str], list[Result]] = field(default_factory=dict)
    measured_at: str = field(default_factory=lambda: f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC")
    machine: str = field(default_factory=lambda: versions())
    peak_rss_mb: dict[str, float] = field(default_factory=dict)
    extras: dict[str, str] = field(default_factory=dict)

    def to_json(self) -> dict[str, object]:
        """Everything, for re-rendering the report without measuring again."""
        return {
            "runs": [
                {"app": app, "case": case, "via": via, "results": [vars(r) for r in results]}
                for (app, case, via), results in self.runs.items()
            ],
            "peak_rss_mb": self.peak_rss_mb,
            "extras": self.extras,
            "measured_at": self.measured_at,
            "machine": self.machine,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> "Measurements":
        """The inverse of `to_json` (a run from before nginx was measured was direct only)."""
        return cls(
            runs={
                (r["app"], r["case"], r.get("via", "direct")): [Result(**x) for x in r["results"]]
                for r in data["runs"]
            },
            peak_rss_mb=data["peak_rss_mb"],
            extras=data["extras"],
            measured_at=data.get("measured_at", "at an unrecorded time"),
            machine=data.get("machine", "an unrecorded machine"),
        )

    def median(self, app: str, case: str, via: str) -> Result:
        """The median of each figure over the rounds."""
        runs = self.runs[app, case, via]
        return Result(
            statistics.median(r.requests_per_second for r in runs),
            statistics.median(r.p50_ms for r in runs),
            statistics.median(r.p99_ms for r in runs),
            sum(r.failed for r in runs),
        )

    def cases(self) -> list[str]:
        """The cases measured, in the harness's order (a run may leave some out)."""
        return [case for case in CASES if any(key[1] == case for key in self.runs)]

    def vias(self) -> list[str]:
        """The paths measured: direct, and through nginx unless the run predates it."""
        return [via for via in VIAS if any(key[2] == via for key in self.runs)]

    def apps(self) -> list[str]:
        """The apps measured on every case and path, in the harness's order."""
        return [
            app
            for app in APPS
            if all((app, case, via) in self.runs for case in self.cases() for via in self.vias())
        ]


def write_report(
    measurements: Measurements, out: Path, duration: int, rounds: int, warmup: int
) -> None:
    """Print the report and write it, with its chart, to `out`."""
    report = render(measurements, duration, rounds, warmup)
    print("\n" + report)
    out.parent.mkdir(parents=True, exist_ok=True)
    # `bench --zero-downtime` owns a section of the same file: keep it as that run left it.
    kept = zerodowntime_section(out.read_text()) if out.is_file() else None
    out.write_text(report if kept is None else f"{report.rstrip()}\n\n{kept}\n")
    chart(measurements, out.with_suffix(".png"))
    print(f"wrote {out} and {out.with_suffix('.png')}")
    print(summary(measurements))


def zerodowntime_section(text: str) -> str | None:
    """The section `bench --zero-downtime` wrote into `text`, markers included, or None."""
    start, end = text.find(ZERO_DOWNTIME_START), text.find(ZERO_DOWNTIME_END)
    if start < 0 or end < start:
        return None
    return text[start : end + len(ZERO_DOWNTIME_END)]


def versions() -> str:
    """The machine and the versions the figures were measured on."""
    import asyncpg
    import fastapi
    import sqlalchemy
    import uvicorn

    return (
        f"{cpu()}, {platform.system()} {platform.release()}; "
        f"Python {platform.python_version()}, SQLAlchemy {sqlalchemy.__version__}, "
        f"FastAPI {fastapi.__version__}, asyncpg {asyncpg.__version__}, "
        f"uvicorn {uvicorn.__version__}"
    )


def render(measurements: Measurements, duration: int, rounds: int, warmup: int) -> str:
    """The report, as Markdown."""
    apps, vias = measurements.apps(), measurements.vias()
    warm = f"each after {warmup} s of warm-up" if warmup else "with no warm-up"
    header = "| case | app |"
    rule = "| --- | --- |"
    for via in vias:
        header += f" {VIAS[via]}: requests/s | ratio | p50 ms | p99 ms | p99 ratio |"
        rule += " ---: | ---: | ---: | ---: | ---: |"
    lines = [
        "# Benchmarks",
        "",
        f"Measured {measurements.measured_at} by `pipenv run bench` on {measurements.machine}.",
        "Each app served as `alembic-stuff serve` serves the app (uvicorn, 1 worker, its "
        "documented settings, uvloop, httptools, an access-log line a request), pinned to one "
        f"core; wrk with {CONNECTIONS} connections pinned to the other, and nginx there too when "
        "it is in front: the shipped configuration, but for the requests one client address "
        f"may have in progress, raised from {SHIPPED_PER_CLIENT} to {CONNECTIONS} since every "
        "connection of wrk "
        "comes from 127.0.0.1 (bench/edge.py); "
        f"{rounds} round(s) of {duration} s per case and path, "
        f"{warm}; medians. "
        "Ratios are to the yardstick of the same run and path.",
        "",
        header + " failed |",
        rule + " ---: |",
    ]
    for case in measurements.cases():
        for app in apps:
            row = f"| {CASES[case]} | {APPS[app].label} |"
            failed = 0
            for via in vias:
                r, yard = (
                    measurements.median(app, case, via),
                    measurements.median(YARDSTICK, case, via),
                )
                row += (
                    f" {r.requests_per_second:,.0f} | "
                    f"{r.requests_per_second / yard.requests_per_second:.2f} | {r.p50_ms:.2f} | "
                    f"{r.p99_ms:.2f} | {r.p99_ms / yard.p99_ms:.2f} |"
                )
                failed += r.failed
            lines.append(f"{row} {failed} |")
    lines += ["", "## Targets", "", *target_table(measurements)]
    lines += [
        "",
        "| server | peak RSS |",
        "| --- | ---: |",
        *(f"| {APPS[a].label} | {measurements.peak_rss_mb[a]:.0f} MB |" for a in apps),
    ]
    if measurements.extras:
        lines += [
            "",
            "| other timing | value |",
            "| --- | ---: |",
            *(f"| {name} | {value} |" for name, value in measurements.extras.items()),
        ]
    lines += [
        "",
        "![requests/s as a ratio to the yardstick](benchmarks.png)",
        "",
        (Path(__file__).parent / "findings.md").read_text(),
    ]
    return "\n".join(lines)


@dataclass(frozen=True)
class Target:
    """A bound on a ratio of GET-like figures: requests/s must reach it, p99 stay within it."""

    name: str
    case: str
    to: str
    figure: str
    bound: float

    def ratio(self, measurements: Measurements, app: str, via: str) -> float:
        """`app`'s figure over the compared app's, on this target's case and `via`."""
        ours, theirs = (measurements.median(a, self.case, via) for a in (app, self.to))
        if self.figure == "p99":
            return ours.p99_ms / theirs.p99_ms
        return ours.requests_per_second / theirs.requests_per_second

    def holds(self, ratio: float) -> bool:
        """Whether `ratio` meets the target."""
        return ratio <= self.bound if self.figure == "p99" else ratio >= self.bound

    def figures(self, measurements: Measurements, via: str) -> str:
        """The two figures the ratio is made of, e.g. "3,577 / 1,299 requests/s"."""
        ours, theirs = (measurements.median(a, self.case, via) for a in (OURS, self.to))
        if self.figure == "p99":
            return f"p99 {ours.p99_ms:.2f} / {theirs.p99_ms:.2f} ms"
        return f"{ours.requests_per_second:,.0f} / {theirs.requests_per_second:,.0f} requests/s"


# The targets: issue 20's first (the request path as shipped, every app logging each request),
# then issue 10's, still reported.
TARGETS = (
    Target("GET /country/{code}: ≥ 2.5 times the peer", "get", "peer", "requests/s", 2.5),
    Target("GET /country/{code}: p99 ≤ 2 times the yardstick's", "get", YARDSTICK, "p99", 2.0),
    Target("GET /country/{code}: ≥ 0.4 of the yardstick", "get", YARDSTICK, "requests/s", 0.4),
    Target("GET /countries: ≥ 0.4 of the yardstick", "list", YARDSTICK, "requests/s", 0.4),
    Target("writes (in a transaction): ≥ 2 times the peer", "write", "peer", "requests/s", 2.0),
)


def verdict(holds: bool) -> str:
    """MET or MISSED."""
    return "MET" if holds else "MISSED"


def measured_targets(measurements: Measurements) -> list[Target]:
    """The targets whose case and apps this run measured."""
    apps = measurements.apps()
    return [t for t in TARGETS if t.case in measurements.cases() and OURS in apps and t.to in apps]


def target_table(measurements: Measurements) -> list[str]:
    """Each target on each path, MET or MISSED, with its figures and the variant's ratio."""
    apps, vias = measurements.apps(), measurements.vias()
    variant = "variant not measured"
    if VARIANT in apps:
        variant = f"{APPS[VARIANT].label}: " + ", ".join(VIAS[via] for via in vias)
    lines = [
        f"On {measurements.machine}:",
        "",
        "| target | "
        + " | ".join(f"{VIAS[v]}: ratio | | figures" for v in vias)
        + f" | {variant} |",
        "| --- | " + " | ".join("---: | --- | ---:" for _ in vias) + " | ---: |",
    ]
    for target in measured_targets(measurements):
        row = f"| {target.name} |"
        for via in vias:
            ratio = target.ratio(measurements, OURS, via)
            row += f" {ratio:.2f} | {verdict(target.holds(ratio))} | "
            row += f"{target.figures(measurements, via)} |"
        beside = ", ".join(
            f"{target.ratio(measurements, VARIANT, via):.2f}" for via in vias if VARIANT in apps
        )
        lines.append(f"{row} {beside or '-'} |")
    others = other_targets(measurements)
    lines += [""] if others else []
    lines += [f"- {name}: {verdict(holds)}, {value}" for name, holds, value in others]
    return lines


def other_targets(measurements: Measurements) -> list[tuple[str, bool, str]]:
    """Targets on the other timings, when the run measured them: name, met, figure."""
    rows = []
    start = measurements.extras.get("start to first 200 (initialised embedded database)", "")
    if start.endswith(" s"):
        rows.append(("start to first 200 < 3 s", float(start[:-2]) < 3, start))
    latest = measurements.extras.get("alembic-latest / bare", "")
    if latest:
        rows.append(("alembic-latest within 10% of bare Alembic", float(latest) <= 1.1, latest))
    return rows


def summary(measurements: Measurements) -> str:
    """The targets in a few lines, for the end of a run's output."""
    lines = [f"targets, on {measurements.machine}:"]
    for target in measured_targets(measurements):
        for via in measurements.vias():
            ratio = target.ratio(measurements, OURS, via)
            lines.append(
                f"  {verdict(target.holds(ratio)):6} {target.name}, {VIAS[via]}: {ratio:.2f} "
                f"({target.figures(measurements, via)})"
            )
    others = other_targets(measurements)
    lines += [f"  {verdict(holds):6} {name}: {value}" for name, holds, value in others]
    judged = measured_targets(measurements)
    lines += [f"  -      {t.name}: not measured in this run" for t in TARGETS if t not in judged]
    return "\n".join(lines)


def chart(measurements: Measurements, path: Path) -> None:
    """Each app's requests/s as a ratio to the yardstick, per case: direct, then via nginx."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    apps, cases, vias = measurements.apps(), measurements.cases(), measurements.vias()
    figure, panels = plt.subplots(
        1, len(vias), figsize=(5 * len(vias), 5), sharey=True, squeeze=False
    )
    width = 0.8 / len(apps)
    for via, axes in zip(vias, panels[0], strict=True):
        for offset, app in enumerate(apps):
            ratios = [
                measurements.median(app, case, via).requests_per_second
                / measurements.median(YARDSTICK, case, via).requests_per_second
                for case in cases
            ]
            positions = [i + (offset - (len(apps) - 1) / 2) * width for i in range(len(cases))]
            axes.bar(positions, ratios, width, label=APPS[app].label)
        axes.set_title(VIAS[via])
        labels = [CASES[case].split(" (")[0].replace(" /", "\n/", 1) for case in cases]
        axes.set_xticks(range(len(cases)), labels, fontsize="small")
    panels[0][0].set_ylabel("requests/s ÷ yardstick")
    handles, labels = panels[0][0].get_legend_handles_labels()
    figure.legend(handles, labels, fontsize="small", loc="lower center", ncol=2)
    figure.tight_layout(rect=(0, 0.12, 1, 1))
    figure.savefig(path, dpi=100)
    plt.close(figure)
