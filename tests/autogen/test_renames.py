"""Rename-aware autogenerate, scenario by scenario, on a database holding rows.

Each scenario changes the country model, generates a revision in a scratch copy of the
project's migration environment, applies it to a database that holds rows, and checks the
rows, then that autogenerate finds nothing left to do, then that the downgrade restores them.
"""

import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from alembic import command
from alembic.util import CommandError
from alembic_toolkit.autogen.hints import HintError, Hints
from alembic_toolkit.autogen.renames import rename_aware
from sqlalchemy import URL, Engine, MetaData, inspect

from alembic_stuff.db.base import NAMING_CONVENTION, Base
from alembic_stuff.db.migrations import alembic_config
from alembic_stuff.models import Country
from support import terminal
from tests.databases import ONTO, ROOT, Scratch, settings_for, sync_engine

ROWS = [
    ("GB", "United Kingdom", "GBR", "826", "United Kingdom of Great Britain and Northern Ireland"),
    ("FR", "France", "FRA", "250", "French Republic"),
    ("CA", "Canada", "CAN", "124", None),
]


@dataclass(frozen=True)
class Column:
    """One column of the country table as a scenario's model declares it."""

    name: str
    type: sa.types.TypeEngine[Any]
    nullable: bool = False


COMMON = Column("common_name", sa.String(100))
OFFICIAL = Column("official_name", sa.String(200), nullable=True)


def country(
    table: str = "country",
    *,
    code: str = "code",
    alpha_3: str = "alpha_3",
    numeric_code: str = "numeric_code",
    common: Column | None = COMMON,
    official: Column | None = OFFICIAL,
    extra: tuple[Column, ...] = (),
) -> MetaData:
    """The country model, with the scenario's changes, on the project's naming convention.

    The columns a scenario can change are declared here; any other column of the project's
    model (a copier's own, such as the capital README.md's first schema change adds) is kept
    as the model declares it, or autogenerate would take it for a drop.
    """
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    declared = {"code", "alpha_3", "numeric_code", COMMON.name, OFFICIAL.name}
    kept = [
        Column(c.name, c.type, bool(c.nullable))
        for c in Base.metadata.tables[Country.__tablename__].columns
        if c.name not in declared
    ]
    columns = [c for c in (common, official, *kept, *extra) if c is not None]
    sa.Table(
        table,
        metadata,
        sa.Column(code, sa.String(2), primary_key=True),
        sa.Column(alpha_3, sa.String(3), nullable=False, unique=True),
        sa.Column(numeric_code, sa.String(3), nullable=False, unique=True),
        *(sa.Column(c.name, c.type, nullable=c.nullable) for c in columns),
        sa.CheckConstraint(f"{code} ~ '^[A-Z]{{2}}$'", name="code_is_alpha_2"),
        sa.CheckConstraint(f"{alpha_3} ~ '^[A-Z]{{3}}$'", name="alpha_3_is_alpha_3"),
        sa.CheckConstraint(f"{numeric_code} ~ '^[0-9]{{3}}$'", name="numeric_code_is_3_digits"),
    )
    return metadata


@pytest.fixture
def seeded_database(head_database: URL) -> URL:
    """A database at the project's heads, holding three countries."""
    with sync_engine(head_database) as engine, engine.begin() as connection:
        connection.execute(
            sa.text(
                "INSERT INTO country (code, common_name, alpha_3, numeric_code, official_name)"
                " VALUES (:c, :n, :a, :num, :o)"
            ),
            [dict(zip(["c", "n", "a", "num", "o"], row, strict=True)) for row in ROWS],
        )
    return head_database


@pytest.fixture
def scratch(project: Path, seeded_database: URL) -> Scratch:
    """The scratch migration environment, generating against the seeded database."""
    return Scratch(project, seeded_database)


def rows(engine: Engine, table: str, *columns: str) -> list[tuple[Any, ...]]:
    with engine.connect() as connection:
        selected = ", ".join(columns)
        result = connection.execute(sa.text(f"SELECT {selected} FROM {table} ORDER BY code"))  # noqa: S608 - test-chosen names
        return [tuple(row) for row in result]


def by_code(*columns: int) -> list[tuple[Any, ...]]:
    """The seeded rows' values at the given positions, in code order."""
    return sorted(tuple(row[0:1] + tuple(row[i] for i in columns)) for row in ROWS)


def apply_check_and_undo(scratch: Scratch, model: MetaData) -> None:
    """Upgrade, then check that the model and the database agree: nothing left to do."""
    scratch.upgrade(model)
    scratch.check(model)


