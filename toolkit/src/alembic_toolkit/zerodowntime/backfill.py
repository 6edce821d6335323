"""Batched, resumable backfills: fill a column in primary-key order, one committed batch at a time.

One `UPDATE` of a large table holds row locks on every row until it commits, bloats the table
in one go, and starts over from nothing if it is interrupted. `backfill()` walks the table in
primary-key order instead (keyset pagination on the key, so each batch is an index range
scan), and commits every batch on its own, outside the revision's transaction.

Progress is tracked in a table, `zerodowntime.backfill`, one row per backfill, holding the last
key done. Each batch is a single statement that updates the rows *and* advances that row, so
the two commit together or not at all: a process killed at any moment (SIGKILL included)
leaves the progress row pointing exactly past the last committed batch, and the same command
run again continues from there. No row is skipped and none is written twice, whatever the
`SET` expressions are (`counter = counter + 1` included).

Why a progress table rather than a needs-backfill predicate (pgroll adds a
`_pgroll_needs_backfill` column; others re-select `WHERE new IS NULL`): a predicate has to be
true exactly for the rows not yet written, which fails for rows whose converted value is NULL
(rewritten on every run) and for expressions that are not idempotent; a flag column is one
more column to add and drop on a large table. A key bound needs nothing from the table and
resumes with an index seek. The cost is a small table outside the application's schema
(separate, so Alembic's autogenerate, which compares the default schema, never sees it).

Rows inserted or changed by the application while the backfill runs are not its job: install
the sync triggers (`sync.py`) before backfilling, so new writes fill both columns themselves.
"""

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from alembic import op
from sqlalchemy import Connection, text
from sqlalchemy.exc import DBAPIError

from alembic_toolkit.sqlstate import (
    DEADLOCK_DETECTED,
    LOCK_NOT_AVAILABLE,
    QUERY_CANCELED,
    SERIALIZATION_FAILURE,
    sqlstate,
)
from alembic_toolkit.zerodowntime.errors import ZeroDowntimeError
from alembic_toolkit.zerodowntime.progress import Progress, StreamProgress
from alembic_toolkit.zerodowntime.sql import (
    first_line,
    qualified,
    quote,
    seconds_setting,
    session_settings,
)

PROGRESS_SCHEMA = "zerodowntime"
PROGRESS_TABLE = "backfill"

# Failures worth retrying a batch for: waits that ran out, and conflicts with the app's writes.
_RETRIED = {LOCK_NOT_AVAILABLE, QUERY_CANCELED, DEADLOCK_DETECTED, SERIALIZATION_FAILURE}


@dataclass(frozen=True)
class BackfillResult:
    """What one run of a backfill did."""

    name: str
    rows: int
    rows_done: int
    seconds: float
    resumed: bool

    @property
    def rows_per_second(self) -> float:
        """Rows written by this run per second of it."""
        return self.rows / self.seconds if self.seconds > 0 else float(self.rows)


@dataclass(frozen=True)
class _KeyColumn:
    name: str
    type: str
    collation: str | None


