"""`migrations check | release | lint | sql`: what the revisions do, read before they run."""

import logging
import os
from pathlib import Path
from typing import TYPE_CHECKING

import click
from alembic.config import Config
from alembic.script import ScriptDirectory
from alembic.util import CommandError
from alembic_toolkit.preview import InseparableSQLError, offline_sql, pending_sql
from alembic_toolkit.review import destructive, squawk
from alembic_toolkit.review.markers import MarkerError
from sqlalchemy.exc import OperationalError

from alembic_stuff.cli.common import (
    CONTRACT_REVISION,
    EVERY_HEAD,
    load_settings,
    unknown_revision,
)
from alembic_stuff.cli.usage import OneLineUsageGroup
from alembic_stuff.db import schema_release_file
from alembic_stuff.db.migrations import alembic_config, current_revisions
from alembic_stuff.settings import Settings

if TYPE_CHECKING:
    # The embedded server is a development dependency (Pipfile [dev-packages]): a production
    # install has none of it, so it is imported only by the commands that use it.
    pass


@click.group(cls=OneLineUsageGroup)
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
