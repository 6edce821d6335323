"""What a column rename written as an expand and contract pair cannot carry over, refused.

Each in one line naming the way out: a column in the primary key (the backfill walks it), or
that another table's foreign key points at, or that a check or unique constraint covers; a
column with a server default, or of a type without an equality operator (json), which the
sync trigger needs; a swap of names; a change of the column's type, or to NOT NULL, with the
rename.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Column, literal, select, text
from sqlalchemy import column as sql_column
from sqlalchemy import table as sql_table
from sqlalchemy.engine import Inspector
from sqlalchemy.exc import DBAPIError
from sqlalchemy.sql.expression import ColumnClause
from sqlalchemy.types import TypeEngine

from alembic_toolkit.autogen.hints import HintError
from alembic_toolkit.autogen.operations import RenameColumnOp
from alembic_toolkit.autogen.trial import Trial

HINT = "-x rename_mode=expand"

_CHECKS = text(
    """
    SELECT constraint_.conname
    FROM pg_constraint AS constraint_
    JOIN pg_attribute AS attribute
      ON attribute.attrelid = constraint_.conrelid AND attribute.attnum = ANY(constraint_.conkey)
    WHERE constraint_.conrelid = to_regclass(:table) AND constraint_.contype = 'c'
      AND attribute.attname = :column
    """
)


def model_column(trial: Trial, op: RenameColumnOp) -> Column[Any]:
    """The renamed column as the model has it."""
    return trial.metadata.tables[op.table_name].columns[op.new_column_name]


def refuse_what_cannot_expand(trial: Trial, inspector: Inspector, op: RenameColumnOp) -> None:
    """Refuse, in one line, a column rename the expand and contract pair cannot carry over."""
    table, old, new = op.table_name, op.column_name, op.new_column_name
    where = f"{HINT} (rename={table}.{old}:{new})"
    if new in {c["name"] for c in inspector.get_columns(table)}:
        raise HintError(f"{where}: {table} already has a column {new}; swap names in place")
    if old in inspector.get_pk_constraint(table)["constrained_columns"]:
        raise HintError(
            f"{where}: {table}.{old} is in the primary key, which the backfill walks; "
            "rename it in place"
        )
    for other in inspector.get_table_names():
        for key in inspector.get_foreign_keys(other):
            if key["referred_table"] == table and old in key["referred_columns"]:
                raise HintError(
                    f"{where}: the foreign key {key['name']} of {other} points at it; rename it "
                    "in place"
                )
    for unique in inspector.get_unique_constraints(table):
        if old in unique["column_names"]:
            raise HintError(
                f"{where}: the unique constraint {unique['name']} covers it; rename it in place"
            )
    parameters = {"table": trial.dialect.identifier_preparer.quote(table), "column": old}
    for name in trial.connection.execute(_CHECKS, parameters).scalars():
        raise HintError(f"{where}: the check constraint {name} covers it; rename it in place")
    if not _comparable(trial, table, old):
        raise HintError(
            f"{where}: its type has no equality operator (json, xml, point...), which the sync "
            "trigger needs; rename it in place"
        )
    reflected = next(c for c in inspector.get_columns(table) if c["name"] == old)
    model = model_column(trial, op)
    if _sql_type(trial, reflected["type"]) != _sql_type(trial, model.type):
        raise HintError(
            f"{where}: the type changes too ({_sql_type(trial, reflected['type'])} to "
            f"{_sql_type(trial, model.type)}); change it in a revision of its own"
        )
    if reflected["nullable"] and not model.nullable:
        raise HintError(
            f"{where}: it becomes NOT NULL too, which would fail the previous release's "
            "writes of NULL; make it NOT NULL in a revision of its own"
        )
    if reflected.get("default") is not None or model.server_default is not None:
        # The new column must have no default while the trigger runs (a default would read
        # as a value the next release wrote), and the pair does not carry one over yet.
        raise HintError(
            f"{where}: it has a server default, which the expand and contract pair does not "
            "carry over; rename it in place"
        )


def _comparable(trial: Trial, table: str, column: str) -> bool:
    """Whether PostgreSQL can compare the column with itself, as the trigger and backfill do."""
    value: ColumnClause[Any] = sql_column(column)
    probe = select(literal(1)).select_from(sql_table(table, value))
    probe = probe.where(value.is_distinct_from(value)).limit(0)
    try:
        with trial.connection.begin_nested():
            trial.connection.execute(probe)
    except DBAPIError:  # undefined_function: json, xml and point have no equality operator
        return False
    return True


def _sql_type(trial: Trial, type_: TypeEngine[Any]) -> str:
    return str(type_.compile(dialect=trial.dialect))
