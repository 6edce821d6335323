"""System programs the tests run for real (Chromium, nginx, PgBouncer), from Debian's packages.

On a developer's machine without one, its tests skip, naming the package to install; in CI
(`CI=true`, where .ci/run installs them) a missing one fails instead of hiding the tests.
"""

import os
import shutil

import pytest


def required(*names: str, package: str) -> str:
    """The path of the first of `names` on PATH (or absolute); skip or fail when none is."""
    for name in names:
        found = name if os.path.isabs(name) and os.access(name, os.X_OK) else shutil.which(name)
        if found:
            return found
    if os.environ.get("CI") == "true":
        pytest.fail(f"{names[0]} is not installed; .ci/run installs Debian's {package} package")
    pytest.skip(f"{names[0]} is not installed: apt-get install {package}")
