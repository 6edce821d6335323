"""The destructive-change guard reads every way a revision can write a destructive call.

Hypothesis writes each operation with its arguments by position or by keyword (Alembic's own
parameter names), on `op`, on a batch of any name or on a connection; each generated revision
really runs on PostgreSQL, on a schema of several tables with foreign keys and an index, so
the forms are ones Alembic accepts and the guard names exactly what they destroy. Then the
`alembic-toolkit guard` and `lint` commands: the expand/contract rules, exit code 1, and
hints that name plain Alembic.
"""

import ast
import importlib.util
import re
import shlex
import subprocess
import tempfile
import textwrap
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest
from alembic.script import ScriptDirectory
from alembic_toolkit.cli import main as toolkit_main
from alembic_toolkit.compatibility import SchemaRelease
from alembic_toolkit.review.destructive import findings, placements, problems
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import Connection, Engine, String, func, inspect, select, text
from sqlalchemy import column as sa_column
from sqlalchemy import table as sa_table

from support.modules import run_module
from tests.databases import migration_operations, run_toolkit

HEADER = "import sqlalchemy as sa\nfrom alembic import op\n\n\ndef upgrade() -> None:\n"
# The line of the upgrade body's first statement in a revision written by `write_revision`.
FIRST_LINE = HEADER.count("\n") + 1

SCHEMA = """
CREATE TABLE org (
    id integer PRIMARY KEY, name varchar(50), official_name varchar(200), action varchar(50)
);
CREATE TABLE project (
    id integer PRIMARY KEY, org_id integer REFERENCES org (id),
    name varchar(50), official_name varchar(200), action varchar(50)
);
CREATE INDEX ix_project_name ON project (name);
CREATE TABLE audit_log (
    id integer PRIMARY KEY, project_id integer REFERENCES project (id),
    name varchar(50), official_name varchar(200), action varchar(50)
);
CREATE TABLE tag (
    id integer PRIMARY KEY, name varchar(50), official_name varchar(200), action varchar(50)
);
INSERT INTO org VALUES (1, 'o', 'Org', 'made');
INSERT INTO project VALUES (1, 1, 'p', 'Project', 'made');
INSERT INTO audit_log VALUES (1, 1, 'a', 'Audit', 'made');
INSERT INTO tag VALUES (1, 't', 'Tag', 'made');
"""
TABLES = ["org", "project", "audit_log", "tag"]
LEAF_TABLES = ["audit_log", "tag"]  # no foreign key refers to them, so they can be dropped
COLUMNS = ["name", "official_name", "action"]
BATCH_NAMES = ["batch_op", "b", "batch"]

FORMS = settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


def write_revision(folder: Path, upgrade: str, downgrade: str = "pass") -> Path:
    # A folder of its own each time: Hypothesis's examples share the test's tmp_path, and
    # Python's bytecode cache, which trusts a source of the same size and modification second,
    # would run the previous example's revision instead.
    path = Path(tempfile.mkdtemp(dir=folder)) / "2026_01_01_0000-abc_change.py"
    path.write_text(
        HEADER
        + textwrap.indent(upgrade.strip(), "    ")
        + "\n\n\ndef downgrade() -> None:\n"
        + textwrap.indent(downgrade.strip(), "    ")
        + "\n"
    )
    return path


@dataclass(frozen=True)
class Change:
    """A destructive call as a revision writes it, what the guard must name, and its effect."""

    upgrade: str
    key: str
    done: Callable[[Connection], bool]
    """Whether the database shows the change made (the table gone, the column gone...)."""


@st.composite
def arguments(
    draw: st.DrawFn,
    by_position: list[tuple[str, str]],
    by_keyword: tuple[tuple[str, str], ...] = (),
) -> str:
    """An argument list: a first part of `by_position` by position, the rest by keyword.

    Each pair is (Alembic's parameter name, the source of its value); `by_keyword` holds the
    keyword-only ones. Keywords come in any order.
    """
    positional = draw(st.integers(0, len(by_position)))
    keywords = draw(st.permutations([*by_position[positional:], *by_keyword]))
    return ", ".join(
        [value for _, value in by_position[:positional]]
        + [f"{name}={value}" for name, value in keywords]
    )


