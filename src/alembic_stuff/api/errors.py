"""The one place domain and infrastructure errors become HTTP responses."""

import logging

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError

from alembic_stuff.errors import ConflictError, DomainError, InvalidInputError, NotFoundError

log = logging.getLogger(__name__)

STATUS_BY_ERROR: dict[type[DomainError], int] = {
    NotFoundError: 404,
    ConflictError: 409,
    InvalidInputError: 422,
}


async def _domain_error(_: Request, exc: Exception) -> JSONResponse:
    status = next((code for kind, code in STATUS_BY_ERROR.items() if isinstance(exc, kind)), 400)
    return JSONResponse({"detail": str(exc)}, status_code=status)


async def _database_unavailable(_: Request, exc: Exception) -> JSONResponse:
    if (
        isinstance(exc, DBAPIError)
        and not isinstance(exc, OperationalError | InterfaceError)
        and not exc.connection_invalidated
    ):
        raise exc  # a real fault: the server-error handler answers 500 and logs it
    log.warning("database unavailable: %s", exc)
    return JSONResponse(
        {"detail": "The database is unavailable; try again shortly."},
        status_code=503,
        headers={"Retry-After": "5"},
    )


def install_error_handlers(app: FastAPI) -> None:
    """Map domain errors to 4xx and an unreachable database to 503."""
    app.add_exception_handler(DomainError, _domain_error)
    # DBAPIError: asyncpg reports a connection lost mid-query as a plain DBAPIError, marked
    # connection_invalidated, and the pool has then already been invalidated.
    for kind in (OperationalError, InterfaceError, DBAPIError, ConnectionError):
        app.add_exception_handler(kind, _database_unavailable)
