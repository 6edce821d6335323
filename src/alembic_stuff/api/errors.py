"""The one place domain and infrastructure errors become HTTP responses."""

import logging
import math
import re
from typing import Any, cast

from fastapi import FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exception_handlers import http_exception_handler
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from sqlalchemy.exc import DBAPIError, IntegrityError, InterfaceError, OperationalError
from starlette.exceptions import HTTPException

from alembic_stuff.errors import ConflictError, DomainError, InvalidInputError, NotFoundError
from alembic_stuff.schemas import PATTERN_MEANINGS

log = logging.getLogger(__name__)

STATUS_BY_ERROR: dict[type[DomainError], int] = {
    NotFoundError: 404,
    ConflictError: 409,
    InvalidInputError: 422,
}
# Seconds a client is asked to wait before retrying a request the database could not serve.
RETRY_AFTER_SECONDS = 2
UNAVAILABLE_DETAIL = "The database is unavailable; try again shortly."

# SQLSTATEs that say "not now" rather than "not ever" (PostgreSQL's appendix A), by class where
# the class means it as a whole. asyncpg reports most of them as a plain DBAPIError that
# SQLAlchemy does not mark as a disconnect.
_UNAVAILABLE_CLASSES = (
    "08",  # connection exception: refused, broken, or the server could not be reached
    "28",  # invalid authorization: the role or its password refused (see _REFUSED_LOGIN)
    "53",  # insufficient resources: disk full, out of memory, too many connections
    "57",  # operator intervention: shutdown, start-up, recovery, a cancelled statement
)
_UNAVAILABLE_STATES = {
    # The server takes no writes now: a primary demoted, a standby not yet promoted, or
    # default_transaction_read_only set for maintenance. Reads are still served.
    "25006",  # read_only_sql_transaction
    # The connection's prepared statement is gone (a pooler switched server connections, or
    # DEALLOCATE ran): the pool replaces that connection (see db/database.py).
    "26000",  # invalid_sql_statement_name
    # Another transaction won a race: the unit of work was rolled back whole and may be sent
    # again. Not retried here: a client's retry is the same safe step, and an app-side retry
    # under contention would hold a slot the next request is waiting for.
    "40001",  # serialization_failure
    "40P01",  # deadlock_detected
    "55P03",  # lock_not_available (lock_timeout)
    "3D000",  # invalid_catalog_name: the database named does not exist (see _REFUSED_LOGIN)
}
# A login refused (class 28) or to a database that does not exist is a deployment's fault,
# not the database's: it is logged as such.
_REFUSED_LOGIN = ("28", "3D000")
INTERNAL_ERROR_DETAIL = "Internal Server Error"
UNIQUE_VIOLATION = "23505"
PATTERN_MISMATCH = "string_pattern_mismatch"
# How deep an error's echo of the input it refused goes; deeper values are this text.
ECHO_DEPTH = 16
TOO_DEEP_TO_ECHO = "(nested too deeply to repeat)"


def unavailable_response() -> JSONResponse:
    """The 503 every request the database cannot serve right now gets."""
    return JSONResponse(
        {"detail": UNAVAILABLE_DETAIL},
        status_code=503,
        headers={"Retry-After": str(RETRY_AFTER_SECONDS)},
    )


def sqlstate(exc: BaseException) -> str:
    """The SQLSTATE the database answered with, or "" when the error is not the database's."""
    return str(getattr(getattr(exc, "orig", None), "sqlstate", None) or "")


def is_unavailable(exc: BaseException) -> bool:
    """True when `exc` says the database cannot serve now, and retrying later may succeed."""
    if isinstance(exc, OSError):  # refused, reset, or a connect or request deadline passed
        return True
    if not isinstance(exc, DBAPIError):
        return False
    if isinstance(exc, OperationalError | InterfaceError) or exc.connection_invalidated:
        return True
    state = sqlstate(exc)
    return state.startswith(_UNAVAILABLE_CLASSES) or state in _UNAVAILABLE_STATES


def _one_line(exc: BaseException) -> str:
    """What the driver said, on one line: SQLAlchemy's text adds the SQL and a link below it."""
    said = str(getattr(exc, "orig", None) or exc) or type(exc).__name__
    return " ".join(said.split())


async def _domain_error(_: Request, exc: Exception) -> JSONResponse:
    # A kind of domain error not in the map yet is still the request's fault. Not 400: nginx
    # answers that for the API, as "not valid HTTP" (deploy/nginx).
    status = next((code for kind, code in STATUS_BY_ERROR.items() if isinstance(exc, kind)), 422)
    return JSONResponse({"detail": str(exc)}, status_code=status)


async def _database_error(_: Request, exc: Exception) -> JSONResponse:
    if isinstance(exc, IntegrityError) and sqlstate(exc) == UNIQUE_VIOLATION:
        # A use case turns the conflicts it expects into ConflictError; this is the net
        # under any it did not foresee. The message names no value from the request.
        return JSONResponse({"detail": "It conflicts with an existing record."}, status_code=409)
    if not is_unavailable(exc):
        raise exc  # a real fault: the server-error handler answers 500 and logs it
    said = _one_line(exc)
    # A bare timeout says nothing beyond its type, which why_unavailable names already.
    log.warning("%s", why_unavailable(exc) + (f": {said}" if said != type(exc).__name__ else ""))
    return unavailable_response()


