"""A drop takes one command: the refusal names it, and the revision it writes carries markers.

The markers' reasons are placeholders that the guard refuses until a person writes the real
one, so a confirmed drop is still read before it runs.
"""

from pathlib import Path

import pytest
from alembic import command
from alembic.util import CommandError
from alembic_toolkit.autogen.hints import Hints
from alembic_toolkit.autogen.renames import contract_markers, rename_aware
from alembic_toolkit.project import ProjectCommands
from alembic_toolkit.review.destructive import problems
from alembic_toolkit.review.markers import DESTROYS_DATA, SQUAWK_ACCEPTS, TODO_REASON, read_marker
from sqlalchemy import Engine, text

from alembic_stuff.db.base import Base
from alembic_stuff.db.migrations import alembic_config
from tests.databases import Scratch, settings_for

DROPPED = "country.legacy_note"


@pytest.fixture
def scratch_with_legacy(scratch: Scratch, engine: Engine) -> Scratch:
    """The scratch environment, on a database with a column the models no longer have."""
    with engine.begin() as connection:
        connection.execute(text("ALTER TABLE country ADD COLUMN legacy_note text"))
    return scratch


def generate(scratch: Scratch, *hints: str) -> None:
    config = alembic_config(
        settings_for(scratch.database),
        ini_path=scratch.folder / "alembic.ini",
        configure_logging=False,
    )
    config.attributes["target_metadata"] = Base.metadata
    command.revision(
        config,
        "drop legacy note",
        autogenerate=True,
        # A drop goes onto the contract branch, once no release reads the column.
        head="contract@head",
        process_revision_directives=rename_aware(Hints.parse(hints), ask=None),
    )


def test_the_refusal_names_the_one_command_that_writes_the_drop(
    scratch_with_legacy: Scratch,
) -> None:
    scratch = scratch_with_legacy
    with pytest.raises(CommandError) as refused:
        generate(scratch)
    assert str(refused.value).splitlines()[-1] == (
        "to drop every one of them, with its data: alembic revision --autogenerate "
        f"-m 'drop legacy note' -x allow_drop={DROPPED}"
    )
    assert scratch.new_revisions() == []


def test_a_confirmed_drop_writes_markers_the_guard_refuses_until_edited(
    scratch_with_legacy: Scratch,
) -> None:
    scratch = scratch_with_legacy
    generate(scratch, f"allow_drop={DROPPED}")
    [revision] = scratch.new_revisions()
    key = f"upgrade: drop_column {DROPPED}"
    assert read_marker(revision, DESTROYS_DATA) == {key: TODO_REASON}
    assert read_marker(revision, SQUAWK_ACCEPTS) == {"ban-drop-column": TODO_REASON}
    source = revision.read_text()
    assert "alembic-toolkit guard" in source
    assert "migrations-check" not in source
    [placeholder] = problems([revision])
    assert f"{DESTROYS_DATA}[{key!r}] needs a reason" in placeholder

    revision.write_text(source.replace(TODO_REASON, "nobody has read it since 2.0"))
    assert list(problems([Path(revision)])) == []


def test_generated_markers_name_the_toolkit_commands_or_the_project_s_own() -> None:
    default = contract_markers([], "abc123")
    assert "(`alembic-toolkit guard`)" in default
    assert "(`alembic-toolkit lint`)" in default
    assert "pipenv" not in default
    assert "migrations-" not in default
    own = contract_markers([], "abc123", ProjectCommands(guard="make check", lint="make lint"))
    assert "(`make check`)" in own
    assert "(`make lint`)" in own
