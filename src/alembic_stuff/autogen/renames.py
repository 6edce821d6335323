"""Rename-aware autogenerate: no column or table is dropped unless someone said so.

Autogenerate compares names, so a renamed column or table looks like one that vanished and
one that appeared, and it writes a drop and an add: the data is lost on upgrade. This
`process_revision_directives` hook looks at every drop before the revision is written:

- a drop paired with an add of a compatible type is a rename candidate;
- in a terminal, it asks about each candidate, best first, as Django's makemigrations does;
- elsewhere it acts only on Alembic's `-x` hints, `-x rename=table.old:new` (a column),
  `-x rename=old:new` (a table) and `-x allow_drop=table.column` or `-x allow_drop=table`,
  and refuses, writing nothing, while any drop is undecided.

A confirmed rename becomes `alter_column(..., new_column_name=...)` or `rename_table`, with any
type or nullability change folded in, the indexes and constraints that belong to it renamed
rather than dropped and recreated, and the reverse in `downgrade()`.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from difflib import SequenceMatcher
from typing import Any

from alembic.migration import MigrationContext
from alembic.operations import MigrateOperation
from alembic.operations.ops import (
    AddColumnOp,
    AddConstraintOp,
    AlterColumnOp,
    CreateIndexOp,
    CreateTableOp,
    DowngradeOps,
    DropColumnOp,
    DropConstraintOp,
    DropIndexOp,
    DropTableOp,
    MigrationScript,
    ModifyTableOps,
    UpgradeOps,
)
from alembic.util import CommandError
from sqlalchemy import CheckConstraint, Column, Index, MetaData, Table, UniqueConstraint, inspect
from sqlalchemy.engine import Dialect, Inspector
from sqlalchemy.types import TypeEngine

from alembic_stuff.autogen.operations import (
    RenameColumnOp,
    RenameConstraintOp,
    RenameIndexOp,
    ReversibleRenameTableOp,
)

Ask = Callable[[str], bool]
"""Ask the person at the terminal a yes/no question; True for yes."""


class HintError(CommandError):
    """An `-x rename` or `-x allow_drop` hint that is malformed or matches nothing."""


@dataclass(frozen=True)
class Hints:
    """What the person generating the revision said with `-x`."""

    renames: Mapping[str, str] = field(default_factory=dict)
    """{"table.old": "new"} for columns, {"old": "new"} for tables."""
    allow_drop: frozenset[str] = frozenset()
    """"table.column" or "table" names whose drop, and data loss, is intended."""

    @classmethod
    def from_x_arguments(cls, arguments: Mapping[str, str]) -> Hints:
        """Read `-x rename=...` and `-x allow_drop=...` (each a comma-separated list)."""
        renames: dict[str, str] = {}
        for item in _split(arguments.get("rename", "")):
            old, colon, new = item.partition(":")
            if not colon or not old or not new or "." in new:
                raise HintError(
                    f"-x rename={item}: write table.old:new for a column or old:new for a table"
                )
            renames[old] = new
        return cls(renames, frozenset(_split(arguments.get("allow_drop", ""))))


def _split(value: str) -> list[str]:
    return [part.strip() for part in value.split(",") if part.strip()]


@dataclass
class _Decisions:
    """What was decided so far, and what could not be."""

    hints: Hints
    ask: Ask | None
    problems: list[str] = field(default_factory=list)
    used_hints: set[str] = field(default_factory=set)


def rename_aware(hints: Hints, ask: Ask | None) -> Callable[..., None]:
    """Return a `process_revision_directives` hook that decides every drop before writing."""

    def process_revision_directives(
        context: MigrationContext, revision: Any, directives: list[MigrationScript]
    ) -> None:
        decisions = _Decisions(hints, ask)
        metadata = _target_metadata(context)
        inspector = inspect(context.bind)
        for script in directives:
            for upgrade_ops, downgrade_ops in zip(
                script.upgrade_ops_list, script.downgrade_ops_list, strict=True
            ):
                _rewrite(
                    upgrade_ops, downgrade_ops, metadata, inspector, context.dialect, decisions
                )
        unused = sorted(
            {f"rename={key}:{value}" for key, value in hints.renames.items()} - decisions.used_hints
        )
        decisions.problems += [f"-x {hint} matches no dropped and added pair" for hint in unused]
        if decisions.problems:
            raise CommandError(
                "no revision written; decide what happens to each drop:\n"
                + "\n".join(decisions.problems)
            )

    return process_revision_directives


def _target_metadata(context: MigrationContext) -> MetaData:
    target = context.opts["target_metadata"]
    if isinstance(target, MetaData):
        return target
    merged = MetaData()
    for metadata in target:
        for table in metadata.tables.values():
            table.to_metadata(merged)
    return merged


def _rewrite(
    upgrade_ops: UpgradeOps,
    downgrade_ops: DowngradeOps,
    metadata: MetaData,
    inspector: Inspector,
    dialect: Dialect,
    decisions: _Decisions,
) -> None:
    changed = _rename_tables(upgrade_ops, metadata, inspector, dialect, decisions)
    for table_ops in [op for op in upgrade_ops.ops if isinstance(op, ModifyTableOps)]:
        changed |= _rename_columns(table_ops, metadata, inspector, dialect, decisions)
    if changed:
        upgrade_ops.reverse_into(downgrade_ops)


# Columns -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Candidate:
    old: str
    new: str
    score: float


def _compatible(old: TypeEngine[Any], new: TypeEngine[Any]) -> bool:
    return old._type_affinity is new._type_affinity


def _same_type(old: TypeEngine[Any], new: TypeEngine[Any], dialect: Dialect) -> bool:
    return str(old.compile(dialect=dialect)) == str(new.compile(dialect=dialect))


def _similarity(old: str, new: str) -> float:
    return SequenceMatcher(None, old, new).ratio()


def _column_score(old: Column[Any], new: Column[Any], dialect: Dialect) -> float:
    return (
        (2.0 if _same_type(old.type, new.type, dialect) else 1.0)
        + (0.5 if old.nullable == new.nullable else 0.0)
        + _similarity(old.name, new.name)
    )


def _rename_columns(
    table_ops: ModifyTableOps,
    metadata: MetaData,
    inspector: Inspector,
    dialect: Dialect,
    decisions: _Decisions,
) -> bool:
    table_name = table_ops.table_name
    model = metadata.tables.get(table_name)
    drops = {op.column_name: op for op in table_ops.ops if isinstance(op, DropColumnOp)}
    adds = {op.column.name: op for op in table_ops.ops if isinstance(op, AddColumnOp)}
    if model is None:
        return False
    existing = {c["name"]: c for c in inspector.get_columns(table_name)}

    pairs: dict[str, str] = {}
    for key, new in decisions.hints.renames.items():
        table, dot, old = key.partition(".")
        if dot and table == table_name and old in existing and new in model.columns:
            pairs[old] = new
            decisions.used_hints.add(f"rename={key}:{new}")

    candidates = sorted(
        (
            _Candidate(old, new, _column_score(drops[old].to_column(), adds[new].column, dialect))
            for old, new in itertools.product(drops, adds)
            if old not in pairs
            and new not in pairs.values()
            and _compatible(drops[old].to_column().type, adds[new].column.type)
        ),
        key=lambda candidate: -candidate.score,
    )
    _ask_about(
        candidates,
        pairs,
        lambda c: (
            f"Did you rename {table_name}.{c.old} to {table_name}.{c.new} "
            f"({_type_name(adds[c.new].column.type, dialect)})? [y/N] "
        ),
        decisions,
    )
    _decide_drops(
        [name for name in drops if name not in pairs],
        candidates,
        lambda name: f"{table_name}.{name}",
        lambda name: f"{table_name}.{name} ({_type_name(drops[name].to_column().type, dialect)})",
        decisions,
        pair_hint=lambda c: f"rename={table_name}.{c.old}:{c.new}",
        pair_label=lambda c: f"{table_name}.{c.old} -> {table_name}.{c.new}",
    )
    if not pairs:
        return False

    involved = set(pairs) | set(pairs.values())
    table_ops.ops = [
        op
        for op in table_ops.ops
        if not (isinstance(op, DropColumnOp) and op.column_name in pairs)
        and not (isinstance(op, AddColumnOp) and op.column.name in pairs.values())
        # autogenerate compared these by name, which a rename makes meaningless
        and not (isinstance(op, AlterColumnOp) and op.column_name in involved)
    ]
    renames = _column_renames(table_name, pairs, existing, model, dialect)
    kept = _keep_indexes_and_constraints(table_ops, pairs, model, inspector)
    table_ops.ops[:0] = [*renames, *kept]
    return True


def _column_renames(
    table_name: str,
    pairs: Mapping[str, str],
    existing: Mapping[str, Any],
    model: Table,
    dialect: Dialect,
) -> list[MigrateOperation]:
    """Renames that reach `pairs` step by step; a cycle (a swap) goes through a temporary name."""
    names = set(existing)
    pending = dict(pairs)
    origin = {old: old for old in pairs}
    renames: list[MigrateOperation] = []

    def rename(current: str, target: str, final: bool) -> None:
        source = existing[origin[current]]
        column = model.columns[target] if final else None
        changed_type = column is not None and not _same_type(source["type"], column.type, dialect)
        changed_null = column is not None and column.nullable != source["nullable"]
        renames.append(
            RenameColumnOp(
                table_name,
                current,
                target,
                existing_type=source["type"],
                existing_nullable=source["nullable"],
                modify_type=column.type if column is not None and changed_type else None,
                modify_nullable=column.nullable if column is not None and changed_null else None,
            )
        )
        names.discard(current)
        names.add(target)

    while pending:
        ready = [(old, new) for old, new in pending.items() if new not in names or new == old]
        if ready:
            for old, new in ready:
                rename(old, new, final=True)
                del pending[old]
            continue
        old, new = next(iter(pending.items()))
        temporary = next(
            f"{old}_renaming_{n}" for n in itertools.count() if f"{old}_renaming_{n}" not in names
        )
        rename(old, temporary, final=False)
        origin[temporary] = origin[old]
        del pending[old]
        pending[temporary] = new
    return renames


_Named = list[tuple[str | None, tuple[str, ...]]]


def _keep_indexes_and_constraints(
    table_ops: ModifyTableOps, pairs: Mapping[str, str], model: Table, inspector: Inspector
) -> list[MigrateOperation]:
    """Rename, rather than drop and recreate, what covers a renamed column."""
    table_name = table_ops.table_name
    renamed: dict[str, _Named] = {
        "unique": [
            (uq["name"], tuple(pairs.get(c, c) for c in uq["column_names"]))
            for uq in inspector.get_unique_constraints(table_name)
        ],
        "index": [
            (ix["name"], tuple(pairs.get(c, c) for c in ix["column_names"] if c is not None))
            for ix in inspector.get_indexes(table_name)
            if not ix.get("duplicates_constraint")
        ],
    }
    wanted: dict[str, _Named] = {
        "unique": [
            (str(c.name), tuple(col.name for col in c.columns))
            for c in model.constraints
            if isinstance(c, UniqueConstraint)
        ],
        "index": [(str(i.name), tuple(col.name for col in i.columns)) for i in model.indexes],
    }
    operations: list[MigrateOperation] = []
    for kind in ("unique", "index"):
        for old_name, columns in renamed[kind]:
            if old_name is None or not set(columns) & set(pairs.values()):
                continue
            match = next((name for name, cols in wanted[kind] if cols == columns), None)
            if match is None:
                continue
            table_ops.ops = [
                op for op in table_ops.ops if _constraint_name(op, kind) not in {old_name, match}
            ]
            if match != old_name:
                operations.append(
                    RenameConstraintOp(table_name, old_name, str(match))
                    if kind == "unique"
                    else RenameIndexOp(old_name, str(match))
                )
    return operations


def _constraint_name(op: MigrateOperation, kind: str) -> str | None:
    if kind == "unique" and isinstance(op, DropConstraintOp):
        return str(op.constraint_name) if op.constraint_name else None
    if kind == "unique" and isinstance(op, AddConstraintOp):
        name = op.to_constraint().name
        return str(name) if name else None
    if kind == "index" and isinstance(op, CreateIndexOp | DropIndexOp):
        return op.index_name
    return None


# Tables --------------------------------------------------------------------------------------


def _rename_tables(
    upgrade_ops: UpgradeOps,
    metadata: MetaData,
    inspector: Inspector,
    dialect: Dialect,
    decisions: _Decisions,
) -> bool:
    drops = {op.table_name: op for op in upgrade_ops.ops if isinstance(op, DropTableOp)}
    creates = {op.table_name: op for op in upgrade_ops.ops if isinstance(op, CreateTableOp)}

    def columns(table: Table) -> dict[str, Column[Any]]:
        return {column.name: column for column in table.columns}

    pairs: dict[str, str] = {}
    for old, new in decisions.hints.renames.items():
        if "." not in old and old in drops and new in creates:
            pairs[old] = new
            decisions.used_hints.add(f"rename={old}:{new}")
            if set(columns(drops[old].to_table())) != set(columns(creates[new].to_table())):
                decisions.problems.append(
                    f"tables {old} and {new} have different columns: rename the table in one "
                    "revision and change its columns in the next"
                )

    def matches(old: str, new: str) -> bool:
        before, after = columns(drops[old].to_table()), columns(creates[new].to_table())
        return set(before) == set(after) and all(
            _compatible(before[name].type, after[name].type) for name in before
        )

    candidates = sorted(
        (
            _Candidate(old, new, 1.0 + _similarity(old, new))
            for old, new in itertools.product(drops, creates)
            if old not in pairs and new not in pairs.values() and matches(old, new)
        ),
        key=lambda candidate: -candidate.score,
    )
    _ask_about(
        candidates, pairs, lambda c: f"Did you rename table {c.old} to {c.new}? [y/N] ", decisions
    )
    _decide_drops(
        [name for name in drops if name not in pairs],
        candidates,
        lambda name: name,
        lambda name: f"table {name}",
        decisions,
        pair_hint=lambda c: f"rename={c.old}:{c.new}",
        pair_label=lambda c: f"table {c.old} -> {c.new}",
    )
    if not pairs or decisions.problems:
        return False

    for old, new in pairs.items():
        index = upgrade_ops.ops.index(drops[old])
        upgrade_ops.ops = [op for op in upgrade_ops.ops if op not in (drops[old], creates[new])]
        kept = _keep_table_indexes_and_constraints(
            upgrade_ops, old, metadata.tables[new], inspector
        )
        upgrade_ops.ops[index:index] = [ReversibleRenameTableOp(old, new), *kept]
    return True


def _keep_table_indexes_and_constraints(
    upgrade_ops: UpgradeOps, old: str, model: Table, inspector: Inspector
) -> list[MigrateOperation]:
    """Rename a renamed table's indexes and constraints to the names the model gives them."""
    new = model.name
    operations: list[MigrateOperation] = []

    def renamed(old_name: str | None, new_name: Any, index: bool = False) -> None:
        if old_name and new_name and old_name != new_name:
            operations.append(
                RenameIndexOp(old_name, str(new_name))
                if index
                else RenameConstraintOp(new, old_name, str(new_name))
            )

    pk = inspector.get_pk_constraint(old)
    renamed(pk.get("name"), model.primary_key.name)

    by_columns: dict[tuple[str, tuple[str, ...]], Any] = {}
    for constraint in model.constraints:
        if isinstance(constraint, UniqueConstraint):
            by_columns["unique", tuple(c.name for c in constraint.columns)] = constraint.name
    for uq in inspector.get_unique_constraints(old):
        renamed(uq["name"], by_columns.get(("unique", tuple(uq["column_names"]))))

    model_checks = {
        str(c.name) for c in model.constraints if c.name and isinstance(c, CheckConstraint)
    }
    for ck in inspector.get_check_constraints(old):
        guess = str(ck["name"]).replace(old, new, 1) if ck["name"] else None
        renamed(ck["name"], guess if guess in model_checks else None)

    model_indexes: dict[tuple[str, ...], Index] = {
        tuple(c.name for c in ix.columns): ix for ix in model.indexes
    }
    for ix in inspector.get_indexes(old):
        if ix.get("duplicates_constraint"):
            continue
        target = model_indexes.get(tuple(c for c in ix["column_names"] if c is not None))
        if target is not None:
            renamed(ix["name"], target.name, index=True)
    # The indexes autogenerate would have dropped with the old table and created with the new.
    upgrade_ops.ops = [
        op
        for op in upgrade_ops.ops
        if not (isinstance(op, DropIndexOp) and op.table_name == old)
        and not (isinstance(op, CreateIndexOp) and op.table_name == new)
    ]
    return operations


