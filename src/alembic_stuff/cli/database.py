"""`db up | down | psql`: the embedded PostgreSQL by hand."""

import os
import sys
from typing import TYPE_CHECKING, NoReturn

import click
import psycopg
from sqlalchemy import URL

from alembic_stuff.cli.common import (
    PSQL_MISSING,
    announce_root_setup,
    development_dependency,
    embedded_errors,
    embedded_server,
    load_settings,
    prepare_embedded_database,
    unreachable,
)
from alembic_stuff.cli.usage import OneLineUsageGroup
from alembic_stuff.settings import Settings

if TYPE_CHECKING:
    # The embedded server is a development dependency (Pipfile [dev-packages]): a production
    # install has none of it, so it is imported only by the commands that use it.
    from alembic_stuff.db.embedded import EmbeddedPostgres


@click.group(cls=OneLineUsageGroup)
def db() -> None:
    """The embedded PostgreSQL server (used when DATABASE_URL is unset)."""


def _embedded_or_exit(settings: Settings) -> "EmbeddedPostgres":
    if not settings.uses_embedded_database:
        raise click.ClickException(
            "DATABASE_URL is set, so the embedded database is not in use; unset it to use this"
        )
    return embedded_server(settings)


@db.command("up")
def db_up() -> None:
    """Start the embedded server (kept running until `db down`) and create the database."""
    settings = load_settings()
    server = _embedded_or_exit(settings)
    with embedded_errors():
        announce_root_setup()
        started = server.start_unowned()
        prepare_embedded_database(server, settings)
    state = "started" if started else "already running"
    click.echo(f"embedded PostgreSQL {state}: {settings.server_url.render_as_string()}")
    click.echo(f"data: {server.data_dir}  (stop: pipenv run db-down)")


@db.command("down")
@click.option(
    "--volumes", is_flag=True, help="Also delete the data, like docker-compose down --volumes."
)
def db_down(volumes: bool) -> None:
    """Stop the embedded server; with --volumes, delete its data too."""
    server = _embedded_or_exit(load_settings())
    # Before stopping: taking the server's lock creates its folder.
    existed = server.is_initialized()
    with embedded_errors():
        stopped = server.stop()
        if volumes:
            server.destroy()
    click.echo("embedded PostgreSQL " + ("stopped" if stopped else "was not running"))
    if volumes:
        click.echo(
            f"deleted {server.data_dir}" if existed else f"no data to delete at {server.data_dir}"
        )


@db.command("psql", context_settings={"ignore_unknown_options": True})
@click.argument("psql_args", nargs=-1, type=click.UNPROCESSED)
def db_psql(psql_args: tuple[str, ...]) -> NoReturn:
    """Open psql (shipped with the embedded server) on the configured database."""
    settings = load_settings()
    arguments, environment = psql_command(settings, psql_args)
    try:
        psycopg.connect(
            settings.server_url.render_as_string(hide_password=False), connect_timeout=3
        ).close()
    except psycopg.OperationalError as exc:
        raise click.ClickException(unreachable(settings, exc, migrating=False)) from None
    sys.stdout.flush()
    os.execve(arguments[0], arguments, environment)  # noqa: S606 - psql replaces us, as a shell would


def psql_command(
    settings: Settings, psql_args: tuple[str, ...] = ()
) -> tuple[list[str], dict[str, str]]:
    """Return psql's arguments and environment: the password in PGPASSWORD, never in argv."""
    with development_dependency(PSQL_MISSING):
        from alembic_stuff.db.embedded import POSTGRES_BIN_PATH
    url = settings.server_url
    environment = dict(os.environ)
    if url.password is not None:
        environment["PGPASSWORD"] = str(url.password)
    # URL.set() leaves a part alone when given None: the URL is rebuilt without the password.
    target = URL.create(
        url.drivername, url.username, None, url.host, url.port, url.database, url.query
    ).render_as_string(hide_password=False)
    return [str(POSTGRES_BIN_PATH / "psql"), target, *psql_args], environment
