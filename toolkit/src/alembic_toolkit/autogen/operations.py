"""Alembic operations for renames that keep data, registered as an Alembic operation plugin.

Alembic has `op.rename_table` and `op.alter_column(..., new_column_name=...)`, but neither
reverses itself for autogenerate's downgrade, and it has no operation to rename an index or a
constraint. The classes here fill those gaps; importing this module (env.py does) registers
`op.rename_index` and `op.rename_constraint` for revision scripts to call.
"""

from __future__ import annotations

from typing import Any

from alembic.autogenerate import renderers
from alembic.autogenerate.api import AutogenContext
from alembic.operations import MigrateOperation, Operations
from alembic.operations.ops import AlterColumnOp, RenameTableOp
from sqlalchemy.sql.elements import quoted_name
from sqlalchemy.types import TypeEngine


def _quote(operations: Operations, name: str) -> str:
    return operations.impl.dialect.identifier_preparer.quote(quoted_name(name, None))


class RenameColumnOp(AlterColumnOp):
    """`alter_column(..., new_column_name=...)`, which autogenerate can reverse."""

    def __init__(
        self,
        table_name: str,
        column_name: str,
        new_column_name: str,
        *,
        existing_type: TypeEngine[Any] | None = None,
        existing_nullable: bool | None = None,
        schema: str | None = None,
    ) -> None:
        super().__init__(
            table_name,
            column_name,
            schema=schema,
            modify_name=new_column_name,
            existing_type=existing_type,
            existing_nullable=existing_nullable,
        )
        self.new_column_name = new_column_name

    def reverse(self) -> RenameColumnOp:
        """Rename the column back."""
        return RenameColumnOp(
            self.table_name,
            self.new_column_name,
            self.column_name,
            existing_type=self.existing_type,
            existing_nullable=self.existing_nullable,
            schema=self.schema,
        )


class ReversibleRenameTableOp(RenameTableOp):
    """`rename_table`, which autogenerate can reverse."""

    def reverse(self) -> ReversibleRenameTableOp:
        """Rename the table back."""
        return ReversibleRenameTableOp(self.new_table_name, self.table_name, schema=self.schema)


@Operations.register_operation("rename_index")
class RenameIndexOp(MigrateOperation):
    """Rename an index (ALTER INDEX ... RENAME TO ...)."""

    def __init__(self, old_name: str, new_name: str, schema: str | None = None) -> None:
        self.old_name = old_name
        self.new_name = new_name
        self.schema = schema

    @classmethod
    def rename_index(
        cls, operations: Operations, old_name: str, new_name: str, schema: str | None = None
    ) -> Any:
        """Rename index `old_name` to `new_name`."""
        return operations.invoke(cls(old_name, new_name, schema))

    def reverse(self) -> RenameIndexOp:
        """Rename the index back."""
        return RenameIndexOp(self.new_name, self.old_name, self.schema)


@Operations.register_operation("rename_constraint")
class RenameConstraintOp(MigrateOperation):
    """Rename a table's constraint (ALTER TABLE ... RENAME CONSTRAINT ... TO ...)."""

    def __init__(
        self, table_name: str, old_name: str, new_name: str, schema: str | None = None
    ) -> None:
        self.table_name = table_name
        self.old_name = old_name
        self.new_name = new_name
        self.schema = schema

    @classmethod
    def rename_constraint(
        cls,
        operations: Operations,
        table_name: str,
        old_name: str,
        new_name: str,
        schema: str | None = None,
    ) -> Any:
        """Rename constraint `old_name` of `table_name` to `new_name`."""
        return operations.invoke(cls(table_name, old_name, new_name, schema))

    def reverse(self) -> RenameConstraintOp:
        """Rename the constraint back."""
        return RenameConstraintOp(self.table_name, self.new_name, self.old_name, self.schema)


def _qualified(operations: Operations, name: str, schema: str | None) -> str:
    quoted = _quote(operations, name)
    return f"{_quote(operations, schema)}.{quoted}" if schema else quoted


@Operations.implementation_for(RenameIndexOp)
def _rename_index(operations: Operations, operation: RenameIndexOp) -> None:
    operations.execute(
        f"ALTER INDEX {_qualified(operations, operation.old_name, operation.schema)}"
        f" RENAME TO {_quote(operations, operation.new_name)}"
    )


@Operations.implementation_for(RenameConstraintOp)
def _rename_constraint(operations: Operations, operation: RenameConstraintOp) -> None:
    operations.execute(
        f"ALTER TABLE {_qualified(operations, operation.table_name, operation.schema)}"
        f" RENAME CONSTRAINT {_quote(operations, operation.old_name)}"
        f" TO {_quote(operations, operation.new_name)}"
    )


def _schema_arg(schema: str | None) -> str:
    return f", schema={schema!r}" if schema else ""


@renderers.dispatch_for(RenameIndexOp)
def _render_rename_index(context: AutogenContext, operation: RenameIndexOp) -> str:
    return (
        f"op.rename_index({operation.old_name!r}, {operation.new_name!r}"
        f"{_schema_arg(operation.schema)})"
    )


@renderers.dispatch_for(RenameConstraintOp)
def _render_rename_constraint(context: AutogenContext, operation: RenameConstraintOp) -> str:
    return (
        f"op.rename_constraint({operation.table_name!r}, {operation.old_name!r}, "
        f"{operation.new_name!r}{_schema_arg(operation.schema)})"
    )


@renderers.dispatch_for(ReversibleRenameTableOp)
def _render_rename_table(context: AutogenContext, operation: ReversibleRenameTableOp) -> str:
    return (
        f"op.rename_table({operation.table_name!r}, {operation.new_table_name!r}"
        f"{_schema_arg(operation.schema)})"
    )
