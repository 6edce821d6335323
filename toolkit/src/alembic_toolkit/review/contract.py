"""What `alembic-contract` checks before removing anything: the expand is in, no old replica.

A contract revision removes what the previous release still uses. It may run only once its
expand revision (its depends_on) is applied, and once no replica of an older release serves:
the registry of serving replicas says which (alembic_toolkit.serving.blocking_replicas).
"""

from collections.abc import Iterable

from alembic.script import Script

from alembic_toolkit.review.destructive import CONTRACT, EXPAND


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
