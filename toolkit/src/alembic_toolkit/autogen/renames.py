"""Rename-aware autogenerate: no column or table is dropped unless someone said so.

Autogenerate compares names, so a renamed column or table looks like one that vanished and
one that appeared, and it writes a drop and an add: the data is lost on upgrade. This
`process_revision_directives` hook decides every drop before the revision is written (see
`decisions`: in a terminal it asks; elsewhere the `-x` hints of `hints` decide).

The confirmed renames are then tried on the database itself, inside a savepoint that is
always rolled back: tables first, then columns, then the constraints and indexes whose names
the naming convention derives from them (`names`). Autogenerate runs again on the renamed
schema, so everything else it writes (a type change, a new index, a foreign key) is computed
against the schema as it will be after the renames, and the revision is the renames followed
by that remaining difference. PostgreSQL keeps data, indexes, constraints and the foreign
keys that point at a table or column through a rename, so nothing is dropped and recreated.
The downgrade is the exact reverse.

With `-x rename_mode=expand` (or "y" to the question at a terminal) column renames are written
the zero-downtime way instead, as two revisions from one command: an expand revision onto
`expand@head` and a contract revision onto `contract@head` that depends on it (`expand`).
Given by hint in a run that renames nothing, it is refused rather than ignored.
"""

from __future__ import annotations

import json
import logging
import textwrap
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from alembic.operations import MigrateOperation
from alembic.operations.ops import (
    DowngradeOps,
    DropTableOp,
    MigrationScript,
    ModifyTableOps,
    UpgradeOps,
)
from alembic.runtime.environment import ProcessRevisionDirectiveFn
from alembic.runtime.migration import MigrationContext
from alembic.util import CommandError

from alembic_toolkit.autogen import names
from alembic_toolkit.autogen.columns import rename_columns
from alembic_toolkit.autogen.decisions import Ask, Decisions
from alembic_toolkit.autogen.dependencies import add_unseen_heads
from alembic_toolkit.autogen.drops import decide_drops, drop_markers
from alembic_toolkit.autogen.expand import ExpandAndContract, expand_and_contract
from alembic_toolkit.autogen.expand_ops import ColumnSwitch
from alembic_toolkit.autogen.expand_refusals import HINT
from alembic_toolkit.autogen.hints import EXPAND, HintError, Hints
from alembic_toolkit.autogen.messages import escape_messages
from alembic_toolkit.autogen.operations import (
    RenameColumnOp,
    RenameConstraintOp,
    RenameIndexOp,
    ReversibleRenameTableOp,
)
from alembic_toolkit.autogen.tables import rename_tables
from alembic_toolkit.autogen.trial import Trial
from alembic_toolkit.project import ProjectCommands

logger = logging.getLogger(__name__)

# Squawk's rules a generated rename breaks, and the reason the revision gives for accepting
# each; the zero-downtime way of renaming is the other choice.
ASSUMPTION = (
    "generated rename: assumes the app and this schema are released together; replicas still "
    "running the previous release break (expand/contract is the zero-downtime way)"
)
# Where the two revisions of a zero-downtime rename go.
EXPAND_HEAD, CONTRACT_HEAD = "expand@head", "contract@head"
RENAME_RULES: dict[str, tuple[type[MigrateOperation], ...]] = {
    "renaming-column": (RenameColumnOp,),
    "renaming-table": (ReversibleRenameTableOp,),
    "renaming-object": (RenameConstraintOp, RenameIndexOp),
}


