"""alembic-toolkit: safer schema changes for any Alembic project on PostgreSQL.

- `environment`: what env.py needs (the migration lock, timeouts, rename-aware autogenerate);
- `autogen`: rename-aware autogenerate (no drop unless someone said so);
- `review`: the destructive-change guard and the squawk lint of each revision's SQL;
- `preview`: the SQL a range of revisions runs, without a database;
- `zerodowntime`: the building blocks of expand/contract (backfill, lock retries, online DDL);
- `cli`: the `alembic-toolkit` command: Alembic's own (whose `upgrade --sql` previews), plus
  `guard` and `lint`.

It imports nothing from the project that uses it.
"""

# The one source of the version: pyproject.toml reads it (setuptools dynamic version).
__version__ = "0.1.0"
