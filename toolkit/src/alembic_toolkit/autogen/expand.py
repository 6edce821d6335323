"""Column renames split into an expand revision and a contract revision (`-x rename_mode=expand`).

The renames are decided as for a rename in place (hints, or the questions at a terminal).
Then, instead of renaming, each new column is tried on the database beside the old one, inside
a savepoint that is always rolled back, and autogenerate runs again: what it finds for the
renamed tables is sorted into what the expand builds for the new column (its indexes and
foreign keys, its NOT NULL proved by a CHECK) and what goes with the old column in the
contract (its indexes and foreign keys, dropped with it, and rebuilt by the contract's
downgrade). Everything else autogenerate finds stays in the expand revision, as it would be
written without the renames.

Each index and foreign key carries its name: the model's, or for one the model leaves unnamed
the name PostgreSQL would give it. Where one of the old column's holds that name until the
contract drops it, the expand builds the new one under `<name>_expand` and the contract
renames it (and its downgrade renames it back first).

What the recipe cannot carry over this way is refused, in one line each
(alembic_toolkit.autogen.expand_refusals), as are a table rename in the same revision and an
index or foreign key whose name something else holds.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence, Set
from dataclasses import dataclass, field, replace
from typing import Any

from alembic.operations import MigrateOperation
from alembic.operations.ops import (
    AddColumnOp,
    AddConstraintOp,
    AlterColumnOp,
    CreateIndexOp,
    DropColumnOp,
    DropConstraintOp,
    DropIndexOp,
    ModifyTableOps,
)
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Column, ForeignKeyConstraint, Index, text
from sqlalchemy.engine.interfaces import ReflectedForeignKeyConstraint

from alembic_toolkit.autogen.default_names import TakenNames
from alembic_toolkit.autogen.expand_ops import (
    ColumnSwitch,
    ContractColumnsOp,
    ExpandColumnOp,
    ForeignKeySpec,
    IndexSpec,
)
from alembic_toolkit.autogen.expand_refusals import (
    HINT,
    model_column,
    refuse_what_cannot_expand,
)
from alembic_toolkit.autogen.hints import HintError
from alembic_toolkit.autogen.operations import RenameColumnOp
from alembic_toolkit.autogen.trial import Trial
from alembic_toolkit.zerodowntime.sql import generated_name

# A table's constraints, whose names its foreign keys must not take.
_CONSTRAINTS = text("SELECT conname FROM pg_constraint WHERE conrelid = to_regclass(:table)")


@dataclass(frozen=True)
class ExpandAndContract:
    """The expand revision's operations and the contract revision's."""

    expand: list[MigrateOperation]
    contract: ContractColumnsOp


@dataclass
class _Sorting:
    """What sorting autogenerate's findings needs besides them."""

    sides: dict[tuple[str, str], _Sides]
    """Per renamed column (by table and old name), what goes to each side."""
    olds: dict[tuple[str, str], tuple[str, str]]
    news: dict[tuple[str, str], tuple[str, str]]
    """The renamed columns by their old and by their new name."""
    reflected: Mapping[tuple[str, str], ReflectedForeignKeyConstraint]
    """The database's foreign keys of the renamed columns' tables, by table and name."""
    names: TakenNames


@dataclass
class _Sides:
    """What autogenerate found for one renamed column, sorted to its side."""

    new_indexes: list[IndexSpec] = field(default_factory=list)
    new_foreign_keys: list[ForeignKeySpec] = field(default_factory=list)
    old_indexes: list[IndexSpec] = field(default_factory=list)
    old_foreign_keys: list[ForeignKeySpec] = field(default_factory=list)


