"""Request-scoped dependencies."""

from typing import Annotated, cast

from fastapi import Depends, Request

from alembic_stuff.db.database import Database


async def get_database(request: Request) -> Database:
    """Return the app's database, created by its lifespan."""
    # async although it awaits nothing: FastAPI runs a plain def dependency in a worker
    # thread, a thread hop on every request. Not a `yield` dependency either: the unit of
    # work opens and closes its own connection, and FastAPI's exit stack around a generator
    # dependency was a large share of a request's time here (docs/benchmarks.md).
    return cast(Database, request.app.state.database)


DatabaseDep = Annotated[Database, Depends(get_database)]
