"""What one bench run measured, and its report: a Markdown table, the targets, a chart."""

import platform
import statistics
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench.cases import CASES, CONNECTIONS
from bench.harness import APPS, Result
from bench.machine import cpu
from bench.zero_downtime.report import END as ZERO_DOWNTIME_END
from bench.zero_downtime.report import START as ZERO_DOWNTIME_START

# The app the targets are about, and the variant measured beside it.
OURS = "alembic-stuff"
VARIANT = "greenlet"


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
    def from_json(cls, data: dict[str, Any]) -> "Measurements":
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

    def apps(self) -> list[str]:
        """The apps measured, in the harness's order (an older run may lack one)."""
        return [app for app in APPS if all((app, case) in self.runs for case in CASES)]


def write_report(measurements: Measurements, out: Path, duration: int, rounds: int) -> None:
    """Print the report and write it, with its chart, to `out`."""
    report = render(measurements, duration, rounds)
    print("\n" + report)
    out.parent.mkdir(parents=True, exist_ok=True)
    # `bench --zero-downtime` owns a section of the same file: keep it as that run left it.
    kept = zero_downtime_section(out.read_text()) if out.is_file() else None
    out.write_text(report if kept is None else f"{report.rstrip()}\n\n{kept}\n")
    chart(measurements, out.with_suffix(".png"))
    print(f"wrote {out} and {out.with_suffix('.png')}")


def zero_downtime_section(text: str) -> str | None:
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


def render(measurements: Measurements, duration: int, rounds: int) -> str:
    """The report, as Markdown."""
    apps = measurements.apps()
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
        for app in apps:
            r = measurements.median(app, case)
            lines.append(
                f"| {title} | {APPS[app].label} | {r.requests_per_second:,.0f} | "
                f"{r.requests_per_second / yard.requests_per_second:.2f} | {r.p50_ms:.2f} | "
                f"{r.p99_ms:.2f} | {r.p99_ms / yard.p99_ms:.2f} | {r.failed} |"
            )
    variant = APPS[VARIANT].label if VARIANT in apps else "not measured"
    lines += [
        "",
        "## Targets",
        "",
        f"| target | measured | | {variant} |",
        "| --- | ---: | --- | ---: |",
    ]
    lines += [
        f"| {name} | {value} | {'met' if ok else 'not met'} | {beside} |"
        for name, value, ok, beside in targets(measurements)
    ]
    lines += [
        "",
        "| server | peak RSS |",
        "| --- | ---: |",
        *(f"| {APPS[a].label} | {measurements.peak_rss_mb[a]:.0f} MB |" for a in apps),
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


# The performance issue's targets: (what, case, the app compared with, figure, bound). A
# requests/s ratio must reach its bound; a p99 ratio must stay within it.
TARGETS = (
    ("GET /country/{code}: ≥ 2.2 times the peer", "get", "peer", "requests/s", 2.2),
    ("GET /country/{code}: ≥ 0.4 of the yardstick", "get", "yardstick", "requests/s", 0.4),
    ("GET /country/{code}: p99 ≤ 2 times the yardstick's", "get", "yardstick", "p99", 2.0),
    ("GET /countries: ≥ 0.4 of the yardstick", "list", "yardstick", "requests/s", 0.4),
    ("writes (in a transaction): ≥ 2 times the peer", "write", "peer", "requests/s", 2.0),
)


def targets(measurements: Measurements) -> list[tuple[str, str, bool, str]]:
    """Each target, what was measured, whether it holds, and the greenlet variant's figure."""

    def ratio(app: str, case: str, to: str, figure: str) -> float:
        ours, theirs = measurements.median(app, case), measurements.median(to, case)
        if figure == "p99":
            return ours.p99_ms / theirs.p99_ms
        return ours.requests_per_second / theirs.requests_per_second

    has_variant = VARIANT in measurements.apps()
    rows: list[tuple[str, str, bool, str]] = []
    for name, case, to, figure, bound in TARGETS:
        ours = ratio(OURS, case, to, figure)
        holds = ours <= bound if figure == "p99" else ours >= bound
        beside = f"{ratio(VARIANT, case, to, figure):.2f}" if has_variant else "not measured"
        rows.append((name, f"{ours:.2f}", holds, beside))
    start = measurements.extras.get("start to first 200 (initialised embedded database)", "")
    if start.endswith(" s"):
        rows.append(("start to first 200: < 3 s", start, float(start[:-2]) < 3, ""))
    latest = measurements.extras.get("alembic-latest / bare", "")
    if latest:
        rows.append(("alembic-latest within 10% of bare Alembic", latest, float(latest) <= 1.1, ""))
    return rows


def chart(measurements: Measurements, path: Path) -> None:
    """A bar chart of each app's requests/s as a ratio to the yardstick, per case."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    apps = measurements.apps()
    figure, axes = plt.subplots(figsize=(8, 5))
    width = 0.8 / len(apps)
    for offset, app in enumerate(apps):
        ratios = [
            measurements.median(app, case).requests_per_second
            / measurements.median("yardstick", case).requests_per_second
            for case in CASES
        ]
        positions = [i + (offset - (len(apps) - 1) / 2) * width for i in range(len(CASES))]
        axes.bar(positions, ratios, width, label=APPS[app].label)
    axes.axhline(0.4, color="grey", linestyle="--", linewidth=1, label="target for reads: 0.4")
    axes.set_xticks(range(len(CASES)), [title.split(" (")[0] for title in CASES.values()])
    axes.set_ylabel("requests/s ÷ yardstick")
    axes.legend(fontsize="small", loc="upper center", bbox_to_anchor=(0.5, -0.1), ncol=2)
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)
