"""The guarded upgrade: `alembic upgrade`, once the pending revisions have been read.

Before anything runs, `guarded_upgrade` refuses, in one line and with nothing applied:

- a pending revision that destroys data without a reason (the guard, `review.destructive`);
- a contract revision while a replica of a release that does not survive it still serves
  (the registry, `serving.blocking_replicas`), unless forced; with `when_blocked`, it applies
  that smaller target (the expand branch) instead and says so;
- for the contract head, an expand revision on the way: the release that needs it must be
  rolled out first.
"""

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationInfo
from alembic.script import Script, ScriptDirectory
from alembic.script.revision import RevisionError
from alembic.util import CommandError
from sqlalchemy import Connection
from sqlalchemy.exc import DBAPIError

from alembic_toolkit import ledger, serving
from alembic_toolkit.errors import FindingsError
from alembic_toolkit.inspection import read_database
from alembic_toolkit.project import ProjectCommands
from alembic_toolkit.review import contract, destructive
from alembic_toolkit.zerodowntime.sql import first_line

# Alembic's targets: everything, the additive branch, the removals.
EVERY_HEAD = "heads"
EXPAND_HEAD = f"{destructive.EXPAND}@head"
CONTRACT_HEAD = f"{destructive.CONTRACT}@head"


class UpgradeRefusedError(FindingsError):
    """Nothing was applied: the pending revisions, or the replicas serving, do not allow it."""


@dataclass(frozen=True)
class Upgrade:
    """What a guarded upgrade did."""

    applied: int
    """Revisions this process applied (none when another replica had applied them)."""
    target: str
    notice: str | None = None
    """Why a smaller target than the one asked for was applied."""


def unknown_revision(revision: str) -> str:
    """One line for a database at a revision the checkout lacks, with the ways out."""
    return (
        f"the database is at revision {revision}, which this checkout does not have: check out "
        "the branch that has it; or, if you know the schema matches a revision here, "
        "`alembic stamp REVISION`"
    )


def require_branches(script: ScriptDirectory) -> None:
    """Raise CommandError, saying how to make them, when the history has no expand and contract."""
    labels = {label for revision in script.walk_revisions() for label in revision.branch_labels}
    if not {destructive.EXPAND, destructive.CONTRACT} <= labels:
        raise CommandError(
            "the history has no expand and contract branches: write revisions with `alembic "
            "revision --autogenerate`, or make the two branches first (the toolkit's README, "
            "'Expand and contract')"
        )


def pending_revisions(script: ScriptDirectory, heads: Sequence[str], target: str) -> list[Script]:
    """What `target` needs that a database at `heads` has not applied, oldest last."""
    known = {revision.revision for revision in script.walk_revisions()}
    for head in heads:
        if head not in known:
            raise CommandError(unknown_revision(head))
    # Not a range from `heads`: that would refuse a target on the other branch.
    applied = {r.revision for each in heads for r in script.iterate_revisions(each, "base")}
    try:
        wanted = list(script.iterate_revisions(target, "base"))
    except RevisionError as exc:  # as `alembic upgrade` itself reports an unknown target
        raise CommandError(f"{target}: {exc}") from None
    return [r for r in wanted if r.revision not in applied]


@dataclass(frozen=True)
class _Plan:
    target: str
    pending: list[Script]
    blocked: str | None
    notice: str | None


def guarded_upgrade(
    config: Config,
    target: str = EVERY_HEAD,
    *,
    skip_guard: bool = False,
    force: bool = False,
    when_blocked: str | None = None,
    commands: ProjectCommands | None = None,
) -> Upgrade:
    """Upgrade to `target` unless the guard, or a serving replica, refuses; say what ran."""
    named = commands or ProjectCommands.from_config(config)
    script = ScriptDirectory.from_config(config)
    if target in (EXPAND_HEAD, CONTRACT_HEAD):
        require_branches(script)

    def plan(connection: Connection, heads: tuple[str, ...]) -> _Plan:
        pending = pending_revisions(script, heads, target)
        if target == CONTRACT_HEAD:
            _refuse_unapplied_expand(pending, named)
        blocked = None if force else _blocking_replica(connection, script, pending)
        if blocked is None or when_blocked is None:
            return _Plan(target, pending, blocked, None)
        smaller = pending_revisions(script, heads, when_blocked)
        return _Plan(
            when_blocked,
            smaller,
            _blocking_replica(connection, script, smaller),
            f"{blocked}: applying {when_blocked} only",
        )

    chosen = read_database(config, plan)
    if chosen.blocked is not None:
        way_out = (
            "pass --force"
            if chosen.target == CONTRACT_HEAD
            else f"`{named.expand}` applies only the additive part; or pass --force"
        )
        raise UpgradeRefusedError(f"nothing applied: {chosen.blocked}; {way_out}")
    if chosen.pending and not skip_guard:
        _guard(script, chosen.pending)
    return Upgrade(_upgrade(config, chosen.target), chosen.target, chosen.notice)


def _guard(script: ScriptDirectory, pending: list[Script]) -> None:
    """Refuse when a pending revision destroys data without a reason."""
    found = list(
        destructive.problems([Path(r.path) for r in pending], destructive.placements(script))
    )
    if found:
        raise UpgradeRefusedError(
            f"nothing applied: {len(found)} destructive change(s) without a reason in the "
            "pending revisions; do as each line above says (a reason, or a contract revision "
            "for a removal), or pass --skip-guard to apply them anyway",
            found,
        )


def _upgrade(config: Config, target: str) -> int:
    """Run the upgrade; return how many revisions this process applied."""
    # Counted as they run: the plan was read before the migration lock, and a replica that
    # waited for it finds the work done by the one that held it.
    ran: list[str] = []

    def count(*, step: MigrationInfo, **_: Any) -> None:
        if step.is_migration and step.up_revision_id is not None:
            ran.append(step.up_revision_id)

    config.attributes[ledger.STEP_HOOKS] = [count]
    try:
        command.upgrade(config, target)
    except DBAPIError as exc:
        # A statement of a revision failed: Alembic has logged which revision was running.
        raise CommandError(
            f"the upgrade failed in the revision it was running ({first_line(exc)}); that "
            "revision's transaction was rolled back, so `alembic current` shows where the "
            "database stands: fix the revision or the data, and run the upgrade again"
        ) from None
    finally:
        config.attributes.pop(ledger.STEP_HOOKS, None)
    return len(ran)


def _refuse_unapplied_expand(pending: list[Script], commands: ProjectCommands) -> None:
    """Refuse a contract whose expand revisions (or trunk) this database has not applied."""
    missing = contract.applied_on_the_way(pending)
    if missing:
        raise UpgradeRefusedError(
            f"nothing applied: the contract revisions need revisions this database has not "
            f"applied ({'; '.join(missing)}): run `{commands.expand}` and roll the release "
            "out first"
        )


def _blocking_replica(
    connection: Connection, script: ScriptDirectory, pending: list[Script]
) -> str | None:
    """Name the serving replica a pending contract revision would break, or None."""
    contracting = [r.revision for r in pending if destructive.CONTRACT in r.branch_labels]
    if not contracting:
        return None
    blocking = serving.blocking_replicas(connection, script, contracting)
    if not blocking:
        return None
    first = blocking[0]
    others = f" (and {len(blocking) - 1} other replica(s))" if len(blocking) > 1 else ""
    return (
        f"a replica of an older release still serves: {first.entry.describe()}{others} does "
        f"not survive contract revision {first.fatal}; take it out of service first (a "
        f"replica killed without a shutdown drops out {first.entry.lifetime_seconds:g} s "
        "after its last heartbeat)"
    )