def why_unavailable(exc: BaseException) -> str:
    """Why the database cannot serve, in a few words naming the SQLSTATE (for logs, /ready)."""
    state = sqlstate(exc)
    if state.startswith(_REFUSED_LOGIN):
        return f"the database refused the API's login (SQLSTATE {state}; check DATABASE_URL)"
    return f"database unavailable ({f'SQLSTATE {state}' if state else type(exc).__name__})"


def _json_safe(value: Any, depth: int = 0) -> Any:
    """`value` as strict UTF-8 JSON can carry it, its nesting cut at ECHO_DEPTH."""
    # json reads NaN, Infinity and 1e999 into floats that strict JSON cannot write back, and
    # an escaped lone surrogate into a str that UTF-8 cannot encode. A body that is not JSON
    # arrives as bytes, in any encoding. Python's json reads nesting some hundreds deep, which
    # an echo of it, recursive here and in jsonable_encoder, would not survive.
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if isinstance(value, str):
        return value.encode("utf-8", "backslashreplace").decode("utf-8")
    if isinstance(value, bytes):
        return value.decode("utf-8", "backslashreplace")
    if isinstance(value, dict | list) and depth >= ECHO_DEPTH:
        return TOO_DEEP_TO_ECHO
    if isinstance(value, dict):
        return {_json_safe(key): _json_safe(item, depth + 1) for key, item in value.items()}
    if isinstance(value, list):
        return [_json_safe(item, depth + 1) for item in value]
    return value


async def _invalid_request(_: Request, exc: Exception) -> JSONResponse:
    # FastAPI's own handler echoes each error's input back, which _json_safe makes writable.
    errors = [_plain_message(error) for error in cast(RequestValidationError, exc).errors()]
    return JSONResponse({"detail": jsonable_encoder(_json_safe(errors))}, status_code=422)


def _plain_message(error: Any) -> Any:
    """`error` with a sentence for a pattern mismatch instead of the regular expression."""
    pattern = error.get("ctx", {}).get("pattern") if error.get("type") == PATTERN_MISMATCH else None
    if pattern not in PATTERN_MEANINGS:
        return error
    return {**error, "msg": PATTERN_MEANINGS[pattern]}


async def _http_error(request: Request, error: Exception) -> Response:
    exc = cast(HTTPException, error)
    if exc.status_code == 400 and isinstance(exc.__cause__, ValueError | RecursionError):
        # FastAPI answers 400 for a body json cannot decode (invalid UTF-8), nests too deeply
        # to parse, or holds an integer too long to convert; malformed JSON is a 422
        # everywhere else, in the published shape.
        problem = {
            "type": "json_invalid",
            "loc": ["body"],
            "msg": "JSON decode error",
            "input": {},
            "ctx": {"error": f"{type(exc.__cause__).__name__}: {_unreadable(exc.__cause__)}"},
        }
        return JSONResponse({"detail": [problem]}, status_code=422)
    if exc.status_code == 405:
        # Starlette names the methods of the first route matching the path only; a path
        # served by several routes (GET, PATCH, DELETE /country/{code}) allows them all.
        allowed = _allowed_methods(request.app, request.scope["path"])
        if allowed:
            return JSONResponse(
                {"detail": exc.detail}, status_code=405, headers={"Allow": ", ".join(allowed)}
            )
    return await http_exception_handler(request, exc)


def _unreadable(cause: BaseException) -> str:
    """Why json could not read a body, in words that name nothing of the server."""
    if isinstance(cause, UnicodeDecodeError):
        return "not UTF-8"
    if isinstance(cause, RecursionError):
        return "nested too deeply"
    if "digits" in str(cause):  # Python's own limit on an integer's digits (sys.int_info)
        return "a number with too many digits"
    return "unreadable"


async def _server_fault(_: Request, __: Exception) -> JSONResponse:
    # Starlette's server-error middleware answers with this, then raises the exception again
    # for uvicorn to log; uvicorn then closes the connection. Said in the response, nginx
    # does not send the next request on that connection (a PATCH would get a 502).
    return JSONResponse(
        {"detail": INTERNAL_ERROR_DETAIL}, status_code=500, headers={"Connection": "close"}
    )


def _allowed_methods(app: FastAPI, path: str) -> list[str]:
    """The methods the published schema lists for `path`."""
    for template, operations in app.openapi()["paths"].items():
        if _template_pattern(template).fullmatch(path):
            return sorted(method.upper() for method in operations)
    return []


def _template_pattern(template: str) -> re.Pattern[str]:
    """A path template of the published schema (`/country/{code}`) as a pattern for paths."""
    parts = re.split(r"(\{[^}]+\})", template)
    return re.compile(
        "".join("[^/]+" if part.startswith("{") else re.escape(part) for part in parts)
    )


def install_error_handlers(app: FastAPI) -> None:
    """Map domain errors to 4xx, an unavailable database to 503, and keep every error JSON."""
    # Exception: what no handler below takes, a real fault, answered 500 (Starlette's
    # ServerErrorMiddleware; it still raises the exception for the server to log).
    app.add_exception_handler(Exception, _server_fault)
    app.add_exception_handler(DomainError, _domain_error)
    app.add_exception_handler(RequestValidationError, _invalid_request)
    app.add_exception_handler(HTTPException, _http_error)
    # DBAPIError: asyncpg reports a connection lost mid-query, or refused while the server
    # starts or stops, as a plain DBAPIError. OSError: a refused connection or a passed
    # deadline, raised before there is any connection for SQLAlchemy to wrap it with.
    for kind in (DBAPIError, OSError):
        app.add_exception_handler(kind, _database_error)
