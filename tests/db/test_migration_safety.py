"""Migrating from many processes at once, and processes killed while they migrate."""

import contextlib
import io
import os
import random
import re
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import psycopg
import pytest
from alembic import command
from alembic_toolkit import checks
from alembic_toolkit.errors import MigrationLockTimeoutError
from sqlalchemy import URL, Engine, text

from alembic_stuff.db.migrations import MIGRATION_LOCK_KEY, alembic_config, rows_at_the_heads
from tests.databases import ROOT, project_revisions, revision_id, settings_for

REVISIONS = project_revisions()


def dsn(database: URL) -> str:
    return database.render_as_string(hide_password=False)


def alembic_process(database: URL, *args: str, **env: str) -> subprocess.Popen[str]:
    """`alembic <args>` in its own process, configured by the environment as a replica is."""
    return subprocess.Popen(
        [sys.executable, "-m", "alembic", *args],
        cwd=ROOT,
        env={**os.environ, "DATABASE_URL": dsn(database), **env},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def current(engine: Engine) -> tuple[str, ...]:
    """The database's revisions, one per branch head, sorted."""
    with engine.connect() as connection:
        if not connection.execute(text("SELECT to_regclass('alembic_version')")).scalar():
            return ()
        return tuple(sorted(connection.scalars(text("SELECT version_num FROM alembic_version"))))


def newest(revisions: tuple[str, ...]) -> str | None:
    """The newest of the database's revisions, in the order they are applied."""
    return max(revisions, key=REVISIONS.index) if revisions else None


# The test holds the lock until every replica waits for it, so they all race for it at
# once: more replicas would only add process start-ups (each imports Alembic and the app).
REPLICAS = 4


WAITING = "another process holds the migration lock"


def said_it_waits(replica: subprocess.Popen[str]) -> str:
    """Read `replica`'s output up to the line saying it waits for the lock; what it read."""
    assert replica.stdout is not None
    read = ""
    for line in replica.stdout:
        read += line
        if WAITING in line:
            return read
    pytest.fail(f"the replica ended without waiting for the lock:\n{read}")


def toolkit_process(database: URL, *args: str) -> subprocess.Popen[str]:
    """`alembic-toolkit <args>` (what `pipenv run alembic-latest` runs) in its own process."""
    return subprocess.Popen(
        [str(Path(sys.executable).with_name("alembic-toolkit")), *args],
        cwd=ROOT,
        env={**os.environ, "DATABASE_URL": dsn(database)},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def test_replicas_upgrading_at_once(database: URL, engine: Engine) -> None:
    with psycopg.connect(dsn(database), autocommit=True) as holder:
        holder.execute("SELECT pg_advisory_lock(%s)", (MIGRATION_LOCK_KEY,))
        # Plain Alembic, and alembic-latest, which reports how many revisions it applied.
        replicas = [alembic_process(database, "upgrade", "heads") for _ in range(REPLICAS - 1)]
        replicas.append(toolkit_process(database, "upgrade"))
        said = [said_it_waits(replica) for replica in replicas]
        # What the holder's migration may do while they wait: a concurrent index build waits
        # for every older snapshot to end, so a replica that held one while it waited would
        # deadlock it.
        holder.execute("CREATE TABLE replicas_probe (n integer)")
        holder.execute("CREATE INDEX CONCURRENTLY ix_replicas_probe ON replicas_probe (n)")
        holder.execute("DROP TABLE replicas_probe")
        holder.execute("SELECT pg_advisory_unlock(%s)", (MIGRATION_LOCK_KEY,))
        outputs = [
            before + replica.communicate(timeout=120)[0]
            for before, replica in zip(said, replicas, strict=True)
        ]

    assert [replica.returncode for replica in replicas] == [0] * REPLICAS, outputs
    ran = Counter(
        match for output in outputs for match in re.findall(r"Running upgrade \S* -> (\w+)", output)
    )
    assert ran == dict.fromkeys(REVISIONS, 1)  # each revision's DDL ran exactly once
    assert current(engine) == rows_at_the_heads()
    # It claims what it ran, not what was pending before it waited for the lock.
    ran_by_app = len(re.findall(r"Running upgrade", outputs[-1]))
    claimed = re.findall(r"upgraded: (\d+) revision\(s\) applied", outputs[-1])
    assert claimed == ([str(ran_by_app)] if ran_by_app else []), outputs[-1]


def test_the_lock_of_a_killed_holder_is_freed(database: URL, engine: Engine) -> None:
    with subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import psycopg, sys, time\n"
            "conn = psycopg.connect(sys.argv[1], autocommit=True)\n"
            "conn.execute('SELECT pg_advisory_lock(%s)', (int(sys.argv[2]),))\n"
            "print('locked', flush=True)\n"
            "time.sleep(120)\n",
            dsn(database),
            str(MIGRATION_LOCK_KEY),
        ],
        stdout=subprocess.PIPE,
        text=True,
    ) as holder:
        assert holder.stdout is not None
        assert holder.stdout.readline().strip() == "locked"
        holder.kill()

    # The wait is bounded: were the dead holder's lock not freed, this would time out.
    settings = settings_for(database, migration_lock_wait_seconds=10)
    command.upgrade(alembic_config(settings, configure_logging=False), "heads")
    assert current(engine) == rows_at_the_heads()


