"""Two-way sync triggers: keep an old and a new column equal while two releases write them.

During a rename or a retype, the previous release reads and writes the old column while the
next one uses the new column. A BEFORE INSERT OR UPDATE trigger copies whichever side a
statement wrote onto the other, converting with an expression each way:

- INSERT: a NULL new column means "not given" (the previous release does not know it), so it
  is computed from the old one; otherwise the new column wins and the old one follows (unless
  the two already agree).
- UPDATE: the column the statement changed wins; if both changed and disagree, the new one
  wins; a row whose new column is still NULL (not backfilled yet) is filled in on any update.

A BEFORE trigger edits the row being written instead of issuing another UPDATE, so it can
never fire itself again: there is nothing to recurse. Row locks order concurrent writers, and
each sees the row as the previous one left it. The new column must have no default while
the triggers run: a default would look like a value written by the next release.

`to_new` is an SQL expression over the old column (by its bare name), `to_old` one over the
new column; both default to the column itself (a rename). A value that does not convert
fails the write that brought it (better than two columns that disagree): make the
conversions total, or constrain the old column first. The same `to_new` is what the
backfill sets: `backfill(table, {new: to_new})`.
"""

from dataclasses import dataclass

from alembic import op
from sqlalchemy import Connection, Dialect, text

from alembic_toolkit.zerodowntime.errors import ZeroDowntimeError
from alembic_toolkit.zerodowntime.lock_retries import LockRetries, with_lock_retries
from alembic_toolkit.zerodowntime.sql import generated_name, qualified, quote, quote_always


@dataclass(frozen=True)
class SyncNames:
    """The trigger and its function, named after the table and the two columns."""

    function: str
    trigger: str


def sync_names(table: str, old: str, new: str) -> SyncNames:
    """The names `create_sync_triggers` gives the trigger and function for these columns."""
    return SyncNames(
        function=generated_name("zd_sync", table, old, new),
        trigger=generated_name("zd_sync", old, new),
    )


def create_sync_triggers(
    table: str,
    old: str,
    new: str,
    *,
    to_new: str | None = None,
    to_old: str | None = None,
    schema: str | None = None,
    retries: LockRetries | None = None,
) -> None:
    """Keep `old` and `new` of `table` equal (through the conversions) on every INSERT and UPDATE.

    Idempotent: run again, it replaces the function and the trigger.
    """
    context = op.get_context()
    dialect = context.dialect
    if not context.as_sql:
        _check_columns(op.get_bind(), table, old, new, schema)
    names = sync_names(table, old, new)
    function = qualified(dialect, names.function, schema)
    target = qualified(dialect, table, schema)
    trigger = quote(dialect, names.trigger)
    body = _function(
        dialect, target, old, new, to_new or quote_always(old), to_old or quote_always(new)
    )

    def install() -> None:
        op.execute(
            f"CREATE OR REPLACE FUNCTION {function}() RETURNS trigger LANGUAGE plpgsql AS {body}"
        )
        op.execute(f"DROP TRIGGER IF EXISTS {trigger} ON {target}")
        op.execute(
            f"CREATE TRIGGER {trigger} BEFORE INSERT OR UPDATE ON {target} "
            f"FOR EACH ROW EXECUTE FUNCTION {function}()"
        )

    # CREATE TRIGGER takes a lock that blocks writes: take it only briefly.
    with_lock_retries(install, retries)


def drop_sync_triggers(
    table: str,
    old: str,
    new: str,
    *,
    schema: str | None = None,
    retries: LockRetries | None = None,
) -> None:
    """Remove what `create_sync_triggers` installed; a no-op for what is already gone."""
    dialect = op.get_context().dialect
    names = sync_names(table, old, new)
    target = qualified(dialect, table, schema)
    trigger = quote(dialect, names.trigger)
    function = qualified(dialect, names.function, schema)

    def remove() -> None:
        op.execute(f"DROP TRIGGER IF EXISTS {trigger} ON {target}")
        op.execute(f"DROP FUNCTION IF EXISTS {function}()")

    with_lock_retries(remove, retries)


def _function(dialect: Dialect, target: str, old: str, new: str, to_new: str, to_old: str) -> str:
    # Quoted always: a column may be named by a word PL/pgSQL reserves and SQL does not.
    o, n = quote_always(old), quote_always(new)
    # The columns are also plpgsql variables of the same names, holding the row as it was
    # written, so the conversion expressions can name them bare.
    return f"""$zerodowntime$
DECLARE
    {o} {target}.{o}%TYPE := NEW.{o};
    {n} {target}.{n}%TYPE := NEW.{n};
BEGIN
    IF TG_OP = 'INSERT' THEN
        IF NEW.{n} IS NULL THEN
            NEW.{n} := ({to_new});
        ELSIF NEW.{n} IS DISTINCT FROM ({to_new}) THEN
            NEW.{o} := ({to_old});
        END IF;
    ELSIF NEW.{o} IS DISTINCT FROM OLD.{o} AND NEW.{n} IS NOT DISTINCT FROM OLD.{n} THEN
        NEW.{n} := ({to_new});
    ELSIF NEW.{n} IS DISTINCT FROM OLD.{n} THEN
        IF NEW.{n} IS DISTINCT FROM ({to_new}) THEN
            NEW.{o} := ({to_old});
        END IF;
    ELSIF NEW.{n} IS NULL AND NEW.{o} IS NOT NULL THEN
        NEW.{n} := ({to_new});
    END IF;
    RETURN NEW;
END
$zerodowntime$"""


_COLUMNS = text(
    """
    SELECT attribute.attname, attribute.atthasdef
    FROM pg_attribute AS attribute
    WHERE attribute.attrelid = to_regclass(:table)
      AND attribute.attnum > 0 AND NOT attribute.attisdropped
    """
)


def _check_columns(
    connection: Connection, table: str, old: str, new: str, schema: str | None
) -> None:
    target = qualified(connection.dialect, table, schema)
    rows = connection.execute(_COLUMNS, {"table": target})
    has_default: dict[str, bool] = {row[0]: row[1] for row in rows}
    for column in (old, new):
        if column not in has_default:
            raise ZeroDowntimeError(f"sync triggers: {target} has no column {column!r}")
    if has_default[new]:
        raise ZeroDowntimeError(
            f"sync triggers: {target}.{new} has a default, which would look like a value the "
            "new release wrote; drop the default while the triggers run, and set it in the "
            "contract step"
        )