def test_rename_a_column(scratch: Scratch, engine: Engine) -> None:
    model = country(common=Column("display_name", sa.String(100)))
    hint = "rename=country.common_name:display_name"
    script = scratch.generate(model, hint)
    assert 'new_column_name="display_name"' in script
    assert "drop_column" not in script

    apply_check_and_undo(scratch, model)
    assert rows(engine, "country", "code", "display_name") == by_code(1)
    scratch.downgrade(model)
    assert rows(engine, "country", "code", "common_name") == by_code(1)


def test_rename_a_table_with_its_constraints(scratch: Scratch, engine: Engine) -> None:
    model = country("nation")
    script = scratch.generate(model, "rename=country:nation")
    assert 'op.rename_table("country", "nation")' in script
    assert "drop_table" not in script
    assert "create_table" not in script

    apply_check_and_undo(scratch, model)
    assert rows(engine, "nation", "code", "common_name", "official_name") == by_code(1, 4)
    inspector = inspect(engine)
    assert inspector.get_pk_constraint("nation")["name"] == "pk_nation"
    assert {uq["name"] for uq in inspector.get_unique_constraints("nation")} == {
        "uq_nation_alpha_3",
        "uq_nation_numeric_code",
    }
    assert {ck["name"] for ck in inspector.get_check_constraints("nation")} == {
        "ck_nation_code_is_alpha_2",
        "ck_nation_alpha_3_is_alpha_3",
        "ck_nation_numeric_code_is_3_digits",
    }

    scratch.downgrade(model)
    assert rows(engine, "country", "code", "common_name") == by_code(1)
    assert inspect(engine).get_pk_constraint("country")["name"] == "pk_country"


def test_rename_with_a_type_change(scratch: Scratch, engine: Engine) -> None:
    model = country(common=Column("display_name", sa.String(150)))
    hint = "rename=country.common_name:display_name"
    script = scratch.generate(model, hint)
    assert "type_=sa.String(length=150)" in script

    apply_check_and_undo(scratch, model)
    assert rows(engine, "country", "code", "display_name") == by_code(1)
    column = next(c for c in inspect(engine).get_columns("country") if c["name"] == "display_name")
    assert str(column["type"]) == "VARCHAR(150)"
    scratch.downgrade(model)
    assert rows(engine, "country", "code", "common_name") == by_code(1)


@pytest.mark.parametrize(
    ("common", "official"),
    [("display_name", "formal_name"), ("official_name", "common_name")],
    ids=["two-renames-in-one-table", "a-swap-of-two-column-names"],
)
def test_two_column_renames_in_one_table(
    scratch: Scratch, engine: Engine, common: str, official: str
) -> None:
    # A swap included: each column keeps its data and definition, under the other's name.
    model = country(
        common=Column(common, sa.String(100)),
        official=Column(official, sa.String(200), nullable=True),
    )
    hint = f"rename=country.common_name:{common},country.official_name:{official}"
    scratch.generate(model, hint)

    apply_check_and_undo(scratch, model)
    assert rows(engine, "country", "code", common, official) == by_code(1, 4)
    scratch.downgrade(model)
    assert rows(engine, "country", "code", "common_name", "official_name") == by_code(1, 4)


def test_renaming_a_column_renames_its_unique_constraint(scratch: Scratch, engine: Engine) -> None:
    model = country(alpha_3="iso_alpha_3")
    hint = "rename=country.alpha_3:iso_alpha_3"
    script = scratch.generate(model, hint)
    assert (
        'op.rename_constraint("country", "uq_country_alpha_3", "uq_country_iso_alpha_3")' in script
    )
    assert "drop_constraint" not in script
    assert "create_unique_constraint" not in script

    apply_check_and_undo(scratch, model)
    assert {uq["name"] for uq in inspect(engine).get_unique_constraints("country")} == {
        "uq_country_iso_alpha_3",
        "uq_country_numeric_code",
    }
    assert rows(engine, "country", "code", "iso_alpha_3") == by_code(2)


def test_a_genuine_drop_needs_allow_drop(scratch: Scratch, engine: Engine) -> None:
    model = country(official=None)
    with pytest.raises(
        CommandError,
        match=r"(?s)no revision written.*country\.official_name"
        r" \(VARCHAR\(200\)\) would be dropped with its data; add -x "
        r"allow_drop=country\.official_name to confirm",
    ):
        scratch.generate(model)
    assert scratch.new_revisions() == []

    script = scratch.generate(model, "allow_drop=country.official_name")
    assert 'op.drop_column("country", "official_name")' in script
    apply_check_and_undo(scratch, model)
    assert rows(engine, "country", "code", "common_name") == by_code(1)