def test_the_lock_wait_is_bounded_and_says_why(database: URL, engine: Engine) -> None:
    with psycopg.connect(dsn(database), autocommit=True) as holder:
        holder.execute("SELECT pg_advisory_lock(%s)", (MIGRATION_LOCK_KEY,))
        settings = settings_for(database, migration_lock_wait_seconds=0.5)
        with pytest.raises(
            MigrationLockTimeoutError, match=r"held the migration lock .* for over 0\.5 s"
        ):
            command.upgrade(alembic_config(settings, configure_logging=False), "heads")
    assert current(engine) == ()


def test_read_only_commands_answer_while_a_migration_holds_the_lock(
    database: URL, engine: Engine
) -> None:
    command.upgrade(alembic_config(settings_for(database), configure_logging=False), "heads")
    with psycopg.connect(dsn(database), autocommit=True) as holder:
        holder.execute("SELECT pg_advisory_lock(%s)", (MIGRATION_LOCK_KEY,))
        # Were they to wait for the lock, they would fail after half a second.
        settings = settings_for(database, migration_lock_wait_seconds=0.5)
        config = alembic_config(settings, configure_logging=False)
        config.stdout = output = io.StringIO()
        command.current(config)
        command.check(config)
        # Writers still wait their turn.
        with pytest.raises(MigrationLockTimeoutError):
            command.stamp(config, "base")
    assert all(f"{head} (" in output.getvalue() for head in rows_at_the_heads()), output.getvalue()
    assert "No new upgrade operations detected." in output.getvalue()
    assert current(engine) == rows_at_the_heads()


def reference_schemas(database: URL, engine: Engine) -> dict[str | None, object]:
    """The schema at every revision boundary, from a clean upgrade step by step."""
    config = alembic_config(settings_for(database), configure_logging=False)
    schemas: dict[str | None, object] = {None: checks.schema(engine)}
    for revision in REVISIONS:
        command.upgrade(config, revision)
        schemas[revision] = checks.schema(engine)
    command.downgrade(config, "base")
    return schemas


def test_sigkill_at_random_moments_leaves_a_revision_boundary(
    database: URL, engine: Engine
) -> None:
    schemas = reference_schemas(database, engine)
    config = alembic_config(settings_for(database), configure_logging=False)
    chance = random.Random(20261125)  # fixed: a failure can be replayed
    for _ in range(10):
        command.downgrade(config, "base")
        process = alembic_process(database, "upgrade", "heads")
        # The moment: start-up, then the migrations themselves. One drawn after the process
        # has finished kills nothing, so the wait ends with the process.
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(timeout=chance.uniform(0.2, 1.5))
        process.send_signal(signal.SIGKILL)
        process.communicate()

        revision = newest(current(engine))
        assert checks.schema(engine) == schemas[revision], f"half-applied at {revision}"
        command.upgrade(config, "heads")
        assert current(engine) == rows_at_the_heads()


def test_sigkill_inside_a_revision_rolls_it_back(database: URL, engine: Engine) -> None:
    config = alembic_config(settings_for(database), configure_logging=False)
    command.upgrade(config, REVISIONS[0])
    before = checks.schema(engine)
    with (
        psycopg.connect(dsn(database)) as blocker,
        psycopg.connect(dsn(database), autocommit=True) as observer,
    ):
        # Hold the table, so the next revision blocks inside its transaction, at its first
        # ALTER, until it is killed there.
        blocker.execute("LOCK TABLE country IN ACCESS SHARE MODE")
        process = alembic_process(database, "upgrade", "heads")
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            waiting = observer.execute(
                "SELECT count(*) FROM pg_stat_activity"
                " WHERE wait_event_type = 'Lock' AND query LIKE 'ALTER TABLE country%'"
            ).fetchone()
            if waiting == (1,):
                break
            time.sleep(0.05)
        else:
            process.kill()
            pytest.fail(f"the upgrade never blocked:\n{process.communicate()[0]}")
        process.send_signal(signal.SIGKILL)
        process.communicate()
        blocker.rollback()

    assert current(engine) == (REVISIONS[0],)
    assert checks.schema(engine) == before
    command.upgrade(config, "heads")
    assert current(engine) == rows_at_the_heads()


def test_a_revision_waiting_too_long_for_a_lock_fails_in_one_line(
    database: URL, engine: Engine
) -> None:
    config = alembic_config(settings_for(database), configure_logging=False)
    # The last revision that alters a table: the rename.
    before_rename = revision_id("add_iso_3166_columns")
    command.upgrade(config, before_rename)
    with psycopg.connect(dsn(database)) as holder:  # a transaction reading the table, left open
        holder.execute("SELECT count(*) FROM country")
        holder_pid = holder.info.backend_pid
        replica = alembic_process(
            database, "upgrade", "heads", MIGRATION_LOCK_TIMEOUT_SECONDS="0.5"
        )
        output = replica.communicate(timeout=60)[0]
    assert replica.returncode != 0
    assert "Traceback" not in output
    [failure] = [line for line in output.splitlines() if line.startswith("FAILED")]
    assert failure.startswith(
        "FAILED: a migration statement waited longer than 0.5 s (MIGRATION_LOCK_TIMEOUT_SECONDS) "
        "for a table lock; the revision was rolled back; the oldest transaction holding a table "
        f"lock is pid {holder_pid} (idle in transaction for "
    ), failure
    assert 'running "SELECT count(*) FROM country"' in failure
    assert current(engine) == (before_rename,)
