"""Liveness and readiness, on databases at known revisions."""

import httpx
import psycopg
import pytest
from alembic import command
from sqlalchemy import URL

from alembic_stuff.db.migrations import alembic_config, head_revision
from tests.databases import free_port, project_revisions, scratch_database, serve, settings_for

FIRST_REVISION = project_revisions()[0]


async def test_health(client: httpx.AsyncClient) -> None:
    response = await client.get("/health")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


async def test_ready_at_head(client: httpx.AsyncClient) -> None:
    response = await client.get("/ready")
    assert response.status_code == 200
    assert response.json() == {
        "status": "ready",
        "current_revision": head_revision(),
        "expected_revision": head_revision(),
        "detail": None,
    }


@pytest.mark.parametrize(
    ("revision", "current"),
    [(None, None), (FIRST_REVISION, FIRST_REVISION), ("head", "fffffffffff0")],
    ids=["never-migrated", "behind", "ahead"],
)
async def test_not_ready_unless_at_the_code_head(
    server_url: URL, revision: str | None, current: str | None
) -> None:
    with scratch_database(server_url) as database:
        settings = settings_for(database)
        if revision is not None:
            command.upgrade(alembic_config(settings, configure_logging=False), revision)
        if current == "fffffffffff0":  # a revision newer than this code knows
            with psycopg.connect(database.render_as_string(hide_password=False)) as conn:
                conn.execute("UPDATE alembic_version SET version_num = %s", (current,))
        async with serve(settings) as client:
            response = await client.get("/ready")
    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "not ready"
    assert body["current_revision"] == current
    assert body["expected_revision"] == head_revision()
    assert body["detail"]


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
