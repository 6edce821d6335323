"""Backfill speed: zerodowntime.backfill in committed batches against one UPDATE of the table.

`pipenv run python -m bench.backfill [--rows N]` fills a fresh table of N rows (1,000,000 by
default) on DATABASE_URL's server or the embedded one, copies a column once with a single
UPDATE and once per batch size with `backfill()`, each on a table built afresh, and prints
rows/s for each. It asserts nothing: the figures go in the report of whoever runs it.
"""

import argparse
import io
import time

from alembic.operations import Operations
from alembic.runtime.migration import MigrationContext
from alembic_toolkit.zerodowntime import StreamProgress, backfill
from sqlalchemy import Connection, create_engine, text
from sqlalchemy.pool import NullPool

from alembic_stuff.settings import Settings
from bench.databases import bench_database

BATCH_SIZES = (1_000, 10_000)


def fresh_table(connection: Connection, rows: int) -> None:
    connection.execute(text("DROP TABLE IF EXISTS bench_ledger"))
    connection.execute(text("DROP SCHEMA IF EXISTS zerodowntime CASCADE"))
    connection.execute(
        text(
            "CREATE TABLE bench_ledger (id bigint PRIMARY KEY, amount integer NOT NULL,"
            " cents bigint)"
        )
    )
    connection.execute(
        text(
            "INSERT INTO bench_ledger (id, amount) SELECT n, n % 997 FROM generate_series(1, :n) n"
        ),
        {"n": rows},
    )
    connection.execute(text("VACUUM ANALYZE bench_ledger"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    rows = parser.parse_args().rows
    with bench_database() as url:
        settings = Settings(_env_file=None, database_url=url.render_as_string(hide_password=False))
        engine = create_engine(settings.migration_url, poolclass=NullPool)
        autocommit = engine.execution_options(isolation_level="AUTOCOMMIT")
        rates: dict[str, float] = {}
        with autocommit.connect() as connection:
            fresh_table(connection, rows)
            started = time.perf_counter()
            connection.execute(text("UPDATE bench_ledger SET cents = amount * 100"))
            rates["one UPDATE"] = rows / (time.perf_counter() - started)
        for size in BATCH_SIZES:
            with autocommit.connect() as connection:
                fresh_table(connection, rows)
            with engine.connect() as connection:
                context = MigrationContext.configure(connection)
                with Operations.context(context), context.begin_transaction():
                    result = backfill(
                        "bench_ledger",
                        {"cents": "amount * 100"},
                        batch_size=size,
                        progress=StreamProgress(io.StringIO()),
                    )
            if result is None:
                raise SystemExit("backfill ran offline: nothing measured")
            rates[f"backfill, batches of {size:,}"] = result.rows_per_second
        with autocommit.connect() as connection:
            connection.execute(text("DROP TABLE bench_ledger"))
            connection.execute(text("DROP SCHEMA zerodowntime CASCADE"))
        engine.dispose()
    for name, rate in rates.items():
        print(f"{name}: {rate:,.0f} rows/s")
    single = rates["one UPDATE"]
    summary = ", ".join(
        f"{rate / single:.2f}x in batches of {name.rsplit(' ', 1)[1]}"
        for name, rate in rates.items()
        if name != "one UPDATE"
    )
    print(f"backfill {rows:,} rows: one UPDATE {single:,.0f} rows/s; backfill {summary}")


if __name__ == "__main__":
    main()
