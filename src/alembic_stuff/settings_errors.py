"""Invalid settings as one line a user can act on, for the CLI and for plain `alembic`."""

from pydantic import ValidationError

from alembic_stuff.settings import Settings, get_settings


def describe_invalid_settings(exc: ValidationError) -> str:
    """One line naming each bad variable and what is wrong with it."""
    problems = "; ".join(
        f"{'.'.join(str(part) for part in error['loc']).upper()}: {error['msg']}"
        for error in exc.errors()
    )
    return f"invalid setting ({problems}); fix it in .env or the environment"


def settings_or_exit() -> Settings:
    """The process's settings; exit with one line (no traceback) when they are invalid."""
    try:
        return get_settings()
    except ValidationError as exc:
        raise SystemExit(f"error: {describe_invalid_settings(exc)}") from None
