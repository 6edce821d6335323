"""The name PostgreSQL gives a constraint or index created without one.

A model without a naming convention leaves foreign keys unnamed, and PostgreSQL names them
when it creates them (`book_author_id_fkey`). A revision that must name one in advance (to
validate it, to find it again when it runs a second time) names it the same way, so that the
database ends up as if the model had been created directly: the table's name, the columns'
names joined by `_`, and a label (`fkey`, `idx`), the longer part shortened first to fit in
63 bytes, and a number after the label when the name is taken (`fkey1`, `fkey2`...).
This is `makeObjectName`, `ChooseConstraintName` and `ChooseRelationName` of PostgreSQL's
source (src/backend/commands/indexcmds.c, src/backend/catalog/pg_constraint.c).
`TakenNames` chooses them for a revision against the names a database and a model hold.
"""

from __future__ import annotations

from collections.abc import Container, Sequence

from sqlalchemy import Constraint, Index, text

from alembic_toolkit.autogen.trial import Trial

# NAMEDATALEN - 1: the longest identifier, in bytes.
MAX_IDENTIFIER = 63
FOREIGN_KEY = "fkey"
INDEX = "idx"


def default_name(table: str, columns: Sequence[str], label: str, taken: Container[str] = ()) -> str:
    """The name PostgreSQL gives an unnamed `label` object over `columns` of `table`.

    `taken` holds the names it must not be: for a foreign key the constraint names of the
    table's schema, for an index its relation names.
    """
    addition = "_".join(columns)
    suffix = label
    attempt = 0
    while True:
        name = object_name(table, addition, suffix)
        if name not in taken:
            return name
        attempt += 1
        suffix = f"{label}{attempt}"


def object_name(first: str, second: str, label: str) -> str:
    """`first_second_label` within 63 bytes, the longer of the two names shortened first."""
    first_bytes, second_bytes = first.encode(), second.encode()
    available = MAX_IDENTIFIER - len(label.encode()) - 2
    first_length, second_length = len(first_bytes), len(second_bytes)
    while first_length + second_length > available:
        if first_length > second_length:
            first_length -= 1
        else:
            second_length -= 1
    return f"{_clipped(first_bytes, first_length)}_{_clipped(second_bytes, second_length)}_{label}"


def _clipped(name: bytes, length: int) -> str:
    """The first `length` bytes of `name`, less a character they would cut in two."""
    return name[:length].decode(errors="ignore")


# The names an unnamed constraint or index must not take: PostgreSQL names a constraint apart
# from every constraint of its schema, and an index apart from every relation.
_TAKEN = text(
    """
    SELECT conname, 'constraint' FROM pg_constraint
    WHERE connamespace = current_schema()::regnamespace
    UNION ALL
    SELECT relname, 'relation' FROM pg_class
    WHERE relnamespace = current_schema()::regnamespace
    """
)


class TakenNames:
    """Names for what the model leaves unnamed, as PostgreSQL would choose them.

    Taken are the constraint names and relation names of the default schema, and every
    name the model gives; each name chosen is taken in turn.
    """

    def __init__(self, trial: Trial) -> None:
        taken = trial.connection.execute(_TAKEN).all()
        self.constraints = {name for name, kind in taken if kind == "constraint"}
        self.relations = {name for name, kind in taken if kind == "relation"}
        self.database_relations = frozenset(self.relations)
        """The relation names of the default schema, as the database has them."""
        for table in trial.metadata.tables.values():
            named: list[Constraint | Index] = [*table.constraints, *table.indexes]
            given = {item.name for item in named if isinstance(item.name, str)}
            self.constraints |= given
            self.relations |= given

    def foreign_key(self, table: str, columns: Sequence[str]) -> str:
        """`{table}_{columns}_fkey`, shortened and numbered as PostgreSQL does."""
        name = default_name(table, columns, FOREIGN_KEY, self.constraints)
        self.constraints.add(name)
        return name

    def index(self, table: str, columns: Sequence[str]) -> str:
        """`{table}_{columns}_idx`, shortened and numbered as PostgreSQL does."""
        name = default_name(table, columns, INDEX, self.relations)
        self.relations.add(name)
        return name
