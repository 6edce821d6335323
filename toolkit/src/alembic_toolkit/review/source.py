"""Reading a revision's source without running it: its functions, literals and `op` calls."""

from __future__ import annotations

import ast
from pathlib import Path


def functions(path: Path) -> dict[str, ast.FunctionDef]:
    """The revision's `upgrade()` and `downgrade()`, by name."""
    tree = ast.parse(path.read_text(), filename=str(path))
    return {
        node.name: node
        for node in tree.body
        if isinstance(node, ast.FunctionDef) and node.name in {"upgrade", "downgrade"}
    }


def callee(node: ast.Call) -> str | None:
    """The called function's own name: `text` in `sa.text(...)`."""
    func = node.func
    return (
        func.attr
        if isinstance(func, ast.Attribute)
        else func.id
        if isinstance(func, ast.Name)
        else None
    )


def batch_tables(function: ast.FunctionDef) -> dict[str, str]:
    """`with op.batch_alter_table("t") as batch_op:` names: {"batch_op": "t"}."""
    tables: dict[str, str] = {}
    for node in ast.walk(function):
        if isinstance(node, ast.With):
            for item in node.items:
                call = item.context_expr
                if (
                    isinstance(call, ast.Call)
                    and isinstance(call.func, ast.Attribute)
                    and call.func.attr == "batch_alter_table"
                    and isinstance(item.optional_vars, ast.Name)
                    and call.args
                ):
                    tables[item.optional_vars.id] = str(literal(call.args[0]))
    return tables


def literal(node: ast.expr | None) -> object:
    """The value written in the source, or its source text when it is not a literal."""
    if node is None:
        return None
    try:
        return ast.literal_eval(node)
    except ValueError:
        return ast.unparse(node)
