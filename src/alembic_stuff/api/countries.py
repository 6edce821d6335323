"""The country endpoints."""

from typing import Annotated, Any

from fastapi import APIRouter, Body, Path, Query, Response, status

from alembic_stuff.api.dependencies import DatabaseDep
from alembic_stuff.schemas import (
    ALPHA_2_PATTERN,
    CountryCreate,
    CountryPage,
    CountryRead,
    CountryUpdate,
    Message,
)
from alembic_stuff.services import countries
from alembic_stuff.services.countries import CountryRow

router = APIRouter(tags=["countries"])

MAX_PAGE_SIZE = 100

CodePath = Annotated[
    str,
    Path(
        pattern=ALPHA_2_PATTERN, description="ISO 3166-1 alpha-2 code, any case.", examples=["GB"]
    ),
]
NOT_FOUND: dict[int | str, dict[str, Any]] = {
    status.HTTP_404_NOT_FOUND: {"model": Message, "description": "No such country."}
}
# OpenAPI links: what a client (or schemathesis' stateful tests) can do with a country just
# created, by its code.
_BY_CREATED_CODE = {"code": "$response.body#/code"}
CREATED_LINKS = {
    name: {"operationId": operation, "parameters": _BY_CREATED_CODE}
    for name, operation in [
        ("ReadCountry", "read_country"),
        ("UpdateCountry", "update_country"),
        ("DeleteCountry", "delete_country"),
    ]
}


@router.get(
    "/country/{code}", response_model=CountryRead, responses=NOT_FOUND, operation_id="read_country"
)
async def read_country(code: CodePath, database: DatabaseDep) -> CountryRow:
    """Return one country."""
    return await database.autocommit_read(countries.get_country, code)


@router.get("/countries", response_model=CountryPage, operation_id="list_countries")
async def list_countries(
    database: DatabaseDep,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE_SIZE, description="Page size.")] = 20,
    after: Annotated[
        str | None,
        Query(pattern=ALPHA_2_PATTERN, description="The `next_after` of the previous page."),
    ] = None,
) -> countries.Page:
    """Return a page of countries in code order."""
    # Rows, not models: FastAPI validates and serialises the return value once, where a
    # model built here would be built, dumped and validated again.
    return await database.autocommit_read(countries.list_countries, limit=limit, after=after)


@router.post(
    "/country",
    status_code=status.HTTP_201_CREATED,
    response_model=CountryRead,
    responses={
        status.HTTP_201_CREATED: {"links": CREATED_LINKS},
        status.HTTP_409_CONFLICT: {"model": Message, "description": "It exists already."},
    },
    operation_id="create_country",
)
async def create_country(
    database: DatabaseDep,
    response: Response,
    data: Annotated[
        CountryCreate | None,
        Body(description="Leave the body out to create the demonstration record, GB."),
    ] = None,
) -> CountryRow:
    """Create a country, completed from ISO 3166; with no body, the demo record GB."""
    country = await database.transaction(countries.create_country, data)
    response.headers["Location"] = router.url_path_for("read_country", code=country["code"])
    return country


@router.patch(
    "/country/{code}",
    response_model=CountryRead,
    responses=NOT_FOUND,
    operation_id="update_country",
)
async def update_country(
    code: CodePath, changes: CountryUpdate, database: DatabaseDep
) -> CountryRow:
    """Change a country's names."""
    return await database.transaction(countries.update_country, code, changes)


@router.delete(
    "/country/{code}",
    status_code=status.HTTP_204_NO_CONTENT,
    response_class=Response,
    responses=NOT_FOUND,
    operation_id="delete_country",
)
async def delete_country(code: CodePath, database: DatabaseDep) -> None:
    """Delete a country."""
    await database.transaction(countries.delete_country, code)
