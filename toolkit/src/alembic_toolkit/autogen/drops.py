"""The drops left once the renames are tried: each one decided, or the revision refused."""

from __future__ import annotations

from collections.abc import Mapping

from alembic.operations.ops import DropColumnOp, DropTableOp, UpgradeOps
from sqlalchemy import Dialect

from alembic_toolkit.autogen.decisions import Candidate, Decisions, type_name
from alembic_toolkit.autogen.trial import qualified, table_ops
from alembic_toolkit.review.markers import TODO_REASON


def decide_drops(
    decisions: Decisions,
    diff: UpgradeOps,
    dialect: Dialect,
    table_candidates: list[Candidate],
    column_candidates: Mapping[str, list[Candidate]],
) -> None:
    """Ask about, or check the hints for, every drop; refuse if one stays undecided."""
    dropped: set[str] = set()
    for op in diff.ops:
        if isinstance(op, DropTableOp):
            name = qualified(op.schema, op.table_name)
            dropped.add(name)
            decisions.decide_drop(name, f"table {name}", table_candidates)
    for changes in table_ops(diff, every_schema=True):
        table = qualified(changes.schema, changes.table_name)
        for op in changes.ops:
            if isinstance(op, DropColumnOp):
                name = f"{table}.{op.column_name}"
                dropped.add(name)
                decisions.decide_drop(
                    name,
                    f"{name} ({type_name(op.to_column().type, dialect)})",
                    column_candidates.get(table, []),
                )
    for name in sorted(decisions.hints.allow_drop - dropped):
        decisions.problems.append(f"-x allow_drop={name}: nothing of that name is dropped")
    decisions.refuse_if_undecided()


def drop_markers(upgrade: UpgradeOps) -> tuple[dict[str, str], dict[str, str]]:
    """The `destroys_data` and `squawk_accepts` of a revision's confirmed drops.

    Keyed as the guard names them, with a reason the guard and the lint refuse until a person
    writes the real one: a drop someone confirmed is written, and still read before it runs.
    """
    destroyed: dict[str, str] = {}
    accepts: dict[str, str] = {}
    for op in upgrade.ops:
        if isinstance(op, DropTableOp):
            destroyed[f"upgrade: drop_table {op.table_name}"] = TODO_REASON
            accepts["ban-drop-table"] = TODO_REASON
    for changes in table_ops(upgrade, every_schema=True):
        for op in changes.ops:
            if isinstance(op, DropColumnOp):
                destroyed[f"upgrade: drop_column {changes.table_name}.{op.column_name}"] = (
                    TODO_REASON
                )
                accepts["ban-drop-column"] = TODO_REASON
    return destroyed, accepts
