-- The API's own login, created when the database is first initialised (docker-entrypoint-initdb.d)
-- and by `pipenv run start` on the embedded server; safe to run again. Migrations run as the
-- schema owner (postgres); the API connects as alembic_stuff_app, which may read and write rows
-- but cannot create, alter, truncate or drop anything, nor change the recorded revision.
DO $$
BEGIN
    IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'alembic_stuff_app') THEN
        CREATE ROLE alembic_stuff_app LOGIN PASSWORD 'app';
    END IF;
EXCEPTION WHEN duplicate_object THEN
    NULL;  -- created by a concurrent run a moment ago
END
$$;

GRANT USAGE ON SCHEMA public TO alembic_stuff_app;
-- PostgreSQL 15 and later grant PUBLIC no CREATE on schema public; older ones do.
REVOKE CREATE ON SCHEMA public FROM PUBLIC;
-- Nor temporary tables: the API needs none (PUBLIC may create them by default).
DO $$
BEGIN
    EXECUTE format('REVOKE TEMPORARY ON DATABASE %I FROM PUBLIC', current_database());
END
$$;

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
