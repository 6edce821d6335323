"""The bench's nginx is the shipped configuration with one change, the per-client limit."""

import difflib
from pathlib import Path

from bench.cases import CONNECTIONS
from bench.edge import configure_for_bench
from support.nginx import configure, scratch_folder


def rendered(folder: Path, bench: bool) -> list[str]:
    """The server configuration, rendered as the tests render it, or as the bench does."""
    (configure_for_bench if bench else configure)(folder, "http://127.0.0.1:9", 8)
    return (folder / "conf.d" / "default.conf").read_text().splitlines()


def test_only_the_per_client_limit_differs_from_the_shipped_configuration() -> None:
    with scratch_folder() as shipped, scratch_folder() as bench:
        changed = [
            line
            for line in difflib.unified_diff(rendered(shipped, False), rendered(bench, True), n=0)
            if line[:1] in "+-" and line[:3] not in {"---", "+++"}
        ]
    assert changed == [
        "-    limit_conn per_client 20;",
        f"+    limit_conn per_client {CONNECTIONS};",
    ]
