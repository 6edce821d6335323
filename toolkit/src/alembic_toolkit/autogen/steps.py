"""Ordering renames so that none lands on a name still in use."""

from __future__ import annotations

import itertools
from collections.abc import Collection, Mapping


class RenameCollisionError(ValueError):
    """A rename targets a name that something else keeps."""

    def __init__(self, old: str, new: str) -> None:
        super().__init__(f"{old} -> {new}: {new} is taken")
        self.old, self.new = old, new


def rename_steps(renames: Mapping[str, str], existing: Collection[str]) -> list[tuple[str, str]]:
    """Return (old, new) steps reaching `renames`; a cycle (a swap) goes through a temporary name.

    `existing` is every name in the namespace before the renames.
    """
    names = set(existing)
    pending = {old: new for old, new in renames.items() if old != new}
    steps: list[tuple[str, str]] = []
    while pending:
        ready = [(old, new) for old, new in pending.items() if new not in names]
        if not ready:
            stuck = next(((o, n) for o, n in pending.items() if n not in pending), None)
            if stuck is not None:
                raise RenameCollisionError(*stuck)
            # Every target is the source of another pending rename: a cycle. Break it.
            old, new = next(iter(pending.items()))
            # PostgreSQL truncates identifiers to 63 bytes; stay well inside that.
            temporary = next(
                name for n in itertools.count() if (name := f"{old[:40]}_renaming_{n}") not in names
            )
            ready = [(old, temporary)]
            pending[temporary] = new
        for old, new in ready:
            steps.append((old, new))
            names.discard(old)
            names.add(new)
            del pending[old]
    return steps
