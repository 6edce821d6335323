"""Liveness and readiness, on databases at known revisions."""

from pathlib import Path

import httpx
import psycopg
import pytest
from alembic import command
from alembic.script import ScriptDirectory
from alembic_toolkit.release_module import release_of
from sqlalchemy import URL, Column, MetaData, String

from alembic_stuff.db.base import NAMING_CONVENTION, Base
from alembic_stuff.db.migrations import alembic_config
from alembic_stuff.models import Country
from alembic_stuff.schema_release import RELEASE
from tests.databases import (
    Scratch,
    copy_migration_environment,
    free_port,
    project_revisions,
    scratch_database,
    serve,
    settings_for,
    unused_column,
)

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
        "release_expand": RELEASE.expand_head,
        "release_contract": RELEASE.contract_head,
        "detail": None,
    }


def test_the_release_module_matches_the_revisions() -> None:
    script = ScriptDirectory.from_config(alembic_config())
    assert release_of(script) == RELEASE
    assert {RELEASE.expand_head, RELEASE.contract_head} == set(script.get_heads())


def set_applied(database: URL, applied: dict[str, str | None]) -> None:
    """Make the toolkit's record of applied revisions hold `applied` (revision: branch)."""
    with psycopg.connect(database.render_as_string(hide_password=False)) as conn:
        conn.execute("DELETE FROM zerodowntime.applied_revision")
        for revision, branch in applied.items():
            conn.execute(
                "INSERT INTO zerodowntime.applied_revision (revision, branch) VALUES (%s, %s)",
                (revision, branch),
            )


NEWER = "fffffffffff0"  # a revision of a newer release, which this code does not know
TRUNK = dict.fromkeys(RELEASE.older)
EVERYTHING = {**TRUNK, RELEASE.expand_head: "expand", RELEASE.contract_head: "contract"}


@pytest.mark.parametrize(
    ("applied", "status"),
    [
        (None, 503),
        ({FIRST_REVISION: None}, 503),
        ({**TRUNK, RELEASE.contract_head: "contract"}, 503),  # the expand it needs is missing
        ({**EVERYTHING, NEWER: "expand"}, 200),  # a newer release expanded: additive
        ({**EVERYTHING, NEWER: "contract"}, 503),  # contracted past this release
        ({**EVERYTHING, NEWER: None}, 503),  # a history this release does not know
    ],
    ids=["never-migrated", "behind", "no-expand", "newer-expand", "contracted-past", "unknown"],
)
async def test_ready_when_the_schema_is_one_this_release_works_with(
    server_url: URL, applied: dict[str, str | None] | None, status: int
) -> None:
    with scratch_database(server_url) as database:
        settings = settings_for(database)
        if applied is not None:
            command.upgrade(alembic_config(settings, configure_logging=False), "heads")
            set_applied(database, applied)
        async with serve(settings) as client:
            response = await client.get("/ready")
    assert response.status_code == status
    body = response.json()
    assert body["release_expand"] == RELEASE.expand_head
    assert body["release_contract"] == RELEASE.contract_head
    assert (body["detail"] is None) == (status == 200)
    if applied is not None and status == 503 and NEWER in applied:
        assert NEWER in body["detail"]  # the revision it does not survive is named


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
    assert ready.json()["detail"].startswith("database unavailable (")
    assert country.status_code == 503
    assert country.json() == {"detail": "The database is unavailable; try again shortly."}
    assert health.status_code == 200


def country_with(column: str) -> MetaData:
    """The project's model with one nullable column added: an expand revision's change."""
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    Base.metadata.tables[Country.__tablename__].to_metadata(metadata)
    metadata.tables[Country.__tablename__].append_column(Column(column, String(100)))
    return metadata


def builds_on(script: ScriptDirectory, revision: str) -> set[str]:
    """The revisions applying `revision` applies: it, its ancestors and what they depend on."""
    return {r.revision for r in script.iterate_revisions(revision, "base")}


CONTRACT = '''"""drop the {column}"""
from alembic import op

revision = "c0ffee000001"
down_revision = "{down}"
branch_labels = None
depends_on = "{expand}"
destroys_data = {{"upgrade: drop_column country.{column}": "release N+2 reads none"}}


def upgrade() -> None:
    op.drop_column("country", "{column}")


def downgrade() -> None:
    pass
'''


async def test_an_older_release_stays_ready_through_the_generated_expand_not_past_a_contract(
    tmp_path: Path, head_database: URL
) -> None:
    scratch = Scratch(copy_migration_environment(tmp_path), head_database)
    column = unused_column("motto")
    model = country_with(column)
    scratch.revise(model)
    [written] = scratch.new_revisions()
    script = ScriptDirectory.from_config(scratch.config(model))
    expand = script.get_revision("expand@head")
    assert expand is not None
    # What the generator writes on a database at both heads, and what collapses Alembic's
    # rows: an expand revision that builds on the contract head, naming it in depends_on
    # unless the expand head it follows builds on it already (as after a first schema change).
    assert RELEASE.contract_head in builds_on(script, expand.revision)
    already = RELEASE.contract_head in builds_on(script, RELEASE.expand_head)
    assert (expand.dependencies is None) == already
    scratch.upgrade(model, "expand@head")
    with psycopg.connect(head_database.render_as_string(hide_password=False)) as conn:
        assert conn.execute("SELECT version_num FROM alembic_version").fetchall() == [
            (expand.revision,)
        ]
    settings = settings_for(head_database)
    async with serve(settings) as client:
        response = await client.get("/ready")
    assert response.status_code == 200, response.json()

    written.with_name(f"2099_01_01_0000-c0ffee000001_drop_{column}.py").write_text(
        CONTRACT.format(down=RELEASE.contract_head, expand=expand.revision, column=column)
    )
    scratch.upgrade(model, "contract@head")
    async with serve(settings) as client:
        response = await client.get("/ready")
    assert response.status_code == 503
    assert "c0ffee000001" in response.json()["detail"]
