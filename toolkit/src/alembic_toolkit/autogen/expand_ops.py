"""The operations a zero-downtime column rename writes, and how each is rendered into a revision.

A rename in expand mode is two revisions (docs/zero-downtime-rename.md): the expand revision
adds the new column, keeps it equal to the old one with the two-way sync trigger, fills it in
with the batched backfill and builds its indexes and foreign keys without blocking writes;
the contract revision, once no replica of the previous release serves, drops the trigger and
the old column under one lock. Each operation is rendered as calls to
`alembic_toolkit.zerodowntime` and `op`, in the recipe's order, so the revision shows every
step it takes and the destructive-change guard reads the drop where it happens.

Every step, upgrade and downgrade alike, may run again after a kill: the steps before the
kill may have committed (a concurrent index build or a VALIDATE commits what came before it),
so each one finds its own work done and passes (`if_not_exists`, `if_exists`, the helpers'
own checks) rather than fail the run that would finish the job.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from alembic.autogenerate import render_python_code, renderers
from alembic.autogenerate.api import AutogenContext
from alembic.operations import MigrateOperation
from alembic.operations.ops import AddColumnOp, UpgradeOps
from alembic.runtime.migration import MigrationContext
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeEngine

from alembic_toolkit.zerodowntime.sql import generated_name, quote, quote_always
from alembic_toolkit.zerodowntime.sync import sync_names

ZERODOWNTIME_IMPORT = "from alembic_toolkit import zerodowntime as zd"
Line = str | None
"""A rendered line; None closes the block a line ending in ":" opened."""


@dataclass(frozen=True)
class IndexSpec:
    """A plain index over columns, by name."""

    name: str
    columns: tuple[str, ...]
    unique: bool
    built_as: str | None = None
    """The name the expand builds it under while an index of the old column holds `name`."""

    @property
    def expand_name(self) -> str:
        """Its name from the expand to the contract, which gives it `name`."""
        return self.built_as or self.name


@dataclass(frozen=True)
class ForeignKeySpec:
    """A foreign key from columns of the renamed column's table, with every option it has."""

    name: str
    columns: tuple[str, ...]
    referent_table: str
    referent_columns: tuple[str, ...]
    referent_schema: str | None = None
    ondelete: str | None = None
    onupdate: str | None = None
    deferrable: bool | None = None
    initially: str | None = None
    match: str | None = None
    built_as: str | None = None
    """The name the expand adds it under while a foreign key of the old column holds `name`."""

    @property
    def expand_name(self) -> str:
        """Its name from the expand to the contract, which gives it `name`."""
        return self.built_as or self.name

    def options(self) -> dict[str, str | bool]:
        """The keyword arguments of `zd.add_foreign_key` it sets, in its signature's order."""
        options = {
            "referent_schema": self.referent_schema,
            "ondelete": self.ondelete,
            "onupdate": self.onupdate,
            "deferrable": self.deferrable,
            "initially": self.initially,
            "match": self.match,
        }
        return {key: value for key, value in options.items() if value is not None}


@dataclass(frozen=True)
class ColumnSwitch:
    """One column renamed the zero-downtime way: what each side has, and what goes with it."""

    table: str
    old: str
    new: str
    old_type: TypeEngine[Any]
    new_type: TypeEngine[Any]
    old_nullable: bool
    new_nullable: bool
    new_indexes: tuple[IndexSpec, ...] = ()
    new_foreign_keys: tuple[ForeignKeySpec, ...] = ()
    old_indexes: tuple[IndexSpec, ...] = ()
    old_foreign_keys: tuple[ForeignKeySpec, ...] = ()

    def built_apart(self) -> list[IndexSpec | ForeignKeySpec]:
        """The new column's indexes and foreign keys the expand builds under a name of their own.

        Each takes its name from an index or foreign key of the old column, which holds it
        until the contract drops it with that column.
        """
        built: list[IndexSpec | ForeignKeySpec] = [*self.new_indexes, *self.new_foreign_keys]
        return [spec for spec in built if spec.built_as is not None]

    def not_null_check(self, column: str) -> str:
        """The CHECK (column IS NOT NULL) that proves a column full before it is declared so."""
        return generated_name("ck", self.table, column, "not_null")


class ExpandColumnOp(MigrateOperation):
    """Expand: the new column beside the old one, kept equal, filled in, indexed."""

    def __init__(self, switch: ColumnSwitch) -> None:
        self.switch = switch

    def reverse(self) -> UndoExpandColumnOp:
        """Take the new column, its trigger and its progress row away again."""
        return UndoExpandColumnOp(self.switch)


class UndoExpandColumnOp(MigrateOperation):
    """The expand's downgrade: the old column alone again, as before the expand."""

    def __init__(self, switch: ColumnSwitch) -> None:
        self.switch = switch

    def reverse(self) -> ExpandColumnOp:
        """The expand again."""
        return ExpandColumnOp(self.switch)