def expand_and_contract(
    context: MigrationContext, renames: Sequence[MigrateOperation]
) -> ExpandAndContract:
    """Turn the decided column renames into the expand's and the contract's operations."""
    columns = [op for op in renames if isinstance(op, RenameColumnOp)]
    others = [op for op in renames if not isinstance(op, RenameColumnOp)]
    tables = sorted({getattr(op, "table_name", "") for op in others if _is_table_rename(op)})
    if tables:
        raise HintError(
            f"{HINT}: writes column renames only; rename table {tables[0]} in a revision of "
            "its own first (a rename in place, on the contract branch)"
        )
    trial = Trial(context)
    savepoint = trial.connection.begin_nested()
    try:
        inspector = trial.inspector()
        for op in columns:
            refuse_what_cannot_expand(trial, inspector, op)
        trial.apply(
            [
                AddColumnOp(
                    op.table_name,
                    Column(op.new_column_name, model_column(trial, op).type, nullable=True),
                )
                for op in columns
            ]
        )
        diff = trial.diff()
    finally:
        savepoint.rollback()
    sides = {(op.table_name, op.column_name): _Sides() for op in columns}
    olds = {key: key for key in sides}
    news = {(op.table_name, op.new_column_name): (op.table_name, op.column_name) for op in columns}
    renamed_tables = {op.table_name for op in columns}
    inspector = trial.inspector()
    reflected = {
        (table, str(key["name"])): key
        for table in renamed_tables
        for key in inspector.get_foreign_keys(table)
    }
    sorting = _Sorting(sides, olds, news, reflected, TakenNames(trial))
    remaining: list[MigrateOperation] = []
    for found in diff.ops:
        if (
            isinstance(found, ModifyTableOps)
            and found.schema is None
            and found.table_name in renamed_tables
        ):
            table = found.table_name
            kept = [sub for sub in found.ops if not _sort(sub, table, sorting)]
            if kept:
                remaining.append(ModifyTableOps(table, kept, schema=found.schema))
        else:
            remaining.append(found)
    _build_apart(trial, sorting)
    switches = [_switch(trial, op, sides[(op.table_name, op.column_name)]) for op in columns]
    return ExpandAndContract(
        [*(ExpandColumnOp(s) for s in switches), *remaining], ContractColumnsOp(switches)
    )


def _is_table_rename(op: MigrateOperation) -> bool:
    return hasattr(op, "new_table_name")


def _sort(op: MigrateOperation, table: str, sorting: _Sorting) -> bool:
    """File `op` under the renamed column it belongs to; False when it is not about one."""
    sides, olds, news = sorting.sides, sorting.olds, sorting.news
    if isinstance(op, DropColumnOp):
        return (table, op.column_name) in olds
    if isinstance(op, AlterColumnOp) and (table, op.column_name) in news:
        changes = [
            name
            for name in ("modify_type", "modify_server_default", "modify_comment", "modify_name")
            if getattr(op, name, False) not in (False, None)
        ]
        if changes:
            raise HintError(
                f"{HINT}: {table}.{op.column_name} also changes ({', '.join(changes)}); "
                "write that change in a revision of its own"
            )
        # Only its NOT NULL is left: the expand proves it with a CHECK, the contract declares it.
        return True
    if isinstance(op, CreateIndexOp | DropIndexOp):
        index = op.to_index()
        covered = _index_columns(index)
        owner = _owner(table, covered, news if isinstance(op, CreateIndexOp) else olds)
        if owner is None:
            return False
        if covered is None or None in covered:
            raise HintError(
                f"{HINT}: the index {index.name} on {table} is not over plain columns; "
                "rename in place"
            )
        columns = tuple(str(c) for c in covered)
        # Only the model's may be unnamed: the database's are reflected with their names.
        name = index.name if isinstance(index.name, str) else sorting.names.index(table, columns)
        index_spec = IndexSpec(name, columns, bool(index.unique))
        if isinstance(op, CreateIndexOp):
            sides[owner].new_indexes.append(index_spec)
        else:
            sides[owner].old_indexes.append(index_spec)
        return True
    if isinstance(op, AddConstraintOp | DropConstraintOp):
        constraint = (op if isinstance(op, AddConstraintOp) else op.reverse()).to_constraint()
        names = tuple(c.name for c in getattr(constraint, "columns", ()))
        owner = _owner(table, names, news if isinstance(op, AddConstraintOp) else olds)
        if owner is None:
            return False
        if not isinstance(constraint, ForeignKeyConstraint):
            raise HintError(
                f"{HINT}: the constraint {constraint.name} on {table} covers the renamed "
                "column; rename it in place"
            )
        # A dropped one is the database's: as reflected. An added one is the model's, perhaps
        # unnamed: named here as PostgreSQL would name it, to be validated and found again.
        if isinstance(op, DropConstraintOp):
            found = sorting.reflected.get((table, str(constraint.name)))
            spec = _foreign_key(constraint, str(constraint.name), names, found)
        else:
            given = constraint.name
            named = given if isinstance(given, str) else sorting.names.foreign_key(table, names)
            spec = _foreign_key(constraint, named, names, None)
        if isinstance(op, AddConstraintOp):
            sides[owner].new_foreign_keys.append(spec)
        else:
            sides[owner].old_foreign_keys.append(spec)
        return True
    return False


