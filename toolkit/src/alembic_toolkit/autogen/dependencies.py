"""What a generated revision builds on: every revision the database was at when it was written.

Autogenerate compares the models with the database as it is, at all of its heads. On a
history with branches the new revision's own parent is only one of them: written onto
`expand@head` after a contract revision renamed a column, it indexes the new name, which only
that contract revision makes. Brought up from an empty database, Alembic would run it before
that revision and fail. Naming such heads in the new revision's `depends_on` makes the order
one that works.
"""

from __future__ import annotations

from collections.abc import Iterable

from alembic.operations.ops import MigrationScript
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory


def _ids(value: str | Iterable[str] | None) -> list[str]:
    if value is None:
        return []
    return [value] if isinstance(value, str) else list(value)


def add_unseen_heads(context: MigrationContext, script: MigrationScript) -> list[str]:
    """Add to `script.depends_on` the database's heads its parent and dependencies lack.

    Returns the revisions added (none on a linear history, where the parent is the one head).
    """
    if context.config is None or script.head is None:
        return []
    scripts = ScriptDirectory.from_config(context.config)
    dependencies = _ids(script.depends_on)
    # One target at a time: Alembic refuses targets of which one descends from another.
    covered = {
        revision.revision
        for target in (script.head, *dependencies)
        for revision in scripts.iterate_revisions(target, "base")
    }
    unseen = sorted(set(context.get_current_heads()) - covered)
    if unseen:
        script.depends_on = [*dependencies, *unseen]
    return unseen