class ContractColumnsOp(MigrateOperation):
    """Contract: the sync triggers and the old columns go, under one lock."""

    def __init__(self, switches: Sequence[ColumnSwitch]) -> None:
        self.switches = tuple(switches)

    def reverse(self) -> UndoContractColumnsOp:
        """Back to the expand's state, as online as the way here."""
        return UndoContractColumnsOp(self.switches)


class UndoContractColumnsOp(MigrateOperation):
    """The contract's downgrade: the old columns back, kept equal and filled in from the new."""

    def __init__(self, switches: Sequence[ColumnSwitch]) -> None:
        self.switches = tuple(switches)

    def reverse(self) -> ContractColumnsOp:
        """The contract again."""
        return ContractColumnsOp(self.switches)


def _sql(dialect: Dialect, template: str, *names: str) -> str:
    return template.format(*(quote(dialect, name) for name in names))


def _condition(column: str) -> str:
    return f"{quote_always(column)} IS NOT NULL"


def _add_column(context: AutogenContext, table: str, name: str, type_: TypeEngine[Any]) -> str:
    # Nullable and without a default: the sync trigger takes a NULL, or a default, for a value
    # the previous release did not write. Run again after a kill, it finds the column there.
    column = sa.Column(name, type_, nullable=True)
    # Alembic's documented renderer for a list of operations renders in a context of its own:
    # on this revision's dialect (PostgreSQL writes its types' arguments, `JSONB(astext_type=
    # sa.Text())`), but not this revision's migration context, whose options it would expect
    # to name target_metadata. So the import a dialect's type needs goes in here, as a
    # renderer may add it.
    code = render_python_code(
        UpgradeOps([AddColumnOp(table, column, if_not_exists=True)]),
        migration_context=MigrationContext.configure(dialect=context.dialect),
    )
    dialect = re.match(r"sqlalchemy\.dialects\.(\w+)", type(type_).__module__)
    if dialect:
        context.imports.add(f"from sqlalchemy.dialects import {dialect.group(1)}")
    return " ".join(line.strip() for line in code.splitlines() if not line.strip().startswith("#"))


def _create_indexes(indexes: Sequence[IndexSpec], table: str) -> list[Line]:
    return [
        f"zd.create_index_concurrently(op.f({index.expand_name!r}), {table!r}, "
        f"{list(index.columns)!r}" + (", unique=True)" if index.unique else ")")
        for index in indexes
    ]


def _add_foreign_keys(keys: Sequence[ForeignKeySpec], table: str) -> list[Line]:
    return [
        f"zd.add_foreign_key(op.f({key.expand_name!r}), {table!r}, {key.referent_table!r}, "
        f"{list(key.columns)!r}, {list(key.referent_columns)!r}"
        + "".join(f", {option}={value!r}" for option, value in key.options().items())
        + ")"
        for key in keys
    ]


def _drop_foreign_keys(keys: Sequence[ForeignKeySpec], table: str) -> list[Line]:
    return [
        f"zd.with_lock_retries(lambda: op.drop_constraint(op.f({key.expand_name!r}), {table!r}, "
        'type_="foreignkey", if_exists=True))'
        for key in keys
    ]


def _sync_and_fill(s: ColumnSwitch, *, filled: str, source: str, nullable: bool) -> list[Line]:
    """The sync trigger, the backfill of `filled` from `source`, and its NOT NULL proved."""
    lines: list[Line] = [
        # The trigger before the backfill: from then on every write, through either
        # release, sets both columns; the backfill copies the rows written before.
        f"zd.create_sync_triggers({s.table!r}, {s.old!r}, {s.new!r})",
        f"zd.backfill({s.table!r}, {{{filled!r}: {quote_always(source)!r}}})",
    ]
    if not nullable:
        # Proves the column full without a long lock: SET NOT NULL then skips the scan.
        lines.append(
            f"zd.add_check_constraint(op.f({s.not_null_check(filled)!r}), {s.table!r}, "
            f"{_condition(filled)!r})"
        )
    return lines


@renderers.dispatch_for(ExpandColumnOp)
def _render_expand(context: AutogenContext, operation: ExpandColumnOp) -> list[Line]:
    context.imports.add(ZERODOWNTIME_IMPORT)
    s = operation.switch
    lines: list[Line] = [
        f"zd.with_lock_retries(lambda: {_add_column(context, s.table, s.new, s.new_type)})",
        *_sync_and_fill(s, filled=s.new, source=s.old, nullable=s.new_nullable),
    ]
    return (
        lines
        + _create_indexes(s.new_indexes, s.table)
        + _add_foreign_keys(s.new_foreign_keys, s.table)
    )


@renderers.dispatch_for(UndoExpandColumnOp)
def _render_undo_expand(context: AutogenContext, operation: UndoExpandColumnOp) -> list[Line]:
    context.imports.add(ZERODOWNTIME_IMPORT)
    s = operation.switch
    lines: list[Line] = [
        *_drop_foreign_keys(s.new_foreign_keys, s.table),
        *(
            f"zd.drop_index_concurrently(op.f({index.expand_name!r}), {s.table!r})"
            for index in s.new_indexes
        ),
    ]
    if not s.new_nullable:
        lines.append(
            f"zd.with_lock_retries(lambda: op.drop_constraint(op.f("
            f'{s.not_null_check(s.new)!r}), {s.table!r}, type_="check", if_exists=True))'
        )
    return [
        *lines,
        f"zd.drop_sync_triggers({s.table!r}, {s.old!r}, {s.new!r})",
        f"zd.forget_backfill({f'{s.table}.{s.new}'!r})",
        # The old column still holds every value: the new one was its copy.
        f"zd.with_lock_retries(lambda: op.drop_column({s.table!r}, {s.new!r}, if_exists=True))",
    ]