def _build_apart(trial: Trial, sorting: _Sorting) -> None:
    """Give the new columns' indexes and foreign keys a name of their own where they need one.

    An index or foreign key of the new column may have the name of one of the old column's
    (a name given in the model, or one a convention derives from a column that is not
    renamed): the database holds it until the contract drops the old column. The expand
    builds it under another name, and the contract renames it once the old one is gone; any
    other object holding the name (or that other name) is refused in one line.
    """
    names = sorting.names
    old_indexes = {i.name for sides in sorting.sides.values() for i in sides.old_indexes}
    new_names = {owner: new for (_, new), owner in sorting.news.items()}
    for (table, old), sides in sorting.sides.items():
        where = f"{HINT} (rename={table}.{old}:{new_names[(table, old)]})"
        for i, index in enumerate(sides.new_indexes):
            apart = _apart(
                where, "index", index.name, old_indexes, names.database_relations, names.relations
            )
            sides.new_indexes[i] = replace(index, built_as=apart)
        old_keys = {
            key.name
            for (other, _), other_sides in sorting.sides.items()
            if other == table
            for key in other_sides.old_foreign_keys
        }
        # Foreign keys are named apart within their table only.
        parameters = {"table": trial.dialect.identifier_preparer.quote(table)}
        constraints = set(trial.connection.execute(_CONSTRAINTS, parameters).scalars())
        for i, key in enumerate(sides.new_foreign_keys):
            apart = _apart(where, "foreign key", key.name, old_keys, constraints, names.constraints)
            sides.new_foreign_keys[i] = replace(key, built_as=apart)


def _apart(
    where: str,
    kind: str,
    name: str,
    held_by_old: set[str],
    in_database: Set[str],
    avoided: set[str],
) -> str | None:
    """The name to build `name` under until the contract (None: its own), or a refusal.

    `in_database` holds the names it may not take while the old column's objects stand,
    `avoided` every name another object has or will have; a name chosen joins it.
    """
    if name not in in_database:
        return None
    if name not in held_by_old:
        raise HintError(
            f"{where}: the {kind} {name} the models give the new column is the name of "
            "something else the database keeps; rename or drop that in a revision of its own "
            "first"
        )
    apart = generated_name(name, "expand")
    if apart in avoided:
        raise HintError(
            f"{where}: the {kind} {name} is built under the name {apart} until the contract "
            f"drops the old column's, but {apart} is taken; rename or drop it first"
        )
    avoided.add(apart)
    return apart


def _foreign_key(
    constraint: ForeignKeyConstraint,
    name: str,
    columns: tuple[str, ...],
    reflected: ReflectedForeignKeyConstraint | None,
) -> ForeignKeySpec:
    """The model's foreign key, or the database's as reflected (`reflected`), options and all."""
    # Alembic's reflected constraint leaves MATCH out; the inspector's has every option.
    options: dict[str, Any] = (
        dict(reflected["options"])
        if reflected is not None
        else {
            "ondelete": constraint.ondelete,
            "onupdate": constraint.onupdate,
            "deferrable": constraint.deferrable,
            "initially": constraint.initially,
            "match": constraint.match,
        }
    )
    return ForeignKeySpec(
        name,
        columns,
        constraint.referred_table.name,
        tuple(element.column.name for element in constraint.elements),
        referent_schema=constraint.referred_table.schema,
        ondelete=options.get("ondelete"),
        onupdate=options.get("onupdate"),
        deferrable=options.get("deferrable"),
        initially=options.get("initially"),
        match=options.get("match"),
    )


def _index_columns(index: Index) -> tuple[str | None, ...] | None:
    try:
        return tuple(getattr(expression, "name", None) for expression in index.expressions)
    except AttributeError:
        return None


def _owner(
    table: str,
    columns: Iterable[str | None] | None,
    renamed: dict[tuple[str, str], tuple[str, str]],
) -> tuple[str, str] | None:
    """The renamed column (by table and old name) that `columns` include, if any.

    Of several, the last renamed: the expand builds an index or foreign key with that
    column's, once every column it covers has been added and filled in.
    """
    order = list(renamed)
    covered = [(table, c) for c in columns or () if c is not None and (table, c) in renamed]
    return renamed[max(covered, key=order.index)] if covered else None


def _switch(trial: Trial, op: RenameColumnOp, sides: _Sides) -> ColumnSwitch:
    model = model_column(trial, op)
    return ColumnSwitch(
        table=op.table_name,
        old=op.column_name,
        new=op.new_column_name,
        old_type=op.existing_type if op.existing_type is not None else model.type,
        new_type=model.type,
        old_nullable=bool(op.existing_nullable),
        new_nullable=bool(model.nullable),
        new_indexes=tuple(sides.new_indexes),
        new_foreign_keys=tuple(sides.new_foreign_keys),
        old_indexes=tuple(sides.old_indexes),
        old_foreign_keys=tuple(sides.old_foreign_keys),
    )
