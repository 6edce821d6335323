"""`pipenv run bench --profile CASE`: where alembic-stuff's time goes under the benchmark's load.

The app is served and driven exactly as in the benchmark while py-spy samples it from outside
(no instrumentation in the app, and --nonblocking, so the process is never paused). It prints
the share of samples spent in each package and the busiest functions, and keeps the stacks
(collapsed format: speedscope.app or flamegraph.pl read it) for a closer look.
"""

import os
import re
import shutil
import subprocess
import sys
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from bench.cases import CASES
from bench.databases import bench_database, load_countries, reset_for
from bench.harness import drive, ensure_wrk, pinned, serve

# A frame as py-spy writes it: "function (path/to/module.py:line)".
FRAME = re.compile(r"^(?P<function>.*) \((?P<path>[^:()]+)(?::\d+)?\)$")
RATE = 250  # samples a second


def profile(case: str, seconds: int, out: Path) -> None:
    """Drive alembic-stuff with `case` for `seconds` while py-spy samples it; print a summary."""
    spy = shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy"))
    if not Path(spy).exists():
        raise SystemExit("bench: py-spy is needed for --profile: pipenv run setup installs it")
    wrk = ensure_wrk()
    out.parent.mkdir(parents=True, exist_ok=True)
    with bench_database() as url:
        load_countries(url)
        with serve("alembic-stuff", url) as (base, pid), ThreadPoolExecutor(1) as pool:
            reset_for(case, url)
            drive(wrk, base, "alembic-stuff", case, 3)  # warm-up, not sampled
            reset_for(case, url)
            # Load runs a second longer on each side than sampling, so every sample is of a
            # loaded server.
            load = pool.submit(drive, wrk, base, "alembic-stuff", case, seconds + 2)
            time.sleep(1)
            record = [spy, "record", "--pid", str(pid), "--duration", str(seconds)]
            record += ["--rate", str(RATE), "--nonblocking", "--format", "raw", "-o", str(out)]
            sampled = subprocess.run(pinned(1, record), capture_output=True, text=True, check=False)
            result = load.result()
    if sampled.returncode != 0:
        reason = (sampled.stderr or sampled.stdout).strip().splitlines()[-1:]
        raise SystemExit(
            f"bench: py-spy could not sample the server ({' '.join(reason)}); it needs root"
            " or kernel.yama.ptrace_scope=0"
        )
    print(f"{CASES[case]}: {result.requests_per_second:,.0f} requests/s while sampled")
    print(summary(out.read_text()))
    print(f"stacks: {os.path.relpath(out)} (open in https://www.speedscope.app)")


def summary(collapsed: str, top: int = 15) -> str:
    """The share of samples by package (where the CPU was) and the busiest functions."""
    by_package: Counter[str] = Counter()
    by_function: Counter[str] = Counter()
    total = 0
    for line in collapsed.splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        total += int(count)
        leaf = FRAME.match(stack.split(";")[-1])
        if leaf is None:  # native code with no Python frame on top
            by_package["(native)"] += int(count)
            continue
        path = leaf["path"]
        by_package[package_of(path)] += int(count)
        by_function[f"{leaf['function']} ({path})"] += int(count)
    if not total:
        return "no samples: was the server busy?"
    lines = [f"{total} samples; where they were (the innermost frame's package):"]
    lines += [f"  {100 * n / total:5.1f}%  {name}" for name, n in by_package.most_common()]
    lines.append(f"the {top} busiest functions (own time):")
    lines += [f"  {100 * n / total:5.1f}%  {name}" for name, n in by_function.most_common(top)]
    return "\n".join(lines)


def package_of(path: str) -> str:
    """The top-level package of a module path as py-spy shows it (`<frozen os>` for some)."""
    if path.startswith("<"):
        return "(python)"
    first = path.split("/")[0]
    return first.removesuffix(".py") if "/" in path or path.endswith(".py") else path
