"""The destructive-change guard: a revision that destroys data must say so, with a reason.

It reads each revision's source (nothing is run) and finds, in `upgrade()` and `downgrade()`:
dropped tables and columns, type changes that narrow a column (or that it cannot tell do
not), and raw SQL that drops, truncates or deletes. Each must be acknowledged in the revision:

    destroys_data = {"downgrade: drop_table country": "why losing these rows is fine"}

On a history split into `expand` and `contract` branches it also reads where each revision
sits: an expand revision runs while the previous release serves, so its upgrade() may not
drop, narrow or rename anything, acknowledged or not; a contract revision must name in
`depends_on` the expand revision whose release stopped using what it removes.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from alembic.script import ScriptDirectory

from alembic_toolkit.review import narrowing, source
from alembic_toolkit.review.markers import DESTROYS_DATA, is_reason, read_marker

OP_NAMES = {"op", "batch_op"}
EXPAND, CONTRACT = "expand", "contract"
RENAMES = {"rename_table": "renames table", "rename_column": "renames column"}
RAW_DESTRUCTION = re.compile(r"\b(DROP\s+(TABLE|COLUMN)|TRUNCATE|DELETE\s+FROM)\b", re.IGNORECASE)


@dataclass(frozen=True)
class Finding:
    """One destructive operation in one revision."""

    path: Path
    line: int
    function: str
    operation: str
    target: str
    what: str

    @property
    def key(self) -> str:
        """How the revision's destroys_data names it."""
        return f"{self.function}: {self.operation} {self.target}"

    def message(self) -> str:
        """One line: where, what, and how to acknowledge it."""
        return (
            f"{self.path}:{self.line}: {self.function}() {self.what}; if that is intended, "
            f'add to the revision: {DESTROYS_DATA} = {{"{self.key}": "<why this is safe>"}}'
        )


def findings(path: Path) -> list[Finding]:
    """Every destructive operation in the revision at `path`.

    A downgrade that drops a table or column its own upgrade created only undoes the
    revision: it destroys nothing that existed before it, so it is not a finding (a revision
    may still acknowledge it, to say what a downgrade costs).
    """
    return [finding for finding, undo in _findings(path) if not undo]


def _findings(path: Path) -> list[tuple[Finding, bool]]:
    """Each destructive operation, and whether it only undoes what the upgrade created."""
    functions = source.functions(path)
    created = _created(functions["upgrade"]) if "upgrade" in functions else set()
    found: list[tuple[Finding, bool]] = []
    for name in ("upgrade", "downgrade"):
        if name in functions:
            found += sorted(
                (
                    (finding, name == "downgrade" and _undoes(finding, created))
                    for finding in _scan(path, functions[name])
                ),
                key=lambda pair: pair[0].line,
            )
    return found


def _created(upgrade: ast.FunctionDef) -> set[str]:
    """The names, "table" or "table.column", of what `upgrade()` creates."""
    created: set[str] = set()
    batch_tables = source.batch_tables(upgrade)
    for node in ast.walk(upgrade):
        if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)):
            continue
        receiver = node.func.value.id if isinstance(node.func.value, ast.Name) else None
        args = [source.literal(arg) for arg in node.args]
        if receiver in OP_NAMES and node.func.attr == "create_table" and args:
            created.add(str(args[0]))
        elif node.func.attr == "add_column" and receiver in batch_tables and node.args:
            created.add(f"{batch_tables[receiver]}.{_column_name(node.args[0])}")
        elif node.func.attr == "add_column" and receiver in OP_NAMES and len(node.args) > 1:
            created.add(f"{args[0]}.{_column_name(node.args[1])}")
    return created


def _column_name(node: ast.expr) -> object:
    """The name in `sa.Column("name", ...)`."""
    if isinstance(node, ast.Call) and node.args:
        return source.literal(node.args[0])
    return None


def _undoes(finding: Finding, created: set[str]) -> bool:
    if finding.operation == "drop_table":
        return finding.target in created
    if finding.operation == "drop_column":
        table = finding.target.partition(".")[0]
        return finding.target in created or table in created
    return False


@dataclass(frozen=True)
class Placement:
    """Where a revision sits in a history with expand and contract branches."""

    branch: str | None
    """EXPAND, CONTRACT, or None on the trunk."""
    root: bool
    """The first revision of its branch (the one that declares the branch label)."""
    depends_on_expand: bool
    """Its depends_on names a revision of the expand branch."""


def placements(script: ScriptDirectory) -> dict[Path, Placement]:
    """Each revision file's place in the history, by resolved path."""
    placed: dict[Path, Placement] = {}
    for revision in script.walk_revisions():
        labels = revision.branch_labels & {EXPAND, CONTRACT}
        branch = next(iter(labels)) if len(labels) == 1 else None
        parents = script.get_revisions(_ids(revision.down_revision))
        root = branch is not None and not any(branch in p.branch_labels for p in parents if p)
        dependencies = script.get_revisions(_ids(revision.dependencies))
        placed[Path(revision.path).resolve()] = Placement(
            branch, root, any(d is not None and EXPAND in d.branch_labels for d in dependencies)
        )
    return placed


