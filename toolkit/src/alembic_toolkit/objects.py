"""What the toolkit creates in your database: one schema, `zerodowntime`, and what is in it.

- `applied_revision`: every revision the database has applied, with its branch. Alembic's
  `alembic_version` keeps only the heads, and drops a row when a revision that depends on it
  (`depends_on`) is applied: an older release cannot tell from those rows whether an unknown
  head added (expand) or removed (contract). This table tells it (alembic_toolkit.ledger).
- `serving_replica`: the replicas serving now, each renewed by a heartbeat and expiring when
  it stops (alembic_toolkit.serving). `alembic-contract` reads it before removing anything.
- `heartbeat()` and `leave()`: the only ways to write it, as functions that run with the
  migration role's rights (SECURITY DEFINER), so the API's role needs no table privilege.
- `backfill`: a resumable backfill's progress (alembic_toolkit.zerodowntime.backfill).

Everyone may read the first two and call the functions; nothing else is granted. They are
created, when missing, by the first migration command that holds the migration lock.
"""

from collections.abc import Iterable

from sqlalchemy import Connection, text

SCHEMA = "zerodowntime"
APPLIED_TABLE = f"{SCHEMA}.applied_revision"
REPLICA_TABLE = f"{SCHEMA}.serving_replica"

# Written out, not formatted from the names above: they are the reference for what the toolkit
# creates. The functions run with a fixed search_path: a SECURITY DEFINER function must not
# resolve names through a schema its caller controls.
DDL: tuple[str, ...] = (
    "CREATE SCHEMA IF NOT EXISTS zerodowntime",
    "GRANT USAGE ON SCHEMA zerodowntime TO PUBLIC",
    """CREATE TABLE IF NOT EXISTS zerodowntime.applied_revision (
        revision varchar(32) PRIMARY KEY,
        branch text,
        recorded_at timestamptz NOT NULL DEFAULT now()
    )""",
    "GRANT SELECT ON zerodowntime.applied_revision TO PUBLIC",
    """CREATE TABLE IF NOT EXISTS zerodowntime.serving_replica (
        instance text PRIMARY KEY,
        label text NOT NULL,
        survives_contract text,
        needs_expand text,
        host text,
        pid bigint,
        started_at timestamptz NOT NULL DEFAULT now(),
        seen_at timestamptz NOT NULL DEFAULT now(),
        expires_at timestamptz NOT NULL
    )""",
    "GRANT SELECT ON zerodowntime.serving_replica TO PUBLIC",
    """CREATE OR REPLACE FUNCTION zerodowntime.heartbeat(
        p_instance text, p_label text, p_survives_contract text, p_needs_expand text,
        p_host text, p_pid bigint, p_ttl_seconds double precision
    ) RETURNS void LANGUAGE sql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
        DELETE FROM zerodowntime.serving_replica WHERE expires_at < now();
        INSERT INTO zerodowntime.serving_replica AS r
            (instance, label, survives_contract, needs_expand, host, pid, expires_at)
        VALUES (
            p_instance, left(p_label, 200), p_survives_contract, p_needs_expand,
            left(p_host, 200), p_pid,
            now() + make_interval(secs => least(greatest(p_ttl_seconds, 1), 3600))
        )
        ON CONFLICT (instance) DO UPDATE SET
            seen_at = now(), expires_at = excluded.expires_at,
            survives_contract = excluded.survives_contract,
            needs_expand = excluded.needs_expand;
    $$""",
    """CREATE OR REPLACE FUNCTION zerodowntime.leave(p_instance text)
    RETURNS void LANGUAGE sql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
        DELETE FROM zerodowntime.serving_replica WHERE instance = p_instance;
    $$""",
)


def statements() -> Iterable[str]:
    """The statements that create the toolkit's objects; each is safe to run again."""
    return DDL


def ensure(connection: Connection) -> None:
    """Create the toolkit's objects where missing, in the connection's current transaction."""
    present = connection.execute(
        text(
            "SELECT to_regclass(:applied) IS NOT NULL AND to_regclass(:replicas) IS NOT NULL"
            " AND to_regprocedure(:leave) IS NOT NULL"
        ),
        {
            "applied": APPLIED_TABLE,
            "replicas": REPLICA_TABLE,
            "leave": f"{SCHEMA}.leave(text)",
        },
    ).scalar_one()
    if present:
        return
    for statement in DDL:
        connection.execute(text(statement))
