"""Renames tried on the database itself, in a savepoint, and autogenerate's diff after them.

Every rename the planner decides on is run here, on the revision's own connection and
migration options, so that the next comparison sees the schema as it will be after the
renames. The caller opens the savepoint and always rolls it back: nothing is kept.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from alembic.autogenerate import produce_migrations
from alembic.operations import MigrateOperation, Operations
from alembic.operations.ops import CreateTableOp, DropTableOp, ModifyTableOps, UpgradeOps
from alembic.runtime.migration import MigrationContext
from alembic.util import CommandError
from sqlalchemy import Connection, MetaData, inspect
from sqlalchemy.engine import Inspector
from sqlalchemy.exc import DBAPIError

from alembic_toolkit.sqlstate import LOCK_NOT_AVAILABLE, QUERY_CANCELED, sqlstate

# What a lock wait in a command that writes no revision was: autogenerate trying the renames.
RENAME_TRIAL = (
    "autogenerate's rename trial (ALTER ... RENAME, run on this database in a savepoint that "
    "is always rolled back, takes an ACCESS EXCLUSIVE lock on each table it renames)"
)
TRIAL_OUTCOME = (
    "nothing was written: run it again once that session ends, or autogenerate against a "
    "database nobody else uses"
)


class Trial:
    """The revision's connection and options, the operations tried so far, and the diff."""

    def __init__(self, context: MigrationContext) -> None:
        if context.bind is None:
            raise CommandError("rename-aware autogenerate needs a database connection")
        self.connection: Connection = context.bind
        self.dialect = context.dialect
        self.metadata = target_metadata(context)
        self.operations: list[MigrateOperation] = []
        # The revision's own options, without what would write a revision from a trial diff.
        opts = {
            key: value
            for key, value in context.opts.items()
            if key not in {"fn", "process_revision_directives", "template_args"}
        }
        self._context = MigrationContext.configure(connection=self.connection, opts=opts)

    def inspector(self) -> Inspector:
        """A new inspector: nothing cached from before a rename."""
        return inspect(self.connection)

    def diff(self) -> UpgradeOps:
        """What autogenerate finds between the models and the database as it is now."""
        upgrade_ops = produce_migrations(self._context, self.metadata).upgrade_ops
        assert upgrade_ops is not None  # noqa: S101 - produce_migrations always sets them
        return upgrade_ops

    def apply(self, operations: Sequence[MigrateOperation]) -> bool:
        """Run `operations` on the database and keep them for the revision; False if none."""
        if not operations:
            return False
        runner = Operations(self._context)
        for operation in operations:
            try:
                runner.invoke(operation)
            except DBAPIError as exc:
                if sqlstate(exc) in {LOCK_NOT_AVAILABLE, QUERY_CANCELED}:
                    # The migration's own timeouts: guarded_migration says which, and names
                    # the session holding the lock the rename waited for.
                    raise
                message = str(exc.orig).strip().splitlines()[0]
                raise CommandError(
                    f"no revision written: trying the renames failed: {message}"
                ) from None
        self.operations += operations
        return True


def target_metadata(context: MigrationContext) -> MetaData:
    """The models autogenerate compares against, as one MetaData."""
    target = context.opts["target_metadata"]
    if isinstance(target, MetaData):
        return target
    merged = MetaData()
    for metadata in target:
        for table in metadata.tables.values():
            table.to_metadata(merged)
    return merged


def table_changes(diff: UpgradeOps) -> tuple[dict[str, DropTableOp], dict[str, CreateTableOp]]:
    """Dropped and created tables of the default schema: the ones renames are looked for in."""
    drops = {o.table_name: o for o in diff.ops if isinstance(o, DropTableOp) and not o.schema}
    creates = {o.table_name: o for o in diff.ops if isinstance(o, CreateTableOp) and not o.schema}
    return drops, creates


def table_ops(diff: UpgradeOps, *, every_schema: bool = False) -> Iterable[ModifyTableOps]:
    """The changes to existing tables of the default schema (or of every schema)."""
    return [
        op
        for op in diff.ops
        if isinstance(op, ModifyTableOps) and (every_schema or op.schema is None)
    ]


def qualified(schema: str | None, table: str) -> str:
    """`schema.table`, or `table` in the default schema."""
    return f"{schema}.{table}" if schema else table
