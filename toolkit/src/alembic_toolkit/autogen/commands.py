"""The commands generated text tells people to run: the toolkit's own, or the project's.

A generated revision's comments name the commands that check it, and a refused drop names the
command that writes the revision. By default those are the toolkit's and Alembic's; a project
that wraps them in commands of its own passes `ProjectCommands` to `rename_aware`, so that its
people read the names they type:

    rename_aware(hints, ask, ProjectCommands(guard="make check", revision="make revision"))
"""

from __future__ import annotations

import shlex
from collections.abc import Iterable
from dataclasses import dataclass

from alembic_toolkit.autogen.hints import Hints

# What a confirmed drop's markers say until a person writes the reason: the guard and the lint
# refuse a reason that starts with TODO, so the revision cannot pass unread.
TODO_REASON = "TODO: say why losing this data is fine"


@dataclass(frozen=True)
class ProjectCommands:
    """The project's names for the guard, the lint and autogenerate."""

    guard: str = "alembic-toolkit guard"
    lint: str = "alembic-toolkit lint"
    revision: str = "alembic revision --autogenerate"
    """Writes a revision; a refused drop adds `-m "..."` and the `-x` hints to it."""

    def revision_with(self, message: str | None, hints: Hints, drops: Iterable[str]) -> str:
        """The full revision command with `hints` and `-x allow_drop=` for each of `drops`."""
        words = [self.revision, "-m", shlex.quote(message or "describe the change")]
        words += [f"-x rename={old}:{new}" for old, new in sorted(hints.tables.items())]
        words += [
            f"-x rename={table}.{old}:{new}" for (table, old), new in sorted(hints.columns.items())
        ]
        words += [f"-x allow_drop={name}" for name in sorted(hints.allow_drop | set(drops))]
        if hints.rename_mode is not None:
            words.append(f"-x rename_mode={hints.rename_mode}")
        return " ".join(words)
