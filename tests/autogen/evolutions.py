"""Generated schemas, and generated changes to them, for the rename-aware autogenerate proof.

A `Schema` is a small description of tables (integer or text keys, nullable and not, unique
constraints, plain, unique and composite indexes, foreign keys between tables and to the
table itself, check constraints) that turns into SQLAlchemy models on the project's naming
convention. An evolution changes it the way a developer changes models, and says which `-x`
hints a developer would give for it and how each surviving row's values move.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

import sqlalchemy as sa
from hypothesis import strategies as st

from alembic_stuff.db.base import NAMING_CONVENTION

ENUM = "mood"
ENUM_VALUES = ("happy", "sad")
KINDS: dict[str, Callable[[], sa.types.TypeEngine[Any]]] = {
    "enum": lambda: sa.Enum(*ENUM_VALUES, name=ENUM),
    "int": sa.Integer,
    "bigint": sa.BigInteger,
    "short": lambda: sa.String(8),
    "long": lambda: sa.String(40),
    "text": sa.Text,
}
WIDER = {"int": "bigint", "short": "long", "long": "text"}
TEXT_KINDS = {"short", "long", "text"}
ROWS = 3


@dataclass(frozen=True)
class Col:
    """A column; `references` names the table whose key it points at."""

    name: str
    kind: str
    nullable: bool = True
    references: str | None = None


@dataclass(frozen=True)
class Table:
    """A table: its key, its other columns, and what constrains or indexes them."""

    name: str
    key: Col
    columns: tuple[Col, ...] = ()
    uniques: tuple[tuple[str, ...], ...] = ()
    indexes: tuple[tuple[tuple[str, ...], bool], ...] = ()
    checks: tuple[tuple[str, str], ...] = ()
    """(constraint name, column): the column's values are non-empty or non-negative."""

    @property
    def all_columns(self) -> tuple[Col, ...]:
        """The key first, then the rest."""
        return (self.key, *self.columns)

    def column(self, name: str) -> Col:
        """The column called `name`."""
        return next(c for c in self.all_columns if c.name == name)


@dataclass(frozen=True)
class Schema:
    """Tables, and the rows the database holds for each: {table: {key: {column: value}}}."""

    tables: tuple[Table, ...]
    rows: Mapping[str, Mapping[object, Mapping[str, object]]] = field(default_factory=dict)
    enum_values: tuple[str, ...] = ENUM_VALUES
    """The values of the PostgreSQL enum type every "enum" column has."""

    def type_of(self, column: Col) -> sa.types.TypeEngine[Any]:
        """The column's SQLAlchemy type."""
        if column.kind == "enum":
            return sa.Enum(*self.enum_values, name=ENUM)
        return KINDS[column.kind]()

    def table(self, name: str) -> Table:
        """The table called `name`."""
        return next(t for t in self.tables if t.name == name)

    def metadata(self) -> sa.MetaData:
        """The models, as a developer would write them."""
        metadata = sa.MetaData(naming_convention=NAMING_CONVENTION)
        for table in self.tables:
            columns = [
                sa.Column(
                    table.key.name, self.type_of(table.key), primary_key=True, autoincrement=False
                )
            ]
            for column in table.columns:
                foreign_key = (
                    [sa.ForeignKey(f"{column.references}.{self.table(column.references).key.name}")]
                    if column.references
                    else []
                )
                columns.append(
                    sa.Column(
                        column.name, self.type_of(column), *foreign_key, nullable=column.nullable
                    )
                )
            sa.Table(
                table.name,
                metadata,
                *columns,
                *(sa.UniqueConstraint(*names) for names in table.uniques),
                *(sa.Index(None, *names, unique=unique) for names, unique in table.indexes),
                *(
                    sa.CheckConstraint(_check_sql(table.column(column)), name=name)
                    for name, column in table.checks
                ),
            )
        return metadata


def _check_sql(column: Col) -> str:
    test = f"length({column.name}) > 0" if column.kind in TEXT_KINDS else f"{column.name} >= 0"
    return f"{column.name} IS NULL OR {test}"


@dataclass(frozen=True)
class Step:
    """One evolution: the schema after it, the hints that explain it, and what it dropped."""

    what: str
    schema: Schema
    hints: tuple[str, ...] = ()
    drops: bool = False


# Values -------------------------------------------------------------------------------------


def value(kind: str, n: int) -> object:
    """The n-th value of a kind: distinct for every n (but enums), so unique constraints hold."""
    if kind == "enum":
        return ENUM_VALUES[n % len(ENUM_VALUES)]
    return n * 7 + 1 if kind in {"int", "bigint"} else f"v{n}"


def key_value(table: Table, n: int) -> object:
    """The key of a table's n-th row."""
    return value(table.key.kind, n)


