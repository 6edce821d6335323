"""Release N and release N+1 of a small items API: the same HTTP contract, another column.

Release N keeps an item's name in the column `label`; release N+1 in `name`, the column the
expand revision adds. That column is their only difference: both answer `{"id", "name"}`, so
a client cannot tell which one served it. They are built as the project's app is: a factory
with a lifespan that opens the database (`Database`, from DATABASE_URL), the project's error
handlers (an unavailable database is a 503, anything unexpected a 500), reads in autocommit
and writes in a transaction, `/health` for liveness and `/ready` for readiness, which asks
`alembic_toolkit.serving.schema_problem` whether the database can serve the release's own
requirement (`SchemaRelease`), as the app's `/ready` does (src/alembic_stuff/api/health.py).

Serve one with uvicorn's factory mode, `bench.zerodowntime.releases:from_environment`, with
ZERO_DOWNTIME_COLUMN naming its column and ZERO_DOWNTIME_RELEASE its requirement (`dumps`).
"""

import json
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Annotated

from alembic_toolkit.compatibility import SchemaRelease
from alembic_toolkit.serving import schema_problem
from fastapi import Depends, FastAPI, Request, Response, status
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from sqlalchemy import (
    BigInteger,
    Column,
    Connection,
    Identity,
    MetaData,
    RowMapping,
    Table,
    Text,
    bindparam,
    delete,
    insert,
    select,
    update,
)
from sqlalchemy.exc import DBAPIError

from alembic_stuff.api.errors import RETRY_AFTER_SECONDS, install_error_handlers, why_unavailable
from alembic_stuff.api.limits import finish_within
from alembic_stuff.db.database import Database
from alembic_stuff.errors import NotFoundError
from alembic_stuff.settings import Settings

OLD_COLUMN = "label"
NEW_COLUMN = "name"
COLUMN_VARIABLE = "ZERO_DOWNTIME_COLUMN"
RELEASE_VARIABLE = "ZERO_DOWNTIME_RELEASE"
# As the app's probe: an answer the load balancer never gets tells it nothing.
READY_TIMEOUT_SECONDS = 1.5


class ItemIn(BaseModel):
    """What a client sends to create or rename an item."""

    name: str = Field(min_length=1, max_length=200)


class ItemOut(BaseModel):
    """An item, as both releases answer it."""

    id: int
    name: str


def model(column: str) -> MetaData:
    """The models of the release keeping names in `column`: the table `item`."""
    metadata = MetaData()
    Table(
        "item",
        metadata,
        Column("id", BigInteger, Identity(), primary_key=True),
        Column(column, Text, nullable=False),
    )
    return metadata


class Queries:
    """The statements of one release, on the column it keeps names in."""

    def __init__(self, column: str) -> None:
        table = model(column).tables["item"]
        returned = (table.c.id, table.c[column].label("name"))
        by_id = table.c.id == bindparam("item_id")
        self.read = select(*returned).where(by_id)
        self.create = insert(table).values({column: bindparam("name")}).returning(*returned)
        self.rename = (
            update(table).where(by_id).values({column: bindparam("name")}).returning(*returned)
        )
        self.delete = delete(table).where(by_id).returning(table.c.id)

    def get(self, connection: Connection, item_id: int) -> RowMapping:
        """One item."""
        found = connection.execute(self.read, {"item_id": item_id}).mappings().one_or_none()
        return _found(found, item_id)

    def add(self, connection: Connection, name: str) -> RowMapping:
        """A new item."""
        return connection.execute(self.create, {"name": name}).mappings().one()

    def change(self, connection: Connection, item_id: int, name: str) -> RowMapping:
        """The item, renamed."""
        found = connection.execute(self.rename, {"item_id": item_id, "name": name})
        return _found(found.mappings().one_or_none(), item_id)

    def remove(self, connection: Connection, item_id: int) -> None:
        """Delete the item."""
        _found(connection.execute(self.delete, {"item_id": item_id}).mappings().first(), item_id)


def _found(row: RowMapping | None, item_id: int) -> RowMapping:
    if row is None:
        raise NotFoundError(f"No item {item_id}.")
    return row


async def _database(request: Request) -> Database:
    database: Database = request.app.state.database
    return database


DatabaseDep = Annotated[Database, Depends(_database)]


async def readiness(database: Database, release: SchemaRelease) -> str | None:
    """Why the database cannot serve `release` now, or None: the app's /ready, in one call."""
    try:
        return await finish_within(
            READY_TIMEOUT_SECONDS, database.autocommit_read(schema_problem, release)
        )
    except TimeoutError:
        return f"the database did not answer within {READY_TIMEOUT_SECONDS:g} s"
    except (DBAPIError, OSError) as exc:
        return why_unavailable(exc)


def create_release(
    column: str, release: SchemaRelease, settings: Settings | None = None
) -> FastAPI:
    """The items API keeping names in `column`, built with the schema requirement `release`."""
    queries = Queries(column)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        app.state.database = Database.connect(settings or Settings())
        try:
            yield
        finally:
            await app.state.database.dispose()

    app = FastAPI(title=f"items (names in {column})", lifespan=lifespan)
    install_error_handlers(app)

    @app.get("/items/{item_id}", response_model=ItemOut)
    async def read_item(item_id: int, database: DatabaseDep) -> RowMapping:
        return await database.autocommit_read(queries.get, item_id)

    @app.post("/items", response_model=ItemOut, status_code=status.HTTP_201_CREATED)
    async def create_item(item: ItemIn, database: DatabaseDep) -> RowMapping:
        return await database.transaction(queries.add, item.name)

    @app.patch("/items/{item_id}", response_model=ItemOut)
    async def rename_item(item_id: int, item: ItemIn, database: DatabaseDep) -> RowMapping:
        return await database.transaction(queries.change, item_id, item.name)

    @app.delete("/items/{item_id}", status_code=status.HTTP_204_NO_CONTENT, response_class=Response)
    async def delete_item(item_id: int, database: DatabaseDep) -> None:
        await database.transaction(queries.remove, item_id)

    @app.get("/health")
    async def health() -> dict[str, str]:
        return {"status": "ok", "column": column}

    @app.get("/ready", response_model=None)
    async def ready(database: DatabaseDep) -> dict[str, str] | JSONResponse:
        problem = await readiness(database, release)
        if problem is not None:
            return JSONResponse(
                {"status": "not ready", "column": column, "detail": problem},
                status_code=status.HTTP_503_SERVICE_UNAVAILABLE,
                headers={"Retry-After": str(RETRY_AFTER_SECONDS)},
            )
        return {"status": "ready", "column": column}

    return app


def dumps(release: SchemaRelease) -> str:
    """`release` as the text of ZERO_DOWNTIME_RELEASE."""
    return json.dumps(
        {
            "expand_head": release.expand_head,
            "contract_head": release.contract_head,
            "contract": sorted(release.contract),
            "older": sorted(release.older),
        }
    )


def loads(value: str) -> SchemaRelease:
    """The requirement `dumps` wrote."""
    fields = json.loads(value)
    return SchemaRelease(
        expand_head=fields["expand_head"],
        contract_head=fields["contract_head"],
        contract=frozenset(fields["contract"]),
        older=frozenset(fields["older"]),
    )


def from_environment() -> FastAPI:
    """The release ZERO_DOWNTIME_COLUMN and ZERO_DOWNTIME_RELEASE describe (uvicorn's factory)."""
    return create_release(os.environ[COLUMN_VARIABLE], loads(os.environ[RELEASE_VARIABLE]))