# Asking and refusing -------------------------------------------------------------------------


def _ask_about(
    candidates: Sequence[_Candidate],
    pairs: dict[str, str],
    question: Callable[[_Candidate], str],
    decisions: _Decisions,
) -> None:
    """In a terminal, ask about each candidate, best first, skipping names already paired."""
    if decisions.ask is None:
        return
    for candidate in candidates:
        if candidate.old in pairs or candidate.new in pairs.values():
            continue
        if decisions.ask(question(candidate)):
            pairs[candidate.old] = candidate.new


def _decide_drops(
    undecided: Iterable[str],
    candidates: Sequence[_Candidate],
    full_name: Callable[[str], str],
    label: Callable[[str], str],
    decisions: _Decisions,
    *,
    pair_hint: Callable[[_Candidate], str],
    pair_label: Callable[[_Candidate], str],
) -> None:
    """Keep each remaining drop only if allowed; otherwise ask, or record what to say."""
    for name in undecided:
        if full_name(name) in decisions.hints.allow_drop:
            continue
        own = [c for c in candidates if c.old == name]
        if decisions.ask is not None:
            # Declining every rename offered for it already said "drop it".
            if own or decisions.ask(f"Drop {label(name)} and all its data? [y/N] "):
                continue
            raise CommandError(f"no revision written: {label(name)} would have been dropped")
        for candidate in own:
            decisions.problems.append(
                f"{pair_label(candidate)}: a likely rename; add -x {pair_hint(candidate)}, "
                f"or -x allow_drop={full_name(name)} to drop it and its data"
            )
        if not own:
            decisions.problems.append(
                f"{label(name)} would be dropped with its data; "
                f"add -x allow_drop={full_name(name)} to confirm"
            )


def _type_name(type_: TypeEngine[Any], dialect: Dialect) -> str:
    return str(type_.compile(dialect=dialect))
