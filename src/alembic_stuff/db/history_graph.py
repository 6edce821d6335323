"""The revision history as a Mermaid flowchart: branches, merges, labels, heads, the database.

Generated from the revision files alone, so the same history always gives the same text
(the README embeds it and `qa` checks it is current); the database's revision is marked
only when the caller passes it.
"""

from collections.abc import Collection

from alembic.script import Script, ScriptDirectory

MESSAGE_WIDTH = 80


def history_mermaid(script: ScriptDirectory, current: Collection[str] = ()) -> str:
    """Return a Mermaid flowchart of every revision, oldest at the top; mark `current` ones."""
    revisions = list(reversed(list(script.walk_revisions("base", "heads"))))
    heads = set(script.get_heads())
    lines = ["flowchart TB", '  base(["base: the empty database"])']
    for revision in revisions:
        lines.append(f'  {_node(revision.revision)}["{_label(revision, heads)}"]')
    for revision in revisions:
        for parent in _as_tuple(revision.down_revision) or ("base",):
            lines.append(f"  {_node(parent)} --> {_node(revision.revision)}")
        for dependency in _as_tuple(revision.dependencies):
            target = script.get_revision(dependency)
            if target is not None:
                lines.append(
                    f"  {_node(target.revision)} -. depends on .-> {_node(revision.revision)}"
                )
    lines.append("  classDef head stroke-width:3px")
    lines.append("  classDef current fill:#d4f7d4,stroke:#2e7d32,stroke-width:3px")
    marked_heads = [_node(rev) for rev in sorted(heads)]
    if marked_heads:
        lines.append(f"  class {','.join(marked_heads)} head")
    marked = [_node(rev) for rev in sorted(current) if rev in {r.revision for r in revisions}]
    if marked:
        lines.append(f"  class {','.join(marked)} current")
    return "\n".join(lines) + "\n"


def _label(revision: Script, heads: Collection[str]) -> str:
    message = (revision.doc or "").strip().splitlines()[0] if revision.doc else ""
    if len(message) > MESSAGE_WIDTH:
        message = message[: MESSAGE_WIDTH - 1].rstrip() + "…"
    parts = [f"<b>{revision.revision}</b>", _escape(message)]
    # The labels the revision declares: Alembic's `branch_labels` also lists those inherited
    # from the revisions below it.
    tags = [f"branch: {label}" for label in sorted(_as_tuple(revision.module.branch_labels))]
    if revision.is_merge_point:
        tags.append("merge")
    if revision.revision in heads:
        tags.append("head")
    if tags:
        parts.append(f"<i>{', '.join(tags)}</i>")
    return "<br/>".join(part for part in parts if part)


def _node(revision: str) -> str:
    return "base" if revision == "base" else f"r_{revision}"


def _escape(text: str) -> str:
    # Mermaid's own entity codes: a quote would end the label, < and > would read as HTML.
    for character, code in (("#", "#35;"), ('"', "#quot;"), ("<", "#lt;"), (">", "#gt;")):
        text = text.replace(character, code)
    return text


def _as_tuple(value: str | Collection[str] | None) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, str):
        return (value,)
    return tuple(value)
