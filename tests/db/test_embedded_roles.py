"""Least privilege on the embedded server: passwords for every role, the API as its own role."""

import stat
from collections.abc import Iterator

import psycopg
import pytest
from click.testing import CliRunner
from psycopg import errors

from alembic_stuff.cli import main
from alembic_stuff.db.embedded import EmbeddedPostgres
from alembic_stuff.db.migrations import MIGRATION_LOCK_KEY, upgrade_to_head
from alembic_stuff.settings import APP_ROLE, Settings, get_settings
from tests.databases import serve, throwaway_server


@pytest.fixture(scope="module")
def embedded() -> Iterator[tuple[EmbeddedPostgres, Settings]]:
    """An embedded server of the module's own, set up by `db up` as a developer's would be."""
    server = throwaway_server()
    with pytest.MonkeyPatch.context() as patch:
        # Empty, not unset: a developer's .env must not fill it in with their own database.
        patch.setenv("DATABASE_URL", "")
        patch.setenv("EMBEDDED_DATA_DIR", str(server.data_dir))
        patch.setenv("EMBEDDED_PORT", str(server.port))
        get_settings.cache_clear()
        try:
            up = CliRunner().invoke(main, ["db", "up"])
            assert up.exit_code == 0, up.output
            yield server, get_settings()
        finally:
            server.destroy()
            get_settings.cache_clear()


def connect(settings: Settings, *, as_app: bool) -> psycopg.Connection[tuple[object, ...]]:
    url = (settings.app_url if as_app else settings.server_url).set(drivername="postgresql")
    return psycopg.connect(url.render_as_string(hide_password=False), autocommit=True)


def test_no_role_logs_in_without_its_password(
    embedded: tuple[EmbeddedPostgres, Settings],
) -> None:
    server, settings = embedded
    for role in ("postgres", APP_ROLE):
        no_password = f"postgresql://{role}@127.0.0.1:{server.port}/{settings.embedded_database}"
        with pytest.raises(psycopg.OperationalError, match="password"):
            psycopg.connect(no_password, connect_timeout=5).close()
        wrong = no_password.replace(f"{role}@", f"{role}:guessed@")
        with pytest.raises(psycopg.OperationalError, match="password authentication failed"):
            psycopg.connect(wrong, connect_timeout=5).close()


def test_the_password_file_is_its_owners_alone(
    embedded: tuple[EmbeddedPostgres, Settings],
) -> None:
    server, settings = embedded
    assert stat.S_IMODE(server.passfile.stat().st_mode) == 0o600
    # The URLs name the file; no password is in them, to be printed or logged.
    for url in (settings.app_url, settings.server_url):
        assert url.query["passfile"] == str(server.passfile)
        assert url.password is None


def test_the_api_role_is_no_superuser_and_cannot_run_programs(
    embedded: tuple[EmbeddedPostgres, Settings],
) -> None:
    _, settings = embedded
    with connect(settings, as_app=True) as conn:
        assert conn.execute(
            "SELECT current_user, rolsuper FROM pg_roles WHERE rolname = current_user"
        ).fetchone() == (APP_ROLE, False)
        with pytest.raises(errors.InsufficientPrivilege):
            conn.execute("COPY (SELECT 1) TO PROGRAM 'id'")
        with pytest.raises(errors.InsufficientPrivilege):
            conn.execute("CREATE TABLE intruder (id int)")


@pytest.mark.parametrize("database", ["the app's", "postgres", "template1"])
def test_the_api_role_cannot_create_temporary_objects_in_any_database(
    embedded: tuple[EmbeddedPostgres, Settings], database: str
) -> None:
    _, settings = embedded
    url = settings.app_url.set(drivername="postgresql")
    if database != "the app's":
        url = url.set(database=database)
    with (
        psycopg.connect(url.render_as_string(hide_password=False), autocommit=True) as conn,
        pytest.raises(errors.InsufficientPrivilege),
    ):
        conn.execute("CREATE TEMPORARY TABLE intruder (id int)")


def test_the_api_role_cannot_take_the_migration_lock(
    embedded: tuple[EmbeddedPostgres, Settings],
) -> None:
    _, settings = embedded
    with connect(settings, as_app=True) as conn, pytest.raises(errors.InsufficientPrivilege):
        conn.execute("SELECT pg_try_advisory_lock(%s)", [MIGRATION_LOCK_KEY])


async def test_migrations_run_as_the_owner_and_the_api_as_its_role(
    embedded: tuple[EmbeddedPostgres, Settings],
) -> None:
    _, settings = embedded
    upgrade_to_head(settings, configure_logging=False)
    async with serve(settings) as client:
        assert (await client.post("/country")).status_code == 201
        assert (await client.get("/country/GB")).status_code == 200
        assert (await client.delete("/country/GB")).status_code == 204
        assert (await client.get("/ready")).status_code == 200
    with connect(settings, as_app=False) as conn:
        owner = conn.execute("SELECT tableowner FROM pg_tables WHERE tablename = 'country'")
        assert owner.fetchone() == ("postgres",)


def test_a_cluster_made_with_trust_auth_gets_passwords() -> None:
    server = throwaway_server()
    try:
        server.start()
        server.stop()
        # What initdb --auth=trust left before passwords were required, and no password file.
        (server.pgdata / "pg_hba.conf").write_text("host all all 127.0.0.1/32 trust\n")
        server.passfile.unlink()
        server.start()

        assert server.passfile.is_file()
        no_password = f"postgresql://postgres@127.0.0.1:{server.port}/postgres"
        with pytest.raises(psycopg.OperationalError, match="password"):
            psycopg.connect(no_password, connect_timeout=5).close()
        with psycopg.connect(server.url().render_as_string(hide_password=False)) as conn:
            assert conn.execute("SELECT 1").fetchone() == (1,)
    finally:
        server.destroy()
