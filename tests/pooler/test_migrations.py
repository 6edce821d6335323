"""Migrations pointed at PgBouncer in transaction mode: refused in one line, or correct.

A session advisory lock cannot live behind transaction pooling, so the migration lock refuses
such a connection (alembic_toolkit.pooling); what matters is that whatever happens, no revision
runs twice and no lock is left held.
"""

import os
import re
import subprocess
import sys
from collections import Counter

import psycopg
from sqlalchemy import URL

from alembic_stuff.db.migrations import MIGRATION_LOCK_KEY, current_revisions, rows_at_the_heads
from support.pgbouncer import Pooler
from tests.databases import ROOT, scratch_database, settings_for

MIGRATIONS = 4
ROUNDS = 3
SECONDS = 120
REFUSAL = "FAILED: the migrations' database connection is not one database session: "


def advisory_locks_held(server_url: URL, database: URL) -> int:
    """Sessions on `database`, pooled or not, holding the migration lock."""
    # Other tests on a shared server migrate their own databases under the same key.
    with psycopg.connect(server_url.render_as_string(hide_password=False)) as observer:
        row = observer.execute(
            "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND granted"
            " AND ((classid::bigint << 32) | objid::bigint) = %s"
            " AND database = (SELECT oid FROM pg_database WHERE datname = %s)",
            (MIGRATION_LOCK_KEY, database.database),
        ).fetchone()
    assert row is not None
    return int(row[0])


def reason(refusal: str) -> str:
    """What a refusal saw, without its pids."""
    return re.sub(r" \(pids? [^)]*\)", "", refusal.removeprefix(REFUSAL).split(";")[0])


def upgrade_through(pooled: URL, direct: URL | None = None) -> subprocess.Popen[str]:
    """`alembic upgrade heads` in its own process, DATABASE_URL the pooler.

    `direct` is MIGRATION_DATABASE_URL, as the compose file sets it; None leaves it unset.
    """
    environment = {**os.environ, "DATABASE_URL": pooled.render_as_string(hide_password=False)}
    environment.pop("MIGRATION_DATABASE_URL", None)
    if direct is not None:
        environment["MIGRATION_DATABASE_URL"] = direct.render_as_string(hide_password=False)
    return subprocess.Popen(
        [sys.executable, "-m", "alembic", "upgrade", "heads"],
        cwd=ROOT,
        env=environment,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def test_concurrent_migrations_through_a_transaction_pooler_refuse_or_succeed(
    server_url: URL, pooler: Pooler
) -> None:
    outcomes: list[str] = []
    for _ in range(ROUNDS):
        with scratch_database(server_url) as database:
            processes = [upgrade_through(pooler.url(database)) for _ in range(MIGRATIONS)]
            try:
                results = [(p.wait(SECONDS), p.communicate()[0]) for p in processes]
            finally:
                for process in processes:
                    process.kill()
            for code, output in results:
                # Success, or the refusal alone, last: a revision run twice fails on its own
                # DDL, and anything else (a traceback) is not that one line.
                failures = [line for line in output.splitlines() if "FAILED" in line]
                assert "Traceback" not in output, output
                assert code == 0 or failures == [output.strip().splitlines()[-1]], output
                assert code == 0 or failures[0].startswith(REFUSAL), output
                outcomes.append("migrated" if code == 0 else reason(failures[0]))
            if any(code == 0 for code, _ in results):
                assert current_revisions(settings_for(database)) == rows_at_the_heads()
            assert advisory_locks_held(server_url, database) == 0, [output for _, output in results]
    print(f"{MIGRATIONS} x {ROUNDS} migrations through the pooler: {Counter(outcomes)}")


def test_concurrent_migrations_beside_the_pooler_use_the_direct_url(
    server_url: URL, pooler: Pooler
) -> None:
    with scratch_database(server_url) as database:
        processes = [
            upgrade_through(pooler.url(database), direct=database) for _ in range(MIGRATIONS)
        ]
        try:
            results = [(p.wait(SECONDS), p.communicate()[0]) for p in processes]
        finally:
            for process in processes:
                process.kill()
        # One migrated, the others waited for the lock and found nothing left to do.
        assert [code for code, _ in results] == [0] * MIGRATIONS, results
        assert current_revisions(settings_for(database)) == rows_at_the_heads()
        assert advisory_locks_held(server_url, database) == 0