def backfill(
    table: str,
    set_: Mapping[str, str],
    *,
    where: str | None = None,
    name: str | None = None,
    schema: str | None = None,
    batch_size: int = 1000,
    pause: float = 0.0,
    statement_timeout: float = 5.0,
    lock_timeout: float = 1.0,
    retries: int = 5,
    progress: Progress | None = None,
) -> BackfillResult | None:
    """Set columns of every row (`set_`: column -> SQL expression) in committed key-ordered batches.

    `where` limits the rows; `name` identifies the backfill for resuming (default
    "table.column,..."); each batch runs under `statement_timeout` and `lock_timeout`, and a
    batch that fails for a timeout, deadlock or serialization conflict is retried up to
    `retries` times (halving its size after a statement timeout). `pause` sleeps between
    batches, to let replicas and vacuum keep up. Returns None in offline (--sql) mode.
    """
    if not set_:
        raise ZeroDowntimeError(f"backfill of {table}: nothing to set")
    if batch_size < 1:
        raise ZeroDowntimeError(f"backfill of {table}: batch_size must be at least 1")
    label = name or f"{table if schema is None else f'{schema}.{table}'}.{','.join(sorted(set_))}"
    context = op.get_context()
    if context.as_sql:
        # The batches need the live database (keys, progress); the script only says so.
        op.execute(f"-- backfill {label}: runs online in batches, not in offline SQL")
        return None
    # Refusals come first, inside the revision's transaction: nothing of it is committed yet.
    connection = op.get_bind()
    key = _primary_key(connection, table, schema)
    if touched := sorted(set(set_) & {column.name for column in key}):
        raise ZeroDowntimeError(
            f"backfill {label}: cannot set primary-key column(s) {', '.join(touched)}; "
            "the batches walk the key"
        )
    job = _Job(connection, label, table, schema, key, set_, where)
    job.check_name()
    with context.autocommit_block():
        job.connection = op.get_bind()
        return job.run(
            batch_size=batch_size,
            pause=pause,
            settings={
                "statement_timeout": seconds_setting(statement_timeout),
                "lock_timeout": seconds_setting(lock_timeout),
                # psycopg prepares a statement run five times, and a generic plan of the
                # batch cannot see the key bound: it merge-joins from the start of the
                # table, so every batch would cost more than the one before.
                "plan_cache_mode": "force_custom_plan",
            },
            retries=retries,
            progress=progress or StreamProgress(),
        )


def forget_backfill(name: str) -> None:
    """Delete a backfill's progress row, so that it runs again from the start (for downgrade())."""
    if op.get_context().as_sql:
        return
    connection = op.get_bind()
    if connection.execute(text("SELECT to_regclass(:t)"), {"t": _progress_table()}).scalar():
        forget = f"DELETE FROM {_progress_table()} WHERE name = :name"  # noqa: S608 - quoted names
        connection.execute(text(forget), {"name": name})


def _progress_table() -> str:
    return f"{PROGRESS_SCHEMA}.{PROGRESS_TABLE}"


_KEY_COLUMNS = text(
    """
    SELECT attribute.attname,
           format_type(attribute.atttypid, attribute.atttypmod),
           CASE WHEN attribute.attcollation <> 0
                THEN quote_ident(collation_schema.nspname) || '.'
                     || quote_ident(key_collation.collname)
           END
    FROM pg_index AS key_index
    JOIN pg_attribute AS attribute
      ON attribute.attrelid = key_index.indrelid AND attribute.attnum = ANY (key_index.indkey)
    LEFT JOIN pg_collation AS key_collation ON key_collation.oid = attribute.attcollation
    LEFT JOIN pg_namespace AS collation_schema ON collation_schema.oid = key_collation.collnamespace
    WHERE key_index.indrelid = to_regclass(:table) AND key_index.indisprimary
    ORDER BY array_position(key_index.indkey::int2[], attribute.attnum)
    """
)


def _primary_key(connection: Connection, table: str, schema: str | None) -> list[_KeyColumn]:
    target = qualified(connection.dialect, table, schema)
    if connection.execute(text("SELECT to_regclass(:t)"), {"t": target}).scalar() is None:
        raise ZeroDowntimeError(f"backfill: table {target} does not exist")
    key = [_KeyColumn(*row) for row in connection.execute(_KEY_COLUMNS, {"table": target})]
    if not key:
        raise ZeroDowntimeError(
            f"backfill: {target} has no primary key, and the batches walk primary-key ranges; "
            "add a primary key first (or backfill it with your own statements)"
        )
    return key


_PROGRESS_DDL = (
    f"CREATE SCHEMA IF NOT EXISTS {PROGRESS_SCHEMA}",
    f"""CREATE TABLE IF NOT EXISTS {PROGRESS_SCHEMA}.{PROGRESS_TABLE} (
        name text PRIMARY KEY,
        statement text NOT NULL,
        last_key text[],
        rows_done bigint NOT NULL DEFAULT 0,
        started_at timestamptz NOT NULL DEFAULT now(),
        finished_at timestamptz
    )""",
)


