"""`start` and `serve`: the API, with the embedded database and migrations, or alone."""

import signal
import traceback
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING

import click
from alembic_toolkit.upgrades import EXPAND_HEAD

from alembic_stuff.api.server import (
    DIRECT_NOTICE,
    PortTakenError,
    ensure_port_free,
    listen_address,
    serve,
)
from alembic_stuff.cli.common import (
    FORCE,
    SKIP_GUARD,
    announce_root_setup,
    embedded_errors,
    embedded_server,
    load_settings,
    prepare_embedded_database,
)
from alembic_stuff.cli.upgrading import upgrade_before_serving
from alembic_stuff.cli.usage import OneLineUsageCommand
from alembic_stuff.interrupts import INTERRUPTED
from alembic_stuff.settings import Settings

if TYPE_CHECKING:
    # The embedded server is a development dependency (Pipfile [dev-packages]): a production
    # install has none of it, so it is imported only by the commands that use it.
    from alembic_stuff.db.embedded import EmbeddedPostgres


@click.command(cls=OneLineUsageCommand)
@click.option("--host", help="Address to serve on (default: API_HOST, 127.0.0.1).")
@click.option("--port", type=click.IntRange(1, 65535), help="Port (default: API_PORT, 8765).")
@SKIP_GUARD
@FORCE
def start(host: str | None, port: int | None, skip_guard: bool, force: bool) -> None:
    """Start the database, upgrade it to every head and serve the API until Ctrl-C or SIGTERM.

    While a replica of an older release serves, only the expand branch is applied: the
    contract waits for `alembic-contract` once that release is gone (or --force).
    """
    try:
        settings = load_settings()
        port_free_or_exit(settings, host, port)
        server = embedded_server(settings) if settings.uses_embedded_database else None
    except KeyboardInterrupt:
        # Ctrl-C before anything started: one line, as while the command loads (entry.py).
        click.echo("interrupted before anything started: nothing was done", err=True)
        raise SystemExit(INTERRUPTED) from None
    stopped = False
    # SIGTERM must unwind through `finally` like Ctrl-C does, so the database is stopped.
    signal.signal(signal.SIGTERM, _raise_keyboard_interrupt)
    try:
        # Before any DDL: a model or use case that does not load must not leave the database
        # migrated ahead of an app that cannot start.
        app_loads_or_exit(settings)
        with embedded_errors():
            if server is not None:
                announce_root_setup()
                server.start_owned()
                prepare_embedded_database(server, settings)
        where = settings.migration_url.set(drivername="postgresql")
        click.echo(
            f"database: {where.render_as_string(hide_password=True)}; upgrading to heads "
            "(expand and contract)",
            err=True,
        )
        upgrade_before_serving(
            settings, skip_guard=skip_guard, force=force, when_blocked=EXPAND_HEAD
        )
        click.echo(DIRECT_NOTICE, err=True)
        serve(settings, host, port)
    except KeyboardInterrupt:
        pass
    finally:
        if server is not None:
            with embedded_errors():
                stopped = server.release()
    click.echo(_stopped_message(settings, server, stopped), err=True)


def _stopped_message(settings: Settings, server: "EmbeddedPostgres | None", stopped: bool) -> str:
    if server is None:
        where = settings.server_url.render_as_string(hide_password=True)
        return f"stopped the API; the database at {where} (DATABASE_URL) is not ours: it runs on"
    if stopped:
        return "stopped the API and the embedded PostgreSQL it started"
    return (
        "stopped the API; the embedded PostgreSQL is `db-up`'s (running before, or started "
        "again by it meanwhile) and is still running: `pipenv run db-down` stops it"
    )


@click.command("serve", cls=OneLineUsageCommand)
@click.option("--host", help="Address to serve on (default: API_HOST, 127.0.0.1).")
@click.option("--port", type=click.IntRange(1, 65535), help="Port (default: API_PORT, 8765).")
def serve_command(host: str | None, port: int | None) -> None:
    """Serve the API only: the database runs, and is migrated, elsewhere (Docker)."""
    settings = load_settings()
    port_free_or_exit(settings, host, port)
    serve(settings, host, port)


def app_loads_or_exit(settings: Settings) -> None:
    """Import and build the app, or stop with one line naming where it failed."""
    try:
        from alembic_stuff.api.app import create_app

        create_app(settings)
    except Exception as exc:
        raise click.ClickException(
            f"the app does not load, so nothing was migrated: {type(exc).__name__}: "
            f"{(str(exc).strip().splitlines() or [''])[0]} ({where_it_failed(exc)}); fix it "
            "and run this again"
        ) from None


def where_it_failed(exc: BaseException) -> str:
    """The file and line an exception was raised at, relative to here when inside it."""
    if isinstance(exc, SyntaxError) and exc.filename:
        filename, line = exc.filename, exc.lineno
    else:
        frames = traceback.extract_tb(exc.__traceback__)
        if not frames:
            return "no traceback"
        filename, line = frames[-1].filename, frames[-1].lineno
    path = Path(filename)
    if path.is_absolute() and path.is_relative_to(Path.cwd()):
        path = path.relative_to(Path.cwd())
    return f"{path}:{line}"


def port_free_or_exit(settings: Settings, host: str | None, port: int | None) -> None:
    """Stop with one line, before anything starts, when the API's port is taken."""
    try:
        ensure_port_free(*listen_address(settings, host, port))
    except PortTakenError as exc:
        raise click.ClickException(str(exc)) from None


def _raise_keyboard_interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt
