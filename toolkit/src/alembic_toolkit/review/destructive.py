"""The destructive-change guard: a revision that destroys data must say so, with a reason.

It reads each revision's source (nothing is run) and finds, in `upgrade()` and `downgrade()`:
dropped tables and columns, type changes that narrow a column (or that it cannot tell do
not), and SQL that drops, truncates or deletes, raw or a `delete()` construct, run through `op`
or a connection; a call whose arguments it cannot read counts too. Each must be acknowledged
in the revision:

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

from alembic_toolkit.review import narrowing, raw_sql, source
from alembic_toolkit.review.kinds import (
    CONTRACT_NEEDS_EXPAND,
    DATA_LOSS,
    EXPAND_ONLY_ADDS,
    PLACEHOLDER,
    STALE,
)
from alembic_toolkit.review.markers import DESTROYS_DATA, is_reason, read_marker

OP_NAMES = {"op", "batch_op"}
BATCH_OP = "batch_op"
# Alembic's parameter names, in order (alembic.operations.ops), of the operations the guard
# reads: a revision may pass each by position or by keyword.
OPERATIONS = {
    "create_table": ("table_name",),
    "add_column": ("table_name", "column"),
    "drop_table": ("table_name",),
    "drop_column": ("table_name", "column_name"),
    "alter_column": ("table_name", "column_name"),
}
# The same operations on a batch (`with op.batch_alter_table(...) as batch_op:`), whose table
# is the batch's.
BATCH_OPERATIONS = {
    "add_column": ("column",),
    "drop_column": ("column_name",),
    "alter_column": ("column_name",),
}
EXPAND, CONTRACT = "expand", "contract"
# How plain Alembic writes a contract revision that depends on the newest expand revision.
CONTRACT_REVISION = f'`alembic revision -m "..." --head {CONTRACT}@head --depends-on {EXPAND}@head`'
RENAMES = {"rename_table": "renames table", "rename_column": "renames column"}
# A table or a column renamed by raw SQL (`ALTER TABLE t RENAME [COLUMN] a TO b`, `ALTER TABLE
# t RENAME TO u`); a constraint's rename changes nothing a release's code names.
RAW_RENAME = re.compile(
    r"\bALTER\s+TABLE\b[^;]*?\bRENAME\s+(?!CONSTRAINT\b)\S+(\s+\S+)?", re.IGNORECASE
)
RENAME_PARAMETERS = {
    "table_name",
    "column_name",
    "old_table_name",
    "new_table_name",
    "new_column_name",
}
# Alembic's op.execute(sqltext), SQLAlchemy's Connection.execute(statement) and
# Connection.exec_driver_sql(statement).
SQL_METHODS = {"execute", "exec_driver_sql"}


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
        if not (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and isinstance(node.func.value, ast.Name)
        ):
            continue
        receiver, method = node.func.value.id, node.func.attr
        if receiver in batch_tables:
            table, column = batch_tables[receiver], _argument(node, BATCH_OPERATIONS, method, 0)
        elif receiver == "op":
            table_node = _argument(node, OPERATIONS, method, 0)
            table = None if table_node is None else str(source.literal(table_node))
            column = _argument(node, OPERATIONS, method, 1)
        else:
            continue
        if method == "create_table" and table is not None:
            created.add(table)
        elif method == "add_column" and table is not None and column is not None:
            created.add(f"{table}.{_column_name(column)}")
    return created


def _argument(
    call: ast.Call, signatures: Mapping[str, tuple[str, ...]], method: str, position: int
) -> ast.expr | None:
    """What `call` passes as `method`'s parameter at `position`, by position or keyword."""
    names = signatures.get(method, ())
    if position >= len(names):
        return None
    return source.argument(call, position, names[position])


def _column_name(node: ast.expr) -> object:
    """The name in `sa.Column("name", ...)` or `sa.Column(name="name", ...)`."""
    if isinstance(node, ast.Call):
        return source.literal(source.argument(node, 0, "name"))
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
    for _, line in labelled_problems(paths, placed):
        yield line


def labelled_problems(
    paths: Iterable[Path], placed: Mapping[Path, Placement] | None = None
) -> Iterator[tuple[str, str]]:
    """`problems`, each with its kind (DATA_LOSS, PLACEHOLDER, ...), for a summary by kind."""
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
                    yield DATA_LOSS, finding.message()
            elif not is_reason(reason):
                yield (
                    PLACEHOLDER,
                    f"{path}: {DESTROYS_DATA}[{finding.key!r}] needs a reason, not {reason!r}",
                )
        for key in sorted(set(acknowledged) - {f.key for f, _ in found}):
            yield (
                STALE,
                f"{path}: {DESTROYS_DATA} acknowledges {key!r}, which the revision does not do",
            )


