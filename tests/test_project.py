"""The project's promises outside the code: Pipfile scripts, README, compose file."""

import re
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
    named -= {"alembic"}  # plain Alembic through the venv, not a script
    assert named, "the README names no scripts"
    assert named <= set(pipfile_scripts()), named - set(pipfile_scripts())


def test_the_promised_scripts() -> None:
    scripts = pipfile_scripts()
    assert scripts["alembic-revision"] == "alembic-stuff revision"  # autogenerate, rename-aware
    assert scripts["alembic-latest"] == "alembic upgrade head"
    assert {"setup", "start", "db-up", "db-down", "test", "qa"} <= set(scripts)


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

    assert migrate["command"] == ["alembic", "upgrade", "head"]
    assert migrate["depends_on"] == {"db": {"condition": "service_healthy"}}

    assert api["container_name"] == "demo-api"
    assert api["ports"] == ["127.0.0.1:8765:8765"]
    assert api["depends_on"] == {"migrate": {"condition": "service_completed_successfully"}}
    assert migrate["environment"]["DATABASE_URL"].startswith("postgresql://postgres:")
    assert api["environment"]["DATABASE_URL"].startswith("postgresql://alembic_stuff_app:")
    for service in (migrate, api):
        assert service["environment"]["DATABASE_URL"].endswith("@db:5432/alembic-stuff")
    assert "./docker/initdb:/docker-entrypoint-initdb.d:ro" in db["volumes"]


def test_dockerfile_runs_as_a_user_from_the_lock_file() -> None:
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert "Pipfile.lock" in dockerfile
    assert "\nUSER app\n" in dockerfile
    assert re.search(r"^FROM python:3\.\d+-slim$", dockerfile, re.MULTILINE)