def _ids(value: str | Sequence[str] | None) -> tuple[str, ...]:
    """A revision's down_revision or depends_on as a tuple of ids."""
    if value is None:
        return ()
    return (value,) if isinstance(value, str) else tuple(value)


def problems(
    paths: Iterable[Path], placed: Mapping[Path, Placement] | None = None
) -> Iterator[str]:
    """Yield one line per unacknowledged finding, bad reason, or stale acknowledgment.

    With `placed` (from `placements`), also one per change an expand revision may not make,
    and per contract revision that names no expand revision in depends_on.
    """
    for path in sorted(paths):
        place = (placed or {}).get(path.resolve())
        if place is not None:
            yield from _misplaced(path, place)
        acknowledged = read_marker(path, DESTROYS_DATA)
        found = _findings(path)
        for finding, undo in found:
            reason = acknowledged.get(finding.key)
            if reason is None:
                if not undo:
                    yield finding.message()
            elif not is_reason(reason):
                yield f"{path}: {DESTROYS_DATA}[{finding.key!r}] needs a reason, not {reason!r}"
        for key in sorted(set(acknowledged) - {f.key for f, _ in found}):
            yield f"{path}: {DESTROYS_DATA} acknowledges {key!r}, which the revision does not do"


def _misplaced(path: Path, place: Placement) -> Iterator[str]:
    """What the revision does that its branch does not allow."""
    if place.branch == CONTRACT and not place.root and not place.depends_on_expand:
        yield (
            f"{path}: a contract revision must name in depends_on the expand revision whose "
            "release stopped using what it removes (alembic-revision --contract sets it)"
        )
    if place.branch != EXPAND:
        return
    upgrade = source.functions(path).get("upgrade")
    if upgrade is None:
        return
    for line, what in [(f.line, f.what) for f in _scan(path, upgrade)] + _renames(upgrade):
        yield (
            f"{path}:{line}: upgrade() {what} on the expand branch, while the previous release "
            "still uses it: an expand revision only adds; move it to a contract revision "
            "(alembic-revision --contract)"
        )


def _renames(function: ast.FunctionDef) -> list[tuple[int, str]]:
    """The renames in `function`: (line, what), for the expand branch's check."""
    found: list[tuple[int, str]] = []
    for node in ast.walk(function):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
            args = ", ".join(str(source.literal(arg)) for arg in node.args)
            if node.func.attr in RENAMES:
                found.append((node.lineno, f"{RENAMES[node.func.attr]} ({args})"))
            elif node.func.attr == "alter_column" and any(
                kw.arg == "new_column_name" for kw in node.keywords
            ):
                found.append((node.lineno, f"renames a column ({args})"))
    return sorted(found)


def _scan(path: Path, function: ast.FunctionDef) -> Iterator[Finding]:
    batch_tables = source.batch_tables(function)
    for node in ast.walk(function):
        if not (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and isinstance(node.func.value, ast.Name)
            and node.func.value.id in OP_NAMES | set(batch_tables)
        ):
            continue
        receiver, method = node.func.value.id, node.func.attr
        table = batch_tables.get(receiver)
        args = [source.literal(arg) for arg in node.args]
        kwargs = {kw.arg: kw.value for kw in node.keywords if kw.arg}

        def finding(operation: str, target: str, what: str, node: ast.Call = node) -> Finding:
            return Finding(path, node.lineno, function.name, operation, target, what)

        if method == "drop_table":
            name = args[0] if args else source.literal(kwargs.get("table_name"))
            yield finding("drop_table", str(name), f"drops table {name} and every row in it")
        elif method == "drop_column":
            table_name, column = (table, args[0]) if table else (args[0], args[1])
            target = f"{table_name}.{column}"
            yield finding("drop_column", target, f"drops column {target} and its values")
        elif method == "alter_column" and "type_" in kwargs:
            table_name, column = (table, args[0]) if table else (args[0], args[1])
            target = f"{table_name}.{column}"
            narrows = narrowing.describe(kwargs.get("existing_type"), kwargs["type_"])
            if narrows:
                yield finding("narrow_type", target, f"changes {target} {narrows}")
        elif method == "execute" and node.args and (raw := _sql_text(node.args[0])):
            match = RAW_DESTRUCTION.search(raw)
            if match:
                statement = " ".join(match.group(0).upper().split())
                yield finding(
                    "execute", statement, f"runs raw SQL that can destroy data ({statement})"
                )


def _sql_text(node: ast.expr) -> str | None:
    """The SQL of `"..."` or `sa.text("...")`; None when it is built at run time."""
    if isinstance(node, ast.Call) and node.args and source.callee(node) == "text":
        node = node.args[0]
    value = source.literal(node)
    return value if isinstance(value, str) and isinstance(node, ast.Constant) else None
