-- The API's own login, created when the database is first initialised (docker-entrypoint-initdb.d).
-- Migrations run as the schema owner (postgres); the API connects as alembic_stuff_app, which may
-- read and write rows but cannot create, alter, truncate or drop anything.
DO $$
BEGIN
    IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'alembic_stuff_app') THEN
        CREATE ROLE alembic_stuff_app LOGIN PASSWORD 'app';
    END IF;
END
$$;

GRANT USAGE ON SCHEMA public TO alembic_stuff_app;

-- Applies to every table and sequence the owner creates from now on, i.e. by each migration.
ALTER DEFAULT PRIVILEGES IN SCHEMA public
    GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO alembic_stuff_app;
ALTER DEFAULT PRIVILEGES IN SCHEMA public
    GRANT USAGE, SELECT ON SEQUENCES TO alembic_stuff_app;
