"""The acknowledgments a revision makes, read from its source without running it.

A revision that does something risky on purpose says so in a module-level dict literal,
each entry with the reason it is fine:

    destroys_data = {"downgrade: drop_table country": "recreated empty by the upgrade"}
    squawk_accepts = {"renaming-column": "the API is the only client, released with it"}
"""

import ast
from pathlib import Path

DESTROYS_DATA = "destroys_data"
SQUAWK_ACCEPTS = "squawk_accepts"
PLACEHOLDER_REASONS = {"", "todo", "tbd", "fixme", "<why this is safe>"}
# What a confirmed drop's markers say until a person writes the reason: the guard and the lint
# refuse a reason that starts with TODO, so the revision cannot pass unread.
TODO_REASON = "TODO: say why losing this data is fine"


class MarkerError(ValueError):
    """A marker that is not a dict literal of non-empty strings."""


def read_marker(path: Path, name: str) -> dict[str, str]:
    """Return the revision's `name` dict (empty when it has none)."""
    tree = ast.parse(path.read_text(), filename=str(path))
    for node in tree.body:
        if isinstance(node, ast.Assign):
            targets, value = node.targets, node.value
        elif isinstance(node, ast.AnnAssign) and node.value is not None:
            targets, value = [node.target], node.value
        else:
            continue
        if any(isinstance(t, ast.Name) and t.id == name for t in targets):
            try:
                marker = ast.literal_eval(value)
            except ValueError as exc:
                raise MarkerError(f"{path}: {name} must be a dict literal of strings") from exc
            if not isinstance(marker, dict) or not all(
                isinstance(k, str) and isinstance(v, str) for k, v in marker.items()
            ):
                raise MarkerError(f"{path}: {name} must be a dict literal of strings")
            return marker
    return {}


def is_reason(text: str) -> bool:
    """True when `text` actually gives a reason, not a placeholder."""
    return text.strip().lower() not in PLACEHOLDER_REASONS and not text.strip().lower().startswith(
        "todo"
    )
