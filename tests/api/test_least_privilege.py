"""Migrations as the schema owner, the API as a role that can only read and write rows.

Each test is one claim of the README's least-privilege paragraph (section "Docker"), in its
order: the role reads and writes rows; it cannot create, alter, truncate or drop anything,
create temporary tables in any database of the server, take the migration lock, or change
`alembic_version`, which it may read; default privileges cover tables made later.
"""

import contextlib
import json
import os
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from filelock import FileLock
from psycopg import errors, sql
from sqlalchemy import URL

from alembic_stuff.db.migrations import MIGRATION_LOCK_KEY, upgrade_to_head
from tests.databases import ROOT, SCRATCH_PREFIX, scratch_database, serve, settings_for

ROLES_SQL = ROOT / "docker" / "initdb" / "10-app-role.sql"
APP_ROLE = "alembic_stuff_app"


@pytest.fixture
def database_with_app_role(server_url: URL) -> Iterator[URL]:
    """A scratch database set up as the compose file sets one up: roles first, then migrations.

    The migrations take the migration lock as the owner, after the role's script closed it to
    everyone else: that they run at all shows the owner keeps it.
    """
    # The role is the server's, shared by every worker's database: one worker's clean-up
    # must not drop it between another's CREATE ROLE and its grants.
    role_lock = FileLock(
        Path(tempfile.gettempdir()) / f"alembic_stuff_app_role-{server_url.port}.lock"
    )
    with scratch_database(server_url) as database, temporary_grants_kept(server_url, role_lock):
        with (
            role_lock,
            psycopg.connect(database.render_as_string(hide_password=False), autocommit=True) as c,
        ):
            c.execute(ROLES_SQL.read_bytes())
        upgrade_to_head(settings_for(database), configure_logging=False)
        yield database
    # Unless a test on another worker, on the same server, has a database granting it.
    with (
        role_lock,
        psycopg.connect(server_url.render_as_string(hide_password=False), autocommit=True) as c,
        contextlib.suppress(errors.DependentObjectsStillExist),
    ):
        c.execute(sql.SQL("DROP ROLE IF EXISTS {}").format(sql.Identifier(APP_ROLE)))


@contextlib.contextmanager
def temporary_grants_kept(server: URL, lock: FileLock) -> Iterator[None]:
    """Grant temporary tables back to PUBLIC where it had them, once no one else runs the script.

    The script revokes them from PUBLIC in every database of the server. On a server the
    suite shares (TEST_DATABASE_URL), that must not outlast the tests: the first user records
    which databases granted them, and the last to leave, on any worker, grants them back. The
    record names its users by process and token; one whose process died is dropped from it.
    """
    record = Path(lock.lock_file).with_suffix(".json")
    me = [os.getpid(), uuid.uuid4().hex]
    with lock, _connect_to(server) as connection:
        held = json.loads(record.read_text()) if record.exists() else None
        if held is None:
            granting = connection.execute(
                "SELECT datname FROM pg_database "
                "WHERE has_database_privilege('public', oid, 'TEMPORARY')"
            )
            # The tests' own scratch databases are dropped by whoever made them.
            names = [str(name) for (name,) in granting]
            kept = [name for name in names if not name.startswith(SCRATCH_PREFIX)]
            held = {"users": [], "databases": kept}
        held["users"] = [*_alive(held["users"]), me]
        record.write_text(json.dumps(held))
    try:
        yield
    finally:
        with lock, _connect_to(server) as connection:
            held = json.loads(record.read_text())
            held["users"] = [user for user in _alive(held["users"]) if user != me]
            if held["users"]:
                record.write_text(json.dumps(held))
            else:
                for name in held["databases"]:
                    grant = sql.SQL("GRANT TEMPORARY ON DATABASE {} TO PUBLIC")
                    # Dropped meanwhile, or being dropped ("tuple concurrently deleted").
                    with contextlib.suppress(errors.InvalidCatalogName, errors.InternalError_):
                        connection.execute(grant.format(sql.Identifier(name)))
                record.unlink()


def _connect_to(server: URL) -> psycopg.Connection[tuple[object, ...]]:
    return psycopg.connect(server.render_as_string(hide_password=False), autocommit=True)


def _alive(users: list[list[Any]]) -> list[list[Any]]:
    """The users whose process still runs."""
    alive = []
    for user in users:
        try:
            os.kill(user[0], 0)
        except ProcessLookupError:
            continue
        except PermissionError:
            pass  # another system user's process: alive
        alive.append(user)
    return alive


def as_app(database_with_app_role: URL) -> URL:
    return database_with_app_role.set(username=APP_ROLE, password="app")


def connect(url: URL) -> psycopg.Connection[tuple[object, ...]]:
    return psycopg.connect(url.render_as_string(hide_password=False), connect_timeout=10)


async def test_the_api_works_as_the_app_role(database_with_app_role: URL) -> None:
    async with serve(settings_for(as_app(database_with_app_role))) as client:
        assert (await client.post("/country")).status_code == 201
        assert (await client.get("/country/GB")).status_code == 200
        assert (await client.patch("/country/GB", json={"common_name": "UK"})).status_code == 200
        assert (await client.delete("/country/GB")).status_code == 204
        assert (await client.get("/ready")).status_code == 200


