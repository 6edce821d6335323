"""`pipenv run psql`: the password reaches psql through its environment, not its arguments."""

import subprocess

from sqlalchemy import URL

from alembic_stuff.cli import psql_command
from tests.databases import scratch_database, settings_for


def test_psql_gets_the_password_from_its_environment(server_url: URL) -> None:
    with scratch_database(server_url) as database:
        # A trust server ignores a password it does not need; one that needs it, uses it.
        url = database if database.password else database.set(password="not-for-ps-output")
        query = ("-X", "-At", "-c", "SELECT current_database()")
        arguments, environment = psql_command(settings_for(url), query)

        # Every user on the machine can read a process's arguments (ps, /proc/PID/cmdline).
        assert not any(str(url.password) in argument for argument in arguments)
        assert environment["PGPASSWORD"] == url.password
        result = subprocess.run(
            arguments, env=environment, capture_output=True, text=True, timeout=60, check=False
        )
        assert result.returncode == 0, result.stderr
        assert result.stdout.strip() == database.database
