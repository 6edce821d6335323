"""The batched backfill: resumable after SIGKILL, every row written exactly once, on any key."""

import contextlib
import io
import signal
import time
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic import op
from alembic_toolkit.zerodowntime import (
    StreamProgress,
    ZeroDowntimeError,
    backfill,
    forget_backfill,
)
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import URL, Engine, text
from toolkit_support import alembic_subprocess, migration_operations, scratch_alembic_project

ROWS = 20_000

# `writes + 1` is not idempotent: a row written twice shows 2, a row skipped shows 0.
BACKFILL_REVISION = """
op.add_column("ledger", sa.Column("cents", sa.BigInteger), if_not_exists=True)
zd.backfill("ledger", {"cents": "amount * 100", "writes": "writes + 1"}, batch_size=250, pause=0.01)
"""


def create_ledger(engine: Engine, rows: int) -> None:
    with engine.begin() as connection:
        connection.execute(
            text(
                "CREATE TABLE ledger (id bigint PRIMARY KEY, amount integer NOT NULL,"
                " writes integer NOT NULL DEFAULT 0)"
            )
        )
        connection.execute(
            text("INSERT INTO ledger (id, amount) SELECT n, n % 997 FROM generate_series(1, :n) n"),
            {"n": rows},
        )


def rows_done(engine: Engine) -> int:
    with engine.connect() as connection:
        if connection.execute(text("SELECT to_regclass('zerodowntime.backfill')")).scalar():
            done = connection.execute(text("SELECT max(rows_done) FROM zerodowntime.backfill"))
            return done.scalar() or 0
    return 0


def test_sigkill_mid_backfill_then_the_same_command_resumes_writing_each_row_once(
    tmp_path: Path, database: URL, engine: Engine
) -> None:
    create_ledger(engine, ROWS)
    ini = scratch_alembic_project(tmp_path, [("0001", BACKFILL_REVISION, "")])

    first = alembic_subprocess(ini, database, "upgrade", "head")
    deadline = time.monotonic() + 30
    while rows_done(engine) < ROWS // 4 and time.monotonic() < deadline:
        assert first.poll() is None, first.communicate()
        time.sleep(0.02)
    first.send_signal(signal.SIGKILL)
    first.communicate()  # reaps it and closes its pipes

    # A COMMIT the killed client had sent still lands after the kill: wait for its session to
    # end, then read everything in one statement, one snapshot.
    with engine.connect() as connection:
        others = text(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
            " AND pid <> pg_backend_pid() AND backend_type = 'client backend' AND state <> 'idle'"
        )
        deadline = time.monotonic() + 10
        while connection.execute(others).scalar() and time.monotonic() < deadline:
            connection.rollback()
            time.sleep(0.02)
        killed_at, written, twice = connection.execute(
            text(
                "SELECT (SELECT max(rows_done) FROM zerodowntime.backfill),"
                " count(*) FILTER (WHERE writes = 1), count(*) FILTER (WHERE writes > 1)"
                " FROM ledger"
            )
        ).one()
        assert connection.execute(text("SELECT count(*) FROM alembic_version")).scalar() == 0
    assert ROWS // 4 <= killed_at < ROWS  # killed mid-run
    # The progress row and the rows committed together: nothing more, nothing less.
    assert (written, twice) == (killed_at, 0)

    second = alembic_subprocess(ini, database, "upgrade", "head")
    _, errors = second.communicate(timeout=60)
    assert second.returncode == 0, errors
    assert f"resuming after {killed_at:,} rows" in errors
    assert f"done, {ROWS - killed_at:,} rows in" in errors
    assert "rows/s" in errors
    with engine.connect() as connection:
        counts = connection.execute(
            text(
                "SELECT count(*) FILTER (WHERE writes = 1),"
                " count(*) FILTER (WHERE cents = amount * 100) FROM ledger"
            )
        ).one()
        version = connection.execute(text("SELECT version_num FROM alembic_version")).scalar()
    assert tuple(counts) == (ROWS, ROWS)
    assert version == "0001"


class StoppedError(Exception):
    """Stands for a process stopped between two batches."""