def _misplaced(path: Path, place: Placement) -> Iterator[tuple[str, str]]:
    """What the revision does that its branch does not allow."""
    if place.branch == CONTRACT and not place.root and not place.depends_on_expand:
        yield (
            CONTRACT_NEEDS_EXPAND,
            f"{path}: a contract revision must name in depends_on the expand revision whose "
            f"release stopped using what it removes ({CONTRACT_REVISION} sets it to the "
            "expand head)",
        )
    if place.branch != EXPAND:
        return
    upgrade = source.functions(path).get("upgrade")
    if upgrade is None:
        return
    for line, what in [(f.line, f.what) for f in _scan(path, upgrade)] + _renames(upgrade):
        yield (
            EXPAND_ONLY_ADDS,
            f"{path}:{line}: upgrade() {what} on the expand branch, while the previous release "
            "still uses it: an expand revision only adds; move it to a contract revision "
            f"({CONTRACT_REVISION})",
        )


def renames(path: Path) -> list[tuple[int, str]]:
    """The renames of tables and columns in the revision's upgrade(): (line, what)."""
    upgrade = source.functions(path).get("upgrade")
    return [] if upgrade is None else _renames(upgrade)


def _renames(function: ast.FunctionDef) -> list[tuple[int, str]]:
    """The renames in `function`: (line, what), for the expand branch's check."""
    found: list[tuple[int, str]] = []
    for node in ast.walk(function):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
            if node.func.attr in RENAMES:
                found.append((node.lineno, f"{RENAMES[node.func.attr]} ({_names(node)})"))
            elif node.func.attr == "alter_column" and (
                source.argument(node, None, "new_column_name") is not None
            ):
                found.append((node.lineno, f"renames a column ({_names(node)})"))
            elif node.func.attr == "execute" and node.args:
                sql = node.args[0]
                if isinstance(sql, ast.Call) and source.callee(sql) == "text" and sql.args:
                    sql = sql.args[0]  # sa.text("...")
                text = source.static_text(sql)
                if text is not None and (match := RAW_RENAME.search(text)):
                    statement = " ".join(match[0].split())
                    found.append((node.lineno, f"renames in raw SQL ({statement})"))
    return sorted(found)


def _names(call: ast.Call) -> str:
    """The names a rename call passes, positional or keyword: `country, new_column_name=x`."""
    given = [str(source.literal(arg)) for arg in call.args]
    given += [
        f"{kw.arg}={source.literal(kw.value)}"
        for kw in call.keywords
        if kw.arg in RENAME_PARAMETERS
    ]
    return ", ".join(given)


def _scan(path: Path, function: ast.FunctionDef) -> Iterator[Finding]:
    batch_tables = source.batch_tables(function)
    assigned = source.assignments(function)
    for node in ast.walk(function):
        if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)):
            continue
        method = node.func.attr

        def finding(operation: str, target: str, what: str, node: ast.Call = node) -> Finding:
            return Finding(path, node.lineno, function.name, operation, target, what)

        def unreadable(missing: str, node: ast.Call = node, method: str = method) -> Finding:
            # Keyed by the call as written, since no table or column can be read from it.
            call = ast.unparse(node)
            return finding(
                method,
                call,
                f"calls {call}, which the guard could not read ({missing} not written out), "
                "so it may destroy data unseen",
            )

        if method in SQL_METHODS:
            # On any receiver: op, a batch, op.get_bind(), a connection held in a variable.
            sql = source.argument(node, 0, "sqltext") or source.argument(node, 0, "statement")
            if sql is None:
                yield unreadable("its SQL")
            elif (destroys := raw_sql.destruction(sql, assigned)) is not None:
                statement, what = destroys
                yield finding("execute", statement, what)
            continue
        if not (
            isinstance(node.func.value, ast.Name)
            and node.func.value.id in OP_NAMES | set(batch_tables)
        ):
            continue
        receiver = node.func.value.id
        if method not in {"drop_table", "drop_column", "alter_column"}:
            continue
        type_ = source.argument(node, None, "type_")
        if method == "alter_column" and type_ is None and not source.unpacks_keywords(node):
            continue  # no type change: a rename or a nullability change loses no data
        missing: list[str] = []
        if receiver in batch_tables or receiver == BATCH_OP:
            if method == "drop_table":
                continue  # a batch has no drop_table
            table = batch_tables.get(receiver)
            column = source.name(_argument(node, BATCH_OPERATIONS, method, 0))
            if table is None:
                missing.append("its batch_alter_table's table_name")
        else:
            table = source.name(_argument(node, OPERATIONS, method, 0))
            column = source.name(_argument(node, OPERATIONS, method, 1))
            if table is None:
                missing.append("table_name")
        if column is None and method != "drop_table":
            missing.append("column_name")
        if method == "alter_column" and type_ is None:
            missing.append("type_")
        if missing:
            yield unreadable(", ".join(missing))
            continue
        target = f"{table}.{column}"
        if method == "drop_table":
            yield finding("drop_table", str(table), f"drops table {table} and every row in it")
        elif method == "drop_column":
            yield finding("drop_column", target, f"drops column {target} and its values")
        elif type_ is not None:
            existing = source.argument(node, None, "existing_type")
            narrows = narrowing.describe(existing, type_)
            if narrows:
                yield finding("narrow_type", target, f"changes {target} {narrows}")