def test_a_table_another_one_refers_to_is_dropped_after_the_reference(
    scratch: Scratch, engine: Engine
) -> None:
    tagged = country()
    tag = sa.Table("tag", tagged, sa.Column("id", sa.Integer, primary_key=True))
    sa.Table(
        "country_tag",
        tagged,
        sa.Column("code", sa.String(2), primary_key=True),
        sa.Column("tag_id", sa.Integer, sa.ForeignKey(tag.c.id), primary_key=True),
    )
    scratch.generate(tagged)
    scratch.upgrade(tagged)
    with engine.begin() as connection:
        connection.execute(sa.text("INSERT INTO tag VALUES (1)"))
        connection.execute(sa.text("INSERT INTO country_tag VALUES ('GB', 1)"))
    untagged = country()
    sa.Table(
        "country_tag",
        untagged,
        sa.Column("code", sa.String(2), primary_key=True),
        sa.Column("tag_id", sa.Integer, primary_key=True),
    )

    script = scratch.generate(untagged, "allow_drop=tag")
    assert script.index("op.drop_constraint(") < script.index('op.drop_table("tag")')
    apply_check_and_undo(scratch, untagged)
    assert rows(engine, "country_tag", "code", "tag_id") == [("GB", 1)]
    # The tags went with their table, and the way back makes it again empty: the key comes
    # back only over rows that refer to none.
    with engine.begin() as connection:
        connection.execute(sa.text("DELETE FROM country_tag"))
    scratch.downgrade(untagged, "-1")
    assert inspect(engine).get_foreign_keys("country_tag")[0]["referred_table"] == "tag"


def test_a_look_alike_column_is_never_guessed(scratch: Scratch, engine: Engine) -> None:
    model = country(official=None, extra=(Column("formal_title", sa.String(200), nullable=True),))
    with pytest.raises(CommandError) as refused:
        scratch.generate(model)
    assert str(refused.value).splitlines()[1:] == [
        "country.official_name -> country.formal_title: a likely rename; add -x "
        "rename=country.official_name:formal_title, or -x allow_drop=country.official_name "
        "to drop it and its data",
        "to drop every one of them, with its data: alembic revision --autogenerate -m "
        "change -x allow_drop=country.official_name",
    ]
    assert scratch.new_revisions() == []

    script = scratch.generate(model, "allow_drop=country.official_name")
    assert "add_column" in script
    assert "drop_column" in script
    assert "new_column_name" not in script
    apply_check_and_undo(scratch, model)
    assert rows(engine, "country", "code", "formal_title") == [(row[0], None) for row in by_code()]


def test_a_hint_that_matches_nothing_is_refused(scratch: Scratch) -> None:
    model = country(common=Column("display_name", sa.String(100)))
    with pytest.raises(
        CommandError,
        match=r"-x rename=country\.name:display_name: the database's table country has no "
        "column name",
    ):
        scratch.generate(
            model,
            "rename=country.name:display_name",
            "allow_drop=country.common_name",
        )


@pytest.mark.parametrize("hint", ["country.common_name", "a:b.c", ":x"])
def test_malformed_hints_are_refused(hint: str) -> None:
    with pytest.raises(HintError, match=r"write -x rename=table\.old:new"):
        Hints.parse([f"rename={hint}"])


# Interactive mode, in a real terminal --------------------------------------------------------


@pytest.fixture
def renamed_project(project: Path) -> Path:
    """The scratch copy, with a copy of the package whose model renames common_name."""
    source = project / "src" / "alembic_stuff"
    shutil.copytree(
        ROOT / "src" / "alembic_stuff", source, ignore=shutil.ignore_patterns("__pycache__")
    )
    models = source / "models.py"
    models.write_text(models.read_text().replace("common_name:", "display_name:"))
    return project


def converse(project: Path, seeded_database: URL, answers: dict[str, str]) -> tuple[int, str]:
    """Run `alembic-revision --contract` in a pseudo-terminal, answering each prompt."""
    environment = {
        **os.environ,
        "PYTHONPATH": str(project / "src"),
        "DATABASE_URL": seeded_database.render_as_string(hide_password=False),
    }
    # On the contract branch: a rename, or a drop, is refused on the expand branch.
    command = [sys.executable, "-m", "alembic_toolkit", "generate", "--contract", "-m", "rename"]
    return terminal.converse(command, project, environment, answers)


QUESTION = "Did you rename country.common_name to country.display_name (VARCHAR(100))? [y/N]"


def test_interactive_yes_writes_a_rename(renamed_project: Path, seeded_database: URL) -> None:
    status, transcript = converse(renamed_project, seeded_database, {QUESTION: "y"})
    assert status == 0, transcript
    [revision] = Scratch(renamed_project, seeded_database).new_revisions()
    assert "new_column_name" in revision.read_text()
    assert "drop_column" not in revision.read_text()


