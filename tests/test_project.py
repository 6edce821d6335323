"""The project's promises outside the code: Pipfile scripts, README, compose file."""

import os
import re
import shutil
import subprocess
import sys
import tomllib
from typing import Any

import yaml

from tests.databases import ROOT


def pipfile_scripts() -> dict[str, str]:
    scripts: dict[str, str] = tomllib.loads((ROOT / "Pipfile").read_text())["scripts"]
    return scripts


def test_every_script_the_readme_names_exists() -> None:
    readme = (ROOT / "README.md").read_text()
    named = set(re.findall(r"pipenv run ([a-z][a-z-]*)", readme))
    assert named, "the README names no scripts"
    assert named <= set(pipfile_scripts()), named - set(pipfile_scripts())


def test_the_promised_scripts() -> None:
    scripts = pipfile_scripts()
    # The migration policy is the toolkit's, with this project's alembic.ini from any folder:
    # `alembic upgrade heads`, once the guard and the registry of replicas have allowed it.
    toolkit = "alembic-toolkit -c ${PIPENV_PROJECT_DIR}/alembic.ini"
    assert scripts["alembic-latest"] == f"{toolkit} upgrade"
    for script, command in {
        "alembic-revision": "generate",  # autogenerate, rename-aware, onto a branch
        "alembic-expand": "expand",
        "alembic-contract": "contract",
        "alembic-sql": "sql",
        "migrations-check": "guard",
        "migrations-lint": "lint",
        "migrations-release": "release",
        "migrations-ready": "check",
    }.items():
        assert scripts[script] == f"{toolkit} {command}"
    assert {"setup", "start", "db-up", "db-down", "test", "qa"} <= set(scripts)


def test_scripts_name_project_files_by_the_project_folder() -> None:
    for name, command in pipfile_scripts().items():
        for path in re.findall(r"\$\{PIPENV_PROJECT_DIR\}/(\S+)", command):
            assert (ROOT / path).is_file(), f"{name}: {path}"
        # A bare relative path would be relative to wherever the command was started, unless
        # the command runs from the project folder.
        if "scripts/in_project.py" not in command:
            assert not re.search(r"(^|\s)(scripts|bench|tests|alembic)/", command), name


# Each needs the project's files: alembic.ini, the revisions, .squawk.toml, tests/, bench/.
FROM_A_SUBFOLDER = {
    "alembic history": "<base> -> ",
    "alembic-sql base:heads": "CREATE TABLE country",
    "migrations-check": "no unacknowledged data loss",
    "migrations-lint": "squawk finds nothing",
    "test -n 0 --collect-only -q tests/test_project.py": "collected",
    "bench --help": "usage:",
}


def test_readme_commands_work_from_any_folder_inside_the_project() -> None:
    folder = "alembic/versions"
    pipenv = shutil.which("pipenv")
    assert pipenv is not None, "pipenv is not on PATH: `pip install pipenv`, as the README says"
    # In the environment the tests run in, whichever folder the copy of the project is in.
    environment = {**os.environ, "VIRTUAL_ENV": sys.prefix, "PIPENV_VERBOSITY": "-1"}
    running = {
        command: subprocess.Popen(
            [pipenv, "run", *command.split()],
            cwd=ROOT / folder,
            env=environment,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        for command in FROM_A_SUBFOLDER
    }
    for command, process in running.items():
        output = process.communicate(timeout=120)[0]
        assert process.returncode == 0, f"{command} from {folder}:\n{output}"
        assert FROM_A_SUBFOLDER[command] in output, f"{command} from {folder}:\n{output}"


def compose() -> dict[str, Any]:
    document: dict[str, Any] = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    return document


def test_compose_file_matches_the_compose_specification() -> None:
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "check_jsonschema",
            "--builtin-schema",
            "vendor.compose-spec",
            str(ROOT / "docker-compose.yml"),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_compose_names_ports_and_order() -> None:
    services = compose()["services"]
    db, migrate, api = services["db"], services["migrate"], services["api"]

    assert db["container_name"] == "postgres-alembic-stuff"
    assert db["image"].startswith("postgres:18")
    assert db["ports"] == ["127.0.0.1:5555:5432"]
    assert db["environment"]["POSTGRES_DB"] == "alembic-stuff"
    assert db["volumes"][0].startswith("alembic-stuff-data:")
    assert "healthcheck" in db
    assert compose()["volumes"]["alembic-stuff-data"]["name"] == "alembic-stuff-data"

    assert migrate["command"] == ["alembic-toolkit", "upgrade"]
    assert migrate["depends_on"] == {"db": {"condition": "service_healthy"}}

    assert api["container_name"] == "demo-api"
    assert api["ports"] == ["127.0.0.1:8765:8765"]
    assert api["depends_on"]["migrate"] == {"condition": "service_completed_successfully"}
    assert migrate["environment"]["DATABASE_URL"].startswith("postgresql://postgres:")
    assert api["environment"]["DATABASE_URL"].startswith("postgresql://alembic_stuff_app:")
    # The migrations reach PostgreSQL itself; the API goes through PgBouncer.
    assert migrate["environment"]["DATABASE_URL"].endswith("@db:5432/alembic-stuff")
    assert api["environment"]["DATABASE_URL"].endswith("@pgbouncer:6432/alembic-stuff")
    assert api["environment"]["DATABASE_POOLER"] == "transaction"
    assert services["pgbouncer"]["build"] == "deploy/pgbouncer"
    assert "./docker/initdb:/docker-entrypoint-initdb.d:ro" in db["volumes"]


def test_dockerfile_runs_as_a_user_from_the_lock_file() -> None:
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert "Pipfile.lock" in dockerfile
    assert "\nUSER app\n" in dockerfile
    assert re.search(r"^FROM python:3\.\d+-slim$", dockerfile, re.MULTILINE)


def test_the_readme_gives_both_docker_compose_spellings() -> None:
    readme = (ROOT / "README.md").read_text()
    docker = readme.split("\n## Docker\n", 1)[1].split("\n## ", 1)[0]
    assert "docker compose up -d" in docker  # v2, the docker plugin
    assert "docker-compose up -d" in docker  # v1, and the original demo's spelling
    assert "'compose' is not a docker command" in docker  # what to do when v2 is missing
