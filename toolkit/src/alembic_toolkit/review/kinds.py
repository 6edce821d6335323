"""The kinds of problem the guard reports, so that its summary names each for what it is.

Only a data loss is "destructive": a rename on the expand branch or a contract revision
without its `depends_on` loses nothing, and is counted under its own name.
"""

from collections.abc import Iterable

DATA_LOSS = "destructive change(s) without a reason"
PLACEHOLDER = "acknowledgment(s) whose reason is a placeholder"
STALE = "acknowledgment(s) of a change the revision does not make"
EXPAND_ONLY_ADDS = "change(s) the expand branch does not allow"
CONTRACT_NEEDS_EXPAND = "contract revision(s) naming no expand revision in depends_on"


def summary(kinds: Iterable[str]) -> str:
    """The problems counted by kind, most frequent first: "2 destructive change(s) ...; 1 ..."."""
    counted: dict[str, int] = {}
    for kind in kinds:
        counted[kind] = counted.get(kind, 0) + 1
    return "; ".join(
        f"{count} {kind}" for kind, count in sorted(counted.items(), key=lambda kc: -kc[1])
    )
