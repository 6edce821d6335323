"""The toolkit's migration checks on small histories: no false failure, no silent assumption."""

from pathlib import Path

import pytest
from alembic import command
from alembic.config import Config
from alembic_toolkit import checks
from sqlalchemy import URL, Engine
from toolkit_support import URL_VARIABLE, scratch_alembic_project, scratch_url

# A column dropped and added back by the downgrade comes back last: the table's column order
# differs after the round trip, as it does for the toolkit's own generated contract revisions.
HISTORY = [
    (
        "0001",
        'op.create_table("item", sa.Column("id", sa.BigInteger, primary_key=True), '
        'sa.Column("old_name", sa.Text), sa.Column("new_name", sa.Text))',
        'op.drop_table("item")',
    ),
    (
        "0002",
        'op.drop_column("item", "old_name")',
        'op.add_column("item", sa.Column("old_name", sa.Text))',
    ),
]


@pytest.fixture
def history(
    tmp_path: Path, database: URL, engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> tuple[Config, Engine]:
    monkeypatch.setenv(URL_VARIABLE, scratch_url(database))
    return Config(str(scratch_alembic_project(tmp_path, HISTORY))), engine


def test_a_column_back_in_another_place_is_no_trace(history: tuple[Config, Engine]) -> None:
    checks.check_downgrade_leaves_no_trace(*history)


def test_a_database_not_at_base_is_refused_not_assumed(history: tuple[Config, Engine]) -> None:
    config, engine = history
    command.upgrade(config, "0001")
    with pytest.raises(checks.MigrationCheckError, match="needs an empty database, at base"):
        checks.check_downgrade_leaves_no_trace(config, engine)
