"""The rename recipe's revisions (docs/zero-downtime-rename.md), step by step, there and back.

Expand, contract, and each downgrade, with no load (the load is test_under_load.py's): each
step leaves the columns, the trigger and the values it should, both releases' writes are
copied across while the two columns exist, and the document shows the revisions as they are.
"""

import re
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from alembic_toolkit.review.destructive import problems
from sqlalchemy import URL, Connection, Engine, text

from bench.zerodowntime.revisions import ALEMBIC_INI, URL_VARIABLE, script_directory
from tests.databases import ROOT, settings_for

ROWS = 2_000
RECIPE = ROOT / "docs" / "zero-downtime-rename.md"


@pytest.fixture
def config(database: URL, monkeypatch: pytest.MonkeyPatch) -> Config:
    """Alembic on the recipe's revisions, against the test's database."""
    url = settings_for(database).migration_url.render_as_string(hide_password=False)
    monkeypatch.setenv(URL_VARIABLE, url)
    return Config(str(ALEMBIC_INI))


def columns(connection: Connection) -> dict[str, bool]:
    """Each column of item, and whether it may be NULL."""
    return {
        column["name"]: column["nullable"] for column in sa.inspect(connection).get_columns("item")
    }


def triggers(connection: Connection) -> int:
    count = text("SELECT count(*) FROM pg_trigger WHERE NOT tgisinternal")
    return int(connection.execute(count).scalar_one())


def shape(connection: Connection) -> tuple[dict[str, bool], int]:
    """The columns of item (and whether each may be NULL), and how many triggers there are."""
    return columns(connection), triggers(connection)


def equal(connection: Connection) -> int:
    count = text("SELECT count(*) FROM item WHERE name = label")
    return int(connection.execute(count).scalar_one())


def values(connection: Connection, column: str) -> dict[int, str]:
    """Each item's value of `column` (a name or the label), by id."""
    rows = connection.execute(text(f"SELECT id, {column} FROM item"))  # noqa: S608 - ours
    return {row.id: getattr(row, column) for row in rows}


def test_expand_contract_and_back_keep_every_name(config: Config, engine: Engine) -> None:
    [base] = script_directory().get_bases()
    command.upgrade(config, base)
    with engine.begin() as connection:
        fill = "INSERT INTO item (id, label) SELECT n, 'item ' || n FROM generate_series(1, :n) n"
        connection.execute(text(fill), {"n": ROWS})

    command.upgrade(config, "expand@head")
    with engine.begin() as connection:
        assert shape(connection) == ({"id": False, "label": False, "name": True}, 1)
        assert equal(connection) == ROWS
        # Release N writes `label`, release N+1 writes `name`: the trigger fills the other.
        connection.execute(text("INSERT INTO item (id, label) VALUES (-1, 'from N')"))
        connection.execute(text("INSERT INTO item (id, name) VALUES (-2, 'from N+1')"))
        connection.execute(text("UPDATE item SET label = 'renamed by N' WHERE id = 1"))
        connection.execute(text("UPDATE item SET name = 'renamed by N+1' WHERE id = 2"))
        pairs = connection.execute(
            text("SELECT label, name FROM item WHERE id IN (-2, -1, 1, 2) ORDER BY id")
        ).all()
        assert [tuple(pair) for pair in pairs] == [
            ("from N+1", "from N+1"),
            ("from N", "from N"),
            ("renamed by N", "renamed by N"),
            ("renamed by N+1", "renamed by N+1"),
        ]
        names = values(connection, "name")

    command.upgrade(config, "contract@head")
    with engine.connect() as connection:
        assert shape(connection) == ({"id": False, "name": False}, 0)
        assert values(connection, "name") == names

    command.downgrade(config, "contract@-1")
    with engine.connect() as connection:
        assert shape(connection) == ({"id": False, "label": False, "name": True}, 1)
        assert equal(connection) == len(names)

    command.downgrade(config, base)
    with engine.connect() as connection:
        assert shape(connection) == ({"id": False, "label": False}, 0)
        assert values(connection, "label") == names

    # And forward again: the backfill was forgotten on the way down, so it runs again.
    command.upgrade(config, "contract@head")
    with engine.connect() as connection:
        assert columns(connection) == {"id": False, "name": False}
        assert values(connection, "name") == names


def test_the_recipe_shows_the_revisions_as_they_are() -> None:
    blocks = re.findall(r"```python\n(.*?)```", RECIPE.read_text(), re.DOTALL)
    assert blocks
    sources = [Path(script.path).read_text() for script in script_directory().walk_revisions()]
    for block in blocks:
        assert any(block in source for source in sources), block


def test_the_revisions_pass_the_destructive_change_guard() -> None:
    paths = [Path(script.path) for script in script_directory().walk_revisions()]
    assert list(problems(paths)) == []
