"""What the toolkit reads from a project's alembic.ini: its names for commands, its release module.

Messages and generated revisions name the commands that check, lint or write a revision. By
default those are the toolkit's own; a project that wraps them in commands of its own says so
in alembic.ini, so that its people read the names they type:

    [alembic_toolkit.commands]
    guard = make check
    revision = make revision

The same section name is read by `ProjectCommands.from_config`; a program may also pass
`ProjectCommands(...)` itself. The `[alembic_toolkit]` section's `release_module` names the
Python module `alembic-toolkit release` writes (alembic_toolkit.release_module).
"""

from __future__ import annotations

import shlex
from collections.abc import Iterable
from dataclasses import dataclass, fields
from pathlib import Path

from alembic.config import Config
from alembic.util import CommandError

from alembic_toolkit.autogen.hints import Hints

SECTION = "alembic_toolkit"
COMMANDS_SECTION = "alembic_toolkit.commands"


@dataclass(frozen=True)
class ProjectCommands:
    """The project's names for the toolkit's commands and autogenerate."""

    guard: str = "alembic-toolkit guard"
    lint: str = "alembic-toolkit lint"
    revision: str = "alembic revision --autogenerate"
    """Writes a revision; a refused drop adds `-m "..."` and the `-x` hints to it."""
    upgrade: str = "alembic-toolkit upgrade"
    expand: str = "alembic-toolkit expand"
    contract: str = "alembic-toolkit contract"
    sql: str = "alembic-toolkit sql"
    release: str = "alembic-toolkit release"

    @classmethod
    def from_config(cls, config: Config) -> ProjectCommands:
        """The names in alembic.ini's `[alembic_toolkit.commands]`, the toolkit's for the rest."""
        # Alembic's own default (`here`, the folder of the file) is in every section.
        given = {
            name: value
            for name, value in config.get_section(COMMANDS_SECTION, {}).items()
            if name not in config.file_config.defaults()
        }
        unknown = set(given) - {each.name for each in fields(cls)}
        if unknown:
            raise CommandError(
                f"[{COMMANDS_SECTION}] in {config.config_file_name} names no toolkit command "
                f"{', '.join(sorted(unknown))}: the commands are "
                f"{', '.join(each.name for each in fields(cls))}"
            )
        return cls(**{name: value.strip() for name, value in given.items()})

    def revision_with(self, message: str | None, hints: Hints, drops: Iterable[str]) -> str:
        """The full revision command with `hints` and `-x allow_drop=` for each of `drops`."""
        words = [self.revision, "-m", shlex.quote(message or "describe the change")]
        words += [f"-x rename={old}:{new}" for old, new in sorted(hints.tables.items())]
        words += [
            f"-x rename={table}.{old}:{new}" for (table, old), new in sorted(hints.columns.items())
        ]
        words += [f"-x allow_drop={name}" for name in sorted(hints.allow_drop | set(drops))]
        if hints.rename_mode is not None:
            words.append(f"-x rename_mode={hints.rename_mode}")
        return " ".join(words)


def release_module_path(config: Config) -> Path | None:
    """The module `alembic-toolkit release` writes (`[alembic_toolkit] release_module`), or None."""
    value = config.get_section(SECTION, {}).get("release_module")
    if not value:
        return None
    path = Path(value.strip())
    if not path.is_absolute() and config.config_file_name is not None:
        path = Path(config.config_file_name).parent / path
    return path
