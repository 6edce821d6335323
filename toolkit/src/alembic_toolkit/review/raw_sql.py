"""Which SQL a revision runs can destroy data, read from the source without running it."""

from __future__ import annotations

import ast
import re
from collections.abc import Mapping

from alembic_toolkit.review import source

RAW_DESTRUCTION = re.compile(r"\b(DROP\s+(TABLE|COLUMN)|TRUNCATE|DELETE\s+FROM)\b", re.IGNORECASE)


def destruction(
    node: ast.expr, assigned: Mapping[str, list[ast.expr]], seen: frozenset[str] = frozenset()
) -> tuple[str, str] | None:
    """(statement, what) when the SQL `node` runs can destroy data; None when it cannot tell.

    It reads raw SQL (`"..."`, `sa.text("...")`, an f-string's written parts), a `delete()`
    construct (`sa.delete(t)`, `t.delete()`, with any `.where(...)` after it), and a name the
    function assigns one of those to. SQL built any other way is not read.
    """
    while True:
        if isinstance(node, ast.Name):
            if node.id in seen:
                return None
            for value in assigned.get(node.id, []):
                found = destruction(value, assigned, seen | {node.id})
                if found is not None:
                    return found
            return None
        text = source.static_text(node)
        if text is not None:
            match = RAW_DESTRUCTION.search(text)
            if match is None:
                return None
            statement = " ".join(match.group(0).upper().split())
            return statement, f"runs raw SQL that can destroy data ({statement})"
        if isinstance(node, ast.Call):
            name = source.callee(node)
            if name == "delete":
                return "DELETE FROM", f"runs {ast.unparse(node)}, which deletes rows (DELETE FROM)"
            if name == "text":
                sql = source.argument(node, 0, "text")
                return None if sql is None else destruction(sql, assigned, seen)
            # A method chain, `sa.delete(t).where(...)`: the statement it starts from.
            node = node.func
        elif isinstance(node, ast.Attribute):
            node = node.value
        else:
            return None
