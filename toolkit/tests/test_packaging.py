"""The toolkit builds to a wheel and an sdist that PyPI would take, with the metadata it claims.

The build runs on a copy of toolkit/ (so nothing is written into the repository, and a file
outside the folder cannot sneak in) without build isolation: the virtual environment's
setuptools builds it, so the test needs no network and takes seconds. In CI's wheel run,
TOOLKIT_DIST names the folder of the sdist and the wheel it built and installed: those are
the files read.
"""

import os
import subprocess
import sys
import zipfile
from email.message import Message
from email.parser import Parser
from pathlib import Path

import alembic_toolkit
import pytest
from toolkit_support import copy_tree

TOOLKIT = Path(__file__).resolve().parents[1]
BUILD_TIMEOUT = 120


@pytest.fixture(scope="module")
def dist(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The sdist and wheel TOOLKIT_DIST holds, or those of a fresh copy of toolkit/."""
    given = os.environ.get("TOOLKIT_DIST")
    if given:
        return Path(given)
    root = tmp_path_factory.mktemp("packaging")
    project = copy_tree(TOOLKIT, root / "toolkit")
    out = root / "dist"
    subprocess.run(
        [sys.executable, "-m", "build", "--no-isolation", "--outdir", str(out), str(project)],
        check=True,
        capture_output=True,
        timeout=BUILD_TIMEOUT,
    )
    return out


def wheel_metadata(dist: Path) -> Message:
    [wheel] = dist.glob("*.whl")
    with zipfile.ZipFile(wheel) as archive:
        [name] = [n for n in archive.namelist() if n.endswith(".dist-info/METADATA")]
        return Parser().parsestr(archive.read(name).decode())


def test_twine_accepts_the_wheel_and_the_sdist(dist: Path) -> None:
    files = sorted(str(path) for path in dist.iterdir())
    assert len(files) == 2, files
    result = subprocess.run(
        [sys.executable, "-m", "twine", "check", "--strict", *files],
        capture_output=True,
        text=True,
        timeout=BUILD_TIMEOUT,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_wheel_carries_the_package_version_and_license(dist: Path) -> None:
    metadata = wheel_metadata(dist)
    assert metadata["Version"] == alembic_toolkit.__version__
    assert metadata["License-Expression"] == "MIT"
    assert metadata.get_all("License-File") == ["LICENSE"]
    assert "Typing :: Typed" in metadata.get_all("Classifier", [])


def test_the_readme_in_the_metadata_links_nothing_outside_itself(dist: Path) -> None:
    description = wheel_metadata(dist).get_payload()
    assert isinstance(description, str)
    assert "alembic-toolkit" in description
    # A relative link resolves on GitHub but not on PyPI or in a copied folder.
    assert "](../" not in description
    assert "](./" not in description
