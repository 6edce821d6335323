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


def argument(call: ast.Call, position: int | None, keyword: str) -> ast.expr | None:
    """What `call` passes as the parameter `keyword`, by keyword or at `position`.

    None when the call does not pass it, or passes it where the source cannot show it: after
    a `*args`, or inside a `**kwargs`.
    """
    for given in call.keywords:
        if given.arg == keyword:
            return given.value
    if position is None:
        return None
    for index, arg in enumerate(call.args):
        if isinstance(arg, ast.Starred):
            return None
        if index == position:
            return arg
    return None


def unpacks_keywords(call: ast.Call) -> bool:
    """Whether `call` passes a `**kwargs`, which may hold any keyword argument."""
    return any(given.arg is None for given in call.keywords)


def batch_tables(function: ast.FunctionDef) -> dict[str, str | None]:
    """`with op.batch_alter_table("t") as batch_op:` names: {"batch_op": "t"}.

    The table is None when the call does not show it (`op.batch_alter_table(*args)`).
    """
    tables: dict[str, str | None] = {}
    for node in ast.walk(function):
        if isinstance(node, ast.With):
            for item in node.items:
                call = item.context_expr
                if (
                    isinstance(call, ast.Call)
                    and isinstance(call.func, ast.Attribute)
                    and call.func.attr == "batch_alter_table"
                    and isinstance(item.optional_vars, ast.Name)
                ):
                    # Operations.batch_alter_table(table_name, schema, ...)
                    table = argument(call, 0, "table_name")
                    tables[item.optional_vars.id] = name(table)
    return tables


def assignments(function: ast.FunctionDef) -> dict[str, list[ast.expr]]:
    """Every value `function` assigns to each plain name: `stmt = "..."` -> {"stmt": [...]}."""
    found: dict[str, list[ast.expr]] = {}
    for node in ast.walk(function):
        if isinstance(node, ast.Assign):
            targets, value = node.targets, node.value
        elif isinstance(node, ast.AnnAssign | ast.NamedExpr) and node.value is not None:
            targets, value = [node.target], node.value
        else:
            continue
        for target in targets:
            if isinstance(target, ast.Name):
                found.setdefault(target.id, []).append(value)
    return found


def static_text(node: ast.expr) -> str | None:
    """The text of a string written in the source, "?" for each part computed at run time.

    `"DROP TABLE x"`, `f"DROP TABLE {name}"`, `"DROP TABLE " + name`, `"DROP TABLE %s" % name`;
    None when no part of it is written out.
    """
    if isinstance(node, ast.Constant):
        return node.value if isinstance(node.value, str) else None
    if isinstance(node, ast.JoinedStr):
        return "".join(
            part.value if isinstance(part, ast.Constant) and isinstance(part.value, str) else "?"
            for part in node.values
        )
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
        left, right = static_text(node.left), static_text(node.right)
        return None if left is None and right is None else (left or "?") + (right or "?")
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Mod):
        return static_text(node.left)
    return None


def literal(node: ast.expr | None) -> object:
    """The value written in the source, or its source text when it is not a literal."""
    if node is None:
        return None
    try:
        return ast.literal_eval(node)
    except ValueError:
        return ast.unparse(node)


def name(node: ast.expr | None) -> str | None:
    """The table or column name written out as a string; None for anything computed.

    `op.drop_column("users", c)` in a loop passes a variable: its value is known only when the
    revision runs, so the guard must not read the variable's own name as the column's.
    """
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    return None
