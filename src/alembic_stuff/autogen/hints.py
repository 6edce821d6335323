"""The `-x` hints that decide renames and drops when nobody is at a terminal to ask.

    -x rename=country.common_name:display_name   a column (table.old:new)
    -x rename=city:town                          a table (old:new)
    -x allow_drop=country.capital                a column whose drop, and data loss, is intended
    -x allow_drop=city                           likewise a table

Each `-x` may carry several, separated by commas, and `-x` may be repeated.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import TypeVar

from alembic.util import CommandError

RENAME, ALLOW_DROP = "rename", "allow_drop"
_Key = TypeVar("_Key", str, tuple[str, str])

USAGE = (
    "write -x rename=table.old:new, -x rename=old_table:new_table or -x allow_drop=table[.column]"
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

    @classmethod
    def parse(cls, arguments: Iterable[str]) -> Hints:
        """Read every `-x rename=...` and `-x allow_drop=...`; refuse anything else."""
        tables: dict[str, str] = {}
        columns: dict[tuple[str, str], str] = {}
        drops: set[str] = set()
        for argument in arguments:
            key, equals, value = argument.partition("=")
            items = [item.strip() for item in value.split(",") if item.strip()]
            if not equals or key.strip() not in {RENAME, ALLOW_DROP} or not items:
                raise HintError(f"-x {argument}: {USAGE}")
            for item in items:
                if key.strip() == ALLOW_DROP:
                    if not _is_name(item, parts=(1, 2)):
                        raise HintError(f"-x allow_drop={item}: {USAGE}")
                    drops.add(item)
                    continue
                old, colon, new = item.partition(":")
                if not colon or not _is_name(old, parts=(1, 2)) or not _is_name(new, parts=(1,)):
                    raise HintError(f"-x rename={item}: {USAGE}")
                table, dot, column = old.rpartition(".")
                if dot:
                    _add(columns, (table, column), new, f"rename={item}")
                else:
                    _add(tables, old, new, f"rename={item}")
        return cls(tables, columns, frozenset(drops))

    def describe_table(self, old: str) -> str:
        """The hint as the person wrote it, for messages."""
        return f"-x rename={old}:{self.tables[old]}"

    def describe_column(self, key: tuple[str, str]) -> str:
        """The hint as the person wrote it, for messages."""
        return f"-x rename={key[0]}.{key[1]}:{self.columns[key]}"


def _is_name(text: str, *, parts: tuple[int, ...]) -> bool:
    names = text.split(".")
    return len(names) in parts and all(name and not name.isspace() for name in names)


def _add(renames: dict[_Key, str], old: _Key, new: str, hint: str) -> None:
    if old in renames and renames[old] != new:
        raise HintError(f"-x {hint}: already renamed to {renames[old]} by another hint")
    if new in renames.values() and renames.get(old) != new:
        raise HintError(f"-x {hint}: another hint already renames something to {new}")
    renames[old] = new
