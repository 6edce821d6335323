"""Which columns are renamed: the `-x rename=table.old:new` hints, then likely pairs confirmed."""

from __future__ import annotations

from collections.abc import Mapping

from alembic.operations import MigrateOperation
from alembic.operations.ops import AddColumnOp, DropColumnOp, UpgradeOps
from sqlalchemy.engine import Inspector

from alembic_toolkit.autogen.decisions import (
    Candidate,
    Decisions,
    column_score,
    compatible,
    type_name,
)
from alembic_toolkit.autogen.hints import HintError
from alembic_toolkit.autogen.operations import RenameColumnOp
from alembic_toolkit.autogen.steps import RenameCollisionError, rename_steps
from alembic_toolkit.autogen.trial import Trial, table_ops


def rename_columns(
    trial: Trial, decisions: Decisions, diff: UpgradeOps, renamed_tables: Mapping[str, str]
) -> dict[str, list[Candidate]]:
    """Decide the column renames and try them; return the likely ones nobody confirmed."""
    inspector, hints = trial.inspector(), decisions.hints
    renames: dict[str, dict[str, str]] = {}
    for key, new in hints.columns.items():
        table = renamed_tables.get(key[0], key[0])
        problem = _hint_problem(trial, decisions, inspector, table, key[1], new)
        if problem:
            raise HintError(f"{hints.describe_column(key)}: {problem}")
        renames.setdefault(table, {})[key[1]] = new
    unconfirmed: dict[str, list[Candidate]] = {}
    for changes in table_ops(diff):
        table = changes.table_name
        decided = renames.setdefault(table, {})
        ops = changes.ops
        drops = {op.column_name: op.to_column() for op in ops if isinstance(op, DropColumnOp)}
        adds = {op.column.name: op.column for op in ops if isinstance(op, AddColumnOp)}
        candidates = [
            Candidate(
                old,
                new,
                column_score(drops[old], adds[new], trial.dialect),
                table,
                type_name(adds[new].type, trial.dialect),
            )
            for old in drops
            for new in adds
            if old not in decided
            and new not in decided.values()
            and compatible(drops[old].type, adds[new].type)
        ]
        decided |= decisions.confirm_renames(candidates)
        unconfirmed[table] = [c for c in candidates if c.old not in decided]
    trial.apply(_operations(inspector, renames))
    return unconfirmed


def _operations(
    inspector: Inspector, renames: Mapping[str, Mapping[str, str]]
) -> list[MigrateOperation]:
    """The renames as operations, through temporary names where they form a cycle."""
    operations: list[MigrateOperation] = []
    for table, pairs in renames.items():
        existing = {c["name"]: c for c in inspector.get_columns(table)} if pairs else {}
        try:
            steps = rename_steps(pairs, existing)
        except RenameCollisionError as exc:
            raise HintError(
                f"-x rename={table}.{exc.old}:{exc.new}: {table} has a column {exc.new} "
                "that is not renamed away; rename or drop it in a revision of its own first"
            ) from None
        origin = {old: old for old in pairs}
        for old, new in steps:
            source = existing[origin[old]]
            origin[new] = origin[old]
            operations.append(
                RenameColumnOp(
                    table,
                    old,
                    new,
                    existing_type=source["type"],
                    existing_nullable=source["nullable"],
                )
            )
    return operations


def _hint_problem(
    trial: Trial, decisions: Decisions, inspector: Inspector, table: str, old: str, new: str
) -> str | None:
    model = trial.metadata.tables.get(table)
    if model is None:
        return f"the models have no table {table}"
    if not inspector.has_table(table):
        return f"the database has no table {table}"
    database = {c["name"] for c in inspector.get_columns(table)}
    renamed_away = set(decisions.hints.columns.values())
    if old not in database:
        return f"the database's table {table} has no column {old}"
    if new not in model.columns:
        return f"the models' table {table} has no column {new}"
    if old in model.columns and old not in renamed_away:
        return f"{table}.{old} is still in the models: there is nothing to rename"
    return None
