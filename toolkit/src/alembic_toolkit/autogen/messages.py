"""A revision's message written into its docstring as text, never as code.

Alembic's template writes the message between triple quotes as it is: a message holding
three double quotes and code closes the docstring, and the code runs as soon as Alembic
loads the new revision (`alembic revision` loads it at once). Escaped, the docstring reads
back as the message, whatever it holds: quotes, backslashes and the escapes they start,
newlines, controls.

The rename-aware hook escapes each message it writes, and tells the template so through
`template_args`: Alembic's own template then writes it safely. A template that escapes what
it is given (this project's) escapes only a message the hook has not.
"""

from collections.abc import Iterable, MutableMapping
from typing import Any

from alembic.operations.ops import MigrationScript

ESCAPED = "message_escaped"
"""The `template_args` key saying the messages are escaped already (see `in_docstring`)."""


def docstring_text(message: str) -> str:
    """`message` escaped so that, between triple double quotes, it reads back as itself."""
    return "".join(_escaped(char) for char in message)


def _escaped(char: str) -> str:
    if char in '\\"':
        return "\\" + char
    if char in "\n\t" or char.isprintable():
        return char
    # A carriage return would be read as a newline, a NUL refused by the parser, and a
    # line or paragraph separator shown as a line break no reader expects.
    return char.encode("unicode_escape").decode("ascii")


def in_docstring(message: str, *, escaped: bool) -> str:
    """What a template writes between triple quotes for `message`: escaped, and once only.

    In script.py.mako, after the opening quotes:
    `${in_docstring(message, escaped=context.get(ESCAPED, False))}`.
    """
    return message if escaped else docstring_text(message)


def escape_messages(
    scripts: Iterable[MigrationScript], template_args: MutableMapping[str, Any]
) -> None:
    """Escape each script's message in place, and record that in `template_args`."""
    if template_args.get(ESCAPED):
        return
    for script in scripts:
        if script.message:
            script.message = docstring_text(script.message)
    template_args[ESCAPED] = True
