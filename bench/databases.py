"""The bench's database: migrated, filled with every country, emptied for the write case."""

import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import psycopg
from sqlalchemy import URL, make_url

from alembic_stuff.db.embedded import EmbeddedPostgres
from alembic_stuff.db.migrations import upgrade_to_head
from alembic_stuff.settings import Settings
from bench.cases import countries
from support.scratch import free_port, scratch_database

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / ".data" / "bench"


@contextmanager
def bench_database() -> Iterator[URL]:
    """A migrated database of its own: on DATABASE_URL's server, else an embedded one."""
    with empty_database("alembic_stuff_bench", "postgres") as url:
        yield _migrated(url)


@contextmanager
def empty_database(name: str, folder: str) -> Iterator[URL]:
    """A new database named after `name`, dropped afterwards.

    On DATABASE_URL's server when it is set, else on an embedded server kept in
    .data/bench/`folder` and stopped afterwards.
    """
    external = os.environ.get("DATABASE_URL")
    if external:
        with scratch_database(make_url(external).set(drivername="postgresql"), f"{name}_") as url:
            yield url
        return
    embedded = EmbeddedPostgres(DATA / folder, free_port())
    embedded.stop()  # one a killed run left behind, on whatever port it had
    try:
        # Inside: a start interrupted half-way (Ctrl-C) still stops what it started.
        embedded.start()
        with scratch_database(embedded.url(), f"{name}_") as url:
            yield url
    finally:
        embedded.stop()


@contextmanager
def scratch(url: URL) -> Iterator[URL]:
    """An empty database beside the bench's."""
    with scratch_database(url.set(database="postgres"), "bench_scratch_") as target:
        yield target


def _migrated(url: URL) -> URL:
    settings = Settings(_env_file=None, database_url=url.render_as_string(hide_password=False))
    upgrade_to_head(settings, configure_logging=False)
    return url


def load_countries(url: URL) -> None:
    """Fill the table with every country (the state the read cases need)."""
    with psycopg.connect(url.render_as_string(hide_password=False)) as conn:
        conn.execute("DELETE FROM country")
        with conn.cursor() as cursor:
            cursor.executemany(
                # An upsert: a write wrk sent just before it stopped may still land.
                "INSERT INTO country VALUES (%(code)s, %(common_name)s, %(alpha_3)s,"
                " %(numeric_code)s, %(official_name)s) ON CONFLICT (code) DO UPDATE"
                " SET common_name = EXCLUDED.common_name, official_name = EXCLUDED.official_name",
                countries(),
            )


def reset_for(case: str, url: URL) -> None:
    """Empty the table before the write case, whose POSTs create every country afresh."""
    time.sleep(0.5)  # let the requests wrk left in flight finish
    if case == "write":
        # A slow server can still be working through requests queued before wrk stopped (the
        # peer's is the slowest): one landing after the DELETE made the first POST of the run
        # a duplicate. Empty the table until it stays empty.
        with psycopg.connect(url.render_as_string(hide_password=False), autocommit=True) as c:
            while c.execute("DELETE FROM country").rowcount:
                time.sleep(0.5)
