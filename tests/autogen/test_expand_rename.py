"""`-x rename_mode=expand`: a column rename written as an expand and a contract revision.

The pair is generated in a scratch copy of the project against a database holding rows, on a
model of several tables (the renamed column indexed and holding a foreign key, another table
pointing at its table). Then, as a rolling deploy runs it: the expand, writes through the old
name and the new one (each copied onto the other), the contract (old column and trigger gone,
every value kept), and back down.
"""

import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from alembic.script import Script, ScriptDirectory
from alembic_toolkit.autogen.decisions import MODE_QUESTION
from alembic_toolkit.autogen.hints import HintError
from alembic_toolkit.review import destructive, squawk
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from sqlalchemy import URL, Connection, Engine, MetaData, inspect
from sqlalchemy.dialects import postgresql
from sqlalchemy.dialects.postgresql.base import RESERVED_WORDS

from alembic_stuff.db.base import NAMING_CONVENTION, Base
from alembic_stuff.models import Country
from support import terminal
from tests.databases import (
    ROOT,
    Scratch,
    copy_migration_environment,
    scratch_database,
    sync_engine,
    unused_column,
)

ROWS = 300


def world(table: str, old: str, new: str | None = None) -> MetaData:
    """Countries, and `table`: rows whose `old` (or `new`) column is indexed and points at one."""
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    Base.metadata.tables[Country.__tablename__].to_metadata(metadata)
    sa.Table(
        table,
        metadata,
        sa.Column("id", sa.BigInteger, sa.Identity(), primary_key=True),
        sa.Column("label", sa.String(50), nullable=False),
        sa.Column(
            new or old, sa.String(2), sa.ForeignKey("country.code"), nullable=False, index=True
        ),
    )
    sa.Table(
        "visit",
        metadata,
        sa.Column("id", sa.BigInteger, sa.Identity(), primary_key=True),
        sa.Column("place_id", sa.BigInteger, sa.ForeignKey(f"{table}.id"), index=True),
    )
    return metadata


# Names PostgreSQL takes unquoted, none of the model's own, none a keyword.
NAMES = st.from_regex(r"[a-z][a-z0-9_]{0,20}", fullmatch=True).filter(
    lambda name: name not in RESERVED_WORDS | {"id", "label", "visit", "country", "code"}
)


def trigger_count(connection: Connection) -> int:
    """The triggers a revision made (not those PostgreSQL keeps for foreign keys)."""
    count = sa.text("SELECT count(*) FROM pg_trigger WHERE NOT tgisinternal")
    return int(connection.execute(count).scalar_one())


def columns(engine: Engine, table: str) -> set[str]:
    return {column["name"] for column in inspect(engine).get_columns(table)}


def pair(scratch: Scratch, model: MetaData, paths: list[Path]) -> tuple[Script, Script]:
    """The expand and the contract revision among the revisions at `paths`."""
    script = ScriptDirectory.from_config(scratch.config(model))
    written = [s for s in script.walk_revisions() if Path(s.path) in paths]
    [expand] = [s for s in written if "expand" in s.branch_labels]
    [contract] = [s for s in written if "contract" in s.branch_labels]
    return expand, contract


def fill(engine: Engine, table: sa.TableClause, old: str) -> None:
    """Two countries, and ROWS rows of `table` pointing at them through `old`."""
    with engine.begin() as connection:
        connection.execute(
            sa.text(
                "INSERT INTO country (code, common_name, alpha_3, numeric_code) VALUES "
                "('FR', 'France', 'FRA', '250'), ('GB', 'United Kingdom', 'GBR', '826')"
            )
        )
        connection.execute(
            table.insert(),
            [{"label": f"row {n}", old: ("FR", "GB")[n % 2]} for n in range(ROWS)],
        )


def values(engine: Engine, table: sa.TableClause, column: str) -> dict[int, str]:
    with engine.connect() as connection:
        rows = connection.execute(sa.select(table.c.id, table.c[column]))
        return {row[0]: row[1] for row in rows}