def fill(
    schema: Schema, table: Table, serial: itertools.count[int]
) -> dict[object, dict[str, object]]:
    """Rows for a new table: distinct values, foreign keys pointing at existing rows."""
    rows: dict[object, dict[str, object]] = {}
    for n in range(ROWS):
        key = key_value(table, n)
        row: dict[str, object] = {table.key.name: key}
        for column in table.columns:
            if column.references == table.name:
                row[column.name] = key_value(table, n - 1) if n else None
            elif column.references:
                row[column.name] = key_value(schema.table(column.references), n)
            else:
                row[column.name] = value(column.kind, next(serial))
        rows[key] = row
    return rows


# Generating ---------------------------------------------------------------------------------


class Names:
    """Fresh names, never used before in the example."""

    def __init__(self) -> None:
        self._counter = itertools.count()

    def __call__(self, prefix: str) -> str:
        return f"{prefix}{next(self._counter)}"


@st.composite
def new_table(draw: st.DrawFn, schema: Schema, names: Names) -> Table:
    """A table with a few columns, maybe a foreign key, a unique constraint, an index, a check."""
    name = names("t")
    key = Col("id", draw(st.sampled_from(["bigint", "short"])), nullable=False)
    columns = [
        Col(names("c"), draw(st.sampled_from(sorted(KINDS))), nullable=draw(st.booleans()))
        for _ in range(draw(st.integers(1, 3)))
    ]
    targets = [t.name for t in schema.tables] + [name]
    if draw(st.booleans()):
        target = draw(st.sampled_from(targets))
        kind = key.kind if target == name else schema.table(target).key.kind
        columns.append(Col(names("c"), kind, nullable=True, references=target))
    table = Table(name, key, tuple(columns))
    plain = [c.name for c in columns]
    distinct = [c.name for c in columns if c.kind != "enum"]  # enum values repeat
    if draw(st.booleans()) and distinct:
        table = replace(table, uniques=((draw(st.sampled_from(distinct)),),))
    if draw(st.booleans()):
        first = draw(st.sampled_from(plain))
        rest = [draw(st.sampled_from(plain))] if draw(st.booleans()) else []
        cols = tuple(dict.fromkeys([first, *rest]))
        unique = set(cols) <= set(distinct) and draw(st.booleans())
        table = replace(table, indexes=((cols, unique),))
    if draw(st.booleans()) and distinct:
        table = replace(table, checks=((names("ok"), draw(st.sampled_from(distinct))),))
    return table


@st.composite
def initial(draw: st.DrawFn, names: Names) -> Schema:
    """One to three tables, each filled with rows."""
    schema = Schema(())
    for _ in range(draw(st.integers(1, 3))):
        table = draw(new_table(schema, names))
        schema = Schema((*schema.tables, table), schema.rows)
    serial = itertools.count(100)
    rows: dict[str, Mapping[object, Mapping[str, object]]] = {}
    for table in schema.tables:
        rows[table.name] = fill(Schema(schema.tables, rows), table, serial)
    return Schema(schema.tables, rows)


# Evolving -----------------------------------------------------------------------------------


def _with_table(schema: Schema, name: str, table: Table | None) -> tuple[Table, ...]:
    """The tables with `name` replaced by `table` (or removed, for None)."""
    if table is None:
        return tuple(t for t in schema.tables if t.name != name)
    return tuple(table if t.name == name else t for t in schema.tables)


def rename_column(schema: Schema, table_name: str, old: str, new: str) -> Schema:
    """The schema with a column renamed, its rows, constraints and indexes following it."""
    table = schema.table(table_name)

    def named(name: str) -> str:
        return new if name == old else name

    renamed = replace(
        table,
        key=replace(table.key, name=named(table.key.name)),
        columns=tuple(replace(c, name=named(c.name)) for c in table.columns),
        uniques=tuple(tuple(map(named, u)) for u in table.uniques),
        indexes=tuple((tuple(map(named, cols)), unique) for cols, unique in table.indexes),
        checks=tuple((check, named(column)) for check, column in table.checks),
    )
    rows = dict(schema.rows)
    rows[table_name] = {
        key: {named(name): v for name, v in row.items()}
        for key, row in schema.rows[table_name].items()
    }
    return replace(schema, tables=_with_table(schema, table_name, renamed), rows=rows)


def swap_columns(schema: Schema, table_name: str, a: str, b: str) -> Schema:
    """The schema with two columns' names exchanged (each keeps its definition and values)."""
    temporary = "_swapping"
    schema = rename_column(schema, table_name, a, temporary)
    schema = rename_column(schema, table_name, b, a)
    return rename_column(schema, table_name, temporary, b)


