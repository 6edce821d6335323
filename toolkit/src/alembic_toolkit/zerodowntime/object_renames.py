"""Index and constraint renames that a revision run again finds done and skips.

A revision whose steps commit one by one (a backfill, a concurrent index) is run again from
its top after a kill, so a rename before such a step must let a second run through: it is
done when the new name is there, on the same table (the old name may have been given to
something new since, as when a rename frees a name for an index built after it). When
neither name is there, or the new one is another table's, something else changed the
schema, and the migration stops naming them. `ALTER INDEX ... RENAME` and `ALTER TABLE ...
RENAME CONSTRAINT` change only the catalog: no scan, no rebuild.
"""

from alembic import op
from sqlalchemy import Connection, text

from alembic_toolkit.zerodowntime.errors import ZeroDowntimeError
from alembic_toolkit.zerodowntime.sql import qualified, quote

# The table an index is on (NULL: no such index), or whether a table has a constraint.
_INDEX_TABLE = text(
    "SELECT indrelid = to_regclass(:table) FROM pg_index WHERE indexrelid = to_regclass(:name)"
)
_CONSTRAINT = text(
    "SELECT count(*) > 0 FROM pg_constraint"
    " WHERE conrelid = to_regclass(:table) AND conname = :name"
)


def rename_index(name: str, new_name: str, table: str, *, schema: str | None = None) -> None:
    """Rename index `name` of `table` to `new_name`; a no-op when `table` has `new_name` already.

    The index keeps its schema. Neither name there, or `new_name` another table's index,
    fails the migration with ZeroDowntimeError.
    """
    context = op.get_context()
    dialect = context.dialect
    if not context.as_sql:
        connection: Connection = op.get_bind()
        target = qualified(dialect, table, schema)
        renamed = connection.execute(
            _INDEX_TABLE, {"table": target, "name": qualified(dialect, new_name, schema)}
        ).scalar()
        if renamed:
            return
        there = connection.execute(
            _INDEX_TABLE, {"table": target, "name": qualified(dialect, name, schema)}
        ).scalar()
        if renamed is not None or not there:
            raise ZeroDowntimeError(
                f"cannot rename index {name} of {table} to {new_name}: "
                + (
                    "that is another table's index"
                    if renamed is not None
                    else f"{table} has no index {name}"
                )
                + "; find what changed the schema since the revision was written, and run the "
                "migration again once it is as the revision expects"
            )
    op.execute(
        f"ALTER INDEX {qualified(dialect, name, schema)} RENAME TO {quote(dialect, new_name)}"
    )


def rename_constraint(table: str, name: str, new_name: str, *, schema: str | None = None) -> None:
    """Rename constraint `name` of `table` to `new_name`; a no-op when `table` has `new_name`.

    Neither name there fails the migration with ZeroDowntimeError.
    """
    context = op.get_context()
    dialect = context.dialect
    target = qualified(dialect, table, schema)
    if not context.as_sql:
        connection: Connection = op.get_bind()

        def present(constraint: str) -> bool:
            parameters = {"table": target, "name": constraint}
            return bool(connection.execute(_CONSTRAINT, parameters).scalar_one())

        if present(new_name):
            return
        if not present(name):
            raise ZeroDowntimeError(
                f"cannot rename constraint {name} of {table} to {new_name}: {table} has "
                "neither; find what changed the schema since the revision was written, and run "
                "the migration again once it is as the revision expects"
            )
    op.execute(
        f"ALTER TABLE {target} RENAME CONSTRAINT {quote(dialect, name)} "
        f"TO {quote(dialect, new_name)}"
    )
