"""What `alembic-contract` checks before removing anything: the expand is in, no old replica.

A contract revision removes what the previous release still uses. It may run only once its
expand revision (its depends_on) is applied, and once no replica of an older release serves.
Each app process names, in its sessions' application_name, the newest contract revision its
release survives (alembic_toolkit.compatibility.application_name); a session naming an older
one is an older release still connected. A replica with no open connection, or one behind a
pooler that does not pass application_name on (PgBouncer in transaction mode), is invisible.
"""

from collections.abc import Iterable
from dataclasses import dataclass

from alembic.script import Script, ScriptDirectory
from sqlalchemy import Connection, text

from alembic_toolkit.compatibility import SURVIVES, survived_contract
from alembic_toolkit.review.destructive import CONTRACT, EXPAND


@dataclass(frozen=True)
class OlderReplica:
    """A session of a release that does not survive a pending contract revision."""

    pid: int
    user: str
    application_name: str
    client: str | None
    fatal: str
    """The first pending contract revision it does not survive."""

    def describe(self) -> str:
        """The session in a few words."""
        where = f" from {self.client}" if self.client else ""
        return f"pid {self.pid} ({self.user}{where}, application_name {self.application_name!r})"


def applied_on_the_way(pending: Iterable[Script]) -> list[str]:
    """What upgrading to the contract head would apply besides contract revisions, by kind.

    Alembic applies first each expand revision a contract revision depends on, and the trunk
    revisions (on neither branch) the history starts with; alembic-contract must apply
    neither on the way. Empty when every pending revision is a contract revision.
    """
    pending = list(pending)
    expands = {r.revision for r in pending if EXPAND in r.branch_labels}
    needs = [
        f"{revision.revision} needs {dependency}"
        for revision in pending
        if CONTRACT in revision.branch_labels
        for dependency in sorted(_dependencies(revision) & expands)
    ]
    # Oldest first: Alembic lists the pending revisions from the target down.
    trunk = [r.revision for r in reversed(pending) if not r.branch_labels & {EXPAND, CONTRACT}]
    found = []
    if expands:
        found.append(f"expand revisions: {', '.join(needs or sorted(expands))}")
    if trunk:
        found.append(f"trunk revisions, on neither branch: {', '.join(trunk)}")
    return found


def _dependencies(revision: Script) -> set[str]:
    found = revision.dependencies or ()
    return {found} if isinstance(found, str) else set(found)


def older_replicas(
    connection: Connection, script: ScriptDirectory, pending: Iterable[str]
) -> list[OlderReplica]:
    """Sessions on the database whose release does not survive one of the `pending` revisions."""
    pending = list(pending)
    sessions = connection.execute(
        text(
            "SELECT pid, usename, application_name, host(client_addr) FROM pg_stat_activity"
            " WHERE datname = current_database() AND pid <> pg_backend_pid()"
            " AND strpos(application_name, :marker) > 0 ORDER BY backend_start, pid"
        ),
        {"marker": SURVIVES},
    ).all()
    known = {revision.revision for revision in script.walk_revisions()}
    older: list[OlderReplica] = []
    for pid, user, name, client in sessions:
        survived = survived_contract(name)
        if survived is None or survived not in known:
            continue  # a newer release (or another project's): it knows more than we do
        survives = {r.revision for r in script.iterate_revisions(survived, "base")}
        fatal = [revision for revision in reversed(pending) if revision not in survives]
        if fatal:
            older.append(OlderReplica(pid, user, name, client, fatal[0]))
    return older
