-- The API's own login, created when the database is first initialised (docker-entrypoint-initdb.d)
-- and by `pipenv run start` on the embedded server; safe to run again. Migrations run as the
-- schema owner (postgres); the API connects as alembic_stuff_app, which may read and write rows
-- but cannot create, alter, truncate or drop anything, create temporary tables, change the
-- recorded revision, or hold the migration lock.
DO $$
BEGIN
    IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'alembic_stuff_app') THEN
        CREATE ROLE alembic_stuff_app LOGIN PASSWORD 'app';
    END IF;
EXCEPTION WHEN duplicate_object OR unique_violation THEN
    NULL;  -- created by a concurrent run a moment ago
END
$$;

GRANT USAGE ON SCHEMA public TO alembic_stuff_app;
-- PostgreSQL 15 and later grant PUBLIC no CREATE on schema public; older ones do.
REVOKE CREATE ON SCHEMA public FROM PUBLIC;
-- Nor temporary tables, in any database of the server: the API needs none, and PostgreSQL
-- grants them to PUBLIC in every database, which no grant to one role can take back. Each
-- database is revoked by name, so one created later has PUBLIC's default again: run this
-- again after creating one.
DO $$
DECLARE
    database name;
BEGIN
    FOR database IN
        SELECT datname FROM pg_database WHERE has_database_privilege('public', oid, 'TEMPORARY')
    LOOP
        BEGIN
            EXECUTE format('REVOKE TEMPORARY ON DATABASE %I FROM PUBLIC', database);
        EXCEPTION
            -- Dropped meanwhile, or revoked by a concurrent run ("tuple concurrently updated").
            WHEN invalid_catalog_name OR internal_error THEN NULL;
        END;
    END LOOP;
END
$$;

-- Nor the migration lock: a session holding its advisory key would block every deploy.
-- Advisory locks belong to one database, so these are this database's functions; the
-- pairs-of-int4 variants stay, as their keys never equal a bigint key. Whoever runs this
-- script runs the migrations, and keeps them (a superuser needs no grant).
REVOKE EXECUTE ON FUNCTION
    pg_advisory_lock(bigint), pg_advisory_lock_shared(bigint),
    pg_try_advisory_lock(bigint), pg_try_advisory_lock_shared(bigint),
    pg_advisory_xact_lock(bigint), pg_advisory_xact_lock_shared(bigint),
    pg_try_advisory_xact_lock(bigint), pg_try_advisory_xact_lock_shared(bigint)
FROM PUBLIC;
GRANT EXECUTE ON FUNCTION
    pg_advisory_lock(bigint), pg_advisory_lock_shared(bigint),
    pg_try_advisory_lock(bigint), pg_try_advisory_lock_shared(bigint),
    pg_advisory_xact_lock(bigint), pg_advisory_xact_lock_shared(bigint),
    pg_try_advisory_xact_lock(bigint), pg_try_advisory_xact_lock_shared(bigint)
TO CURRENT_USER;

-- Alembic's version table, created before any migration (Alembic creates it only if missing)
-- so that the default privileges below do not cover it: the API reads the revision for
-- /ready, and must not be able to change which revision the database claims to be at.
CREATE TABLE IF NOT EXISTS alembic_version (
    version_num VARCHAR(32) NOT NULL,
    CONSTRAINT alembic_version_pkc PRIMARY KEY (version_num)
);
-- Tables that exist already (a database migrated before the role was set up), then every
-- one a later migration creates; alembic_version stays read-only.
GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO alembic_stuff_app;
GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO alembic_stuff_app;
REVOKE ALL ON alembic_version FROM alembic_stuff_app;
GRANT SELECT ON alembic_version TO alembic_stuff_app;

-- Applies to every table and sequence the owner creates from now on, i.e. by each migration.
ALTER DEFAULT PRIVILEGES IN SCHEMA public
    GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO alembic_stuff_app;
ALTER DEFAULT PRIVILEGES IN SCHEMA public
    GRANT USAGE, SELECT ON SEQUENCES TO alembic_stuff_app;
