"""Liveness and readiness probes."""

from typing import Annotated, Literal

from alembic_toolkit.compatibility import SchemaRelease
from alembic_toolkit.serving import schema_problem
from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from sqlalchemy.exc import DBAPIError

from alembic_stuff.api.dependencies import DatabaseDep
from alembic_stuff.api.errors import RETRY_AFTER_SECONDS, why_unavailable
from alembic_stuff.api.heartbeat import Heartbeat
from alembic_stuff.api.limits import finish_within
from alembic_stuff.schema_release import RELEASE

router = APIRouter(tags=["health"])

# A probe must answer quickly whatever the database does: an orchestrator's probe gives up
# after a second or so, and an answer it never gets tells it nothing.
READY_TIMEOUT_SECONDS = 1.5


class Health(BaseModel):
    """The process answers."""

    status: Literal["ok"] = "ok"


class Readiness(BaseModel):
    """Whether the database is reachable and its schema one this release works with."""

    status: Literal["ready", "not ready"]
    release_expand: str
    """The expand revision this release needs."""
    release_contract: str
    """The newest contract revision this release survives."""
    detail: str | None = None


async def get_schema_release() -> SchemaRelease:
    """The schema requirement this release was built with (schema_release.py, no alembic.ini)."""
    return RELEASE


async def get_registry_problem(request: Request) -> str | None:
    """Why this replica's entry in the registry of serving replicas is not to be relied on."""
    running: Heartbeat | None = getattr(request.app.state, "heartbeat", None)
    if running is None:
        return "this replica keeps no entry in the registry of serving replicas"
    return running.problem()


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
    release: Annotated[SchemaRelease, Depends(get_schema_release)],
    registry_problem: Annotated[str | None, Depends(get_registry_problem)],
) -> Readiness | JSONResponse:
    """Answer 200 when the database, its schema and this replica's registry entry allow it.

    An expand revision applied after this release keeps it ready; a contract revision it does
    not survive makes it unready (alembic_toolkit.serving.schema_problem). So does an entry
    renewed too long ago (api/heartbeat.py): alembic-contract would soon not see the replica.
    """
    detail: str | None
    try:
        detail = await finish_within(
            READY_TIMEOUT_SECONDS, database.autocommit_read(schema_problem, release)
        )
    except TimeoutError:
        detail = f"the database did not answer within {READY_TIMEOUT_SECONDS:g} s"
    except (DBAPIError, OSError) as exc:
        detail = why_unavailable(exc)
    if detail is None:
        detail = registry_problem
    body = Readiness(
        status="ready" if detail is None else "not ready",
        release_expand=release.expand_head,
        release_contract=release.contract_head,
        detail=detail,
    )
    if detail is not None:
        return JSONResponse(
            body.model_dump(),
            status_code=503,
            headers={"Retry-After": str(RETRY_AFTER_SECONDS)},
        )
    return body