def batch(draw: st.DrawFn, table: str, call: str) -> str:
    """`call` (a method and its arguments) on a batch of `table` under a drawn name."""
    name = draw(st.sampled_from(BATCH_NAMES))
    opened = draw(arguments([("table_name", repr(table))]))
    return f"with op.batch_alter_table({opened}) as {name}:\n    {name}.{call}"


def table_gone(table: str) -> Callable[[Connection], bool]:
    return lambda connection: not inspect(connection).has_table(table)


def column_gone(table: str, column: str) -> Callable[[Connection], bool]:
    return lambda connection: (
        column not in {c["name"] for c in inspect(connection).get_columns(table)}
    )


def column_length(table: str, column: str, length: int) -> Callable[[Connection], bool]:
    def done(connection: Connection) -> bool:
        [found] = [c for c in inspect(connection).get_columns(table) if c["name"] == column]
        return getattr(found["type"], "length", None) == length

    return done


@st.composite
def drops_and_narrowings(draw: st.DrawFn) -> Change:
    """drop_table, drop_column or a narrowing alter_column, on `op` or on a batch."""
    kind = draw(st.sampled_from(["drop_table", "drop_column", "alter_column"]))
    table = draw(st.sampled_from(LEAF_TABLES if kind == "drop_table" else TABLES))
    column = draw(st.sampled_from(COLUMNS))
    on_batch = kind != "drop_table" and draw(st.booleans())
    where = [("table_name", repr(table))] if not on_batch else []
    if kind == "drop_table":
        extra = draw(st.sampled_from([(), (("if_exists", "False"),), (("schema", "None"),)]))
        call = f"drop_table({draw(arguments(where, extra))})"
        return Change(f"op.{call}", f"upgrade: drop_table {table}", table_gone(table))
    named = [*where, ("column_name", repr(column))]
    if kind == "drop_column":
        call = f"drop_column({draw(arguments(named))})"
        done = column_gone(table, column)
        key = f"upgrade: drop_column {table}.{column}"
    else:
        types = (("type_", "sa.String(10)"), ("existing_type", "sa.String(length=50)"))
        extra = draw(st.sampled_from([(), (("existing_nullable", "True"),)]))
        call = f"alter_column({draw(arguments(named, types + extra))})"
        done = column_length(table, column, 10)
        key = f"upgrade: narrow_type {table}.{column}"
    return Change(batch(draw, table, call) if on_batch else f"op.{call}", key, done)


@contextmanager
def schema(engine: Engine) -> Iterator[Connection]:
    """A connection on the test's tables, in a transaction rolled back after the block."""
    with engine.connect() as connection, connection.begin() as transaction:
        connection.execute(text(SCHEMA))
        yield connection
        transaction.rollback()


