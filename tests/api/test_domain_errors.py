"""Domain errors become 4xx in one map (api/errors.py); a kind not in it yet is still a 4xx."""

import httpx
import pytest
from fastapi import FastAPI

from alembic_stuff.api.errors import STATUS_BY_ERROR
from alembic_stuff.errors import ConflictError, DomainError, InvalidInputError, NotFoundError


class NewRuleBrokenError(DomainError):
    """A kind of domain error a use case raises before the map names it."""


@pytest.mark.parametrize(
    ("error", "status"),
    [
        (NotFoundError, 404),
        (ConflictError, 409),
        (InvalidInputError, 422),
        (NewRuleBrokenError, 422),
    ],
)
async def test_each_domain_error_is_its_status_with_its_message(
    app: FastAPI, client: httpx.AsyncClient, error: type[DomainError], status: int
) -> None:
    async def raises() -> None:
        raise error("the rule it broke")

    app.add_api_route("/raises", raises)
    response = await client.get("/raises")
    assert response.status_code == status
    assert response.json() == {"detail": "the rule it broke"}


def test_no_domain_error_is_a_400_which_nginx_answers_for_the_api() -> None:
    assert 400 not in STATUS_BY_ERROR.values()
