"""Constraint and index names as the models name them, matched by what each one covers.

A rename leaves names behind: PostgreSQL keeps `uq_city_code` when `city` becomes `town`,
and `fk_address_city_id_city` when the table it points at is renamed. Alembic compares
indexes and unique constraints by name (so it would drop and re-create them) and does not
compare primary key, foreign key or check constraint names at all (so nothing would report
them). Here each database object is matched to the model's by its kind, table and columns
(and, for a foreign key, what it references); where the names differ, it is renamed, or
reported by `name_drift`.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from functools import partial
from typing import Any

from alembic.operations import MigrateOperation
from sqlalchemy import (
    CheckConstraint,
    Column,
    Constraint,
    ForeignKeyConstraint,
    Index,
    MetaData,
    Table,
    UniqueConstraint,
)
from sqlalchemy.engine import Dialect, Inspector
from sqlalchemy.exc import NoReferencedTableError

from alembic_toolkit.autogen.operations import RenameConstraintOp, RenameIndexOp
from alembic_toolkit.autogen.steps import rename_steps

KINDS = {
    "pk": "primary key",
    "uq": "unique constraint",
    "ix": "index",
    "fk": "foreign key",
    "ck": "check constraint",
}
# Primary keys, unique constraints and indexes are relations: one namespace per schema.
# Foreign keys and check constraints are named per table.
RELATIONS = {"pk", "uq", "ix"}


@dataclass(frozen=True)
class Named:
    """A constraint or index: its kind, table, name and what it covers."""

    kind: str
    table: str
    name: str
    covers: tuple[Any, ...]

    def describe(self) -> str:
        """E.g. "index on city (name)"."""
        columns = ", ".join(str(c) for c in self.covers[0]) if self.covers else ""
        return f"{KINDS[self.kind]} on {self.table} ({columns})".replace(" ()", "")


def in_database(inspector: Inspector, table: str) -> list[Named]:
    """The table's named constraints and indexes, as reflected."""
    found: list[Named] = []
    pk = inspector.get_pk_constraint(table)
    if pk.get("name"):
        found.append(Named("pk", table, str(pk["name"]), ()))
    for uq in inspector.get_unique_constraints(table):
        if uq["name"]:
            found.append(Named("uq", table, uq["name"], (tuple(uq["column_names"]),)))
    for ix in inspector.get_indexes(table):
        columns = ix["column_names"]
        options = ix.get("dialect_options", {})
        # Partial, expression, covering or non-btree indexes are not matched by their columns.
        plain = not options.get("postgresql_where") and not options.get("postgresql_include")
        plain = plain and options.get("postgresql_using", "btree") == "btree"
        if ix["name"] and not ix.get("duplicates_constraint") and None not in columns and plain:
            found.append(Named("ix", table, ix["name"], (tuple(columns), ix["unique"])))
    for fk in inspector.get_foreign_keys(table):
        if fk["name"]:
            covers = (
                tuple(fk["constrained_columns"]),
                fk["referred_table"],
                tuple(fk["referred_columns"]),
            )
            found.append(Named("fk", table, fk["name"], covers))
    for ck in inspector.get_check_constraints(table):
        if ck["name"]:
            found.append(Named("ck", table, ck["name"], ()))
    return found


def in_model(table: Table, dialect: Dialect) -> list[Named]:
    """The table's constraints and indexes that the model names, by their database names."""
    found: list[Named] = []
    name = partial(database_name, dialect=dialect)
    if table.primary_key.name:
        found.append(Named("pk", table.name, name(table.primary_key), ()))
    for constraint in table.constraints:
        if not constraint.name:
            continue
        if isinstance(constraint, UniqueConstraint):
            columns = tuple(column.name for column in constraint.columns)
            found.append(Named("uq", table.name, name(constraint), (columns,)))
        elif isinstance(constraint, ForeignKeyConstraint):
            try:
                referred = constraint.referred_table.name
            except NoReferencedTableError:
                continue
            columns = tuple(column.name for column in constraint.columns)
            targets = tuple(element.column.name for element in constraint.elements)
            found.append(Named("fk", table.name, name(constraint), (columns, referred, targets)))
        elif isinstance(constraint, CheckConstraint):
            found.append(Named("ck", table.name, name(constraint), ()))
    for index in table.indexes:
        covered = tuple(e.name if isinstance(e, Column) else None for e in index.expressions)
        options = index.dialect_options["postgresql"]
        plain = options["where"] is None and not options["include"]
        plain = plain and options["using"] in {None, False, "btree"}
        if index.name and None not in covered and plain:
            found.append(Named("ix", table.name, name(index), (covered, bool(index.unique))))
    return found


