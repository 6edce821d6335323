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
"""

from __future__ import annotations

import json
import logging
import textwrap
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from alembic.autogenerate import produce_migrations
from alembic.migration import MigrationContext
from alembic.operations import MigrateOperation, Operations
from alembic.operations.ops import (
    AddColumnOp,
    CreateTableOp,
    DropColumnOp,
    DropTableOp,
    MigrationScript,
    ModifyTableOps,
    UpgradeOps,
)
from alembic.runtime.environment import ProcessRevisionDirectiveFn
from alembic.util import CommandError
from sqlalchemy import Connection, MetaData, inspect
from sqlalchemy.engine import Inspector
from sqlalchemy.exc import DBAPIError

from alembic_stuff.autogen import names
from alembic_stuff.autogen.decisions import (
    Ask,
    Candidate,
    Decisions,
    column_score,
    compatible,
    table_score,
    type_name,
)
from alembic_stuff.autogen.hints import HintError, Hints
from alembic_stuff.autogen.operations import (
    RenameColumnOp,
    RenameConstraintOp,
    RenameIndexOp,
    ReversibleRenameTableOp,
)
from alembic_stuff.autogen.steps import RenameCollisionError, rename_steps

logger = logging.getLogger(__name__)

# Squawk's rules a generated rename breaks, and the reason the revision gives for accepting
# each; the zero-downtime way of renaming is the other choice.
ASSUMPTION = (
    "generated rename: assumes the app and this schema are released together; replicas still "
    "running the previous release break (README: Renames, for the zero-downtime way)"
)
RENAME_RULES: dict[str, tuple[type[MigrateOperation], ...]] = {
    "renaming-column": (RenameColumnOp,),
    "renaming-table": (ReversibleRenameTableOp,),
    "renaming-object": (RenameConstraintOp, RenameIndexOp),
}


def rename_aware(hints: Hints, ask: Ask | None) -> ProcessRevisionDirectiveFn:
    """Return a `process_revision_directives` hook that decides every drop before writing."""

    def process_revision_directives(
        context: MigrationContext, revision: Any, directives: list[MigrationScript]
    ) -> None:
        if len(directives) != 1 or len(directives[0].upgrade_ops_list) != 1:
            raise CommandError("rename-aware autogenerate supports one database and one script")
        script = directives[0]
        assert script.upgrade_ops is not None  # noqa: S101 - autogenerate always sets them
        plan = _Planner(context, Decisions(hints, ask)).plan(script.upgrade_ops)
        if plan.upgrade_ops.is_empty():
            directives.clear()
            logger.warning(
                "no changes detected between the models and the database: no revision written"
            )
            return
        script.upgrade_ops = plan.upgrade_ops
        script.downgrade_ops = plan.upgrade_ops.reverse()
        template_args = context.opts.get("template_args")
        if plan.squawk_accepts and isinstance(template_args, dict):
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


@dataclass
class _Plan:
    upgrade_ops: UpgradeOps
    squawk_accepts: dict[str, str] = field(default_factory=dict)


class _Planner:
    """Decides the renames, tries them on the database, and diffs what remains."""

    def __init__(self, context: MigrationContext, decisions: Decisions) -> None:
        if context.bind is None:
            raise CommandError("rename-aware autogenerate needs a database connection")
        self.context = context
        self.connection: Connection = context.bind
        self.dialect = context.dialect
        self.metadata = _target_metadata(context)
        self.decisions = decisions
        self.renamed_tables: dict[str, str] = {}
        self.operations: list[MigrateOperation] = []
        # Likely renames nobody confirmed: named in the message when the drop stays undecided.
        self.table_candidates: list[Candidate] = []
        self.column_candidates: dict[str, list[Candidate]] = {}
        self._trial_context: MigrationContext | None = None

    def plan(self, first: UpgradeOps) -> _Plan:
        """The revision's upgrade: the renames, then what autogenerate finds after them."""
        trial = self.connection.begin_nested()
        try:
            diff = first
            if self._rename_tables(diff):
                diff = self._diff()
            if self._rename_columns(diff):
                diff = self._diff()
            if self._apply(
                names.convention_renames(self._inspector(), self.metadata, self.renamed_tables)
            ):
                diff = self._diff()
            self._decide_drops(diff)
        finally:
            trial.rollback()
        accepts = {
            rule: ASSUMPTION
            for rule, kinds in RENAME_RULES.items()
            if any(isinstance(operation, kinds) for operation in self.operations)
        }
        return _Plan(UpgradeOps(ops=[*self.operations, *diff.ops]), accepts)

    # Trying things on the database -------------------------------------------------------

    def _inspector(self) -> Inspector:
        return inspect(self.connection)  # a new inspector: nothing cached from before a rename

    def _trial(self) -> MigrationContext:
        """A migration context on the connection, configured as the revision's own."""
        if self._trial_context is None:
            opts = {
                key: value
                for key, value in self.context.opts.items()
                if key not in {"fn", "process_revision_directives", "template_args"}
            }
            self._trial_context = MigrationContext.configure(connection=self.connection, opts=opts)
        return self._trial_context

    def _diff(self) -> UpgradeOps:
        upgrade_ops = produce_migrations(self._trial(), self.metadata).upgrade_ops
        assert upgrade_ops is not None  # noqa: S101 - produce_migrations always sets them
        return upgrade_ops

    def _apply(self, operations: Sequence[MigrateOperation]) -> bool:
        if not operations:
            return False
        runner = Operations(self._trial())
        for operation in operations:
            try:
                runner.invoke(operation)
            except DBAPIError as exc:
                message = str(exc.orig).strip().splitlines()[0]
                raise CommandError(
                    f"no revision written: trying the renames failed: {message}"
                ) from None
        self.operations += operations
        return True

    # Tables --------------------------------------------------------------------------------

    def _rename_tables(self, diff: UpgradeOps) -> bool:
        hints, database = self.decisions.hints, set(self._inspector().get_table_names())
        renames: dict[str, str] = {}
        for old, new in hints.tables.items():
            problem = _table_hint_problem(old, new, database, set(self.metadata.tables), hints)
            if problem:
                raise HintError(f"{hints.describe_table(old)}: {problem}")
            renames[old] = new
        drops, creates = _table_changes(diff)
        candidates = self._table_candidates(drops, creates, renames)
        renames |= self.decisions.confirm_renames(candidates)
        self.table_candidates = [c for c in candidates if c.old not in renames]
        try:
            steps = rename_steps(renames, database)
        except RenameCollisionError as exc:
            raise HintError(
                f"-x rename={exc.old}:{exc.new}: table {exc.new} exists and is not renamed away; "
                "rename or drop it in a revision of its own first"
            ) from None
        self.renamed_tables = renames
        return self._apply([ReversibleRenameTableOp(old, new) for old, new in steps])

    def _table_candidates(
        self,
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

    # Columns -------------------------------------------------------------------------------

    def _rename_columns(self, diff: UpgradeOps) -> bool:
        inspector, hints = self._inspector(), self.decisions.hints
        renames: dict[str, dict[str, str]] = {}
        for key, new in hints.columns.items():
            table = self.renamed_tables.get(key[0], key[0])
            problem = self._column_hint_problem(inspector, table, key[1], new)
            if problem:
                raise HintError(f"{hints.describe_column(key)}: {problem}")
            renames.setdefault(table, {})[key[1]] = new
        for table_ops in _table_ops(diff):
            table = table_ops.table_name
            decided = renames.setdefault(table, {})
            drops = {
                op.column_name: op.to_column()
                for op in table_ops.ops
                if isinstance(op, DropColumnOp)
            }
            adds = {
                op.column.name: op.column for op in table_ops.ops if isinstance(op, AddColumnOp)
            }
            candidates = [
                Candidate(
                    old,
                    new,
                    column_score(drops[old], adds[new], self.dialect),
                    table,
                    type_name(adds[new].type, self.dialect),
                )
                for old in drops
                for new in adds
                if old not in decided
                and new not in decided.values()
                and compatible(drops[old].type, adds[new].type)
            ]
            decided |= self.decisions.confirm_renames(candidates)
            self.column_candidates[table] = [c for c in candidates if c.old not in decided]
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
        return self._apply(operations)

    def _column_hint_problem(
        self, inspector: Inspector, table: str, old: str, new: str
    ) -> str | None:
        model = self.metadata.tables.get(table)
        if model is None:
            return f"the models have no table {table}"
        if not inspector.has_table(table):
            return f"the database has no table {table}"
        database = {c["name"] for c in inspector.get_columns(table)}
        renamed_away = set(self.decisions.hints.columns.values())
        if old not in database:
            return f"the database's table {table} has no column {old}"
        if new not in model.columns:
            return f"the models' table {table} has no column {new}"
        if old in model.columns and old not in renamed_away:
            return f"{table}.{old} is still in the models: there is nothing to rename"
        return None

    # Drops ----------------------------------------------------------------------------------

    def _decide_drops(self, diff: UpgradeOps) -> None:
        decisions = self.decisions
        dropped: set[str] = set()
        for op in diff.ops:
            if isinstance(op, DropTableOp):
                name = _qualified(op.schema, op.table_name)
                dropped.add(name)
                decisions.decide_drop(name, f"table {name}", self.table_candidates)
        for table_ops in _table_ops(diff, every_schema=True):
            table = _qualified(table_ops.schema, table_ops.table_name)
            for op in table_ops.ops:
                if isinstance(op, DropColumnOp):
                    name = f"{table}.{op.column_name}"
                    dropped.add(name)
                    decisions.decide_drop(
                        name,
                        f"{name} ({type_name(op.to_column().type, self.dialect)})",
                        self.column_candidates.get(table, []),
                    )
        for name in sorted(decisions.hints.allow_drop - dropped):
            decisions.problems.append(f"-x allow_drop={name}: nothing of that name is dropped")
        decisions.refuse_if_undecided()


def _table_hint_problem(
    old: str, new: str, database: set[str], models: set[str], hints: Hints
) -> str | None:
    if old not in database:
        return f"the database has no table {old}"
    if new not in models:
        return f"the models have no table {new}"
    if old in models and old not in hints.tables.values():
        return f"table {old} is still in the models: there is nothing to rename"
    return None


def _table_changes(diff: UpgradeOps) -> tuple[dict[str, DropTableOp], dict[str, CreateTableOp]]:
    """Dropped and created tables of the default schema: the ones renames are looked for in."""
    drops = {o.table_name: o for o in diff.ops if isinstance(o, DropTableOp) and not o.schema}
    creates = {o.table_name: o for o in diff.ops if isinstance(o, CreateTableOp) and not o.schema}
    return drops, creates


def _table_ops(diff: UpgradeOps, *, every_schema: bool = False) -> Iterable[ModifyTableOps]:
    """The changes to existing tables of the default schema (or of every schema)."""
    return [
        op
        for op in diff.ops
        if isinstance(op, ModifyTableOps) and (every_schema or op.schema is None)
    ]


def _qualified(schema: str | None, table: str) -> str:
    return f"{schema}.{table}" if schema else table


def _target_metadata(context: MigrationContext) -> MetaData:
    target = context.opts["target_metadata"]
    if isinstance(target, MetaData):
        return target
    merged = MetaData()
    for metadata in target:
        for table in metadata.tables.values():
            table.to_metadata(merged)
    return merged
