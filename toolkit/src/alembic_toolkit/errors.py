"""The errors the toolkit raises to whoever runs the migrations: typed, each one line.

Each is a subclass of Alembic's `CommandError`, so the `alembic` command prints it as one
line ("FAILED: ...") and exits non-zero, while a program calling `alembic.command` can catch the
kind it cares about.
"""

from collections.abc import Sequence

from alembic.util import CommandError


class MigrationLockTimeoutError(CommandError):
    """Another process held the migration lock for longer than the configured wait."""


class MigrationTimeoutError(CommandError):
    """A revision waited too long for a table lock, or ran too long, and was rolled back."""


class DatabaseUnreachableError(CommandError):
    """The migrations could not connect to their database."""


class DatabaseSilentError(CommandError):
    """The database stopped answering during a migration command, which was ended."""


class PooledConnectionError(CommandError):
    """The migrations' connection is not one database session: a pooler is in between."""


class FindingsError(CommandError):
    """A command refused, or a check failed, on findings: one line each in `problems`."""

    def __init__(self, message: str, problems: Sequence[str] = ()) -> None:
        super().__init__(message)
        self.problems = list(problems)