@settings(
    max_examples=3,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(table_name=NAMES, old=NAMES, new=NAMES)
@example(table_name="place", old="country_code", new="country_iso")
def test_expand_then_contract_keeps_both_releases_writing_and_every_value(
    tmp_path_factory: pytest.TempPathFactory,
    server_url: URL,
    head_template: str,
    table_name: str,
    old: str,
    new: str,
) -> None:
    if len({table_name, old, new}) < 3:
        return
    with scratch_database(server_url, head_template) as url, sync_engine(url) as engine:
        scratch = Scratch(copy_migration_environment(tmp_path_factory.mktemp("project")), url)
        before, after = world(table_name, old), world(table_name, old, new)
        scratch.revise(before, message="add the tables")
        scratch.upgrade(before)
        table = sa.table(table_name, *(sa.column(c) for c in ("id", "label", old, new)))
        fill(engine, table, old)
        known = scratch.new_revisions()

        scratch.revise(after, f"rename={table_name}.{old}:{new}", "rename_mode=expand")
        paths = [path for path in scratch.new_revisions() if path not in known]
        expand, contract = pair(scratch, after, paths)
        assert len(paths) == 2
        assert contract.dependencies == expand.revision
        script = ScriptDirectory.from_config(scratch.config(after))
        assert script.get_revision("expand@head").revision == expand.revision
        assert script.get_revision("contract@head").revision == contract.revision
        # As `pipenv run qa` reads them: the guard (with the branches) and squawk.
        assert list(destructive.problems(paths, destructive.placements(script))) == []
        assert list(squawk.lint(scratch.config(MetaData()))) == []

        scratch.upgrade(after, "expand@head")
        with engine.begin() as connection:
            assert trigger_count(connection) == 1
            # Release N writes the old column, release N+1 the new one: each is copied over.
            connection.execute(table.insert().values({"label": "by N", old: "GB"}))
            connection.execute(table.insert().values({"label": "by N+1", new: "FR"}))
            connection.execute(table.update().where(table.c.id == 1).values({old: "FR"}))
            connection.execute(table.update().where(table.c.id == 2).values({new: "GB"}))
            unequal = sa.select(sa.func.count()).where(table.c[old].is_distinct_from(table.c[new]))
            assert connection.execute(unequal).scalar_one() == 0
        kept = values(engine, table, new)
        assert len(kept) == ROWS + 2
        assert (kept[1], kept[2]) == ("FR", "GB")

        scratch.upgrade(after, "contract@head")
        assert columns(engine, table_name) == {"id", "label", new}
        with engine.connect() as connection:
            assert trigger_count(connection) == 0
        assert values(engine, table, new) == kept
        scratch.check(after)
        with pytest.raises(sa.exc.IntegrityError), engine.begin() as connection:
            connection.execute(table.insert().values({"label": "nowhere", new: "ZZ"}))

        scratch.downgrade(after, "contract@-1")
        assert columns(engine, table_name) == {"id", "label", old, new}
        assert values(engine, table, old) == kept
        scratch.downgrade(after, "expand@-1")
        assert columns(engine, table_name) == {"id", "label", old}
        assert values(engine, table, old) == kept
        with engine.connect() as connection:
            assert trigger_count(connection) == 0


def notes(column: str) -> MetaData:
    """Countries, and notes whose `column` has a PostgreSQL type (Alembic: `postgresql.X`)."""
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    Base.metadata.tables[Country.__tablename__].to_metadata(metadata)
    sa.Table(
        "note",
        metadata,
        sa.Column("id", sa.BigInteger, sa.Identity(), primary_key=True),
        sa.Column(column, postgresql.JSONB, nullable=False),
    )
    return metadata


def test_a_column_of_a_dialect_type_is_added_with_its_import(
    scratch: Scratch, engine: Engine
) -> None:
    before, after = notes("details"), notes("extra")
    scratch.revise(before, message="add notes")
    scratch.upgrade(before)
    with engine.begin() as connection:
        connection.execute(sa.text("""INSERT INTO note (details) VALUES ('{"a": [1, 2]}')"""))
    known = scratch.new_revisions()

    scratch.revise(after, "rename=note.details:extra", "rename_mode=expand")
    paths = [path for path in scratch.new_revisions() if path not in known]
    expand, contract = pair(scratch, after, paths)
    # The expand adds the new column; the contract's downgrade adds the old one back.
    for written_by in (expand, contract):
        source = Path(written_by.path).read_text()
        assert "from sqlalchemy.dialects import postgresql" in source
        assert "postgresql.JSONB" in source
    scratch.upgrade(after, "heads")
    with engine.connect() as connection:
        assert connection.execute(sa.text("SELECT extra FROM note")).scalar_one() == {"a": [1, 2]}


def things(**changed: sa.Column[Any]) -> MetaData:
    """Countries, and a table of columns the expand and contract pair cannot carry over."""
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    Base.metadata.tables[Country.__tablename__].to_metadata(metadata)
    columns = {
        "id": sa.Column("id", sa.BigInteger, sa.Identity(), primary_key=True),
        "meta": sa.Column("meta", sa.JSON),
        "note": sa.Column("note", sa.Text),
        "size": sa.Column("size", sa.Integer, server_default="0", nullable=False),
        "label": sa.Column("label", sa.String(50), nullable=False),
        "tag": sa.Column("tag", sa.String(10)),
    }
    for old, column in changed.items():
        del columns[old]
        columns[str(column.name)] = column
    checks = [sa.CheckConstraint("tag <> ''", name="tag_set")] if "tag" in columns else []
    sa.Table("thing", metadata, *columns.values(), *checks)
    return metadata


@pytest.mark.parametrize(
    ("old", "column", "refusal"),
    [
        ("meta", sa.Column("details", sa.JSON), "its type has no equality operator"),
        ("note", sa.Column("remark", sa.String(50)), "the type changes too (TEXT to VARCHAR(50))"),
        ("note", sa.Column("remark", sa.Text, nullable=False), "it becomes NOT NULL too"),
        (
            "size",
            sa.Column("amount", sa.Integer, server_default="0", nullable=False),
            "it has a server default",
        ),
        ("tag", sa.Column("badge", sa.String(10)), "the check constraint ck_thing_tag_set"),
        (
            "id",
            sa.Column("key", sa.BigInteger, sa.Identity(), primary_key=True),
            "is in the primary key",
        ),
    ],
    ids=["json", "type", "not-null", "default", "check", "primary-key"],
)
def test_what_the_pair_cannot_carry_over_is_refused_in_one_line(
    scratch: Scratch, old: str, column: sa.Column[Any], refusal: str
) -> None:
    before = things()
    scratch.revise(before, message="add things")
    scratch.upgrade(before)
    known = scratch.new_revisions()
    after = things(**{old: column})

    with pytest.raises(HintError) as refused:
        scratch.revise(after, f"rename=thing.{old}:{column.name}", "rename_mode=expand")
    [line] = str(refused.value).splitlines()
    assert line.startswith(f"-x rename_mode=expand (rename=thing.{old}:{column.name}): ")
    assert refusal in line
    assert scratch.new_revisions() == known


def test_a_table_rename_in_expand_mode_is_refused_in_one_line(scratch: Scratch) -> None:
    before = things()
    scratch.revise(before, message="add things")
    scratch.upgrade(before)
    known = scratch.new_revisions()
    after = MetaData(naming_convention=NAMING_CONVENTION)
    for table in before.tables.values():
        table.to_metadata(after, name="stuff" if table.name == "thing" else None)

    with pytest.raises(HintError) as refused:
        scratch.revise(after, "rename=thing:stuff", "rename_mode=expand")
    [line] = str(refused.value).splitlines()
    assert line.startswith("-x rename_mode=expand: writes column renames only; rename table thing")
    assert scratch.new_revisions() == known


def test_expand_mode_without_a_rename_is_refused_in_one_line(scratch: Scratch) -> None:
    before = things()
    scratch.revise(before, message="add things")
    scratch.upgrade(before)
    known = scratch.new_revisions()
    # Additions on several tables, none of them a rename: a column, an index, a table whose
    # indexed foreign key points at thing. Written plain, they would make a revision.
    after = things(note=sa.Column("note", sa.Text, index=True))
    after.tables["thing"].append_column(sa.Column("weight", sa.Integer))
    after.tables["country"].append_column(sa.Column(unused_column("capital"), sa.String(100)))
    sa.Table(
        "part",
        after,
        sa.Column("id", sa.BigInteger, sa.Identity(), primary_key=True),
        sa.Column("thing_id", sa.BigInteger, sa.ForeignKey("thing.id"), index=True),
    )

    with pytest.raises(HintError) as refused:
        scratch.revise(after, "rename_mode=expand")
    [line] = str(refused.value).splitlines()
    assert line.startswith("-x rename_mode=expand: there is no column rename in this run"), line
    assert "-x rename=table.old:new" in line
    assert scratch.new_revisions() == known


@pytest.fixture
def placed_project(tmp_path: Path, head_database: URL) -> tuple[Path, URL]:
    """A scratch project whose models rename country.common_name, at the heads, with rows."""
    project = copy_migration_environment(tmp_path)
    source = project / "src" / "alembic_stuff"
    shutil.copytree(
        ROOT / "src" / "alembic_stuff", source, ignore=shutil.ignore_patterns("__pycache__")
    )
    models = source / "models.py"
    models.write_text(models.read_text().replace("common_name:", "display_name:"))
    return project, head_database


def environment(project: Path, database: URL) -> dict[str, str]:
    return {
        **os.environ,
        "PYTHONPATH": str(project / "src"),
        "DATABASE_URL": database.render_as_string(hide_password=False),
    }


def revision(project: Path, database: URL, *arguments: str) -> subprocess.CompletedProcess[str]:
    return python_module(
        project, database, "alembic_toolkit", "generate", "-m", "rename", *arguments
    )


def python_module(project: Path, database: URL, *command: str) -> subprocess.CompletedProcess[str]:
    """`python -m <command>` in `project`, on `database`, with no terminal."""
    return subprocess.run(
        [sys.executable, "-m", *command],
        cwd=project,
        env=environment(project, database),
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        check=False,
    )


def written(project: Path) -> list[Path]:
    known = {path.name for path in (ROOT / "alembic" / "versions").glob("*.py")}
    return [p for p in (project / "alembic" / "versions").glob("*.py") if p.name not in known]


def test_the_command_writes_the_pair_with_a_hint(placed_project: tuple[Path, URL]) -> None:
    project, database = placed_project
    result = revision(
        project,
        database,
        "-x",
        "rename=country.common_name:display_name",
        "-x",
        "rename_mode=expand",
    )
    assert result.returncode == 0, result.stderr
    sources = sorted(path.read_text() for path in written(project))
    assert len(sources) == 2
    [contract] = [s for s in sources if "destroys_data" in s]
    assert 'op.drop_column("country", "common_name", if_exists=True)' in contract
    assert "updated: src/alembic_stuff/schema_release.py" in result.stdout  # as for any revision


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (
            ("-x", "rename_mode=sideways"),
            "FAILED: -x rename_mode=sideways: write -x rename_mode=expand",
        ),
        (
            ("--contract", "-x", "rename_mode=expand"),
            "FAILED: -x rename_mode=expand: writes the expand revision onto expand@head",
        ),
    ],
)
def test_a_mode_it_cannot_write_is_one_line_and_no_file(
    placed_project: tuple[Path, URL], arguments: tuple[str, ...], message: str
) -> None:
    project, database = placed_project
    result = revision(
        project, database, "-x", "rename=country.common_name:display_name", *arguments
    )
    assert result.returncode == 1
    # Alembic's own progress lines (INFO) may come first; the error is one line, the last.
    output = result.stdout + result.stderr
    [line] = [line for line in output.splitlines() if not line.startswith("INFO")]
    assert line.startswith(message), line
    assert written(project) == []