def rename_table(schema: Schema, old: str, new: str) -> Schema:
    """The schema with a table renamed; foreign keys to it follow."""
    tables = tuple(
        replace(
            t,
            name=new if t.name == old else t.name,
            columns=tuple(
                replace(c, references=new if c.references == old else c.references)
                for c in t.columns
            ),
        )
        for t in schema.tables
    )
    rows = {(new if name == old else name): table_rows for name, table_rows in schema.rows.items()}
    return replace(schema, tables=tables, rows=rows)


def change_column(schema: Schema, table_name: str, name: str, **changes: Any) -> Schema:
    """The schema with one column's definition changed (its values stay)."""
    table = schema.table(table_name)
    changed = replace(
        table,
        key=replace(table.key, **changes) if table.key.name == name else table.key,
        columns=tuple(replace(c, **changes) if c.name == name else c for c in table.columns),
    )
    return replace(schema, tables=_with_table(schema, table_name, changed), rows=schema.rows)


def drop_column(schema: Schema, table_name: str, name: str) -> Schema:
    """The schema without a column, and without what constrained or indexed it."""
    table = schema.table(table_name)
    dropped = replace(
        table,
        columns=tuple(c for c in table.columns if c.name != name),
        uniques=tuple(u for u in table.uniques if name not in u),
        indexes=tuple(i for i in table.indexes if name not in i[0]),
        checks=tuple(c for c in table.checks if c[1] != name),
    )
    rows = dict(schema.rows)
    rows[table_name] = {
        key: {k: v for k, v in row.items() if k != name}
        for key, row in schema.rows[table_name].items()
    }
    return replace(schema, tables=_with_table(schema, table_name, dropped), rows=rows)


def add_column(schema: Schema, table_name: str, column: Col) -> Schema:
    """The schema with a new nullable column, empty in every row."""
    table = schema.table(table_name)
    rows = dict(schema.rows)
    rows[table_name] = {
        key: {**row, column.name: None} for key, row in schema.rows[table_name].items()
    }
    grown = replace(table, columns=(*table.columns, column))
    return replace(schema, tables=_with_table(schema, table_name, grown), rows=rows)


def reaches(schema: Schema, source: str, target: str) -> bool:
    """True when table `source` points at `target` through one or more foreign keys."""
    seen, todo = set(), [source]
    while todo:
        table = schema.table(todo.pop())
        for column in table.columns:
            ref = column.references
            if ref == target and table.name != target:
                return True
            if ref and ref not in seen and ref != table.name:
                seen.add(ref)
                todo.append(ref)
    return False


def referenced(schema: Schema, name: str) -> bool:
    """True when another table's foreign key points at table `name`."""
    return any(c.references == name for t in schema.tables if t.name != name for c in t.columns)


