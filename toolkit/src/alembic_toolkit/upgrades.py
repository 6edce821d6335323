"""The guarded upgrade: `alembic upgrade`, once the pending revisions have been read.

Before anything runs, `guarded_upgrade` refuses, in one line and with nothing applied:

- a pending revision that destroys data without a reason (the guard, `review.destructive`);
- a contract revision while a replica of a release that does not survive it still serves
  (the registry, `serving.blocking_replicas`), or while the registry is too new to list every
  replica serving (`serving.registration_wait`), unless forced; with `when_blocked`, it
  applies that smaller target (the expand branch) instead and says so;
- for the contract head, an expand revision on the way: the release that needs it must be
  rolled out first.
"""

import math
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
    if not _has_branches(script):
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
class _Blocked:
    """Why a pending contract revision cannot be applied now."""

    reason: str
    """The reason, ending with what to do about it but the forcing."""
    creates_registry: bool = False
    """Whether the wait it asks for starts once the registry of serving replicas exists."""

    def refusal(self) -> str:
        """The refusal's line."""
        return f"nothing applied: {self.reason}; or pass --force"


@dataclass(frozen=True)
class _Plan:
    target: str
    pending: list[Script]
    blocked: _Blocked | None
    notice: str | None
    heads: tuple[str, ...]


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

    def blocks(connection: Connection, heads: tuple[str, ...], towards: str) -> _Blocked | None:
        pending = pending_revisions(script, heads, towards)
        return _blocked(connection, script, heads, pending, towards == EXPAND_HEAD)

    def plan(connection: Connection, heads: tuple[str, ...]) -> _Plan:
        pending = pending_revisions(script, heads, target)
        if target == CONTRACT_HEAD:
            _refuse_unapplied_expand(pending, named)
        blocked = (
            None if force else _blocked(connection, script, heads, pending, target == EXPAND_HEAD)
        )
        if blocked is None or target in (EXPAND_HEAD, CONTRACT_HEAD):
            return _Plan(target, pending, blocked, None, heads)
        smaller = when_blocked or (EXPAND_HEAD if _has_branches(script) else None)
        if smaller is None:
            return _Plan(target, pending, blocked, None, heads)
        blocked_smaller = blocks(connection, heads, smaller)
        if when_blocked is None:
            # The smaller target is only advice here: which advice depends on whether it
            # would be refused as well.
            if blocked_smaller is None:
                blocked = _Blocked(
                    f"{blocked.reason}; `{named.expand}` applies only the additive part",
                    creates_registry=blocked.creates_registry,
                )
            else:
                blocked = blocked_smaller
            return _Plan(target, pending, blocked, None, heads)
        return _Plan(
            when_blocked,
            pending_revisions(script, heads, when_blocked),
            blocked_smaller,
            f"{blocked.reason}: applying {when_blocked} only",
            heads,
        )

    chosen = read_database(config, plan)
    if chosen.blocked is not None:
        if chosen.blocked.creates_registry and chosen.heads:
            # An upgrade to where the database stands applies nothing, and creates the
            # registry (env.py's guarded_migration): the wait the refusal asks for starts now.
            _upgrade(config, chosen.heads[0])
        raise UpgradeRefusedError(chosen.blocked.refusal())
    if chosen.pending and not skip_guard:
        _guard(script, chosen.pending)
    return Upgrade(_upgrade(config, chosen.target), chosen.target, chosen.notice)


def _has_branches(script: ScriptDirectory) -> bool:
    labels = {label for revision in script.walk_revisions() for label in revision.branch_labels}
    return {destructive.EXPAND, destructive.CONTRACT} <= labels


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


def _blocked(
    connection: Connection,
    script: ScriptDirectory,
    heads: tuple[str, ...],
    pending: list[Script],
    expanding: bool,
) -> _Blocked | None:
    """Why a pending contract revision may break a serving replica, or None when none can."""
    contracting = [r.revision for r in pending if destructive.CONTRACT in r.branch_labels]
    if not contracting:
        return None
    # The newest first, as `blocking_replicas` names them.
    first = contracting[0]
    wait = serving.registration_wait(connection, migrated=bool(heads))
    if wait > 0:
        exists = serving.registry_exists(connection)
        since = "was created" if exists else "is created now"
        return _Blocked(
            f"the registry of serving replicas {since} on a database migrated before it, and "
            "a replica that serves already registers only at its next heartbeat: wait "
            f"{math.ceil(wait):d} s (the time replicas need to register) and run this again "
            f"before contract revision {first} is applied",
            creates_registry=not exists,
        )
    blocking = serving.blocking_replicas(connection, script, contracting)
    if not blocking:
        return None
    one = blocking[0]
    others = f" (and {len(blocking) - 1} other replica(s))" if len(blocking) > 1 else ""
    drop_out = (
        f"(a replica killed without a shutdown drops out {one.entry.lifetime_seconds:g} s "
        "after its last heartbeat)"
    )
    if expanding:
        # `alembic-expand` is then no smaller step to suggest: it is what applies the contract.
        return _Blocked(
            f"the expand depends on contract revision {one.fatal} (`depends_on`), which a "
            f"replica of an older release still serving does not survive: "
            f"{one.entry.describe()}{others}; take it out of service first {drop_out}",
        )
    return _Blocked(
        f"a replica of an older release still serves: {one.entry.describe()}{others} does "
        f"not survive contract revision {one.fatal}; take it out of service first {drop_out}"
    )
