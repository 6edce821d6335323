"""The README's expand revision, run by the alembic CLI: offline SQL, upgrade, downgrade."""

from decimal import Decimal
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy import URL, Engine, text
from toolkit_support import alembic_subprocess, scratch_alembic_project

ROWS = 3_000

# The example in the README's "Zero-downtime building blocks" section, as written there.
UPGRADE = """
zd.with_lock_retries(
    lambda: op.add_column("orders", sa.Column("total_cents", sa.BigInteger), if_not_exists=True)
)
zd.create_sync_triggers(
    "orders", "total", "total_cents",
    to_new="round(total * 100)::bigint", to_old="total_cents / 100.0",
)
zd.backfill("orders", {"total_cents": "round(total * 100)::bigint"}, batch_size=500)
zd.create_index_concurrently("ix_orders_total_cents", "orders", ["total_cents"])
zd.add_check_constraint("ck_orders_total_cents_set", "orders", "total_cents IS NOT NULL")
"""
DOWNGRADE = """
zd.drop_index_concurrently("ix_orders_total_cents", "orders")
zd.drop_sync_triggers("orders", "total", "total_cents")
zd.forget_backfill("orders.total_cents")
op.drop_column("orders", "total_cents")
"""


def run(ini: Path, database: URL, *args: str) -> tuple[str, str]:
    process = alembic_subprocess(ini, database, *args)
    output, errors = process.communicate(timeout=60)
    assert process.returncode == 0, errors
    return output, errors


def test_the_expand_revision_upgrades_prints_its_sql_and_downgrades(
    tmp_path: Path, database: URL, engine: Engine
) -> None:
    with engine.begin() as connection:
        connection.execute(
            text("CREATE TABLE orders (id bigint PRIMARY KEY, total numeric(10, 2))")
        )
        connection.execute(
            text("INSERT INTO orders SELECT n, n / 7.0 FROM generate_series(1, :n) n"), {"n": ROWS}
        )
    ini = scratch_alembic_project(tmp_path, [("0001", UPGRADE, DOWNGRADE)])

    sql, _ = run(ini, database, "upgrade", "head", "--sql")
    for expected in (
        "SET LOCAL lock_timeout = '100ms'",
        "ALTER TABLE orders ADD COLUMN IF NOT EXISTS total_cents BIGINT",
        '"total" orders."total"%TYPE := NEW."total";',
        "CREATE TRIGGER zd_sync_total_total_cents BEFORE INSERT OR UPDATE ON orders",
        "-- backfill orders.total_cents: runs online in batches, not in offline SQL",
        "CREATE INDEX CONCURRENTLY IF NOT EXISTS ix_orders_total_cents ON orders (total_cents)",
        "CHECK (total_cents IS NOT NULL) NOT VALID",
        "ALTER TABLE orders VALIDATE CONSTRAINT ck_orders_total_cents_set",
    ):
        assert expected in sql, expected

    _, errors = run(ini, database, "upgrade", "head")
    assert f"backfill orders.total_cents: done, {ROWS:,} rows in" in errors
    with engine.begin() as connection:
        unequal = connection.execute(
            text("SELECT count(*) FROM orders WHERE total_cents <> round(total * 100)")
        ).scalar()
        assert unequal == 0
        connection.execute(text("INSERT INTO orders (id, total) VALUES (-1, 2.5)"))
        connection.execute(text("INSERT INTO orders (id, total_cents) VALUES (-2, 1999)"))
        pairs = connection.execute(
            text("SELECT id, total, total_cents FROM orders WHERE id < 0 ORDER BY id")
        ).all()
        assert [tuple(pair) for pair in pairs] == [
            (-2, Decimal("19.99"), 1999),
            (-1, Decimal("2.50"), 250),
        ]
        connection.execute(text("DELETE FROM orders WHERE id < 0"))
    run(ini, database, "downgrade", "base")
    with engine.connect() as connection:
        columns = {column["name"] for column in sa.inspect(connection).get_columns("orders")}
        triggers = connection.execute(
            text("SELECT count(*) FROM pg_trigger WHERE NOT tgisinternal")
        ).scalar()
        progress = connection.execute(text("SELECT count(*) FROM zerodowntime.backfill")).scalar()
    assert (columns, triggers, progress) == ({"id", "total"}, 0, 0)
