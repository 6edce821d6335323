"""Deciding what each drop is: a rename, an intended drop, or a refusal.

In a terminal the person is asked, as Django's makemigrations asks: first about each likely
rename, best first, then, for whatever would still be dropped, whether to drop it and its
data. Elsewhere only the `-x` hints decide, and every undecided drop becomes one line saying
which hint to add; no revision is written while any remains.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from difflib import SequenceMatcher
from typing import Any

from alembic.util import CommandError
from sqlalchemy import Column, Table
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeEngine

from alembic_toolkit.autogen.hints import EXPAND, ONE_STEP, Hints
from alembic_toolkit.project import ProjectCommands

Ask = Callable[[str], bool]
"""Ask the person at the terminal a yes/no question; True for yes."""

MODE_QUESTION = (
    "Rename without downtime: write an expand revision (new column, kept in step, filled in) "
    "and a contract revision (old column dropped) instead of renaming in place? [y/N] "
)


@dataclass(frozen=True)
class Candidate:
    """A drop and an add that may be one rename; the higher the score, the likelier."""

    old: str
    new: str
    score: float
    table: str | None = None
    """The table of a column rename; None for a table rename."""
    new_type: str = ""

    @property
    def hint(self) -> str:
        """The `-x` hint that confirms it."""
        return (
            f"rename={self.table}.{self.old}:{self.new}"
            if self.table
            else (f"rename={self.old}:{self.new}")
        )

    @property
    def label(self) -> str:
        """E.g. "country.name -> country.common_name"."""
        if self.table:
            return f"{self.table}.{self.old} -> {self.table}.{self.new}"
        return f"table {self.old} -> {self.new}"

    @property
    def question(self) -> str:
        """What the person at the terminal is asked."""
        if self.table:
            return (
                f"Did you rename {self.table}.{self.old} to {self.table}.{self.new} "
                f"({self.new_type})? [y/N] "
            )
        return f"Did you rename table {self.old} to {self.new}? [y/N] "


@dataclass
class Decisions:
    """The hints, the person (when there is a terminal) and what could not be decided."""

    hints: Hints
    ask: Ask | None
    problems: list[str] = field(default_factory=list)
    commands: ProjectCommands = field(default_factory=ProjectCommands)
    message: str | None = None
    """The revision's message, for the full command a refusal names."""
    undecided: list[str] = field(default_factory=list)
    """The drops nobody confirmed, by "table[.column]" name."""

    def refuse_if_undecided(self) -> None:
        """Stop, writing nothing, while any problem is recorded."""
        if not self.problems:
            return
        lines = list(self.problems)
        if self.undecided:
            # One command that works, so that a drop meant from the start takes one more run.
            command = self.commands.revision_with(self.message, self.hints, self.undecided)
            lines.append(f"to drop every one of them, with its data: {command}")
        raise CommandError(
            "no revision written; decide what happens to each drop:\n" + "\n".join(lines)
        )

    def confirm_renames(self, candidates: Iterable[Candidate]) -> dict[str, str]:
        """In a terminal, ask about each candidate, best first; return the confirmed renames."""
        confirmed: dict[str, str] = {}
        if self.ask is None:
            return confirmed
        for candidate in sorted(candidates, key=lambda c: -c.score):
            if candidate.old in confirmed or candidate.new in confirmed.values():
                continue
            if self.ask(candidate.question):
                confirmed[candidate.old] = candidate.new
        return confirmed

    def rename_mode(self) -> str:
        """How confirmed column renames are written: the hint's mode, else asked, else ONE_STEP."""
        if self.hints.rename_mode is not None:
            return self.hints.rename_mode
        if self.ask is not None and self.ask(MODE_QUESTION):
            return EXPAND
        return ONE_STEP

    def decide_drop(
        self,
        full_name: str,
        label: str,
        candidates: Iterable[Candidate],
    ) -> None:
        """Keep a drop only when allowed; otherwise ask, or record which hint would decide it."""
        if full_name in self.hints.allow_drop:
            return
        if self.ask is not None:
            if not self.ask(f"Drop {label} and all its data? [y/N] "):
                raise CommandError(f"no revision written: {label} would have been dropped")
            return
        self.undecided.append(full_name)
        own = [c for c in candidates if c.old == full_name.rpartition(".")[2]]
        for candidate in sorted(own, key=lambda c: -c.score):
            self.problems.append(
                f"{candidate.label}: a likely rename; add -x {candidate.hint}, "
                f"or -x allow_drop={full_name} to drop it and its data"
            )
        if not own:
            self.problems.append(
                f"{label} would be dropped with its data; add -x allow_drop={full_name} to confirm"
            )


def compatible(old: TypeEngine[Any], new: TypeEngine[Any]) -> bool:
    """True when both types hold the same kind of Python value (text, integers, ...)."""
    return _kind(old) == _kind(new)


def _kind(type_: TypeEngine[Any]) -> object:
    try:
        kind = type_.python_type
    except NotImplementedError:
        return _generic_name(type_)
    # An enum's values are text in the database, whichever class the model maps them to.
    return str if isinstance(kind, type) and issubclass(kind, enum.Enum) else kind


def type_name(type_: TypeEngine[Any], dialect: Dialect) -> str:
    """The type as the database spells it, e.g. VARCHAR(100)."""
    return str(type_.compile(dialect=dialect))


def similarity(old: str, new: str) -> float:
    """How alike two names are, from 0 to 1."""
    return SequenceMatcher(None, old, new).ratio()


def column_score(old: Column[Any], new: Column[Any], dialect: Dialect) -> float:
    """Same type, same nullability and a similar name make a rename likelier."""
    return (
        (2.0 if type_name(old.type, dialect) == type_name(new.type, dialect) else 1.0)
        + (0.5 if old.nullable == new.nullable else 0.0)
        + similarity(old.name, new.name)
    )


def table_score(old: Table, new: Table) -> float | None:
    """How likely `new` is `old` renamed: None when they share too few columns."""
    before = {c.name: c for c in old.columns}
    after = {c.name: c for c in new.columns}
    shared = [
        name for name in before if name in after and compatible(before[name].type, after[name].type)
    ]
    overlap = len(shared) / len(set(before) | set(after))
    if overlap < 0.5:
        return None
    return overlap + similarity(old.name, new.name)


def _generic_name(type_: TypeEngine[Any]) -> str:
    try:
        return type(type_.as_generic()).__name__
    except NotImplementedError:
        return type(type_).__name__
