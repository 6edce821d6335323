"""DDL under lock retries: it waits briefly, retries, and fails in one line naming the blocker."""

import threading
from pathlib import Path

import psycopg
import pytest
import sqlalchemy as sa
from alembic import op
from alembic.runtime.migration import MigrationContext
from alembic_toolkit.zerodowntime import LockRetries, ZeroDowntimeError, with_lock_retries
from sqlalchemy import URL, Engine, text
from sqlalchemy.exc import ProgrammingError
from toolkit_support import alembic_subprocess, migration_operations, scratch_alembic_project

# Three attempts: 0.1 + 0.2 + 0.4 s of waiting, 0.05 + 0.1 s of sleeping.
QUICK = "zd.LockRetries(attempts=3, lock_timeout=0.1, backoff=0.05)"
# A table created first, so that a half-applied revision would show.
LOCKED_REVISION = f"""
op.create_table("audit", sa.Column("id", sa.Integer, primary_key=True))
zd.with_lock_retries(lambda: op.add_column("ledger", sa.Column("note", sa.Text)), {QUICK})
"""


def dsn(database: URL) -> str:
    return database.render_as_string(hide_password=False)


def create_ledger(engine: Engine) -> None:
    with engine.begin() as connection:
        connection.execute(text("CREATE TABLE ledger (id bigint PRIMARY KEY, amount integer)"))


def test_a_lock_held_elsewhere_fails_the_revision_in_one_line_naming_the_blocker(
    tmp_path: Path, database: URL, engine: Engine
) -> None:
    create_ledger(engine)
    ini = scratch_alembic_project(tmp_path, [("0001", LOCKED_REVISION, "")])
    with psycopg.connect(dsn(database)) as holder:
        # A reader left idle in its transaction: it holds ACCESS SHARE on ledger.
        holder.execute("SELECT count(*) FROM ledger").fetchone()
        holder_pid = holder.info.backend_pid
        migration = alembic_subprocess(ini, database, "upgrade", "head")
        # A migration waiting without a bound would hang here until the timeout fails the
        # test; the message's attempt count shows the three short waits. (No elapsed-time
        # assertion: the subprocess's start-up on a loaded machine is most of the time.)
        output, errors = migration.communicate(timeout=30)

        assert migration.returncode != 0
        lines = [line for line in (output + errors).splitlines() if line.strip()]
        assert len(lines) == 1, lines
        assert lines[0].startswith("FAILED: could not take accessexclusivelock on ledger in 3 ")
        assert f"blocked by pid {holder_pid} (idle in transaction for " in lines[0]
        assert 'running "SELECT count(*) FROM ledger"' in lines[0]
        assert f"pg_terminate_backend({holder_pid})" in lines[0]

    with engine.connect() as connection:
        # Nothing half-applied: the revision's first step went back with its failed one.
        assert connection.execute(text("SELECT to_regclass('audit')")).scalar() is None
        columns = sa.inspect(connection).get_columns("ledger")
        assert "note" not in {column["name"] for column in columns}
        assert MigrationContext.configure(connection).get_current_revision() is None

    retried = alembic_subprocess(ini, database, "upgrade", "head")
    _, errors = retried.communicate(timeout=30)
    assert retried.returncode == 0, errors


def test_a_lock_released_during_the_retries_lets_the_ddl_through(engine: Engine) -> None:
    create_ledger(engine)
    holder = engine.connect()
    holder.execute(text("LOCK TABLE ledger IN ACCESS SHARE MODE"))
    releaser = threading.Timer(0.3, holder.close)  # closing rolls back, releasing the lock
    releaser.start()
    try:
        with engine.connect() as connection, migration_operations(connection):
            connection.execute(text("SET lock_timeout = '5s'"))
            with_lock_retries(
                lambda: op.add_column("ledger", sa.Column("note", sa.Text)),
                LockRetries(attempts=10, lock_timeout=0.05, backoff=0.05),
            )
            # The short timeouts were the attempts' own: the revision's setting is back.
            assert connection.execute(text("SHOW lock_timeout")).scalar() == "5s"
    finally:
        releaser.join()
    with engine.connect() as connection:
        columns = sa.inspect(connection).get_columns("ledger")
    assert "note" in {column["name"] for column in columns}


def test_other_errors_are_not_retried(engine: Engine) -> None:
    create_ledger(engine)
    calls = 0

    def add_existing_column() -> None:
        nonlocal calls
        calls += 1
        op.add_column("ledger", sa.Column("amount", sa.Integer))

    with (
        engine.connect() as connection,
        migration_operations(connection),
        pytest.raises(ProgrammingError, match="already exists"),
    ):
        with_lock_retries(add_existing_column)
    assert calls == 1


def test_refused_inside_an_autocommit_block(engine: Engine) -> None:
    create_ledger(engine)
    with engine.connect() as connection, migration_operations(connection) as context:  # noqa: SIM117
        with (
            context.autocommit_block(),
            pytest.raises(ZeroDowntimeError, match="outside autocommit_block"),
        ):
            with_lock_retries(lambda: op.add_column("ledger", sa.Column("note", sa.Text)))
