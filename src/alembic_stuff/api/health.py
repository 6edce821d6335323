"""Liveness and readiness probes."""

from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from sqlalchemy import Connection, text
from sqlalchemy.exc import DBAPIError, ProgrammingError

from alembic_stuff.api.dependencies import DatabaseDep
from alembic_stuff.api.errors import RETRY_AFTER_SECONDS
from alembic_stuff.api.limits import finish_within

router = APIRouter(tags=["health"])

# A probe must answer quickly whatever the database does: an orchestrator's probe gives up
# after a second or so, and an answer it never gets tells it nothing.
READY_TIMEOUT_SECONDS = 1.5


class Health(BaseModel):
    """The process answers."""

    status: Literal["ok"] = "ok"


class Readiness(BaseModel):
    """Whether the database is reachable and its schema is the one this code expects."""

    status: Literal["ready", "not ready"]
    current_revision: str | None
    expected_revision: str | None
    detail: str | None = None


async def get_expected_revision(request: Request) -> str | None:
    """The head revision of the migrations this code ships with (read at start-up)."""
    revision: str | None = request.app.state.expected_revision
    return revision


def _current_revision(connection: Connection) -> str | None:
    revision: str | None = connection.scalar(text("SELECT version_num FROM alembic_version"))
    return revision


@router.get("/health", response_model=Health)
async def health() -> Health:
    """Answer as long as the process is alive; touches nothing else."""
    return Health()


@router.get(
    "/ready",
    response_model=Readiness,
    responses={503: {"model": Readiness, "description": "Not ready: see the revisions."}},
)
async def ready(
    database: DatabaseDep,
    expected: Annotated[str | None, Depends(get_expected_revision)],
) -> Readiness | JSONResponse:
    """Answer 200 when the database is reachable and at the code's head revision, else 503."""
    current: str | None = None
    detail: str | None = None
    try:
        current = await finish_within(
            READY_TIMEOUT_SECONDS, database.autocommit_read(_current_revision)
        )
    except TimeoutError:
        detail = f"the database did not answer within {READY_TIMEOUT_SECONDS:g} s"
    except ProgrammingError:
        detail = "the database has no alembic_version table: run the migrations"
    except (DBAPIError, OSError) as exc:
        detail = f"the database is unreachable: {type(exc).__name__}"
    if detail is None and current != expected:
        detail = "the schema is not at the revision this code expects"
    body = Readiness(
        status="ready" if detail is None else "not ready",
        current_revision=current,
        expected_revision=expected,
        detail=detail,
    )
    if detail is not None:
        return JSONResponse(
            body.model_dump(),
            status_code=503,
            headers={"Retry-After": str(RETRY_AFTER_SECONDS)},
        )
    return body
