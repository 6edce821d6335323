"""Constraints added without a long lock: `ADD CONSTRAINT ... NOT VALID`, then `VALIDATE`.

`ALTER TABLE ... ADD CONSTRAINT` checks every existing row while holding a lock that blocks
writes (ACCESS EXCLUSIVE for a CHECK, SHARE ROW EXCLUSIVE on both tables for a foreign key).
Added `NOT VALID`, it only takes that lock for an instant (under `with_lock_retries`) and
checks new writes from then on; `VALIDATE CONSTRAINT` then checks the existing rows holding
only SHARE UPDATE EXCLUSIVE, which lets reads and writes go on. Each step commits on its own
(the validation in an autocommit block), and a re-run skips what is already done.

A constraint of the same name is only taken for this one when it is this one: a check with
the same condition, or a foreign key over the same columns, to the same table and columns,
with the same ON DELETE, ON UPDATE, MATCH and deferrability. Any other constraint of that
name fails the migration, naming it.
"""

from collections.abc import Callable, Sequence

from alembic import op
from alembic.operations.ops import AddConstraintOp, CreateCheckConstraintOp, CreateForeignKeyOp
from sqlalchemy import Connection, text
from sqlalchemy.exc import DBAPIError

from alembic_toolkit.zerodowntime.errors import ZeroDowntimeError
from alembic_toolkit.zerodowntime.lock_retries import LockRetries, with_lock_retries
from alembic_toolkit.zerodowntime.sql import (
    catalog_state,
    first_line,
    qualified,
    quote,
    seconds_setting,
    session_settings,
    table_probe,
)

_STATE = text(
    """
    SELECT constraint_.convalidated
    FROM pg_constraint AS constraint_
    WHERE constraint_.conrelid = to_regclass(:table) AND constraint_.conname = :name
    """
)

# A check is its condition, as PostgreSQL prints it back (NOT VALID or not).
_CHECK = text(
    """
    SELECT constraint_.contype,
           pg_get_expr(constraint_.conbin, constraint_.conrelid) AS expression,
           pg_get_constraintdef(constraint_.oid) AS definition
    FROM pg_constraint AS constraint_
    WHERE constraint_.conrelid = to_regclass(:table) AND constraint_.conname = :name
    """
)
_PROBE_CHECK = "zd_probe_check"

