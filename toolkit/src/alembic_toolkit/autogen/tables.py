"""Which tables are renamed: the `-x rename=old:new` hints, then likely pairs confirmed."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from alembic.operations.ops import CreateTableOp, DropTableOp, UpgradeOps

from alembic_toolkit.autogen.decisions import Candidate, Decisions, table_score
from alembic_toolkit.autogen.hints import HintError, Hints
from alembic_toolkit.autogen.operations import ReversibleRenameTableOp
from alembic_toolkit.autogen.steps import RenameCollisionError, rename_steps
from alembic_toolkit.autogen.trial import Trial, table_changes


@dataclass(frozen=True)
class TableRenames:
    """The tables renamed (old name to new), and the likely renames nobody confirmed."""

    renamed: dict[str, str]
    unconfirmed: list[Candidate]


def rename_tables(trial: Trial, decisions: Decisions, diff: UpgradeOps) -> TableRenames:
    """Decide the table renames and try them on the database."""
    hints, database = decisions.hints, set(trial.inspector().get_table_names())
    renames: dict[str, str] = {}
    for old, new in hints.tables.items():
        problem = _hint_problem(old, new, database, set(trial.metadata.tables), hints)
        if problem:
            raise HintError(f"{hints.describe_table(old)}: {problem}")
        renames[old] = new
    drops, creates = table_changes(diff)
    candidates = _candidates(drops, creates, renames)
    renames |= decisions.confirm_renames(candidates)
    try:
        steps = rename_steps(renames, database)
    except RenameCollisionError as exc:
        raise HintError(
            f"-x rename={exc.old}:{exc.new}: table {exc.new} exists and is not renamed away; "
            "rename or drop it in a revision of its own first"
        ) from None
    trial.apply([ReversibleRenameTableOp(old, new) for old, new in steps])
    return TableRenames(renames, [c for c in candidates if c.old not in renames])


def _candidates(
    drops: Mapping[str, DropTableOp],
    creates: Mapping[str, CreateTableOp],
    decided: Mapping[str, str],
) -> list[Candidate]:
    found = []
    for old, drop in drops.items():
        for new, create in creates.items():
            if old in decided or new in decided.values():
                continue
            score = table_score(drop.to_table(), create.to_table())
            if score is not None:
                found.append(Candidate(old, new, score))
    return found


def _hint_problem(
    old: str, new: str, database: set[str], models: set[str], hints: Hints
) -> str | None:
    if old not in database:
        return f"the database has no table {old}"
    if new not in models:
        return f"the models have no table {new}"
    if old in models and old not in hints.tables.values():
        return f"table {old} is still in the models: there is nothing to rename"
    return None