class StopAfter(StreamProgress):
    """Progress that interrupts the backfill after `batches` committed batches."""

    def __init__(self, batches: int) -> None:
        super().__init__(io.StringIO())
        self.batches = batches

    def advance(self, done: int) -> None:
        self.batches -= 1
        if self.batches <= 0:
            raise StoppedError


TEXT_KEYS = st.lists(
    st.text(st.characters(codec="utf-8", exclude_characters="\x00"), min_size=1, max_size=6),
    min_size=1,
    max_size=40,
    unique=True,
)


@settings(
    derandomize=True,
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    keys=TEXT_KEYS,
    numbers=st.lists(st.integers(-3, 3), min_size=1, max_size=3, unique=True),
    batch_size=st.integers(1, 7),
    stop_after=st.integers(1, 5),
)
def test_text_and_composite_keys_resume_without_skipping_or_repeating_a_row(
    engine: Engine, keys: list[str], numbers: list[int], batch_size: int, stop_after: int
) -> None:
    with engine.begin() as connection:
        connection.execute(text("DROP TABLE IF EXISTS handle, membership"))
        connection.execute(text("DROP SCHEMA IF EXISTS zerodowntime CASCADE"))
        connection.execute(
            text("CREATE TABLE handle (name text PRIMARY KEY, writes int NOT NULL DEFAULT 0)")
        )
        # A composite key, one part under a collation other than the database's.
        connection.execute(
            text(
                'CREATE TABLE membership (team text COLLATE "C", seat int,'
                " writes int NOT NULL DEFAULT 0, PRIMARY KEY (team, seat))"
            )
        )
        connection.execute(
            text("INSERT INTO handle (name) SELECT unnest(CAST(:k AS text[]))"), {"k": keys}
        )
        connection.execute(
            text(
                "INSERT INTO membership (team, seat)"
                " SELECT team, seat FROM unnest(CAST(:k AS text[])) team,"
                " unnest(CAST(:n AS int[])) seat"
            ),
            {"k": keys, "n": numbers},
        )
    for table in ("handle", "membership"):
        with (
            engine.connect() as connection,
            migration_operations(connection),
            contextlib.suppress(StoppedError),
        ):
            backfill(
                table,
                {"writes": "writes + 1"},
                batch_size=batch_size,
                progress=StopAfter(stop_after),
            )
        with engine.connect() as connection, migration_operations(connection):
            backfill(
                table,
                {"writes": "writes + 1"},
                batch_size=batch_size,
                progress=StreamProgress(io.StringIO()),
            )
    with engine.connect() as connection:
        for table, expected in (("handle", len(keys)), ("membership", len(keys) * len(numbers))):
            count = f"SELECT writes, count(*) FROM {table} GROUP BY writes"  # noqa: S608
            writes = connection.execute(text(count)).all()
            assert [tuple(row) for row in writes] == [(1, expected)], table


def test_a_batch_over_its_statement_timeout_is_retried_smaller(engine: Engine) -> None:
    create_ledger(engine, 120)
    output = io.StringIO()
    with engine.connect() as connection, migration_operations(connection):
        result = backfill(
            "ledger",
            # A slow expression: 2 ms a row, so only small batches fit in 50 ms.
            {"writes": "writes + 1 + (SELECT 0 FROM pg_sleep(0.002))"},
            batch_size=100,
            statement_timeout=0.05,
            retries=10,
            progress=StreamProgress(output),
        )
    assert result is not None
    assert result.rows == 120
    with engine.connect() as connection:
        assert connection.execute(text("SELECT min(writes), max(writes) FROM ledger")).one() == (
            1,
            1,
        )


def test_a_batch_that_never_fits_stops_in_one_line_keeping_what_is_done(engine: Engine) -> None:
    create_ledger(engine, 10)
    with (
        engine.connect() as connection,
        migration_operations(connection),
        pytest.raises(ZeroDowntimeError) as stopped,
    ):
        backfill(
            "ledger",
            {"writes": "writes + 1 + (SELECT 0 FROM pg_sleep(0.2))"},
            statement_timeout=0.05,
            retries=2,
            progress=StreamProgress(io.StringIO()),
        )
    message = str(stopped.value)
    assert "\n" not in message
    assert "statement timeout" in message
    assert "run the same command again to continue" in message


