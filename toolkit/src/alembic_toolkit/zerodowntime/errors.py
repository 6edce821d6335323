"""The one error the zero-downtime helpers raise: a refusal or failure, in one line."""

from alembic.util.exc import CommandError


class ZeroDowntimeError(CommandError):
    """A zero-downtime step refused or failed; the message says what happened and what to do.

    A subclass of Alembic's CommandError, so `alembic upgrade` prints it as one line
    ("FAILED: ...") and exits 1 instead of showing a traceback.
    """
