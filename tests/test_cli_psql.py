"""`pipenv run psql`: the password reaches psql through its environment, not its arguments."""

import subprocess
import uuid

import psycopg
from psycopg import sql
from sqlalchemy import URL

from alembic_stuff.cli.database import psql_command
from tests.databases import scratch_database, settings_for


def test_psql_gets_the_password_from_its_environment(server_url: URL) -> None:
    role, password = f"psql_test_{uuid.uuid4().hex[:8]}", uuid.uuid4().hex
    with scratch_database(server_url) as database:
        with psycopg.connect(database.render_as_string(hide_password=False)) as admin:
            admin.execute(
                sql.SQL("CREATE ROLE {} LOGIN PASSWORD {}").format(
                    sql.Identifier(role), sql.Literal(password)
                )
            )
        try:
            # The password in the URL, as DATABASE_URL holds it (no password file).
            url = URL.create(
                "postgresql", role, password, database.host, database.port, database.database
            )
            query = ("-X", "-At", "-c", "SELECT current_user")
            arguments, environment = psql_command(settings_for(url), query)

            # Every user on the machine can read a process's arguments (ps, /proc/PID/cmdline).
            assert not any(password in argument for argument in arguments)
            assert environment["PGPASSWORD"] == password
            result = subprocess.run(
                arguments, env=environment, capture_output=True, text=True, timeout=60, check=False
            )
            assert result.returncode == 0, result.stderr
            assert result.stdout.strip() == role
        finally:
            with psycopg.connect(database.render_as_string(hide_password=False)) as admin:
                admin.execute(sql.SQL("DROP ROLE {}").format(sql.Identifier(role)))
