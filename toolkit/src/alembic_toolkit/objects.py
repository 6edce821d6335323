"""What the toolkit creates in your database: one schema, `zerodowntime`, and what is in it.

- `applied_revision`: every revision the database has applied, with its branch. Alembic's
  `alembic_version` keeps only the heads, and drops a row when a revision that depends on it
  (`depends_on`) is applied: an older release cannot tell from those rows whether an unknown
  head added (expand) or removed (contract). This table tells it (alembic_toolkit.ledger).
- `serving_replica`: the replicas serving now, each renewed by a heartbeat and expiring when
  it stops (alembic_toolkit.serving). `alembic-contract` reads it before removing anything.
- `registry`: when the registry was created, and whether on a database migrated before it
  (where a replica may serve already, and registers only at its next heartbeat): a contract
  waits for it (alembic_toolkit.serving.registration_wait).
- `heartbeat()` and `leave()`: the only ways to write it, as functions that run with the
  migration role's rights (SECURITY DEFINER), so the API's role needs no table privilege.
- `backfill`: a resumable backfill's progress (alembic_toolkit.zerodowntime.backfill).

Everyone may read `applied_revision` and call the two functions; only the owner reads
`serving_replica` (an entry's instance id is what renews or removes it); nothing else is
granted. They are created, or brought up to date, by the first migration command that holds
the migration lock.
"""

from collections.abc import Iterable

from sqlalchemy import Connection, text

SCHEMA = "zerodowntime"
# Raised whenever a statement below changes, so that databases made before get the new ones.
OBJECTS_VERSION = "alembic-toolkit objects 3"
REPLICA_TABLE = f"{SCHEMA}.serving_replica"
REGISTRY_TABLE = f"{SCHEMA}.registry"

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
    # Before serving_replica: whether that table is there yet tells a registry made now from one
    # an earlier version made (whose replicas are registered already). A database with no
    # revision in alembic_version was never migrated: no release can have served from it. (A
    # database's first set-up may create the table empty, as this project's roles script does;
    # the row is read through EXECUTE, as the table may not exist.)
    """CREATE TABLE IF NOT EXISTS zerodowntime.registry (
        created_at timestamptz NOT NULL DEFAULT now(),
        migrated_before boolean NOT NULL
    )""",
    """DO $$
    DECLARE
        migrated boolean := false;
    BEGIN
        IF EXISTS (SELECT FROM zerodowntime.registry) THEN
            RETURN;
        END IF;
        IF to_regclass('zerodowntime.serving_replica') IS NULL
                AND to_regclass('alembic_version') IS NOT NULL THEN
            EXECUTE 'SELECT EXISTS (SELECT FROM alembic_version)' INTO migrated;
        END IF;
        INSERT INTO zerodowntime.registry (migrated_before) VALUES (migrated);
    END
    $$""",
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
    # An entry's instance id is the key to renewing or removing it: nobody but the owner reads
    # them, so no session can touch another's entry.
    "REVOKE ALL ON zerodowntime.serving_replica FROM PUBLIC",
    # No index on expires_at: heartbeat() keeps the table at 1,000 entries at most.
    """CREATE OR REPLACE FUNCTION zerodowntime.heartbeat(
        p_instance text, p_label text, p_survives_contract text, p_needs_expand text,
        p_host text, p_pid bigint, p_ttl_seconds double precision
    ) RETURNS void LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp
    AS $$
    BEGIN
        IF p_instance IS NULL OR length(p_instance) > 64 OR p_label IS NULL THEN
            RAISE EXCEPTION 'zerodowntime.heartbeat needs an instance of 1 to 64 characters'
                ' and a label';
        END IF;
        -- Housekeeping that never waits: an expired entry another session holds locked
        -- (a replica frozen in its heartbeat, say) is left for a later beat.
        DELETE FROM zerodowntime.serving_replica WHERE instance IN (
            SELECT instance FROM zerodowntime.serving_replica
            WHERE expires_at < now() FOR UPDATE SKIP LOCKED
        );
        IF NOT EXISTS (SELECT FROM zerodowntime.serving_replica WHERE instance = p_instance)
            AND (SELECT count(*) FROM zerodowntime.serving_replica) >= 1000
        THEN
            RAISE EXCEPTION 'zerodowntime.serving_replica holds 1000 live entries already';
        END IF;
        INSERT INTO zerodowntime.serving_replica AS r
            (instance, label, survives_contract, needs_expand, host, pid, expires_at)
        VALUES (
            p_instance, left(p_label, 200), left(p_survives_contract, 32),
            left(p_needs_expand, 32), left(p_host, 200), p_pid,
            now() + make_interval(secs => least(greatest(coalesce(p_ttl_seconds, 1), 1), 3600))
        )
        ON CONFLICT (instance) DO UPDATE SET
            seen_at = now(), expires_at = excluded.expires_at,
            survives_contract = excluded.survives_contract,
            needs_expand = excluded.needs_expand;
    END
    $$""",
    """CREATE OR REPLACE FUNCTION zerodowntime.leave(p_instance text)
    RETURNS void LANGUAGE sql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
        DELETE FROM zerodowntime.serving_replica WHERE instance = p_instance;
    $$""",
    # Which version of these objects the schema holds: ensure() runs them again on a change.
    f"COMMENT ON SCHEMA zerodowntime IS '{OBJECTS_VERSION}'",
)


def statements() -> Iterable[str]:
    """The statements that create the toolkit's objects; each is safe to run again."""
    return DDL


def ensure(connection: Connection) -> None:
    """Create or update the toolkit's objects where not current, in the current transaction."""
    current = connection.execute(
        text("SELECT obj_description(to_regnamespace(:schema), 'pg_namespace')"),
        {"schema": SCHEMA},
    ).scalar_one()
    if current == OBJECTS_VERSION:
        return
    for statement in DDL:
        connection.execute(text(statement))
