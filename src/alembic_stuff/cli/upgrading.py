"""`upgrade`, `expand` and `contract`: the guarded upgrade, and the checks on serving releases."""

from pathlib import Path
from typing import TYPE_CHECKING

import click
from alembic import command
from alembic.runtime.migration import MigrationInfo
from alembic.script import Script, ScriptDirectory
from alembic.util import CommandError
from alembic_toolkit import serving
from alembic_toolkit.review import contract, destructive
from alembic_toolkit.review.markers import MarkerError
from alembic_toolkit.zerodowntime.sql import first_line
from sqlalchemy.exc import DBAPIError, OperationalError

from alembic_stuff.cli.common import (
    CONTRACT_HEAD,
    CONTRACT_REVISION,
    EVERY_HEAD,
    EXPAND_HEAD,
    FORCE,
    SKIP_GUARD,
    load_settings,
    unknown_revision,
    unreachable,
)
from alembic_stuff.cli.usage import OneLineUsageCommand
from alembic_stuff.db.migrations import alembic_config, current_revisions, migration_engine
from alembic_stuff.settings import Settings

if TYPE_CHECKING:
    # The embedded server is a development dependency (Pipfile [dev-packages]): a production
    # install has none of it, so it is imported only by the commands that use it.
    pass


@click.command(cls=OneLineUsageCommand)
@SKIP_GUARD
@FORCE
def upgrade(skip_guard: bool, force: bool) -> None:
    """Upgrade the database to every head (expand and contract), once the guard has read them."""
    _report(guarded_upgrade(load_settings(), skip_guard=skip_guard, force=force), "every head")


@click.command(cls=OneLineUsageCommand)
@SKIP_GUARD
def expand(skip_guard: bool) -> None:
    """Apply the expand branch: additive changes, safe while the previous release serves."""
    _report(guarded_upgrade(load_settings(), EXPAND_HEAD, skip_guard=skip_guard), "expand head")


@click.command("contract", cls=OneLineUsageCommand)
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
    engine = migration_engine(settings)
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
