"""`CREATE INDEX CONCURRENTLY`, idempotent, cleaning up the INVALID index of a failed attempt.

A plain `CREATE INDEX` blocks every write to the table while it builds. `CONCURRENTLY` does
not, but it cannot run in a transaction, and when it fails (a duplicate for a unique index, a
timeout, a cancel) it leaves an INVALID index behind that `IF NOT EXISTS` would then happily
accept. So the helper runs in an autocommit block, skips an index that exists and is valid,
and drops an invalid one (concurrently) before building it again.
"""

from collections.abc import Sequence

from alembic import op
from sqlalchemy import Connection, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.sql.elements import TextClause

from alembic_toolkit.zerodowntime.errors import ZeroDowntimeError
from alembic_toolkit.zerodowntime.sql import (
    catalog_state,
    first_line,
    qualified,
    seconds_setting,
    session_settings,
)

_VALIDITY = text(
    """
    SELECT built.indisvalid
    FROM pg_index AS built
    WHERE built.indexrelid = to_regclass(:index)
    """
)


def index_state(connection: Connection, name: str, schema: str | None = None) -> str:
    """'valid', 'invalid' or 'missing': the state of index `name`."""
    index = qualified(connection.dialect, name, schema)
    return catalog_state(connection, _VALIDITY, {"index": index}, ("valid", "invalid"))


def create_index_concurrently(
    name: str,
    table: str,
    columns: Sequence[str | TextClause],
    *,
    schema: str | None = None,
    unique: bool = False,
    where: str | None = None,
    statement_timeout: float = 0.0,
) -> None:
    """Build index `name` on `table` without blocking writes; a no-op when it exists and is valid.

    The build gets its own `statement_timeout` (0, the default, means none: the build takes
    as long as the table needs, and holds no lock that blocks reads or writes meanwhile).
    """
    context = op.get_context()
    with context.autocommit_block():
        if context.as_sql:
            _create(name, table, columns, schema, unique, where)
            return
        connection = op.get_bind()
        state = index_state(connection, name, schema)
        if state == "valid":
            return
        if state == "invalid":
            op.drop_index(
                name, table_name=table, schema=schema, postgresql_concurrently=True, if_exists=True
            )
        try:
            with session_settings(
                connection, {"statement_timeout": seconds_setting(statement_timeout)}
            ):
                _create(name, table, columns, schema, unique, where)
        except DBAPIError as error:
            left = (
                "PostgreSQL left it INVALID, and the next run drops it first"
                if index_state(connection, name, schema) == "invalid"
                else "nothing was left behind"
            )
            raise ZeroDowntimeError(
                f"CREATE INDEX CONCURRENTLY {name} on {table} failed ({first_line(error)}); "
                f"{left}: fix the cause and run the migration again"
            ) from error


def drop_index_concurrently(name: str, table: str, *, schema: str | None = None) -> None:
    """Drop index `name` without blocking reads or writes; a no-op when it does not exist."""
    with op.get_context().autocommit_block():
        op.drop_index(
            name, table_name=table, schema=schema, postgresql_concurrently=True, if_exists=True
        )


def _create(
    name: str,
    table: str,
    columns: Sequence[str | TextClause],
    schema: str | None,
    unique: bool,
    where: str | None,
) -> None:
    op.create_index(
        name,
        table,
        list(columns),
        schema=schema,
        unique=unique,
        postgresql_concurrently=True,
        postgresql_where=text(where) if where else None,
        if_not_exists=True,
    )