def run_upgrade(connection: Connection, path: Path) -> None:
    """Run the revision's upgrade() as Alembic would, on `connection`."""
    spec = importlib.util.spec_from_file_location(path.stem, path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    with migration_operations(connection):
        module.upgrade()


@FORMS
@given(change=drops_and_narrowings())
def test_every_argument_form_of_a_drop_or_narrowing_is_named(
    tmp_path: Path, engine: Engine, change: Change
) -> None:
    path = write_revision(tmp_path, change.upgrade)
    assert [f.key for f in findings(path)] == [change.key]
    with schema(engine) as connection:
        assert not change.done(connection)
        run_upgrade(connection, path)
        assert change.done(connection), change.upgrade


def rows_gone(table: str) -> Callable[[Connection], bool]:
    count = select(func.count()).select_from(sa_table(table))
    return lambda connection: connection.scalar(count) == 0


def renamed_all(table: str) -> Callable[[Connection], bool]:
    names = select(sa_column("name", String)).select_from(sa_table(table))
    return lambda connection: set(connection.scalars(names)) == {"x"}


@dataclass(frozen=True)
class Statement:
    """SQL a revision runs: raw SQL (with `{table}` for its table), or SQLAlchemy's source."""

    table: str
    raw: str | None
    construct: str | None
    destroys: str | None
    """The statement the guard names ("TRUNCATE", "DELETE FROM"...), None for a harmless one."""
    done: Callable[[Connection], bool]


@st.composite
def statements(draw: st.DrawFn) -> Statement:
    """Destructive SQL, raw or built with SQLAlchemy, and data migrations that update rows."""
    table = draw(st.sampled_from(LEAF_TABLES))
    where = draw(st.booleans())  # each table holds one row, id 1: a WHERE keeps the effect
    constructed_where = ".where(sa.column('id') == 1)" if where else ""
    updated = f"sa.table({table!r}, sa.column('name'))"
    # Raw SQL keeps `{table}` for its table: a revision writes it out, or in an f-string.
    delete = "DELETE  FROM {table} WHERE id = 1" if where else "DELETE  FROM {table}"
    update = (
        "UPDATE {table} SET name = 'x' WHERE id = 1" if where else "UPDATE {table} SET name = 'x'"
    )
    forms = [
        ("TRUNCATE {table}", None, "TRUNCATE", rows_gone(table)),
        (delete, None, "DELETE FROM", rows_gone(table)),
        ("drop table {table}", None, "DROP TABLE", table_gone(table)),
        (
            "ALTER TABLE {table} DROP COLUMN action",
            None,
            "DROP COLUMN",
            column_gone(table, "action"),
        ),
        (
            None,
            f"sa.delete(sa.table({table!r})){constructed_where}",
            "DELETE FROM",
            rows_gone(table),
        ),
        (None, f"sa.table({table!r}).delete(){constructed_where}", "DELETE FROM", rows_gone(table)),
        (update, None, None, renamed_all(table)),
        (None, f"sa.update({updated}).values(name='x')", None, renamed_all(table)),
        (None, f"{updated}.update().values(name='x')", None, renamed_all(table)),
    ]
    return Statement(table, *draw(st.sampled_from(forms)))


@dataclass(frozen=True)
class Receiver:
    """Where a revision sends SQL, and what that call accepts."""

    call: str
    keyword: str
    """The SQL's parameter: Alembic's `sqltext`, SQLAlchemy's `statement`."""
    strings: bool
    """It takes raw SQL as a plain string."""
    executables: bool
    """It takes `sa.text(...)` and constructs."""


RECEIVERS = [
    Receiver("op.execute", "sqltext", strings=True, executables=True),
    Receiver("batch.execute", "sqltext", strings=True, executables=True),
    Receiver("op.get_bind().execute", "statement", strings=False, executables=True),
    Receiver("conn.execute", "statement", strings=False, executables=True),
    Receiver("op.get_bind().exec_driver_sql", "statement", strings=True, executables=False),
    Receiver("conn.exec_driver_sql", "statement", strings=True, executables=False),
]


@st.composite
def sql_runs(draw: st.DrawFn) -> tuple[str, Statement]:
    """An upgrade body whose last line runs a statement: on `op`, a batch, or a connection.

    The SQL is written in the call, or assigned to a name on a line before it; raw SQL is a
    string, an f-string or `sa.text(...)`, as far as the receiver accepts it.
    """
    statement = draw(statements())
    lines: list[str] = []
    if statement.raw is None:
        receiver = draw(st.sampled_from([r for r in RECEIVERS if r.executables]))
        sql = str(statement.construct)
    else:
        receiver = draw(st.sampled_from(RECEIVERS))
        string = repr(statement.raw.format(table=statement.table))
        if draw(st.booleans()):  # an f-string, its table in a variable
            lines.append(f"table = {statement.table!r}")
            string = "f" + repr(statement.raw)
        texts = [f"sa.text({string})", f"sa.text(text={string})"]
        sql = draw(
            st.sampled_from(
                ([string] if receiver.strings else []) + (texts if receiver.executables else [])
            )
        )
    if draw(st.booleans()):
        lines.append(f"stmt = {sql}")
        sql = "stmt"
    passed = draw(arguments([(receiver.keyword, sql)]))
    target, method = receiver.call.rsplit(".", 1)
    if target == "conn":
        lines.append("conn = op.get_bind()")
    if target == "batch":
        name = draw(st.sampled_from(BATCH_NAMES))
        lines.append(f"with op.batch_alter_table('org') as {name}:\n    {name}.{method}({passed})")
    else:
        lines.append(f"{target}.{method}({passed})")
    return "\n".join(lines), statement


@FORMS
@given(run=sql_runs())
def test_sql_that_destroys_data_is_named_on_any_receiver_and_updates_are_not(
    tmp_path: Path, engine: Engine, run: tuple[str, Statement]
) -> None:
    body, statement = run
    path = write_revision(tmp_path, body)
    found = findings(path)
    expected = [] if statement.destroys is None else [f"upgrade: execute {statement.destroys}"]
    assert [f.key for f in found] == expected
    assert [f.line for f in found] == [FIRST_LINE + body.count("\n")] * len(expected)
    with schema(engine) as connection:
        assert not statement.done(connection)
        run_upgrade(connection, path)
        assert statement.done(connection), body


@st.composite
def created_then_dropped(draw: st.DrawFn) -> tuple[str, str]:
    """An upgrade creating a table or a column, and a downgrade dropping it, in any form."""
    table = draw(st.sampled_from(["city", "region"]))
    column = draw(st.sampled_from(["zip", "label"]))
    named = [("name", repr(column)), ("type_", "sa.String(8)")]
    new_column = f"sa.Column({draw(arguments(named))})"
    if draw(st.booleans()):
        # By keyword, table_name leaves no room for columns by position.
        created = draw(
            st.sampled_from([f"{table!r}, sa.Column('id', sa.Integer)", f"table_name={table!r}"])
        )
        dropped = draw(arguments([("table_name", repr(table))]))
        return f"op.create_table({created})", f"op.drop_table({dropped})"
    if draw(st.booleans()):
        added = draw(arguments([("table_name", repr(table)), ("column", new_column)]))
        dropped = draw(arguments([("table_name", repr(table)), ("column_name", repr(column))]))
        return f"op.add_column({added})", f"op.drop_column({dropped})"
    added = batch(draw, table, f"add_column({draw(arguments([('column', new_column)]))})")
    dropped = batch(draw, table, f"drop_column({draw(arguments([('column_name', repr(column))]))})")
    return added, dropped


@FORMS
@given(revision=created_then_dropped())
def test_a_downgrade_undoing_its_upgrade_is_recognised_in_every_form(
    tmp_path: Path, revision: tuple[str, str]
) -> None:
    assert list(problems([write_revision(tmp_path, *revision)])) == []


@st.composite
def unreadable_calls(draw: st.DrawFn) -> str:
    """A destructive call whose table, column, type or SQL hides in `*args` or `**kwargs`."""
    kind = draw(st.sampled_from(["drop_table", "drop_column", "alter_column", "execute", "batch"]))
    hidden = draw(st.sampled_from(["*args", "**kwargs"]))
    if kind == "batch":
        return (
            f"with op.batch_alter_table({hidden}) as batch_op:\n    batch_op.drop_column('action')"
        )
    named = {
        "drop_table": [("table_name", "'tag'")],
        "drop_column": [("table_name", "'tag'"), ("column_name", "'action'")],
        "alter_column": [("table_name", "'tag'"), ("column_name", "'action'")],
        "execute": [("sqltext", "'DROP TABLE tag'")],
    }[kind]
    # The hidden part stands for at least one argument the guard needs: type_ (keyword-only,
    # so only a **kwargs can hold it), or a table, column or SQL not written before it.
    last = len(named) if hidden == "**kwargs" and kind == "alter_column" else len(named) - 1
    shown = draw(st.integers(0, last))
    written = [value for _, value in named[:shown]]
    if kind == "alter_column" and hidden == "*args":
        hidden += ", type_=sa.String(10)"
    return f"op.{kind}({', '.join([*written, hidden])})"


@FORMS
@given(call=unreadable_calls(), before=st.integers(0, 3))
def test_a_call_it_cannot_read_is_a_finding_with_its_line(
    tmp_path: Path, call: str, before: int
) -> None:
    path = write_revision(tmp_path, "op.create_index('ix', 'org', ['name'])\n" * before + call)
    [found] = findings(path)
    line = FIRST_LINE + before + (1 if call.startswith("with") else 0)
    assert found.line == line
    assert "which the guard could not read" in found.message()
    assert found.message().startswith(f"{path}:{line}: upgrade() calls ")


EXPRESSIONS = [
    "'tag'",
    "'action'",
    "name",
    "*names",
    "sa.String(1)",
    "sa.text('DROP TABLE t')",
    "f'TRUNCATE {name}'",
    "sa.delete(t)",
    "stmt",
]
PARAMETERS = [
    "table_name",
    "column_name",
    "type_",
    "existing_type",
    "sqltext",
    "statement",
    "text",
    "schema",
    "x",
]
METHODS = [
    "drop_table",
    "drop_column",
    "alter_column",
    "execute",
    "exec_driver_sql",
    "add_column",
    "create_table",
    "rename_table",
]


@st.composite
def any_call(draw: st.DrawFn) -> str:
    """Any call of an operation the guard reads, with any arguments, right or wrong."""
    method = draw(st.sampled_from(METHODS))
    receiver = draw(st.sampled_from(["op", *BATCH_NAMES, "op.get_bind()", "conn"]))
    positional = draw(st.lists(st.sampled_from(EXPRESSIONS), max_size=3))
    keywords = draw(st.dictionaries(st.sampled_from(PARAMETERS), st.sampled_from(EXPRESSIONS)))
    spread = ["**more"] if draw(st.booleans()) else []
    given = [*positional, *(f"{k}={v.lstrip('*')}" for k, v in keywords.items()), *spread]
    call = f"{receiver}.{method}({', '.join(given)})"
    if draw(st.booleans()):  # a name the SQL may be read from, assigned anything
        call = f"stmt = {draw(st.sampled_from(EXPRESSIONS)).lstrip('*')}\n{call}"
    if receiver not in BATCH_NAMES or draw(st.booleans()):
        return call
    opened = ", ".join(draw(st.lists(st.sampled_from(EXPRESSIONS), max_size=2)))
    return f"with op.batch_alter_table({opened}) as {receiver}:\n" + textwrap.indent(call, "    ")


@settings(
    max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(calls=st.lists(any_call(), min_size=1, max_size=4), in_downgrade=st.booleans())
def test_no_call_makes_the_guard_crash(
    tmp_path: Path, calls: list[str], in_downgrade: bool
) -> None:
    body = "\n".join(calls)
    ast.parse(body)  # the generator writes valid Python only
    path = write_revision(tmp_path, *(("pass", body) if in_downgrade else (body,)))
    lines = len(path.read_text().splitlines())
    assert all(1 <= f.line <= lines for f in findings(path))
    assert all(isinstance(line, str) for line in problems([path]))


@pytest.mark.parametrize(
    ("call", "key"),
    [
        (
            'op.drop_column("country", column_name="official_name")',
            "drop_column country.official_name",
        ),
        (
            'op.drop_column(table_name="country", column_name="official_name")',
            "drop_column country.official_name",
        ),
        (
            'op.alter_column(table_name="org", column_name="name", type_=sa.String(10), '
            "existing_type=sa.String(50))",
            "narrow_type org.name",
        ),
        ('op.drop_table(table_name="tag")', "drop_table tag"),
        (
            'with op.batch_alter_table(table_name="audit_log") as batch_op:\n'
            '    batch_op.drop_column("action")',
            "drop_column audit_log.action",
        ),
    ],
)
def test_migrations_check_names_the_reported_keyword_forms(
    tmp_path: Path, call: str, key: str
) -> None:
    # Each once ended migrations-check and alembic-latest with an IndexError.
    path = write_revision(tmp_path, call)
    result = run_toolkit(["guard", str(path)])
    assert result.exit_code == 1, result.output
    assert f'"upgrade: {key}": "<why this is safe>"' in result.output
    assert result.output.splitlines()[-1].endswith(
        "do as each line above says, then run the guard again"
    )


@pytest.mark.parametrize(
    ("upgrade", "key"),
    [
        ('op.get_bind().execute(sa.text("TRUNCATE attachment"))', "execute TRUNCATE"),
        (
            'conn = op.get_bind()\nconn.exec_driver_sql("DELETE FROM project")',
            "execute DELETE FROM",
        ),
        ('op.execute(sa.delete(sa.table("tag")))', "execute DELETE FROM"),
        ('op.execute(sa.table("tag").delete())', "execute DELETE FROM"),
        ('op.execute(sqltext="DROP TABLE tag")', "execute DROP TABLE"),
        (
            'with op.batch_alter_table(table_name="audit_log") as b:\n    b.drop_column("action")',
            "drop_column audit_log.action",
        ),
        ('stmt = "DROP TABLE x"\nop.execute(stmt)', "execute DROP TABLE"),
    ],
)
def test_the_reported_missed_forms_are_named(tmp_path: Path, upgrade: str, key: str) -> None:
    # Each once passed the guard unseen.
    assert [f.key for f in findings(write_revision(tmp_path, upgrade))] == [f"upgrade: {key}"]


def history(folder: Path, change: str, labels: bool, marker: str = "") -> Path:
    """An Alembic project whose newest revision makes `change`; returns its alembic.ini.

    With `labels`, the history splits into expand and contract branches and the change is
    on the expand branch; without, it is one line of revisions.
    """
    versions = folder / "versions"
    versions.mkdir(parents=True)
    revisions = [
        ("trunk", None, None, "pass"),
        ("expand0", "trunk", "expand" if labels else None, "pass"),
        ("contract0", "trunk" if labels else "expand0", "contract" if labels else None, "pass"),
        ("change", "expand0" if labels else "contract0", None, change),
    ]
    for revision, down, label, body in revisions:
        (versions / f"{revision}.py").write_text(
            "import sqlalchemy as sa\nfrom alembic import op\n\n"
            + (marker if revision == "change" else "")
            + "\n"
            f"revision = {revision!r}\ndown_revision = {down!r}\n"
            f"branch_labels = {label!r}\ndepends_on = None\n\n\n"
            f"def upgrade() -> None:\n    {body}\n\n\ndef downgrade() -> None:\n    pass\n"
        )
    ini = folder / "alembic.ini"
    ini.write_text(f"[alembic]\nscript_location = {folder}\n")
    return ini


def run_guard(ini: Path, capsys: pytest.CaptureFixture[str]) -> tuple[int | str | None, str]:
    """`alembic-toolkit -c ini guard`: its exit code (None when it ends normally), its output."""
    code: int | str | None = None
    try:
        toolkit_main(["-c", str(ini), "guard"])
    except SystemExit as exited:
        code = exited.code
    captured = capsys.readouterr()
    return code, captured.out + captured.err


# Changes an expand revision may not make, though each passes on a history without branches:
# renames in place, and a drop whose revision says why.
EXPAND_REFUSES = [
    ('op.alter_column("org", "name", new_column_name="title")', ""),
    ('op.alter_column(table_name="org", column_name="name", new_column_name="title")', ""),
    ('op.rename_table("org", "organisation")', ""),
    ('op.rename_table(old_table_name="org", new_table_name="organisation")', ""),
    (
        'op.drop_column(table_name="org", column_name="action")',
        'destroys_data = {"upgrade: drop_column org.action": "no release reads it since 2.0"}',
    ),
]


@pytest.mark.parametrize(("change", "marker"), EXPAND_REFUSES)
def test_the_toolkit_guard_judges_the_expand_branch_as_the_app_does(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], change: str, marker: str
) -> None:
    code, output = run_guard(history(tmp_path / "branched", change, True, marker), capsys)
    assert code == 1, output
    [refused] = [line for line in output.splitlines() if "on the expand branch" in line]
    assert "change.py:" in refused
    assert "org" in refused
    # The app's migrations-check, on the same history, refuses it with the same line.
    app_lines = list(
        problems(
            [tmp_path / "branched" / "versions" / "change.py"],
            placements(ScriptDirectory(str(tmp_path / "branched"))),
        )
    )
    assert [line.partition(": ")[2] for line in app_lines] == [refused.partition(": ")[2]]

    code, output = run_guard(history(tmp_path / "linear", change, False, marker), capsys)
    assert code is None, output
    assert "guard: 4 revision(s), no unacknowledged data loss" in output


def toolkit_command(folder: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """`alembic-toolkit <args>` in its own process, started in `folder`, as a shell runs it."""
    return run_module(folder, "alembic_toolkit", *args)


def test_the_toolkit_guard_exits_1_with_one_line_per_finding_then_what_to_do(
    tmp_path: Path,
) -> None:
    change = 'op.drop_table("tag")\n    op.execute(sa.delete(sa.table("org")))'
    ini = history(tmp_path, change, labels=False)
    result = toolkit_command(tmp_path, "-c", str(ini), "guard")
    assert result.returncode == 1, result.stdout + result.stderr
    *findings_, last = result.stdout.splitlines()
    assert [line.split(": ", 2)[1] for line in findings_] == [
        "upgrade() drops table tag and every row in it; if that is intended, add to the revision",
        "upgrade() runs sa.delete(sa.table('org')), which deletes rows (DELETE FROM); if that is "
        "intended, add to the revision",
    ]
    assert last == (
        "FAILED: 2 destructive change(s) without a reason: do as each line above says, then run "
        "the guard again"
    )
    assert "Traceback" not in result.stderr


def test_the_toolkit_guard_exits_1_on_a_marker_it_cannot_read(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    ini = history(tmp_path, 'op.drop_table("tag")', labels=False, marker="destroys_data = None")
    code, output = run_guard(ini, capsys)
    assert code == 1
    assert output.strip().endswith("destroys_data must be a dict literal of strings")


def test_the_toolkit_lint_exits_1_with_one_line_per_finding_then_what_to_do(
    tmp_path: Path,
) -> None:
    assert toolkit_command(tmp_path, "init", "migrations").returncode == 0
    ini = tmp_path / "alembic.ini"
    # Offline SQL needs only the dialect: nothing connects.
    ini.write_text(
        ini.read_text().replace("driver://user:pass@localhost/dbname", "postgresql://nobody@/x")
    )
    (tmp_path / "migrations" / "versions" / "a1_index.py").write_text(
        "from alembic import op\n\nrevision = 'a1'\ndown_revision = None\n"
        "branch_labels = None\ndepends_on = None\n\n\ndef upgrade() -> None:\n"
        "    op.create_index('ix_tag_name', 'tag', ['name'])\n\n\n"
        "def downgrade() -> None:\n    op.drop_index('ix_tag_name', 'tag')\n"
    )
    result = toolkit_command(tmp_path, "lint")
    assert result.returncode == 1, result.stdout + result.stderr
    *found, last = result.stdout.splitlines()
    assert found
    assert all(line.startswith("migrations/versions/a1_index.py (upgrade SQL)") for line in found)
    assert last.startswith(f"FAILED: squawk: {len(found)} finding(s): change each revision")
    assert "squawk_accepts" in last


SCRIPT_TEMPLATE = '''"""${message}"""
revision = ${repr(up_revision)}
down_revision = ${repr(down_revision)}
branch_labels = ${repr(branch_labels)}
depends_on = ${repr(depends_on)}


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
'''


@pytest.mark.parametrize(("change", "marker"), EXPAND_REFUSES)
def test_the_guard_names_plain_alembic_and_its_command_writes_the_contract_revision(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], change: str, marker: str
) -> None:
    ini = history(tmp_path, change, True, marker)
    (tmp_path / "script.py.mako").write_text(SCRIPT_TEMPLATE)
    _, output = run_guard(ini, capsys)
    [refused] = [line for line in output.splitlines() if "on the expand branch" in line]
    for app_command in ("pipenv", "alembic-revision", "--contract", "migrations-"):
        assert app_command not in refused
    # The command the line gives, run as written, writes a revision on the contract branch
    # that names the expand head in depends_on, which is what the guard asks of one.
    [command] = re.findall(r"`(alembic revision [^`]*)`", refused)
    args = shlex.split(command.replace('"..."', '"drop what expand0 stopped using"'))[1:]
    written = toolkit_command(tmp_path, "-c", str(ini), *args)
    assert written.returncode == 0, written.stdout + written.stderr
    script = ScriptDirectory(str(tmp_path))
    [new] = [r for r in script.walk_revisions() if r.doc == "drop what expand0 stopped using"]
    place = placements(script)[Path(new.path).resolve()]
    assert (place.branch, place.depends_on_expand) == ("contract", True)
    assert list(problems([Path(new.path)], placements(script))) == []


def test_a_contract_revision_without_its_expand_is_told_the_plain_alembic_command(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    ini = history(tmp_path, "pass", True)
    contract = tmp_path / "versions" / "contract1.py"
    contract.write_text(
        (tmp_path / "versions" / "change.py")
        .read_text()
        .replace("revision = 'change'", "revision = 'contract1'")
        .replace("down_revision = 'expand0'", "down_revision = 'contract0'")
    )
    code, output = run_guard(ini, capsys)
    assert code == 1
    [line] = [line for line in output.splitlines() if "must name in depends_on" in line]
    assert line.endswith(
        '(`alembic revision -m "..." --head contract@head --depends-on expand@head` sets it to '
        "the expand head)"
    )


def test_readiness_names_the_plain_alembic_upgrade() -> None:
    release = SchemaRelease("E2", "C0", frozenset({"C0"}), frozenset({"trunk", "E1"}))
    verdict = release.judge({"trunk": None, "E1": "expand", "C0": "contract"})
    assert verdict is not None
    assert verdict.endswith("run the expand migrations (`alembic-toolkit expand`)")
