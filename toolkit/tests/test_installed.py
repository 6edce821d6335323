"""Which toolkit these tests test: in CI's wheel run, the wheel's, never the checkout's.

.ci/run installs the built wheel into a fresh virtual environment outside the checkout and
runs these tests with TOOLKIT_FROM_WHEEL=1; then `alembic_toolkit` must come from that
environment's site-packages, installed from a .whl file, not from toolkit/src.
"""

import json
import os
import sys
import sysconfig
from importlib.metadata import distribution
from pathlib import Path

import alembic_toolkit
import pytest

CHECKOUT = Path(__file__).resolve().parents[2]


def test_in_the_wheel_run_the_toolkit_is_the_installed_wheel() -> None:
    if os.environ.get("TOOLKIT_FROM_WHEEL") != "1":
        pytest.skip("not the wheel run (.ci/run sets TOOLKIT_FROM_WHEEL=1)")
    package = Path(alembic_toolkit.__file__).resolve()
    assert sys.prefix != sys.base_prefix, "not in a virtual environment"
    assert package.is_relative_to(Path(sysconfig.get_path("purelib")).resolve()), package
    assert not package.is_relative_to(CHECKOUT), package
    # pip's record of where it installed the distribution from (PEP 610).
    origin = json.loads(distribution("alembic-toolkit").read_text("direct_url.json") or "{}")
    assert origin.get("url", "").endswith(".whl"), origin
    assert not origin.get("dir_info", {}).get("editable"), origin