@pytest.mark.parametrize(
    ("command", "status", "message"),
    [
        (
            ("alembic_toolkit", "generate", "-x", "rename_mode=expand"),
            1,
            "FAILED: -x rename_mode=expand: there is no column rename",
        ),
        (
            # Plain Alembic takes -x before the command, and the expand head by name.
            (
                *("alembic", "-x", "rename_mode=expand"),
                *("revision", "--autogenerate", "--head", "expand@head"),
            ),
            255,  # Alembic's own exit status for a CommandError
            "FAILED: -x rename_mode=expand: there is no column rename",
        ),
    ],
    ids=["alembic-revision", "alembic"],
)
def test_expand_mode_with_no_rename_is_one_line_and_no_file(
    placed_project: tuple[Path, URL], command: tuple[str, ...], status: int, message: str
) -> None:
    project, database = placed_project
    models = project / "src" / "alembic_stuff" / "models.py"
    # No rename (common_name kept), and a column added: a plain revision's worth of change.
    added = unused_column("capital")
    source = models.read_text().replace("display_name:", "common_name:")
    models.write_text(
        source.replace(
            "    official_name:",
            f"    {added}: Mapped[str | None] = mapped_column(String(100))\n    official_name:",
        )
    )
    result = python_module(project, database, *command, "-m", added)
    assert result.returncode == status
    # Alembic's own progress lines (INFO) may come first; the error is one line (on stdout
    # from plain Alembic, which prints FAILED there).
    output = result.stdout + result.stderr
    [line] = [line for line in output.splitlines() if not line.startswith("INFO")]
    assert line.startswith(message), line
    assert "-x rename=table.old:new" in line
    assert written(project) == []