def test_a_finished_backfill_is_skipped_until_it_is_forgotten(engine: Engine) -> None:
    create_ledger(engine, 30)
    output = io.StringIO()
    for _ in range(2):
        with engine.connect() as connection, migration_operations(connection):
            backfill(
                "ledger", {"writes": "writes + 1"}, batch_size=7, progress=StreamProgress(output)
            )
    assert "already done (30 rows), nothing to do" in output.getvalue()
    with engine.connect() as connection, migration_operations(connection):
        forget_backfill("ledger.writes")
    with engine.connect() as connection, migration_operations(connection):
        backfill("ledger", {"writes": "writes + 1"}, batch_size=7, progress=StreamProgress(output))
    with engine.connect() as connection:
        assert connection.execute(text("SELECT min(writes), max(writes) FROM ledger")).one() == (
            2,
            2,
        )


def test_progress_without_a_terminal_is_lines_ending_with_the_rate(engine: Engine) -> None:
    create_ledger(engine, 50)
    output = io.StringIO()
    with engine.connect() as connection, migration_operations(connection):
        backfill("ledger", {"writes": "writes + 1"}, batch_size=10, progress=StreamProgress(output))
    lines = output.getvalue().splitlines()
    assert lines[0] == "backfill ledger.writes: started of about 50"
    assert lines[-1].startswith("backfill ledger.writes: done, 50 rows in ")
    assert lines[-1].endswith(" rows/s), 50 in all")
    assert "\r" not in output.getvalue()


@pytest.mark.parametrize(
    ("ddl", "set_", "refusal"),
    [
        ("CREATE TABLE ledger (id int, writes int)", {"writes": "1"}, "has no primary key"),
        (
            "CREATE TABLE ledger (id int PRIMARY KEY, writes int)",
            {"id": "id + 1"},
            "cannot set primary-key",
        ),
        ("SELECT 1", {"writes": "1"}, "does not exist"),
    ],
)
def test_refusals_are_one_line_and_change_nothing(
    engine: Engine, ddl: str, set_: dict[str, str], refusal: str
) -> None:
    with engine.begin() as connection:
        connection.execute(text(ddl))

    def revision() -> None:
        with engine.connect() as connection, migration_operations(connection):
            op.create_table("audit", sa.Column("id", sa.Integer, primary_key=True))
            backfill("ledger", set_, progress=StreamProgress(io.StringIO()))

    # The refusal fails the revision before anything of it is committed.
    with pytest.raises(ZeroDowntimeError, match=refusal) as refused:
        revision()
    assert "\n" not in str(refused.value)
    with engine.connect() as connection:
        for created in ("audit", "zerodowntime.backfill"):
            assert (
                connection.execute(text("SELECT to_regclass(:n)"), {"n": created}).scalar() is None
            )


def test_a_changed_statement_under_the_same_name_is_refused(engine: Engine) -> None:
    create_ledger(engine, 5)
    with engine.connect() as connection, migration_operations(connection):
        backfill("ledger", {"writes": "writes + 1"}, progress=StreamProgress(io.StringIO()))
    with (
        engine.connect() as connection,
        migration_operations(connection),
        pytest.raises(ZeroDowntimeError, match="different statement"),
    ):
        backfill("ledger", {"writes": "writes + 2"}, progress=StreamProgress(io.StringIO()))


def test_a_where_clause_limits_the_rows_across_an_interruption(engine: Engine) -> None:
    create_ledger(engine, 100)
    only_even = {"writes": "writes + 1"}
    with (
        engine.connect() as connection,
        migration_operations(connection),
        contextlib.suppress(StoppedError),
    ):
        backfill("ledger", only_even, where="id % 2 = 0", batch_size=9, progress=StopAfter(2))
    with engine.connect() as connection, migration_operations(connection):
        result = backfill(
            "ledger",
            only_even,
            where="id % 2 = 0",
            batch_size=9,
            progress=StreamProgress(io.StringIO()),
        )
    assert result is not None
    assert (result.rows, result.rows_done, result.resumed) == (32, 50, True)
    with engine.connect() as connection:
        counts = connection.execute(
            text("SELECT id % 2, writes, count(*) FROM ledger GROUP BY 1, 2 ORDER BY 1")
        ).all()
    assert [tuple(row) for row in counts] == [(0, 1, 50), (1, 0, 50)]
