"""alembic-toolkit: safer schema changes for any Alembic project on PostgreSQL.

- `environment`: what env.py needs (the migration lock, timeouts, rename-aware autogenerate,
  and `silence`: a server that stops answering ends the command);
- `autogen`: rename-aware autogenerate (no drop unless someone said so);
- `review`: the destructive-change guard and the squawk lint of each revision's SQL;
- `preview`: the SQL a range of revisions runs, without a database;
- `zerodowntime`: the building blocks of expand/contract (backfill, lock retries, online DDL);
- `upgrades`, `release_module`, `serving`: the migration policy (the guarded upgrade, the
  release a running app reads, readiness and the registry of serving replicas);
- `cli`, `commands`: the `alembic-toolkit` command (upgrade, expand, contract, sql, guard,
  lint, release, check), handing Alembic's own commands to Alembic.

It imports nothing from the project that uses it.
"""

# The one source of the version: pyproject.toml reads it (setuptools dynamic version).
__version__ = "0.1.0"
