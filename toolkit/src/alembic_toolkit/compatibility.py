"""Which schema revisions a release of the app works with, judged from the applied revisions.

The history has a trunk and two branches: `expand` (additive: safe while the previous release
serves) and `contract` (removals: applied once no replica runs the previous release). A
release needs its tree's expand head applied, and survives every contract revision its tree
holds; an expand revision it does not know is a newer release's, additive, so harmless. A
contract revision that renames a table or a column is one the release also needs: its code
uses the new name, which exists only once that revision is applied (a one-step rename, for a
deploy with a moment when no older replica serves).

The judgement reads every applied revision with its branch (alembic_toolkit.ledger), not the
heads in alembic_version: those lose a revision's row once one that depends on it is applied.
"""

from collections.abc import Mapping
from dataclasses import dataclass

from alembic_toolkit.review.destructive import EXPAND

# PostgreSQL truncates application_name to NAMEDATALEN - 1 bytes.
APPLICATION_NAME_BYTES = 63


@dataclass(frozen=True)
class SchemaRelease:
    """The schema revisions one release of the app was built with."""

    expand_head: str
    """The expand revision the release needs: its code uses what it added."""
    contract_head: str
    """The newest contract revision in the release's tree, which the release survives."""
    contract: frozenset[str]
    """Every contract revision in the release's tree: the release survives each of them."""
    older: frozenset[str]
    """The trunk and the expand revisions before expand_head."""
    needs: frozenset[str] = frozenset()
    """The contract revisions the release needs applied: those that rename what it uses."""

    def judge(self, applied: Mapping[str, str | None]) -> str | None:
        """Why a database that applied `applied` (revision: branch) cannot serve this, or None."""
        if not applied:
            return "the database has no revision: run the migrations"
        known = self.contract | self.older | {self.expand_head}
        # Unknown expand revisions only add: a newer release's, which this one survives.
        unknown = sorted(r for r, branch in applied.items() if r not in known and branch != EXPAND)
        if unknown:
            return (
                f"the database has applied {', '.join(unknown)}, which this release does not "
                "know: the schema was contracted past what it survives"
            )
        if self.expand_head not in applied:
            return (
                f"the database lacks expand revision {self.expand_head}, which this release "
                "needs: run the expand migrations (`alembic-toolkit expand`)"
            )
        missing = sorted(self.needs - set(applied))
        if missing:
            return (
                f"the database lacks contract revision {', '.join(missing)}, which this release "
                "needs (it renames what the release uses): apply the contract migrations "
                "(`alembic-toolkit contract`, which waits for older releases to stop serving)"
            )
        return None


def application_name(label: str, release: SchemaRelease) -> str:
    """The application_name a release's sessions carry, for people reading pg_stat_activity."""
    suffix = f" (survives contract {release.contract_head})"
    room = APPLICATION_NAME_BYTES - len(suffix.encode())
    return label.encode()[:room].decode(errors="ignore") + suffix