def database_name(item: Constraint | Index, dialect: Dialect) -> str:
    """The name the database gives it, shortened past the length limit as SQLAlchemy's DDL does."""
    preparer = dialect.identifier_preparer
    rendered = preparer.format_constraint(item)
    return preparer.unformat_identifiers(rendered)[0] if rendered else str(item.name)


def pairs(
    inspector: Inspector, metadata: MetaData, renamed_tables: Mapping[str, str]
) -> Iterator[tuple[Named | None, Named | None]]:
    """Each database object with the model's counterpart; None where one side has none.

    An object the models name exactly is matched first; then by what it covers. Check
    constraints cover what cannot be compared reliably (reflected SQL is normalised), so a
    check is matched by name, allowing for `renamed_tables` ({old: new}) in it. Tables
    outside the default schema are left alone.
    """
    present = set(inspector.get_table_names())
    for table in sorted(metadata.tables.values(), key=lambda t: t.name):
        if table.schema is not None or table.name not in present:
            continue
        unmatched = in_database(inspector, table.name)
        model = sorted(in_model(table, inspector.dialect), key=lambda n: (n.kind, n.name))
        old_table = next((o for o, n in renamed_tables.items() if n == table.name), None)
        matched: dict[Named, Named | None] = {}
        for wanted in model:
            exact = next((c for c in unmatched if _same(c, wanted) and c.name == wanted.name), None)
            if exact is not None:
                matched[wanted] = exact
                unmatched.remove(exact)
        for wanted in model:
            if wanted not in matched:
                matched[wanted] = _match(wanted, unmatched, old_table)
                found = matched[wanted]
                if found is not None:
                    unmatched.remove(found)
        for wanted in model:
            yield matched[wanted], wanted
        for leftover in unmatched:
            yield leftover, None


def _same(found: Named, wanted: Named) -> bool:
    return found.kind == wanted.kind and (found.kind == "ck" or found.covers == wanted.covers)


def _match(wanted: Named, candidates: list[Named], old_table: str | None) -> Named | None:
    if wanted.kind == "ck":
        if old_table is None:
            return None
        return next(
            (
                c
                for c in candidates
                if c.kind == "ck" and wanted.name in _renamed(c.name, old_table, wanted.table)
            ),
            None,
        )
    covering = [c for c in candidates if _same(c, wanted)]
    return covering[0] if len(covering) == 1 else None


def _renamed(name: str, old: str, new: str) -> set[str]:
    """`name` with one whole-word occurrence of `old` (between underscores) replaced by `new`."""
    words = name.split("_")
    size = len(old.split("_"))
    return {
        "_".join([*words[:i], new, *words[i + size :]])
        for i in range(len(words) - size + 1)
        if "_".join(words[i : i + size]) == old
    }


def convention_renames(
    inspector: Inspector, metadata: MetaData, renamed_tables: Mapping[str, str]
) -> list[MigrateOperation]:
    """Operations renaming every constraint and index to the name the model gives it."""
    relations: dict[str, str] = {}
    relation_names: set[str] = set()
    owners: dict[str, Named] = {}
    per_table: dict[str, dict[str, str]] = {}
    table_names: dict[str, set[str]] = {}
    for found, wanted in pairs(inspector, metadata, renamed_tables):
        if found is None:
            continue
        if found.kind in RELATIONS:
            relation_names.add(found.name)
            owners[found.name] = found
        else:
            table_names.setdefault(found.table, set()).add(found.name)
        if wanted is None or found.name == wanted.name:
            continue
        if found.kind in RELATIONS:
            relations[found.name] = wanted.name
        else:
            per_table.setdefault(found.table, {})[found.name] = wanted.name
    operations: list[MigrateOperation] = []
    for old, new in rename_steps(relations, relation_names):
        owner = owners[old]
        owners[new] = owner  # a temporary name is renamed again later
        operations.append(
            RenameIndexOp(old, new)
            if owner.kind == "ix"
            else RenameConstraintOp(owner.table, old, new)
        )
    for table, renames in per_table.items():
        for old, new in rename_steps(renames, table_names[table]):
            operations.append(RenameConstraintOp(table, old, new))
    return operations


def name_drift(inspector: Inspector, metadata: MetaData) -> list[str]:
    """One line for each constraint or index whose name is not the one the model gives it."""
    problems: list[str] = []
    for found, wanted in pairs(inspector, metadata, {}):
        if found is not None and wanted is not None and found.name != wanted.name:
            problems.append(
                f"{found.describe()} is named {found.name}; the models name it {wanted.name}"
            )
        # Alembic compares the rest, but not check constraints.
        elif found is not None and wanted is None and found.kind == "ck":
            problems.append(f"{found.describe()} {found.name} is not in the models")
        elif found is None and wanted is not None and wanted.kind == "ck":
            problems.append(f"{wanted.describe()} {wanted.name} is not in the database")
    return problems
