"""`CREATE INDEX CONCURRENTLY`, idempotent, cleaning up the INVALID index of a failed attempt.

A plain `CREATE INDEX` blocks every write to the table while it builds. `CONCURRENTLY` does
not, but it cannot run in a transaction, and when it fails (a duplicate for a unique index, a
timeout, a cancel) it leaves an INVALID index behind that `IF NOT EXISTS` would then happily
accept. So the helper runs in an autocommit block, skips an index that exists and is valid,
and drops an invalid one (concurrently) before building it again.

An index of the same name is only taken for this one when it is this one: on the same table,
over the same columns or expressions, as unique, with the same predicate, method, operator
classes, collations and orderings. Anything else of that name is another index (an old one
the migration did not expect), which is neither kept in this one's place nor dropped: the
helper stops and names it.
"""

from collections.abc import Sequence
from dataclasses import dataclass

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
    table_probe,
)

_VALIDITY = text(
    """
    SELECT built.indisvalid
    FROM pg_index AS built
    WHERE built.indexrelid = to_regclass(:index)
    """
)
# Everything that makes two indexes the same index, but their names and tables. Expressions
# and predicates are compared as PostgreSQL prints them back, which is why the index asked
# for is built on an empty copy of the table first: the two texts then come from one printer.
_DEFINITION = text(
    """
    SELECT built.indisunique, method.amname, built.indnkeyatts,
           ARRAY(
               SELECT coalesce(attribute.attname, '')
               FROM unnest(built.indkey::int2[]) WITH ORDINALITY AS key (attnum, position)
               LEFT JOIN pg_attribute AS attribute
                 ON attribute.attrelid = built.indrelid AND attribute.attnum = key.attnum
               ORDER BY key.position
           ) AS columns,
           pg_get_expr(built.indexprs, built.indrelid) AS expressions,
           pg_get_expr(built.indpred, built.indrelid) AS predicate,
           built.indclass::oid[]::text AS operator_classes,
           built.indcollation::oid[]::text AS collations,
           built.indoption::int2[]::text AS orderings
    FROM pg_index AS built
    JOIN pg_class AS relation ON relation.oid = built.indexrelid
    JOIN pg_am AS method ON method.oid = relation.relam
    WHERE built.indexrelid = to_regclass(:index)
    """
)
# What holds the name: its kind, whether it is an index of the table, and its definition.
_PLACE = text(
    """
    SELECT relation.relkind, built.indrelid = to_regclass(:table) AS same_table,
           pg_get_indexdef(built.indexrelid) AS definition
    FROM pg_class AS relation
    LEFT JOIN pg_index AS built ON built.indexrelid = relation.oid
    WHERE relation.oid = to_regclass(:index)
    """
)
_KINDS = {"r": "table", "p": "table", "v": "view", "m": "materialized view", "S": "sequence"}
_PROBE_INDEX = "zd_probe_index"


@dataclass(frozen=True)
class _Asked:
    """The index a migration asks for."""

    name: str
    table: str
    columns: Sequence[str | TextClause]
    schema: str | None
    unique: bool
    where: str | None

    def create(self, *, probe_table: str | None = None) -> None:
        """Build it concurrently, unless it exists; or on `probe_table`, an empty copy."""
        probe = probe_table is not None
        op.create_index(
            _PROBE_INDEX if probe else self.name,
            probe_table or self.table,
            list(self.columns),
            schema="pg_temp" if probe else self.schema,
            unique=self.unique,
            postgresql_where=text(self.where) if self.where else None,
            postgresql_concurrently=not probe,
            if_not_exists=not probe,
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

    An index of that name with another definition (table, columns, uniqueness, predicate)
    fails the migration with ZeroDowntimeError naming it, and is left as it is. The build
    gets its own `statement_timeout` (0, the default, means none: the build takes as long as
    the table needs, and holds no lock that blocks reads or writes meanwhile).
    """
    asked = _Asked(name, table, columns, schema, unique, where)
    context = op.get_context()
    with context.autocommit_block():
        if context.as_sql:
            asked.create()
            return
        connection = op.get_bind()
        # Before the state: a table or sequence of that name reads as a missing index, and
        # IF NOT EXISTS would then skip the build in silence.
        _refuse_another_relation(connection, asked)
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
                asked.create()
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


def _refuse_another_relation(connection: Connection, asked: _Asked) -> None:
    """Raise ZeroDowntimeError when `name` is taken by anything but the index asked for."""
    name, table, schema = asked.name, asked.table, asked.schema
    dialect = connection.dialect
    index = qualified(dialect, name, schema)
    parameters = {"index": index, "table": qualified(dialect, table, schema)}
    place = connection.execute(_PLACE, parameters).one_or_none()
    if place is None:
        return
    if place.same_table:
        existing = connection.execute(_DEFINITION, {"index": index}).one()
        try:
            with table_probe(connection, table, schema) as probe:
                asked.create(probe_table=probe)
                built = connection.execute(_DEFINITION, {"index": f"pg_temp.{_PROBE_INDEX}"}).one()
        except DBAPIError as error:
            raise ZeroDowntimeError(
                f"index {name} on {table} cannot be built as asked ({first_line(error)}): "
                "fix the revision and run the migration again"
            ) from error
        if tuple(existing) == tuple(built):
            return
    held_by = place.definition or f"a {_KINDS.get(place.relkind, 'relation')}"
    wanted = ", ".join(str(column) for column in asked.columns)
    raise ZeroDowntimeError(
        f"{name} already exists ({held_by}), which is not the "
        f"{'unique ' if asked.unique else ''}index on {table} ({wanted})"
        f"{f' WHERE {asked.where}' if asked.where else ''} this migration builds: rename or "
        "drop it, or give this index another name, and run the migration again"
    )
