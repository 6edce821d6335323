"""Liveness and readiness, on databases at known revisions."""

from pathlib import Path

import httpx
import psycopg
import pytest
from alembic import command
from alembic.script import ScriptDirectory
from sqlalchemy import URL

from alembic_stuff.db.migrations import alembic_config, head_revisions
from alembic_stuff.db.schema_release_file import release_of
from alembic_stuff.schema_release import RELEASE
from tests.databases import free_port, project_revisions, scratch_database, serve, settings_for

FIRST_REVISION = project_revisions()[0]


async def test_health(client: httpx.AsyncClient) -> None:
    response = await client.get("/health")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


async def test_ready_at_the_heads(client: httpx.AsyncClient) -> None:
    response = await client.get("/ready")
    assert response.status_code == 200
    assert response.json() == {
        "status": "ready",
        "database_revisions": list(head_revisions()),
        "release_expand": RELEASE.expand_head,
        "release_contract": RELEASE.contract_head,
        "detail": None,
    }


def test_the_release_module_matches_the_revisions() -> None:
    assert release_of(ScriptDirectory.from_config(alembic_config())) == RELEASE
    assert {RELEASE.expand_head, RELEASE.contract_head} == set(head_revisions())


def set_rows(database: URL, rows: list[str]) -> None:
    with psycopg.connect(database.render_as_string(hide_password=False)) as conn:
        conn.execute("DELETE FROM alembic_version")
        for row in rows:
            conn.execute("INSERT INTO alembic_version VALUES (%s)", (row,))


NEWER = "fffffffffff0"  # a revision of a newer release, which this code does not know


@pytest.mark.parametrize(
    ("rows", "status"),
    [
        (None, 503),
        ([FIRST_REVISION], 503),
        ([RELEASE.contract_head], 503),  # the expand this release needs is missing
        ([NEWER, RELEASE.contract_head], 200),  # a newer release expanded: additive
        ([RELEASE.expand_head, NEWER], 503),  # the schema was contracted past this release
        ([NEWER, "fffffffffff1"], 503),
    ],
    ids=["never-migrated", "behind", "no-expand", "newer-expand", "contracted-past", "unknown"],
)
async def test_ready_when_the_schema_is_one_this_release_works_with(
    server_url: URL, rows: list[str] | None, status: int
) -> None:
    with scratch_database(server_url) as database:
        settings = settings_for(database)
        if rows is not None:
            command.upgrade(alembic_config(settings, configure_logging=False), "heads")
            set_rows(database, rows)
        async with serve(settings) as client:
            response = await client.get("/ready")
    assert response.status_code == status
    body = response.json()
    assert body["database_revisions"] == (None if rows is None else sorted(rows))
    assert body["release_expand"] == RELEASE.expand_head
    assert body["release_contract"] == RELEASE.contract_head
    assert (body["detail"] is None) == (status == 200)
    if rows is not None and status == 503 and NEWER in rows:
        assert NEWER in body["detail"]  # both sides named: the database's and the release's


async def test_ready_needs_no_alembic_ini(
    server_url: URL, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with scratch_database(server_url) as database:
        settings = settings_for(database)
        command.upgrade(alembic_config(settings, configure_logging=False), "heads")
        monkeypatch.chdir(tmp_path)  # outside the checkout: no alembic.ini above it
        async with serve(settings) as client:
            response = await client.get("/ready")
    assert response.status_code == 200, response.json()


async def test_an_unreachable_database_is_503_not_a_crash() -> None:
    nowhere = URL.create(
        "postgresql", username="nobody", host="127.0.0.1", port=free_port(), database="x"
    )
    async with serve(settings_for(nowhere)) as client:
        ready = await client.get("/ready")
        country = await client.get("/country/GB")
        health = await client.get("/health")
    assert ready.status_code == 503
    assert ready.headers["retry-after"] == "2"
    assert ready.json()["detail"].startswith("the database is unreachable")
    assert country.status_code == 503
    assert country.json() == {"detail": "The database is unavailable; try again shortly."}
    assert health.status_code == 200
