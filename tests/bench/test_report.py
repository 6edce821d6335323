"""`pipenv run bench` states each target as MET or MISSED, with its figures and the CPU."""

from bench.cases import CASES
from bench.harness import APPS, VIAS, Result
from bench.report import Measurements, render, summary

# requests/s and p99 (ms) of each app, the same on every case and path.
FIGURES = {"yardstick": (9000.0, 6.0), "alembic-stuff": (3000.0, 13.0), "peer": (1000.0, 90.0)}


def measurements() -> Measurements:
    """A run where alembic-stuff is 3 times the peer and its p99 2.17 times the yardstick's."""
    return Measurements(
        runs={
            (app, case, via): [Result(rate, p99 / 2, p99, 0)]
            for app, (rate, p99) in FIGURES.items()
            for case in CASES
            for via in VIAS
        },
        machine="2 cores (Test CPU)",
        peak_rss_mb=dict.fromkeys(FIGURES, 50.0),
    )


def test_each_target_is_met_or_missed_on_each_path_with_its_figures() -> None:
    lines = summary(measurements()).splitlines()
    assert lines[0] == "targets, on 2 cores (Test CPU):"
    assert (
        "  MET    GET /country/{code}: ≥ 2.5 times the peer, through nginx: 3.00 "
        "(3,000 / 1,000 requests/s)" in lines
    )
    assert (
        "  MISSED GET /country/{code}: p99 ≤ 2 times the yardstick's, direct: 2.17 "
        "(p99 13.00 / 6.00 ms)" in lines
    )


def test_the_report_shows_both_paths_side_by_side_and_names_the_cpu() -> None:
    report = render(measurements(), duration=10, rounds=3, warmup=3)
    assert "on 2 cores (Test CPU)" in report
    assert "| direct: requests/s |" in report
    assert "| through nginx: requests/s |" in report
    row = f"| {CASES['get']} | {APPS['alembic-stuff'].label} |"
    assert f"{row} 3,000 | 0.33 | 6.50 | 13.00 | 2.17 | 3,000 | 0.33 |" in report


def test_a_run_from_before_nginx_was_measured_renders_direct_only() -> None:
    old = {
        "runs": [
            {"app": app, "case": case, "results": [vars(Result(rate, p99 / 2, p99, 0))]}
            for app, (rate, p99) in FIGURES.items()
            for case in CASES
        ],
        "peak_rss_mb": dict.fromkeys(FIGURES, 50.0),
        "extras": {},
    }
    renders = Measurements.from_json(old)
    assert renders.vias() == ["direct"]
    assert "through nginx" not in summary(renders)


def test_a_target_whose_apps_were_not_measured_says_so() -> None:
    partial = measurements()
    partial.runs = {key: runs for key, runs in partial.runs.items() if key[0] != "peer"}
    lines = summary(partial).splitlines()
    assert "  -      GET /country/{code}: ≥ 2.5 times the peer: not measured in this run" in lines
    assert not any("2.5 times the peer" in line and "MET" in line for line in lines)
