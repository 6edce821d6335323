"""Invalid settings as one line a user can act on, for the CLI and for plain `alembic`."""

from alembic.util import CommandError
from pydantic import ValidationError

from alembic_stuff.settings import Settings, get_settings


def describe_invalid_settings(exc: ValidationError) -> str:
    """One line naming each bad variable and what is wrong with it."""
    problems = "; ".join(
        f"{'.'.join(str(part) for part in error['loc']).upper()}: {error['msg']}"
        for error in exc.errors()
    )
    return f"invalid setting ({problems}); fix it in .env or the environment"


class InvalidSettingsError(CommandError):
    """A setting is invalid; `alembic` prints this as one line ("FAILED: ...") and exits."""


def checked_settings() -> Settings:
    """The process's settings; `InvalidSettingsError` (one line, no traceback) when invalid."""
    try:
        return get_settings()
    except ValidationError as exc:
        raise InvalidSettingsError(describe_invalid_settings(exc)) from None
