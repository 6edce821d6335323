"""Migrations as the schema owner, the API as a role that can only read and write rows."""

import contextlib
from collections.abc import Iterator

import psycopg
import pytest
from psycopg import errors, sql
from sqlalchemy import URL

from alembic_stuff.db.migrations import upgrade_to_head
from tests.databases import ROOT, scratch_database, serve, settings_for

ROLES_SQL = ROOT / "docker" / "initdb" / "10-app-role.sql"
APP_ROLE = "alembic_stuff_app"


@pytest.fixture
def database_with_app_role(server_url: URL) -> Iterator[URL]:
    """A scratch database set up as the compose file sets one up: roles first, then migrations."""
    with scratch_database(server_url) as database:
        with psycopg.connect(database.render_as_string(hide_password=False), autocommit=True) as c:
            c.execute(ROLES_SQL.read_bytes())
        upgrade_to_head(settings_for(database), configure_logging=False)
        yield database
    # Unless a test on another worker, on the same server, has a database granting it.
    with (
        psycopg.connect(server_url.render_as_string(hide_password=False), autocommit=True) as c,
        contextlib.suppress(errors.DependentObjectsStillExist),
    ):
        c.execute(sql.SQL("DROP ROLE IF EXISTS {}").format(sql.Identifier(APP_ROLE)))


def as_app(database_with_app_role: URL) -> URL:
    return database_with_app_role.set(username=APP_ROLE, password="app")


async def test_the_api_works_as_the_app_role(database_with_app_role: URL) -> None:
    async with serve(settings_for(as_app(database_with_app_role))) as client:
        assert (await client.post("/country")).status_code == 201
        assert (await client.get("/country/GB")).status_code == 200
        assert (await client.patch("/country/GB", json={"common_name": "UK"})).status_code == 200
        assert (await client.delete("/country/GB")).status_code == 204
        assert (await client.get("/ready")).status_code == 200


@pytest.mark.parametrize(
    "statement",
    [
        "CREATE TABLE intruder (id int)",
        "ALTER TABLE country ADD COLUMN intruder int",
        "DROP TABLE country",
        "TRUNCATE country",
        "CREATE INDEX intruder ON country (common_name)",
        "CREATE TEMPORARY TABLE intruder (id int)",
        "UPDATE alembic_version SET version_num = 'deadbeef0000'",
        "DELETE FROM alembic_version",
        "INSERT INTO alembic_version VALUES ('deadbeef0000')",
    ],
)
def test_the_app_role_cannot_change_the_schema_or_its_revision(
    database_with_app_role: URL, statement: str
) -> None:
    with (
        psycopg.connect(
            as_app(database_with_app_role).render_as_string(hide_password=False)
        ) as conn,
        pytest.raises(errors.InsufficientPrivilege),
    ):
        conn.execute(statement.encode())