def rename_aware(
    hints: Hints, ask: Ask | None, commands: ProjectCommands | None = None
) -> ProcessRevisionDirectiveFn:
    """Return a `process_revision_directives` hook that decides every drop before writing.

    `commands` names the guard, the lint and the revision command in what it writes (the
    toolkit's own by default; see `ProjectCommands`).
    """
    named = commands or ProjectCommands()

    def process_revision_directives(
        context: MigrationContext, revision: Any, directives: list[MigrationScript]
    ) -> None:
        decide(context, directives)
        template_args = context.opts.get("template_args")
        if isinstance(template_args, dict):
            # Alembic's own template writes the message into the docstring as it is.
            escape_messages(directives, template_args)

    def decide(context: MigrationContext, directives: list[MigrationScript]) -> None:
        if len(directives) != 1 or len(directives[0].upgrade_ops_list) != 1:
            raise CommandError("rename-aware autogenerate supports one database and one script")
        script = directives[0]
        assert script.upgrade_ops is not None  # noqa: S101 - autogenerate always sets them
        if hints.rename_mode == EXPAND and script.head != EXPAND_HEAD:
            raise HintError(
                f"{HINT}: writes the expand revision onto {EXPAND_HEAD} and the contract "
                f"revision itself; generate onto {EXPAND_HEAD} (alembic revision --head "
                f"{EXPAND_HEAD})"
            )
        decisions = Decisions(hints, ask, commands=named, message=script.message)
        plan = _plan(context, decisions, script.upgrade_ops)
        if plan.upgrade_ops.is_empty():
            directives.clear()
            logger.warning(
                "no changes detected between the models and the database: no revision written"
            )
            return
        if hints.rename_mode == EXPAND and not plan.renames:
            # Asked for a pair, a plain revision would be a silent surprise: refuse, and say how.
            raise HintError(
                f"{HINT}: there is no column rename in this run, so no expand and contract "
                "pair to write; name the rename with -x rename=table.old:new, or leave "
                f"{HINT} out for a plain revision"
            )
        for head in add_unseen_heads(context, script):
            logger.warning(
                "expected, nothing to do: the new revision names %s in depends_on, because "
                "the database has it and the branch written onto does not; so a database "
                "brought up from empty runs it first",
                head,
            )
        # Only onto the expand branch can a rename be split in two; elsewhere it is in place.
        renames_columns = any(isinstance(op, RenameColumnOp) for op in plan.renames)
        # Asked for by hint, a split refuses what it cannot split (a table rename) in one line.
        # The head first: the question about the mode is asked only where the answer counts.
        split = script.head == EXPAND_HEAD and (
            (renames_columns and decisions.rename_mode() == EXPAND)
            or (bool(plan.renames) and hints.rename_mode == EXPAND)
        )
        if split:
            _write_expand_and_contract(
                context, directives, expand_and_contract(context, plan.renames), named
            )
            return
        script.upgrade_ops = plan.upgrade_ops
        script.downgrade_ops = plan.upgrade_ops.reverse()
        template_args = context.opts.get("template_args")
        destroyed, drops_accept = drop_markers(plan.upgrade_ops)
        if destroyed and isinstance(template_args, dict) and script.rev_id is not None:
            # script.py.mako writes them as they are: the guard and squawk read them.
            template_args["revision_markers"] = {
                script.rev_id: markers(destroyed, {**plan.squawk_accepts, **drops_accept}, named)
            }
        elif plan.squawk_accepts and isinstance(template_args, dict):
            # script.py.mako writes it as it is: a dict literal the squawk lint reads.
            template_args["squawk_accepts"] = marker_source(plan.squawk_accepts)

    return process_revision_directives


def marker_source(accepts: Mapping[str, str]) -> str:
    """`accepts` as a dict literal of the revision, with no line longer than ruff allows."""
    lines = ["{"]
    for rule, reason in accepts.items():
        pieces = textwrap.wrap(reason, 80, drop_whitespace=False)
        lines += [
            f"    {json.dumps(rule)}: (",
            *(f"        {json.dumps(piece)}" for piece in pieces),
            "    ),",
        ]
    return "\n".join([*lines, "}"])


def _write_expand_and_contract(
    context: MigrationContext,
    directives: list[MigrationScript],
    pair: ExpandAndContract,
    commands: ProjectCommands,
) -> None:
    """Make the one revision the expand, and add the contract revision that depends on it."""
    expand = directives[0]
    assert expand.rev_id is not None  # noqa: S101 - Alembic gives every new script its id
    message = expand.message or "rename"
    expand.message = f"{message}: expand"
    upgrade_ops = UpgradeOps(ops=pair.expand)
    expand.upgrade_ops, expand.downgrade_ops = upgrade_ops, upgrade_ops.reverse()
    contract = MigrationScript(
        # Alembic's own form of revision id: twelve hex digits.
        rev_id=uuid.uuid4().hex[-12:],
        upgrade_ops=UpgradeOps(ops=[pair.contract]),
        downgrade_ops=DowngradeOps(ops=[pair.contract.reverse()]),
        message=f"{message}: contract",
        head=CONTRACT_HEAD,
        depends_on=expand.rev_id,
        version_path=expand.version_path,
    )
    directives.append(contract)
    template_args = context.opts.get("template_args")
    if isinstance(template_args, dict):
        # script.py.mako writes them into the contract revision alone, for the guard and squawk.
        template_args["revision_markers"] = {
            contract.rev_id: contract_markers(pair.contract.switches, expand.rev_id, commands)
        }