@pytest.mark.parametrize(
    "statement",
    [
        "CREATE TABLE intruder (id int)",
        "CREATE VIEW intruder AS SELECT 1",
        "CREATE SEQUENCE intruder",
        "CREATE TYPE intruder AS ENUM ('a')",
        "CREATE FUNCTION intruder() RETURNS int LANGUAGE sql AS 'SELECT 1'",
        "CREATE SCHEMA intruder",
        "CREATE INDEX intruder ON country (common_name)",
        "ALTER TABLE country ADD COLUMN intruder int",
        "ALTER TABLE country RENAME TO intruder",
        "COMMENT ON TABLE country IS 'intruder'",
        "TRUNCATE country",
        "DROP TABLE country",
    ],
)
def test_the_app_role_cannot_create_alter_truncate_or_drop(
    database_with_app_role: URL, statement: str
) -> None:
    with (
        connect(as_app(database_with_app_role)) as conn,
        pytest.raises(errors.InsufficientPrivilege),
    ):
        conn.execute(statement.encode())


@pytest.mark.parametrize("database", ["the app's", "postgres"])
@pytest.mark.parametrize(
    "statement", ["CREATE TEMPORARY TABLE intruder (id int)", "CREATE TEMPORARY VIEW v AS SELECT 1"]
)
def test_the_app_role_cannot_create_temporary_objects_in_any_database(
    database_with_app_role: URL, database: str, statement: str
) -> None:
    url = as_app(database_with_app_role)
    if database == "postgres":
        url = url.set(database="postgres")
    with connect(url) as conn, pytest.raises(errors.InsufficientPrivilege):
        conn.execute(statement.encode())


@pytest.mark.parametrize(
    "function",
    [
        "pg_advisory_lock",
        "pg_try_advisory_lock",
        "pg_advisory_xact_lock",
        "pg_try_advisory_xact_lock",
        "pg_advisory_lock_shared",
        "pg_try_advisory_lock_shared",
        "pg_advisory_xact_lock_shared",
        "pg_try_advisory_xact_lock_shared",
    ],
)
def test_the_app_role_cannot_take_the_migration_lock(
    database_with_app_role: URL, function: str
) -> None:
    # A session of the API holding it would block every deploy until it disconnected.
    with (
        connect(as_app(database_with_app_role)) as conn,
        pytest.raises(errors.InsufficientPrivilege),
    ):
        conn.execute(
            sql.SQL("SELECT {}(%s)").format(sql.Identifier(function)), [MIGRATION_LOCK_KEY]
        )


@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE alembic_version SET version_num = 'deadbeef0000'",
        "DELETE FROM alembic_version",
        "INSERT INTO alembic_version VALUES ('deadbeef0000')",
        "TRUNCATE alembic_version",
    ],
)
def test_the_app_role_cannot_change_the_recorded_revision(
    database_with_app_role: URL, statement: str
) -> None:
    with (
        connect(as_app(database_with_app_role)) as conn,
        pytest.raises(errors.InsufficientPrivilege),
    ):
        conn.execute(statement.encode())


def test_the_app_role_may_read_the_recorded_revision(database_with_app_role: URL) -> None:
    with connect(as_app(database_with_app_role)) as conn:
        assert conn.execute("SELECT version_num FROM alembic_version").fetchall()


def test_default_privileges_cover_a_table_a_later_migration_creates(
    database_with_app_role: URL,
) -> None:
    with connect(database_with_app_role) as owner:
        owner.execute("CREATE TABLE later (id bigint GENERATED ALWAYS AS IDENTITY, note text)")
        owner.commit()
    with connect(as_app(database_with_app_role)) as conn:
        conn.execute("INSERT INTO later (note) VALUES ('written')")
        conn.execute("UPDATE later SET note = 'changed'")
        assert conn.execute("SELECT note FROM later").fetchall() == [("changed",)]
        conn.execute("DELETE FROM later")
        with pytest.raises(errors.InsufficientPrivilege):
            conn.execute("DROP TABLE later")


def test_the_app_role_registers_its_replicas_but_reads_no_one_elses(
    database_with_app_role: URL,
) -> None:
    with connect(as_app(database_with_app_role)) as app:
        app.execute("SELECT zerodowntime.heartbeat('mine', 'x', NULL, NULL, NULL, NULL, 60)")
        app.commit()
        # The instance ids are the keys to the entries: not readable, so not someone else's.
        with pytest.raises(errors.InsufficientPrivilege):
            app.execute("SELECT instance FROM zerodowntime.serving_replica")
        app.rollback()
        with pytest.raises(errors.RaiseException, match="1 to 64 characters"):
            app.execute(
                "SELECT zerodowntime.heartbeat(repeat('i', 65), 'x', NULL, NULL, NULL, NULL, 60)"
            )
        app.rollback()
        # Nor can it fill the registry without bound.
        app.execute(
            "SELECT zerodowntime.heartbeat(n::text, 'x', NULL, NULL, NULL, NULL, 60)"
            " FROM generate_series(1, 999) AS n"
        )
        app.commit()
        with pytest.raises(errors.RaiseException, match="1000 live entries"):
            app.execute(
                "SELECT zerodowntime.heartbeat('one more', 'x', NULL, NULL, NULL, NULL, 60)"
            )
        app.rollback()
        app.execute("SELECT zerodowntime.heartbeat('mine', 'x', NULL, NULL, NULL, NULL, 60)")


def test_an_entry_held_locked_does_not_hold_up_anyone_elses_heartbeat(
    database_with_app_role: URL,
) -> None:
    app_url = as_app(database_with_app_role)
    with connect(app_url) as frozen, connect(app_url) as other:
        frozen.execute("SELECT zerodowntime.heartbeat('frozen', 'x', NULL, NULL, NULL, NULL, 1)")
        frozen.commit()
        frozen.execute("SELECT pg_sleep(1.2)")  # its entry expires
        # A replica frozen inside its heartbeat's transaction, holding its expired entry.
        frozen.execute("SELECT zerodowntime.leave('frozen')")
        other.execute("SET statement_timeout = '2s'")
        other.execute("SELECT zerodowntime.heartbeat('other', 'x', NULL, NULL, NULL, NULL, 60)")
        other.commit()
        frozen.rollback()
