"""Whether an `alter_column` type change can lose data, read from the revision's source.

A change within a family (strings, integers, numerics) narrows when the new size is smaller;
a change of family, or one whose existing type the revision does not say, may alter or refuse
existing values, so it counts as narrowing too.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass

from alembic_toolkit.review.source import callee, literal

# Sizes within a family: a change to a smaller one narrows the column.
INTEGER_SIZES = {
    "SmallInteger": 2,
    "SMALLINT": 2,
    "Integer": 4,
    "INTEGER": 4,
    "BigInteger": 8,
    "BIGINT": 8,
}
STRING_TYPES = {"String", "VARCHAR", "CHAR", "Unicode", "NVARCHAR"}
UNBOUNDED_TEXT = {"Text", "TEXT", "UnicodeText"}
NUMERIC_TYPES = {"Numeric", "NUMERIC", "DECIMAL"}


@dataclass(frozen=True)
class _Type:
    name: str
    args: tuple[object, ...]
    kwargs: dict[str, object]

    def arg(self, position: int, keyword: str) -> object:
        if len(self.args) > position:
            return self.args[position]
        return self.kwargs.get(keyword)


def _parse_type(node: ast.expr | None) -> _Type | None:
    """`sa.String(length=50)` -> _Type("String", (), {"length": 50}); None if not a type call."""
    if isinstance(node, ast.Attribute | ast.Name):
        node = ast.Call(func=node, args=[], keywords=[])
    if not isinstance(node, ast.Call):
        return None
    name = callee(node)
    if name is None:
        return None
    return _Type(
        name,
        tuple(literal(arg) for arg in node.args),
        {kw.arg: literal(kw.value) for kw in node.keywords if kw.arg},
    )


def describe(existing: ast.expr | None, new: ast.expr) -> str | None:
    """Describe how the change from `existing` to `new` can lose data, or None if it cannot."""
    old_type, new_type = _parse_type(existing), _parse_type(new)
    if new_type is None or old_type is None:
        return "to a new type without existing_type, so whether it narrows cannot be told"
    old_text, new_text = ast.unparse(existing) if existing else "?", ast.unparse(new)
    change = f"from {old_text} to {new_text}"
    if (
        old_type.name in STRING_TYPES | UNBOUNDED_TEXT
        and new_type.name in STRING_TYPES | UNBOUNDED_TEXT
    ):
        old_length = None if old_type.name in UNBOUNDED_TEXT else old_type.arg(0, "length")
        new_length = None if new_type.name in UNBOUNDED_TEXT else new_type.arg(0, "length")
        if new_length is None:
            return None
        if old_length is None or _number(new_length) < _number(old_length):
            return f"{change}, which truncates longer values or fails on them"
        return None
    if old_type.name in INTEGER_SIZES and new_type.name in INTEGER_SIZES:
        if INTEGER_SIZES[new_type.name] < INTEGER_SIZES[old_type.name]:
            return f"{change}, which fails on values that no longer fit"
        return None
    if old_type.name in NUMERIC_TYPES and new_type.name in NUMERIC_TYPES:
        precision = (_number(old_type.arg(0, "precision")), _number(new_type.arg(0, "precision")))
        scale = (_number(old_type.arg(1, "scale")), _number(new_type.arg(1, "scale")))
        if precision[1] < precision[0] or scale[1] < scale[0]:
            return f"{change}, which rounds or fails on values that no longer fit"
        return None
    if old_type.name == new_type.name and old_type == new_type:
        return None
    return f"{change}, a change of kind that can fail on or alter existing values"


def _number(value: object) -> float:
    """A length or precision; unlimited (None) is infinitely large."""
    return float(value) if isinstance(value, int | float) else float("inf")
