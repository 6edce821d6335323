"""A Python module run as a command, in its own process: how people run `alembic`, the toolkit."""

import subprocess
import sys
from pathlib import Path

# Long enough for a loaded two-core machine to start Python and Alembic many times over.
TIMEOUT_SECONDS = 120


def run_module(folder: Path, module: str, *args: str) -> subprocess.CompletedProcess[str]:
    """`python -m module args` with this environment's Python, started in `folder`."""
    return subprocess.run(
        [sys.executable, "-m", module, *args],
        cwd=folder,
        capture_output=True,
        text=True,
        check=False,
        timeout=TIMEOUT_SECONDS,
    )
