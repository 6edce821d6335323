"""Request-scoped dependencies."""

from collections.abc import AsyncIterator
from typing import Annotated, cast

from fastapi import Depends, Request
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from alembic_stuff.db.session import Database


async def get_database(request: Request) -> Database:
    """Return the app's database, created by its lifespan."""
    # async although it awaits nothing: FastAPI runs a plain def dependency in a worker
    # thread, a thread hop on every request.
    return cast(Database, request.app.state.database)


async def get_session(
    database: Annotated[Database, Depends(get_database)],
) -> AsyncIterator[AsyncSession]:
    """Yield a session for one request; closing it rolls back whatever was not committed."""
    async with database.write_slots, database.sessionmaker() as session:
        yield session


async def get_read_connection(
    database: Annotated[Database, Depends(get_database)],
) -> AsyncIterator[AsyncConnection]:
    """Yield an autocommit connection for a request that only reads."""
    async with database.read_slots, database.read_engine.connect() as connection:
        yield connection


DatabaseDep = Annotated[Database, Depends(get_database)]
SessionDep = Annotated[AsyncSession, Depends(get_session)]
ReadConnectionDep = Annotated[AsyncConnection, Depends(get_read_connection)]