@renderers.dispatch_for(ContractColumnsOp)
def _render_contract(context: AutogenContext, operation: ContractColumnsOp) -> list[Line]:
    context.imports.add(ZERODOWNTIME_IMPORT)
    dialect = context.dialect
    assert dialect is not None  # noqa: S101 - autogenerate always has its dialect
    lines: list[Line] = [
        "def drop_old_columns() -> None:",
        "# One lock, one transaction: no write may land once the trigger is gone while the",
        "# old column is still there, perhaps NOT NULL with nothing to fill it.",
    ]
    for s in operation.switches:
        names = sync_names(s.table, s.old, s.new)
        trigger = _sql(dialect, "DROP TRIGGER IF EXISTS {} ON {}", names.trigger, s.table)
        function = _sql(dialect, "DROP FUNCTION IF EXISTS {}()", names.function)
        lines += [f"op.execute({trigger!r})", f"op.execute({function!r})"]
        if not s.new_nullable:
            # The valid CHECK constraint proves there is no NULL: SET NOT NULL skips the scan.
            lines += [
                f"op.alter_column({s.table!r}, {s.new!r}, nullable=False)",
                f"op.drop_constraint(op.f({s.not_null_check(s.new)!r}), {s.table!r}, "
                'type_="check", if_exists=True)',
            ]
        lines.append(f"op.drop_column({s.table!r}, {s.old!r}, if_exists=True)")
    renames = _renames(operation.switches, to_model=True)
    if renames:
        lines += [
            "# The names the old columns' indexes and foreign keys held, free now that they",
            "# went with them, pass to the new columns' (instant: no scan, no rebuild).",
            *renames,
        ]
    return [*lines, None, "zd.with_lock_retries(drop_old_columns)"]


def _renames(switches: Sequence[ColumnSwitch], *, to_model: bool) -> list[Line]:
    """The new columns' objects built apart, renamed to the model's names or back from them."""
    lines: list[Line] = []
    for s in switches:
        for spec in s.built_apart():
            assert spec.built_as is not None  # noqa: S101 - built_apart() keeps only those
            before, after = (spec.built_as, spec.name) if to_model else (spec.name, spec.built_as)
            if isinstance(spec, IndexSpec):
                lines.append(f"zd.rename_index({before!r}, {after!r}, {s.table!r})")
            else:
                lines.append(f"zd.rename_constraint({s.table!r}, {before!r}, {after!r})")
    return lines


@renderers.dispatch_for(UndoContractColumnsOp)
def _render_undo_contract(context: AutogenContext, operation: UndoContractColumnsOp) -> list[Line]:
    context.imports.add(ZERODOWNTIME_IMPORT)
    switches = operation.switches
    restore: list[Line] = ["def restore_old_columns() -> None:"]
    renames = _renames(switches, to_model=False)
    if renames:
        restore += [
            "# The new columns' indexes and foreign keys back to the names the expand built",
            "# them under: the old columns' take the model's names again below. A run again",
            "# after a kill finds them renamed.",
            *renames,
        ]
    not_null: list[Line] = ["def old_columns_not_null() -> None:"]
    steps: list[Line] = []
    for s in switches:
        restore.append(_add_column(context, s.table, s.old, s.old_type))
        if not s.new_nullable:
            restore.append(f"op.alter_column({s.table!r}, {s.new!r}, nullable=True)")
            condition = _condition(s.new)
            # Keeps proving the new column full, as the expand left it.
            steps.append(
                f"zd.add_check_constraint(op.f({s.not_null_check(s.new)!r}), {s.table!r}, "
                f"{condition!r})"
            )
        if not s.old_nullable:
            not_null += [
                f"op.alter_column({s.table!r}, {s.old!r}, nullable=False)",
                f"op.drop_constraint(op.f({s.not_null_check(s.old)!r}), {s.table!r}, "
                'type_="check", if_exists=True)',
            ]
    steps.append("zd.with_lock_retries(restore_old_columns)")
    for s in switches:
        steps += _sync_and_fill(s, filled=s.old, source=s.new, nullable=s.old_nullable)
    if len(not_null) > 1:
        steps.append("zd.with_lock_retries(old_columns_not_null)")
    for s in switches:
        steps += [
            f"zd.forget_backfill({f'{s.table}.{s.old}'!r})",
            *_create_indexes(s.old_indexes, s.table),
            *_add_foreign_keys(s.old_foreign_keys, s.table),
        ]
    functions = [*restore, None] + ([*not_null, None] if len(not_null) > 1 else [])
    return [*functions, *steps]