class _Job:
    """One backfill on one connection: its statements, its progress row, its batches."""

    def __init__(
        self,
        connection: Connection,
        label: str,
        table: str,
        schema: str | None,
        key: Sequence[_KeyColumn],
        set_: Mapping[str, str],
        where: str | None,
    ) -> None:
        self.connection = connection
        self.label = label
        target = qualified(connection.dialect, table, schema)
        self.target = target
        self.where = where
        quoted = [quote(connection.dialect, column.name) for column in key]
        columns = ", ".join(quoted)
        bounds = ", ".join(
            f"CAST((CAST(:last_key AS text[]))[{index + 1}] AS {column.type})"
            + (f" COLLATE {column.collation}" if column.collation else "")
            for index, column in enumerate(key)
        )
        assignments = ", ".join(
            f"{quote(connection.dialect, column)} = ({expression})"
            for column, expression in set_.items()
        )
        filters = [f"({where})"] if where else []
        # The statement, written out; it also fingerprints the backfill in its progress row.
        self.statement = _batch_statement(target, quoted, assignments, filters)
        self.resume_statement = _batch_statement(
            target, quoted, assignments, [f"({columns}) > ({bounds})", *filters]
        )
        count_filter = f" WHERE {where}" if where else ""
        self.count_statement = f"SELECT count(*) FROM {target}{count_filter}"  # noqa: S608

    def run(
        self,
        *,
        batch_size: int,
        pause: float,
        settings: Mapping[str, str],
        retries: int,
        progress: Progress,
    ) -> BackfillResult:
        """Run the batches from where the progress row says, until a batch finds no rows."""
        for statement in _PROGRESS_DDL:
            self.connection.execute(text(statement))
        last_key, done, finished = self._claim()
        resumed = last_key is not None
        started = time.monotonic()
        if finished:
            progress.skip(self.label, done)
            return BackfillResult(self.label, 0, done, 0.0, resumed)
        rows_at_start = done
        with session_settings(self.connection, settings):
            progress.start(self.label, done, self._estimate(done))
            failures = 0
            while True:
                try:
                    found, done, last_key = self._batch(last_key, batch_size)
                except DBAPIError as error:
                    failures += 1
                    if sqlstate(error) not in _RETRIED or failures > retries:
                        raise ZeroDowntimeError(self._stopped(error, failures, done)) from error
                    if sqlstate(error) == QUERY_CANCELED:
                        # Too slow a batch: a smaller one fits the statement_timeout.
                        batch_size = max(1, batch_size // 2)
                    else:
                        # A lock or a conflict with the app's writes: let them finish first.
                        time.sleep(min(0.05 * 2**failures, 2.0))
                    continue
                failures = 0
                if not found:
                    break
                progress.advance(done)
                if pause:
                    time.sleep(pause)
        self.connection.execute(
            text(f"UPDATE {_progress_table()} SET finished_at = now() WHERE name = :name"),  # noqa: S608
            {"name": self.label},
        )
        seconds = time.monotonic() - started
        progress.finish(done, done - rows_at_start, seconds)
        return BackfillResult(self.label, done - rows_at_start, done, seconds, resumed)

    def check_name(self) -> None:
        """Refuse when a backfill of this name, with another statement, has progress recorded."""
        if self.connection.execute(
            text("SELECT to_regclass(:t)"), {"t": _progress_table()}
        ).scalar():
            recorded = self.connection.execute(
                text(f"SELECT statement FROM {_progress_table()} WHERE name = :name"),  # noqa: S608
                {"name": self.label},
            ).scalar()
            if recorded is not None and recorded != self.statement:
                raise ZeroDowntimeError(
                    f"backfill {self.label}: a backfill of that name with a different statement "
                    f"has progress in {_progress_table()}; give this one another name, or call "
                    f"forget_backfill({self.label!r}) to start over"
                )

    def _claim(self) -> tuple[list[str] | None, int, bool]:
        self.connection.execute(
            text(
                f"INSERT INTO {_progress_table()} (name, statement) VALUES (:name, :statement) "  # noqa: S608
                "ON CONFLICT (name) DO NOTHING"
            ),
            {"name": self.label, "statement": self.statement},
        )
        last_key, done, finished = self.connection.execute(
            text(
                f"SELECT last_key, rows_done, finished_at IS NOT NULL "  # noqa: S608 - quoted names
                f"FROM {_progress_table()} WHERE name = :name"
            ),
            {"name": self.label},
        ).one()
        return last_key, done, finished

    def _batch(
        self, last_key: list[str] | None, batch_size: int
    ) -> tuple[int, int, list[str] | None]:
        parameters: dict[str, object] = {"name": self.label, "batch_size": batch_size}
        statement = self.statement
        if last_key is not None:
            statement, parameters["last_key"] = self.resume_statement, last_key
        row = self.connection.execute(text(statement), parameters).one_or_none()
        if row is None:  # an empty batch: nothing left after last_key
            return 0, self._rows_done(), last_key
        found, done, new_key = row
        return found, done, new_key

    def _rows_done(self) -> int:
        done: int = self.connection.execute(
            text(f"SELECT rows_done FROM {_progress_table()} WHERE name = :name"),  # noqa: S608
            {"name": self.label},
        ).scalar_one()
        return done

    def _estimate(self, done: int) -> int | None:
        """Rows in the table, from the planner's statistics, or counted when there are none."""
        estimate = self.connection.execute(
            text("SELECT reltuples::bigint FROM pg_class WHERE oid = to_regclass(:t)"),
            {"t": self.target},
        ).scalar()
        if estimate is None or estimate <= 0 or self.where:
            try:
                estimate = self.connection.execute(text(self.count_statement)).scalar_one()
            except DBAPIError:
                return None
        return max(int(estimate), done)

    def _stopped(self, error: DBAPIError, failures: int, done: int) -> str:
        what = f"stopped after {failures} failed tries of one batch" if failures > 1 else "failed"
        return (
            f"backfill {self.label} {what} ({first_line(error)}); the {done:,} rows written so "
            "far are kept: run the same command again to continue (a smaller batch_size or a "
            "longer statement_timeout helps a slow batch)"
        )


def _batch_statement(
    target: str, columns: Sequence[str], assignments: str, filters: Sequence[str]
) -> str:
    """One batch as one statement, so the batch's rows and the progress row commit together."""
    aliases = [f"zd_key_{index}" for index in range(len(columns))]
    pairs = list(zip(columns, aliases, strict=True))
    selected = ", ".join(f"{column} AS {alias}" for column, alias in pairs)
    where = f"WHERE {' AND '.join(filters)}" if filters else ""
    match = " AND ".join(f"target.{column} = batch.{alias}" for column, alias in pairs)
    descending = ", ".join(f"{alias} DESC" for alias in aliases)
    as_text = ", ".join(f"{alias}::text" for alias in aliases)
    # The key columns are aliased so that the SET expressions can name them without ambiguity.
    statement = f"""
        WITH batch AS MATERIALIZED (
            SELECT {selected} FROM {target}
            {where}
            ORDER BY {", ".join(columns)}
            LIMIT :batch_size
            FOR NO KEY UPDATE
        ), updated AS (
            UPDATE {target} AS target SET {assignments}
            FROM batch WHERE {match}
            RETURNING 1
        ), last AS (
            SELECT ARRAY[{as_text}] AS key FROM batch ORDER BY {descending} LIMIT 1
        )
        UPDATE {PROGRESS_SCHEMA}.{PROGRESS_TABLE} AS progress
        SET last_key = last.key,
            rows_done = progress.rows_done + (SELECT count(*) FROM updated)
        FROM last
        WHERE progress.name = :name
        RETURNING (SELECT count(*) FROM batch), progress.rows_done, progress.last_key
    """  # noqa: S608 - quoted names
    return " ".join(statement.split())