DROP_QUESTION = "Drop country.common_name (VARCHAR(100)) and all its data? [y/N]"


def test_interactive_no_then_asks_about_the_drop(
    renamed_project: Path, seeded_database: URL
) -> None:
    status, transcript = converse(
        renamed_project, seeded_database, {QUESTION: "n", DROP_QUESTION: "y"}
    )
    assert status == 0, transcript
    [revision] = Scratch(renamed_project, seeded_database).new_revisions()
    assert "drop_column" in revision.read_text()
    assert "add_column" in revision.read_text()


def test_interactive_no_to_both_writes_nothing(renamed_project: Path, seeded_database: URL) -> None:
    status, transcript = converse(
        renamed_project, seeded_database, {QUESTION: "n", DROP_QUESTION: "n"}
    )
    assert status == 1, transcript
    assert "no revision written: country.common_name (VARCHAR(100)) would have been dropped" in (
        transcript
    )
    assert Scratch(renamed_project, seeded_database).new_revisions() == []


def without_a_terminal(project: Path, seeded_database: URL, *command: str) -> tuple[int, str]:
    """Run a command of the scratch project with no terminal; return its status and output."""
    result = subprocess.run(
        [sys.executable, "-m", *command],
        cwd=project,
        env={
            **os.environ,
            "PYTHONPATH": str(project / "src"),
            "DATABASE_URL": seeded_database.render_as_string(hide_password=False),
        },
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        check=False,
    )
    return result.returncode, result.stdout + result.stderr


def test_without_a_terminal_the_command_refuses_and_writes_nothing(
    renamed_project: Path, seeded_database: URL
) -> None:
    status, output = without_a_terminal(
        renamed_project, seeded_database, "alembic_toolkit", "generate", "-m", "rename"
    )
    assert status == 1
    assert (
        "country.common_name -> country.display_name: a likely rename; add -x "
        "rename=country.common_name:display_name" in output
    )
    assert Scratch(renamed_project, seeded_database).new_revisions() == []


def test_a_refused_drop_on_the_contract_branch_names_the_contract_command(
    renamed_project: Path, seeded_database: URL
) -> None:
    status, output = without_a_terminal(
        renamed_project, seeded_database, "alembic_toolkit", "generate", "--contract", "-m", "x"
    )
    assert status == 1
    assert "to drop every one of them, with its data: " in output
    assert "alembic-revision --contract -m x -x allow_drop=country.common_name" in output
    assert Scratch(renamed_project, seeded_database).new_revisions() == []


def test_plain_alembic_refuses_once_and_writes_nothing(
    renamed_project: Path, seeded_database: URL
) -> None:
    status, output = without_a_terminal(
        renamed_project, seeded_database, "alembic", "revision", "--autogenerate", "-m", "rename"
    )
    assert status != 0
    assert output.count("no revision written") == 1, output
    assert Scratch(renamed_project, seeded_database).new_revisions() == []


def test_a_rename_waiting_for_a_lock_names_the_session_holding_it(
    scratch: Scratch, engine: Engine
) -> None:
    # Trying the rename takes an ACCESS EXCLUSIVE lock, in a savepoint rolled back at once; a
    # reader's open transaction holds it off past the lock timeout.
    model = country(common=Column("display_name", sa.String(100)))
    config = alembic_config(
        settings_for(scratch.database, migration_lock_timeout_seconds=0.2),
        ini_path=scratch.folder / "alembic.ini",
        configure_logging=False,
    )
    config.attributes["target_metadata"] = model
    hints = Hints.parse(["rename=country.common_name:display_name"])
    with engine.connect() as reader:
        reader.execute(sa.text("SELECT count(*) FROM country"))  # its transaction stays open
        reader_pid = reader.execute(sa.text("SELECT pg_backend_pid()")).scalar_one()
        with pytest.raises(CommandError) as raised:
            command.revision(
                config,
                "rename",
                autogenerate=True,
                head=ONTO,
                process_revision_directives=rename_aware(hints, ask=None),
            )
    message = str(raised.value)
    # It says what waited, no migration statement: autogenerate's trial of the rename.
    assert message.startswith("autogenerate's rename trial (ALTER ... RENAME, run on this ")
    assert "a migration statement" not in message
    assert "waited longer than 0.2 s (MIGRATION_LOCK_TIMEOUT_SECONDS)" in message
    assert "nothing was written: run it again once that session ends" in message
    assert f"pid {reader_pid} " in message
    assert "\n" not in message
    assert scratch.new_revisions() == []