# What makes two foreign keys of a table the same, in pg_constraint's own codes. The two
# column lists are unnested side by side, so that each keeps its order.
_FOREIGN_KEY = text(
    """
    SELECT constraint_.contype,
           keys.columns,
           constraint_.confrelid = to_regclass(:referent) AS same_referent,
           keys.referent_columns,
           constraint_.confdeltype, constraint_.confupdtype, constraint_.confmatchtype,
           constraint_.condeferrable, constraint_.condeferred,
           pg_get_constraintdef(constraint_.oid) AS definition
    FROM pg_constraint AS constraint_
    LEFT JOIN LATERAL (
        SELECT array_agg(local_.attname ORDER BY key.position) AS columns,
               array_agg(remote.attname ORDER BY key.position) AS referent_columns
        FROM unnest(constraint_.conkey, constraint_.confkey)
             WITH ORDINALITY AS key (local_attnum, remote_attnum, position)
        LEFT JOIN pg_attribute AS local_
          ON local_.attrelid = constraint_.conrelid AND local_.attnum = key.local_attnum
        LEFT JOIN pg_attribute AS remote
          ON remote.attrelid = constraint_.confrelid AND remote.attnum = key.remote_attnum
    ) AS keys ON true
    WHERE constraint_.conrelid = to_regclass(:table) AND constraint_.conname = :name
    """
)
_ACTIONS = {"NO ACTION": "a", "RESTRICT": "r", "CASCADE": "c", "SET NULL": "n", "SET DEFAULT": "d"}
_MATCHES = {"SIMPLE": "s", "FULL": "f", "PARTIAL": "p"}


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
    """Add CHECK (`condition`) as NOT VALID under lock retries, then validate it.

    A constraint of that name on `table` that is not this check (another condition, as
    PostgreSQL prints both) fails the migration with ZeroDowntimeError naming it.
    """
    check = CreateCheckConstraintOp(
        name, table, condition, schema=schema, postgresql_not_valid=True
    )

    def another(connection: Connection) -> str | None:
        parameters = {"table": qualified(connection.dialect, table, schema), "name": name}
        existing = connection.execute(_CHECK, parameters).one()
        try:
            # Built on an empty copy of the table, the condition asked for is printed as
            # PostgreSQL prints the existing one, whatever the spelling in the revision.
            # op.f: the name as given, not passed through the project's naming convention.
            with table_probe(connection, table, schema) as probe:
                probe_check = op.f(_PROBE_CHECK)
                op.invoke(CreateCheckConstraintOp(probe_check, probe, condition, schema="pg_temp"))
                asked = connection.execute(
                    _CHECK, {"table": f"pg_temp.{probe}", "name": _PROBE_CHECK}
                ).one()
        except DBAPIError as error:
            raise ZeroDowntimeError(
                f"CHECK ({condition}) cannot be added to {table} as asked ({first_line(error)}): "
                "fix the revision and run the migration again"
            ) from error
        if existing.contype == "c" and existing.expression == asked.expression:
            return None
        return (
            f"constraint {name} on {table} already exists ({existing.definition}), which is not "
            f"the CHECK ({condition}) this migration adds: rename or drop it, or give this "
            "check another name, and run the migration again"
        )

    _add_then_validate(check, retries, statement_timeout, another)


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
    onupdate: str | None = None,
    deferrable: bool | None = None,
    initially: str | None = None,
    match: str | None = None,
    retries: LockRetries | None = None,
    statement_timeout: float = 0.0,
) -> None:
    """Add a foreign key as NOT VALID under lock retries, then validate it.

    A constraint of that name on `table` that is not this foreign key (other columns,
    referent or options) fails the migration with ZeroDowntimeError naming it.
    """
    foreign_key = CreateForeignKeyOp(
        name,
        table,
        referent_table,
        list(local_columns),
        list(remote_columns),
        source_schema=schema,
        referent_schema=referent_schema,
        ondelete=ondelete,
        onupdate=onupdate,
        deferrable=deferrable,
        initially=initially,
        match=match,
        postgresql_not_valid=True,
    )
    wanted = (
        "f",
        list(local_columns),
        True,
        list(remote_columns),
        _code(_ACTIONS, ondelete, "NO ACTION"),
        _code(_ACTIONS, onupdate, "NO ACTION"),
        _code(_MATCHES, match, "SIMPLE"),
        bool(deferrable) or _deferred(initially),
        _deferred(initially),
    )

    def another(connection: Connection) -> str | None:
        dialect = connection.dialect
        parameters = {
            "table": qualified(dialect, table, schema),
            "referent": qualified(dialect, referent_table, referent_schema),
            "name": name,
        }
        *existing, definition = connection.execute(_FOREIGN_KEY, parameters).one()
        if existing == list(wanted):
            return None
        options = _options(ondelete, onupdate, match, initially, deferrable)
        return (
            f"constraint {name} on {table} already exists ({definition}), which is not the "
            f"foreign key ({', '.join(local_columns)}) to {referent_table} "
            f"({', '.join(remote_columns)}){options}"
            " this migration adds: rename or drop it, or give this foreign key another name, "
            "and run the migration again"
        )

    _add_then_validate(foreign_key, retries, statement_timeout, another)


def _code(codes: dict[str, str], option: str | None, default: str) -> str:
    """PostgreSQL's one-letter code for an option as SQL spells it (None: the default)."""
    spelled = " ".join((option or default).upper().split())
    return codes.get(spelled, spelled)


def _deferred(initially: str | None) -> bool:
    return (initially or "").strip().upper() == "DEFERRED"


def _options(
    ondelete: str | None,
    onupdate: str | None,
    match: str | None,
    initially: str | None,
    deferrable: bool | None,
) -> str:
    """The foreign key's options as SQL writes them, each after a space."""
    options = [
        f"MATCH {match}" if match else "",
        f"ON DELETE {ondelete}" if ondelete else "",
        f"ON UPDATE {onupdate}" if onupdate else "",
        "DEFERRABLE" if deferrable else "NOT DEFERRABLE" if deferrable is False else "",
        f"INITIALLY {initially}" if initially else "",
    ]
    return "".join(f" {option}" for option in options if option)


def _add_then_validate(
    operation: AddConstraintOp,
    retries: LockRetries | None,
    statement_timeout: float,
    another: Callable[[Connection], str | None] | None = None,
) -> None:
    """Run `operation` (a constraint added NOT VALID) unless it is done, then validate it.

    `another` says why a constraint of the same name is not the one asked for (None: it is).
    """
    constraint = operation.to_constraint()
    name, table, schema = str(constraint.name), constraint.table.name, constraint.table.schema
    context = op.get_context()
    state = "missing" if context.as_sql else constraint_state(op.get_bind(), table, name, schema)
    if state != "missing" and another is not None:
        clash = another(op.get_bind())
        if clash is not None:
            raise ZeroDowntimeError(clash)
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