def test_a_drop_onto_the_expand_branch_is_refused_at_revision_time(
    placed_project: tuple[Path, URL],
) -> None:
    project, database = placed_project
    models = project / "src" / "alembic_stuff" / "models.py"
    # Back to common_name, and official_name gone.
    source = models.read_text().replace("display_name:", "common_name:")
    models.write_text(
        "\n".join(line for line in source.splitlines() if "official_name:" not in line)
    )
    result = revision(project, database, "-x", "allow_drop=country.official_name")
    assert result.returncode == 1
    assert result.stdout.strip().splitlines()[-1] == (
        "FAILED: no revision written: the expand branch only adds, while the previous release "
        "still uses what this drops or renames; run the same command with --contract"
    )
    assert written(project) == []
    contracted = revision(project, database, "--contract", "-x", "allow_drop=country.official_name")
    assert contracted.returncode == 0, contracted.stderr
    assert len(written(project)) == 1


RENAME_QUESTION = "Did you rename country.common_name to country.display_name (VARCHAR(100))? [y/N]"


@pytest.mark.parametrize(("answer", "files"), [("y", 2), ("n", 0)])
def test_the_terminal_offers_the_expand_and_contract_pair(
    placed_project: tuple[Path, URL], answer: str, files: int
) -> None:
    project, database = placed_project
    command = [sys.executable, "-m", "alembic_toolkit", "generate", "-m", "rename"]
    status, transcript = terminal.converse(
        command,
        project,
        environment(project, database),
        {RENAME_QUESTION: "y", MODE_QUESTION.strip(): answer},
    )
    # "n" is a rename in place, which the expand branch refuses.
    assert status == (0 if files else 1), transcript
    assert len(written(project)) == files