@st.composite
def evolution(draw: st.DrawFn, schema: Schema, names: Names) -> Step:
    """One change a developer might make to the models, with the hints they would give."""
    tables = [t.name for t in schema.tables]
    table = schema.table(draw(st.sampled_from(tables)))
    plain = [c.name for c in table.columns]
    choices = [
        "add table",
        "add column",
        "rename column",
        "rename table",
        "two renames",
        "rename table and column",
        "add index",
        "add unique",
        "add check",
    ]
    if plain:
        choices += ["drop column", "rename and relax", "rename and widen"]
    if any(not referenced(schema, t) for t in tables) and len(tables) > 1:
        choices.append("drop table")
    if table.indexes:
        choices.append("drop index")
    if table.uniques:
        choices.append("drop unique")
    if table.checks:
        choices.append("drop check")
    same_kind = [
        (a.name, b.name)
        for a, b in itertools.combinations(table.columns, 2)
        if a.kind == b.kind and a.references == b.references
    ]
    if same_kind:
        choices.append("swap")
    if any(c.kind == "enum" for t in schema.tables for c in t.columns):
        choices.append("add enum value")
    what = draw(st.sampled_from(choices))

    if what == "add enum value":
        values = (*schema.enum_values, names("mood"))
        return Step(what, replace(schema, enum_values=values))
    t = table.name

    if what == "add table":
        added = draw(new_table(schema, names))
        wider = replace(schema, tables=(*schema.tables, added), rows=schema.rows)
        rows = dict(schema.rows)
        rows[added.name] = fill(wider, added, itertools.count(1000 + len(tables) * 10))
        return Step(what, replace(schema, tables=wider.tables, rows=rows))
    if what == "drop table":
        victim = draw(st.sampled_from([n for n in tables if not referenced(schema, n)]))
        rows = {k: v for k, v in schema.rows.items() if k != victim}
        return Step(
            what,
            replace(schema, tables=_with_table(schema, victim, None), rows=rows),
            (f"allow_drop={victim}",),
            drops=True,
        )
    if what == "add column":
        kinds = sorted(KINDS)
        # A cycle of foreign keys between tables needs use_alter in the models: not this test's.
        targets = [n for n in tables if n == t or not reaches(schema, n, t)]
        target = draw(st.sampled_from([None, *targets]))
        kind = schema.table(target).key.kind if target else draw(st.sampled_from(kinds))
        return Step(what, add_column(schema, t, Col(names("c"), kind, True, target)))
    if what == "drop column":
        victim = draw(st.sampled_from(plain))
        return Step(what, drop_column(schema, t, victim), (f"allow_drop={t}.{victim}",), drops=True)
    if what == "rename column":
        old = draw(st.sampled_from([table.key.name, *plain]))
        new = names("r")
        return Step(what, rename_column(schema, t, old, new), (f"rename={t}.{old}:{new}",))
    if what in {"rename and relax", "rename and widen"}:
        old = draw(st.sampled_from(plain))
        column = table.column(old)
        new = names("r")
        renamed = rename_column(schema, t, old, new)
        if what == "rename and relax" or column.kind not in WIDER or column.references:
            changed = change_column(renamed, t, new, nullable=True)
        else:
            changed = change_column(renamed, t, new, kind=WIDER[column.kind])
        return Step(what, changed, (f"rename={t}.{old}:{new}",))
    if what == "rename table":
        new = names("t")
        return Step(what, rename_table(schema, t, new), (f"rename={t}:{new}",))
    if what == "rename table and column":
        new_table_name, old = names("t"), draw(st.sampled_from([table.key.name, *plain]))
        new = names("r")
        renamed = rename_column(rename_table(schema, t, new_table_name), new_table_name, old, new)
        return Step(what, renamed, (f"rename={t}:{new_table_name}", f"rename={t}.{old}:{new}"))
    if what == "two renames":
        other = schema.table(draw(st.sampled_from(tables)))
        first = draw(st.sampled_from([table.key.name, *plain]))
        choices_2 = [c.name for c in other.all_columns if (other.name, c.name) != (t, first)]
        if not choices_2:  # one table left, with its key alone
            return Step("nothing", schema)
        second = draw(st.sampled_from(choices_2))
        a, b = names("r"), names("r")
        renamed = rename_column(rename_column(schema, t, first, a), other.name, second, b)
        return Step(what, renamed, (f"rename={t}.{first}:{a},{other.name}.{second}:{b}",))
    if what == "swap":
        a, b = draw(st.sampled_from(same_kind))
        return Step(what, swap_columns(schema, t, a, b), (f"rename={t}.{a}:{b},{t}.{b}:{a}",))
    if what == "add index":
        firsts = {cols[0] for cols, _ in table.indexes}
        free = [c.name for c in table.all_columns if c.name not in firsts]
        if not free:
            return Step("nothing", schema)
        cols: tuple[str, ...] = (draw(st.sampled_from(free)),)
        if draw(st.booleans()):
            cols = tuple(
                dict.fromkeys([*cols, draw(st.sampled_from([c.name for c in table.all_columns]))])
            )
        enums = {c.name for c in table.all_columns if c.kind == "enum"}  # their values repeat
        unique = not set(cols) & enums and draw(st.booleans())
        grown = replace(table, indexes=(*table.indexes, (cols, unique)))
        return Step(what, replace(schema, tables=_with_table(schema, t, grown), rows=schema.rows))
    if what == "add unique":
        firsts = {u[0] for u in table.uniques}
        free = [c.name for c in table.columns if c.name not in firsts and c.kind != "enum"]
        if not free:
            return Step("nothing", schema)
        grown = replace(table, uniques=(*table.uniques, (draw(st.sampled_from(free)),)))
        return Step(what, replace(schema, tables=_with_table(schema, t, grown), rows=schema.rows))
    if what == "add check":
        checkable = [c.name for c in table.all_columns if c.kind != "enum"]
        if not checkable:
            return Step("nothing", schema)
        checked = draw(st.sampled_from(checkable))
        grown = replace(table, checks=(*table.checks, (names("ok"), checked)))
        return Step(what, replace(schema, tables=_with_table(schema, t, grown), rows=schema.rows))
    if what == "drop index":
        index = draw(st.sampled_from(table.indexes))
        shrunk = replace(table, indexes=tuple(i for i in table.indexes if i != index))
        return Step(what, replace(schema, tables=_with_table(schema, t, shrunk), rows=schema.rows))
    if what == "drop unique":
        dropped_unique = draw(st.sampled_from(table.uniques))
        shrunk = replace(table, uniques=tuple(u for u in table.uniques if u != dropped_unique))
        return Step(what, replace(schema, tables=_with_table(schema, t, shrunk), rows=schema.rows))
    victim_check = draw(st.sampled_from(table.checks))
    shrunk = replace(table, checks=tuple(c for c in table.checks if c != victim_check))
    return Step(what, replace(schema, tables=_with_table(schema, t, shrunk), rows=schema.rows))
