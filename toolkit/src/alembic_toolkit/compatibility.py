"""Which schema revisions a release of the app works with, judged from alembic_version.

The history has a trunk and two branches: `expand` (additive: safe while the previous release
serves) and `contract` (removals: applied once no replica runs the previous release). A
release needs its tree's expand head applied, and survives every contract revision its tree
holds; an expand revision it does not know is a newer release's, additive, so harmless.
"""

from collections.abc import Collection, Mapping
from dataclasses import dataclass

# PostgreSQL truncates application_name to NAMEDATALEN - 1 bytes.
APPLICATION_NAME_BYTES = 63
# How a session names the newest contract revision its release survives (see application_name).
SURVIVES = "; survives contract "


@dataclass(frozen=True)
class SchemaRelease:
    """The schema revisions one release of the app was built with."""

    expand_head: str
    """The expand revision the release needs: its code uses what it added."""
    contract_head: str
    """The newest contract revision in the release's tree, which the release survives."""
    contract: Mapping[str, str | None]
    """Every contract revision in the release's tree (the release survives each of them), with
    the newest expand revision it depends on: Alembic then keeps only the contract row, since
    that expand is applied with it."""
    older: frozenset[str]
    """The trunk and the expand revisions before expand_head: a database there is behind."""

    def judge(self, rows: Collection[str]) -> str | None:
        """Why a database whose alembic_version holds `rows` cannot serve this release, or None."""
        contract = [row for row in rows if row in self.contract]
        unknown = sorted(set(rows) - set(self.contract) - self.older - {self.expand_head})
        if not rows:
            return "the database has no revision: run the migrations"
        if unknown and (len(unknown) > 1 or not contract):
            return (
                f"the database is at {', '.join(unknown)}, which this release does not know: "
                "the schema was contracted past what it survives"
            )
        implied = {self.contract[row] for row in contract}
        if self.expand_head not in rows and self.expand_head not in implied and not unknown:
            return (
                f"the database lacks expand revision {self.expand_head}, which this release "
                "needs: run the expand migrations (`alembic upgrade expand@head`)"
            )
        return None


def application_name(label: str, release: SchemaRelease) -> str:
    """The application_name a release's sessions carry: `label` and the contract it survives."""
    suffix = f"{SURVIVES}{release.contract_head}"
    room = APPLICATION_NAME_BYTES - len(suffix.encode())
    return label.encode()[:room].decode(errors="ignore") + suffix


def survived_contract(name: str) -> str | None:
    """The contract revision a session's application_name says it survives, or None."""
    _, found, revision = name.rpartition(SURVIVES)
    return revision if found else None
