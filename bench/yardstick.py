"""The yardstick: the same routes as raw Starlette on an asyncpg pool, the fastest honest way.

One prepared statement per request, no ORM, no validation beyond what the routes need.
"""

import json
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import asyncpg
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

BY_CODE = (
    "SELECT code, alpha_3, numeric_code, common_name, official_name FROM country WHERE code = $1"
)
PAGE = (
    "SELECT code, alpha_3, numeric_code, common_name, official_name FROM country"
    " ORDER BY code LIMIT $1"
)
INSERT = (
    "INSERT INTO country (code, alpha_3, numeric_code, common_name, official_name)"
    " VALUES ($1, $2, $3, $4, $5) ON CONFLICT (code) DO NOTHING"
    " RETURNING code, alpha_3, numeric_code, common_name, official_name"
)
pools: list[asyncpg.Pool] = []


def dsn() -> str:
    return os.environ["DATABASE_URL"]


@asynccontextmanager
async def lifespan(app: Starlette) -> AsyncIterator[None]:
    pools.append(await asyncpg.create_pool(dsn(), min_size=10, max_size=10))
    yield
    await pools.pop().close()


async def get_country(request: Request) -> Response:
    row = await pools[0].fetchrow(BY_CODE, request.path_params["code"].upper())
    if row is None:
        return JSONResponse({"detail": "not found"}, status_code=404)
    return JSONResponse(dict(row))


async def list_countries(request: Request) -> Response:
    limit = min(int(request.query_params.get("limit", "20")), 100)
    rows = await pools[0].fetch(PAGE, limit)
    return JSONResponse({"items": [dict(r) for r in rows], "next_after": None})


async def create_country(request: Request) -> Response:
    body = json.loads(await request.body())
    row = await pools[0].fetchrow(
        INSERT,
        body["code"],
        body["alpha_3"],
        body["numeric_code"],
        body["common_name"],
        body.get("official_name"),
    )
    if row is None:
        return JSONResponse({"detail": "exists"}, status_code=409)
    return JSONResponse(dict(row), status_code=201)


async def delete_country(request: Request) -> Response:
    status = await pools[0].execute(
        "DELETE FROM country WHERE code = $1", request.path_params["code"]
    )
    return Response(status_code=204 if status != "DELETE 0" else 404)


app = Starlette(
    routes=[
        Route("/country/{code}", get_country),
        Route("/country/{code}", delete_country, methods=["DELETE"]),
        Route("/countries", list_countries),
        Route("/country", create_country, methods=["POST"]),
    ],
    lifespan=lifespan,
)
