"""Domain errors: raised by the services, mapped to HTTP in one place (api/errors.py)."""


class DomainError(Exception):
    """Something the caller asked for cannot be done; the message says why."""


class NotFoundError(DomainError):
    """The thing asked for does not exist."""


class ConflictError(DomainError):
    """The change would clash with what already exists."""


class InvalidInputError(DomainError):
    """The request is well formed but names something that cannot be used."""
