"""The record of every revision a database has applied, with its branch: what /ready reads.

Alembic's `alembic_version` holds only the heads. When a revision that names another in
`depends_on` is applied, Alembic drops the row of the one it depends on, since applying it
implies the other: after the generated expand revision (which depends on the contract head
the database had), the table holds one row, a revision no older release has heard of. That
row alone cannot say whether the unknown revision added something (an expand: the older
release still works) or removed something (a contract: it does not).

So each migration step also writes, in its own transaction, what it applied or undid: every
revision with its branch (`expand`, `contract`, or none on the trunk), dependencies included.
In offline mode (`--sql`) the same statements are part of the script. `record_applied` is the
`on_version_apply` hook for env.py; `sync`, run when a migration command ends, brings the
record in line with `alembic_version` (after a stamp, or for a database migrated before the
record existed).
"""

from collections.abc import Callable, Collection, Mapping
from typing import Any

from alembic.runtime.migration import MigrationContext, MigrationInfo
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, String, column, delete, select, table
from sqlalchemy.dialects.postgresql import insert

from alembic_toolkit.objects import SCHEMA
from alembic_toolkit.review.destructive import CONTRACT, EXPAND

_applied = table(
    "applied_revision", column("revision", String), column("branch", String), schema=SCHEMA
)
VersionApplied = Callable[..., None]
# Where a program running an upgrade puts `on_version_apply` hooks of its own, in the
# Config's attributes: `record_applied` runs them after each step (alembic_toolkit.upgrades
# counts what ran), whatever env.py passed it.
STEP_HOOKS = "alembic_toolkit.step_hooks"


def branch_of(labels: Collection[str]) -> str | None:
    """The branch a revision's labels put it on; a revision on both counts as a contract."""
    if CONTRACT in labels:
        return CONTRACT
    if EXPAND in labels:
        return EXPAND
    return None


def applied_with(script: ScriptDirectory, heads: Collection[str]) -> dict[str, str | None]:
    """Every revision a database at `heads` has applied (dependencies too), with its branch."""
    if not heads:
        return {}
    return {
        revision.revision: branch_of(revision.branch_labels)
        for revision in script.iterate_revisions(tuple(heads), "base")
    }


def record_applied(script: ScriptDirectory, *then: VersionApplied) -> VersionApplied:
    """The `on_version_apply` hook that records each step in the step's own transaction.

    An upgrade adds the revisions it applied and everything below them; a downgrade removes
    the revisions it undid. Neither depends on where the command started, so a script written
    offline from any starting revision records the same as the online run; `sync` settles
    what a stamp moved. Hooks of your own in `then` run after it, with the same arguments:
    Alembic's `on_version_apply` is typed as one callable.
    """

    def record(*, ctx: MigrationContext, step: MigrationInfo, **rest: Any) -> None:
        if step.is_upgrade:
            ctx.execute(_upsert(applied_with(script, step.up_revision_ids)))
        else:
            undone = list(step.up_revision_ids)
            ctx.execute(delete(_applied).where(_applied.c.revision.in_(undone)))
        given = ctx.config.attributes.get(STEP_HOOKS, ()) if ctx.config is not None else ()
        for hook in (*then, *given):
            hook(ctx=ctx, step=step, **rest)

    return record


def _upsert(applied: Mapping[str, str | None]) -> Any:
    rows = [{"revision": revision, "branch": branch} for revision, branch in applied.items()]
    upsert = insert(_applied).values(rows)
    return upsert.on_conflict_do_update(
        index_elements=["revision"], set_={"branch": upsert.excluded.branch}
    )


def sync(connection: Connection, script: ScriptDirectory, heads: Collection[str]) -> None:
    """Make the record match a database at `heads`, in the connection's current transaction."""
    known = {revision.revision for revision in script.walk_revisions()}
    # A database ahead of this checkout: its record was written by a newer one; leave it.
    if not set(heads) <= known:
        return
    applied = applied_with(script, heads)
    connection.execute(delete(_applied).where(_applied.c.revision.not_in(list(applied))))
    if applied:
        connection.execute(_upsert(applied))


def read(connection: Connection) -> dict[str, str | None]:
    """The database's applied revisions and their branches (ProgrammingError if none)."""
    rows = connection.execute(select(_applied.c.revision, _applied.c.branch))
    return {row.revision: row.branch for row in rows}
