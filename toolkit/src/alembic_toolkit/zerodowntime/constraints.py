"""Constraints added without a long lock: `ADD CONSTRAINT ... NOT VALID`, then `VALIDATE`.

`ALTER TABLE ... ADD CONSTRAINT` checks every existing row while holding a lock that blocks
writes (ACCESS EXCLUSIVE for a CHECK, SHARE ROW EXCLUSIVE on both tables for a foreign key).
Added `NOT VALID`, it only takes that lock for an instant (under `with_lock_retries`) and
checks new writes from then on; `VALIDATE CONSTRAINT` then checks the existing rows holding
only SHARE UPDATE EXCLUSIVE, which lets reads and writes go on. Each step commits on its own
(the validation in an autocommit block), and a re-run skips what is already done.
"""

from collections.abc import Sequence

from alembic import op
from alembic.operations.ops import AddConstraintOp, CreateCheckConstraintOp, CreateForeignKeyOp
from sqlalchemy import Connection, text
from sqlalchemy.exc import DBAPIError

from alembic_toolkit.zerodowntime.errors import ZeroDowntimeError
from alembic_toolkit.zerodowntime.locks import LockRetries, with_lock_retries
from alembic_toolkit.zerodowntime.sql import (
    catalog_state,
    first_line,
    qualified,
    quote,
    seconds_setting,
    session_settings,
)

_STATE = text(
    """
    SELECT constraint_.convalidated
    FROM pg_constraint AS constraint_
    WHERE constraint_.conrelid = to_regclass(:table) AND constraint_.conname = :name
    """
)


def constraint_state(connection: Connection, table: str, name: str, schema: str | None) -> str:
    """'validated', 'not valid' or 'missing': the state of constraint `name` on `table`."""
    parameters = {"table": qualified(connection.dialect, table, schema), "name": name}
    return catalog_state(connection, _STATE, parameters, ("validated", "not valid"))


def add_check_constraint(
    name: str,
    table: str,
    condition: str,
    *,
    schema: str | None = None,
    retries: LockRetries | None = None,
    statement_timeout: float = 0.0,
) -> None:
    """Add CHECK (`condition`) as NOT VALID under lock retries, then validate it."""
    check = CreateCheckConstraintOp(
        name, table, condition, schema=schema, postgresql_not_valid=True
    )
    _add_then_validate(check, retries, statement_timeout)


def add_foreign_key(
    name: str,
    table: str,
    referent_table: str,
    local_columns: Sequence[str],
    remote_columns: Sequence[str],
    *,
    schema: str | None = None,
    referent_schema: str | None = None,
    ondelete: str | None = None,
    retries: LockRetries | None = None,
    statement_timeout: float = 0.0,
) -> None:
    """Add a foreign key as NOT VALID under lock retries, then validate it."""
    foreign_key = CreateForeignKeyOp(
        name,
        table,
        referent_table,
        list(local_columns),
        list(remote_columns),
        source_schema=schema,
        referent_schema=referent_schema,
        ondelete=ondelete,
        postgresql_not_valid=True,
    )
    _add_then_validate(foreign_key, retries, statement_timeout)


def _add_then_validate(
    operation: AddConstraintOp, retries: LockRetries | None, statement_timeout: float
) -> None:
    """Run `operation` (a constraint added NOT VALID) unless it is done, then validate it."""
    constraint = operation.to_constraint()
    name, table, schema = str(constraint.name), constraint.table.name, constraint.table.schema
    context = op.get_context()
    state = "missing" if context.as_sql else constraint_state(op.get_bind(), table, name, schema)
    if state == "missing":
        with_lock_retries(lambda: op.invoke(operation), retries)
    if state == "validated":
        return
    # The block commits the NOT VALID constraint first: new writes are checked from then on.
    with context.autocommit_block():
        validate = (
            f"ALTER TABLE {qualified(context.dialect, table, schema)} "
            f"VALIDATE CONSTRAINT {quote(context.dialect, name)}"
        )
        if context.as_sql:
            op.execute(validate)
            return
        connection = op.get_bind()
        try:
            with session_settings(
                connection, {"statement_timeout": seconds_setting(statement_timeout)}
            ):
                op.execute(validate)
        except DBAPIError as error:
            raise ZeroDowntimeError(
                f"VALIDATE CONSTRAINT {name} on {table} failed ({first_line(error)}); it stays "
                "NOT VALID, still checking new writes: fix the existing rows and run the "
                "migration again"
            ) from error