def contract_markers(
    switches: Sequence[ColumnSwitch], expand: str, commands: ProjectCommands | None = None
) -> str:
    """The contract revision's `destroys_data` and `squawk_accepts`, as module-level source."""
    destroyed = {
        f"upgrade: drop_column {s.table}.{s.old}": (
            f"the next release reads and writes {s.table}.{s.new}, which revision {expand} "
            f"(the expand) has kept equal to {s.old} since it ran; run this once no replica of "
            "the previous release, which reads it, serves"
        )
        for s in switches
    }
    accepts = {
        "ban-drop-column": (
            f"the contract of a zero-downtime rename: expand revision {expand} moved every "
            "reader and writer of the release after it to the new column"
        ),
        "ban-drop-function": (
            "the sync trigger's function, made by the expand revision for this rename alone"
        ),
    }
    if any(s.built_apart() for s in switches):
        accepts["renaming-object"] = (
            "an index or foreign key the expand built for the new column under a name of its "
            "own takes the model's name, which the old column's held until dropped with it"
        )
    if any(not s.new_nullable for s in switches):
        accepts["ban-drop-constraint"] = (
            "the CHECK (... IS NOT NULL) the expand added to prove the new column full, "
            "replaced by NOT NULL"
        )
        accepts["adding-not-nullable-field"] = (
            "SET NOT NULL runs while the expand's validated CHECK (... IS NOT NULL) still "
            "holds, so PostgreSQL takes it as proof and skips the table scan"
        )
    return markers(destroyed, accepts, commands or ProjectCommands())


def markers(
    destroyed: Mapping[str, str], accepts: Mapping[str, str], commands: ProjectCommands
) -> str:
    """A revision's `destroys_data` and `squawk_accepts`, as module-level source."""
    return (
        # Two comment lines: the command's name has any length, and a line of the revision
        # must stay within a project's line-length rule.
        f"# For the destructive-change guard (`{commands.guard}`):\n"
        "# the data this revision destroys, and why.\n"
        f"destroys_data = {marker_source(destroyed)}\n\n"
        f"# Rules of squawk (`{commands.lint}`) this revision accepts, and why.\n"
        f"squawk_accepts = {marker_source(accepts)}"
    )


@dataclass
class _Plan:
    upgrade_ops: UpgradeOps
    squawk_accepts: dict[str, str] = field(default_factory=dict)
    renames: list[MigrateOperation] = field(default_factory=list)
    """The renames tried on the database: tables, columns, then constraints and indexes."""


def _plan(context: MigrationContext, decisions: Decisions, first: UpgradeOps) -> _Plan:
    """The revision's upgrade: the renames, then what autogenerate finds after them."""
    trial = Trial(context)
    savepoint = trial.connection.begin_nested()
    try:
        diff = first
        tables = rename_tables(trial, decisions, diff)
        if trial.operations:
            diff = trial.diff()
        tried = len(trial.operations)
        columns = rename_columns(trial, decisions, diff, tables.renamed)
        if len(trial.operations) > tried:
            diff = trial.diff()
        if trial.apply(names.convention_renames(trial.inspector(), trial.metadata, tables.renamed)):
            diff = trial.diff()
        decide_drops(decisions, diff, trial.dialect, tables.unconfirmed, columns)
    finally:
        savepoint.rollback()
    accepts = {
        rule: ASSUMPTION
        for rule, kinds in RENAME_RULES.items()
        if any(isinstance(operation, kinds) for operation in trial.operations)
    }
    ops = [*trial.operations, *_tables_dropped_last(diff.ops)]
    return _Plan(UpgradeOps(ops=ops), accepts, trial.operations)


def _tables_dropped_last(ops: Sequence[MigrateOperation]) -> list[MigrateOperation]:
    """`ops` with the changes to the tables it keeps moved before the first table drop.

    Autogenerate writes the dropped tables before its changes to the tables it keeps, among
    them the drop of a foreign key that refers to one, which PostgreSQL needs gone first;
    reversed for the downgrade, a table came back after the key made again. What follows the
    changes keeps its place after the drops (an enum type dropped once no table uses it).
    """
    drops = [at for at, op in enumerate(ops) if isinstance(op, DropTableOp)]
    if not drops:
        return list(ops)
    first, last = drops[0], drops[-1]
    after = ops[last + 1 :]
    kept = [op for op in after if isinstance(op, ModifyTableOps)]
    rest = [op for op in after if not isinstance(op, ModifyTableOps)]
    return [*ops[:first], *kept, *ops[first : last + 1], *rest]
