"""The `-x` hints that decide renames and drops when nobody is at a terminal to ask.

    -x rename=country.common_name:display_name   a column (table.old:new)
    -x rename=city:town                          a table (old:new)
    -x allow_drop=country.capital                a column whose drop, and data loss, is intended
    -x allow_drop=city                           likewise a table
    -x rename_mode=expand                        column renames as an expand revision and a
                                                 contract revision (zero downtime); the
                                                 default, rename_mode=one-step, renames in place

Each `-x` may carry several, separated by commas, and `-x` may be repeated.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import TypeVar

from alembic.util import CommandError

RENAME, ALLOW_DROP, RENAME_MODE = "rename", "allow_drop", "rename_mode"
# How a column rename is written: in place (one revision, for the contract branch), or as an
# expand revision (new column, sync triggers, backfill) and a contract revision (old one dropped).
ONE_STEP, EXPAND = "one-step", "expand"
RENAME_MODES = (ONE_STEP, EXPAND)
_Key = TypeVar("_Key", str, tuple[str, str])

USAGE = (
    "write -x rename=table.old:new, -x rename=old_table:new_table, -x allow_drop=table[.column] "
    "or -x rename_mode=expand"
)


class HintError(CommandError):
    """A malformed hint, or one that names nothing in the database or the models."""


@dataclass(frozen=True)
class Hints:
    """What the person generating the revision said with `-x`."""

    tables: Mapping[str, str] = field(default_factory=dict)
    """Table renames: {"old": "new"}."""
    columns: Mapping[tuple[str, str], str] = field(default_factory=dict)
    """Column renames: {("table", "old"): "new"}; the table by its old or its new name."""
    allow_drop: frozenset[str] = frozenset()
    """"table.column" and "table" names whose drop, and data loss, is intended."""
    rename_mode: str | None = None
    """ONE_STEP or EXPAND when given; None leaves it to the question at a terminal (or ONE_STEP)."""

    @classmethod
    def parse(cls, arguments: Iterable[str]) -> Hints:
        """Read every `-x rename=...` and `-x allow_drop=...`; refuse anything else."""
        tables: dict[str, str] = {}
        columns: dict[tuple[str, str], str] = {}
        drops: set[str] = set()
        mode: str | None = None
        for argument in arguments:
            key, equals, value = argument.partition("=")
            if key.strip() == RENAME_MODE:
                mode = _mode(value.strip(), mode)
                continue
            items = [item.strip() for item in value.split(",") if item.strip()]
            if not equals or key.strip() not in {RENAME, ALLOW_DROP} or not items:
                raise HintError(f"-x {argument}: {USAGE}")
            for item in items:
                if key.strip() == ALLOW_DROP:
                    if not _is_name(item, parts=(1, 2, 3)):  # [schema.]table[.column]
                        raise HintError(f"-x allow_drop={item}: {USAGE}")
                    drops.add(".".join(_names(item)))
                    continue
                old, colon, new = item.partition(":")
                if not colon or not _is_name(old, parts=(1, 2)) or not _is_name(new, parts=(1,)):
                    raise HintError(f"-x rename={item}: {USAGE}")
                *table, column = _names(old)
                [new] = _names(new)
                if column == new:
                    raise HintError(f"-x rename={item}: renames {column} to itself")
                if table:
                    _add(columns, (table[0], column), new, f"rename={item}")
                else:
                    _add(tables, column, new, f"rename={item}")
        return cls(tables, columns, frozenset(drops), mode)

    def describe_table(self, old: str) -> str:
        """The hint as the person wrote it, for messages."""
        return f"-x rename={old}:{self.tables[old]}"

    def describe_column(self, key: tuple[str, str]) -> str:
        """The hint as the person wrote it, for messages."""
        return f"-x rename={key[0]}.{key[1]}:{self.columns[key]}"


def _mode(value: str, given: str | None) -> str:
    """The one rename mode a `-x rename_mode=...` names."""
    if value not in RENAME_MODES:
        raise HintError(
            f"-x rename_mode={value}: write -x rename_mode=expand (an expand and a contract "
            "revision, for zero downtime) or -x rename_mode=one-step (a rename in place, the "
            "default)"
        )
    if given is not None and given != value:
        raise HintError(f"-x rename_mode={value}: rename_mode={given} is given too; choose one")
    return value


def _names(text: str) -> list[str]:
    """The dotted parts of a hint, without the spaces around them."""
    return [name.strip() for name in text.split(".")]


def _is_name(text: str, *, parts: tuple[int, ...]) -> bool:
    names = _names(text)
    return len(names) in parts and all(names)


def _add(renames: dict[_Key, str], old: _Key, new: str, hint: str) -> None:
    if old in renames and renames[old] != new:
        raise HintError(f"-x {hint}: already renamed to {renames[old]} by another hint")
    # Two renames to one name collide only within one table (a table name, for tables).
    siblings = [
        target for key, target in renames.items() if key != old and _table(key) == _table(old)
    ]
    if new in siblings:
        raise HintError(f"-x {hint}: another hint already renames something to {new}")
    renames[old] = new


def _table(key: str | tuple[str, str]) -> str | None:
    return key[0] if isinstance(key, tuple) else None
