"""The project's own revisions: the data migration, the rename and offline SQL.

The properties every history must have (one head, stairway, no drift, ...) are in
test_migration_checks.py (the checks are alembic_toolkit.checks).
"""

import logging

import pytest
import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from alembic.script import ScriptDirectory
from sqlalchemy import URL, Engine, inspect

from alembic_stuff.db.migrations import alembic_config, current_revisions, rows_at_the_heads
from alembic_stuff.settings import Settings
from tests.databases import revision_id, settings_for

CREATE_TABLE = revision_id("create_country_table")
ADD_ISO_COLUMNS = revision_id("add_iso_3166_columns")
RENAME_NAME = revision_id("rename_country_name_to_common_name")

# The table as the first revision made it, independent of today's model.
country_v1 = sa.table("country", sa.column("code", sa.String), sa.column("name", sa.String))


@pytest.fixture
def settings(database: URL) -> Settings:
    return settings_for(database)


@pytest.fixture
def config(settings: Settings) -> Config:
    return alembic_config(settings, configure_logging=False)


def tables(engine: Engine) -> set[str]:
    return set(inspect(engine).get_table_names())


def columns(engine: Engine) -> list[str]:
    return [column["name"] for column in inspect(engine).get_columns("country")]


def current(engine: Engine) -> str | None:
    with engine.connect() as connection:
        if "alembic_version" not in tables(engine):
            return None
        return connection.execute(sa.text("SELECT version_num FROM alembic_version")).scalar()


def test_the_trunk_is_one_line_ending_where_expand_and_contract_start() -> None:
    script = ScriptDirectory.from_config(alembic_config())
    children = [r for r in script.walk_revisions() if r.down_revision == RENAME_NAME]
    assert sorted(label for r in children for label in r.branch_labels) == ["contract", "expand"]
    trunk = [r.revision for r in script.walk_revisions("base", RENAME_NAME)]
    assert trunk == [RENAME_NAME, ADD_ISO_COLUMNS, CREATE_TABLE]


def test_the_data_migration_fills_existing_rows_from_iso(config: Config, engine: Engine) -> None:
    command.upgrade(config, CREATE_TABLE)
    with engine.begin() as connection:
        connection.execute(
            country_v1.insert(),
            [{"code": "GB", "name": "Blighty"}, {"code": "CA", "name": "Canada"}],
        )

    command.upgrade(config, ADD_ISO_COLUMNS)

    with engine.connect() as connection:
        rows = connection.execute(
            sa.text(
                "SELECT code, name, alpha_3, numeric_code, official_name FROM country ORDER BY code"
            )
        ).all()
    assert [tuple(row) for row in rows] == [
        ("CA", "Canada", "CAN", "124", None),
        ("GB", "Blighty", "GBR", "826", "United Kingdom of Great Britain and Northern Ireland"),
    ]


def test_the_data_migration_stops_on_unknown_codes_and_changes_nothing(
    config: Config, engine: Engine
) -> None:
    command.upgrade(config, CREATE_TABLE)
    with engine.begin() as connection:
        connection.execute(
            country_v1.insert(), [{"code": "GB", "name": "UK"}, {"code": "XK", "name": "Kosovo"}]
        )

    with pytest.raises(RuntimeError, match=r"not in ISO 3166-1.*: XK"):
        command.upgrade(config, "heads")

    assert current(engine) == CREATE_TABLE
    assert columns(engine) == ["code", "name"]


def test_the_rename_keeps_every_value_both_ways(config: Config, engine: Engine) -> None:
    command.upgrade(config, ADD_ISO_COLUMNS)
    with engine.begin() as connection:
        connection.execute(
            sa.text(
                "INSERT INTO country (code, name, alpha_3, numeric_code) "
                "VALUES ('FR', 'France', 'FRA', '250')"
            )
        )

    command.upgrade(config, RENAME_NAME)
    with engine.connect() as connection:
        assert connection.execute(sa.text("SELECT common_name FROM country")).scalar() == "France"

    command.downgrade(config, ADD_ISO_COLUMNS)
    with engine.connect() as connection:
        assert connection.execute(sa.text("SELECT name FROM country")).scalar() == "France"


def test_offline_sql_needs_no_database(capsys: pytest.CaptureFixture[str]) -> None:
    nowhere = URL.create("postgresql", host="127.0.0.1", port=1, database="nowhere")
    command.upgrade(
        alembic_config(settings_for(nowhere), configure_logging=False), "base:heads", sql=True
    )
    script = capsys.readouterr().out
    assert "CREATE TABLE country" in script
    assert "ALTER TABLE country RENAME name TO common_name" in script
    assert "'GBR'" in script  # the backfill's ISO data is in the script itself


def test_reading_the_revisions_logs_nothing_that_reads_like_a_migration(
    config: Config, settings: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    command.upgrade(config, "heads")
    with caplog.at_level(logging.INFO):
        assert current_revisions(settings) == rows_at_the_heads(config)

    assert [record.getMessage() for record in caplog.records] == []
    assert logging.getLogger("alembic.runtime.migration").level == logging.NOTSET
