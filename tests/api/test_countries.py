"""The country endpoints, called in-process against the real migrated database."""

import httpx
import pytest

from alembic_stuff.schemas import CountryRead


def country(**fields: str | None) -> dict[str, str | None]:
    """A country's body as the API publishes it: `fields`, and null in every other field.

    Built from the published model, so a nullable column added to it (the README's first
    schema change) needs no change here, while a value nobody set still fails.
    """
    return dict.fromkeys(CountryRead.model_fields) | fields


GB = country(
    code="GB",
    alpha_3="GBR",
    numeric_code="826",
    common_name="United Kingdom",
    official_name="United Kingdom of Great Britain and Northern Ireland",
)


async def create(client: httpx.AsyncClient, code: str) -> None:
    response = await client.post("/country", json={"code": code})
    assert response.status_code == 201, response.text


async def test_the_original_walkthrough(client: httpx.AsyncClient) -> None:
    missing = await client.get("/country/GB")
    assert missing.status_code == 404
    assert missing.json() == {"detail": "No country with code GB exists yet."}

    created = await client.post("/country")  # no body at all, like `curl -X POST`
    assert created.status_code == 201
    assert created.headers["location"] == "/country/GB"
    assert created.json() == GB

    found = await client.get("/country/GB")
    assert found.status_code == 200
    assert found.json() == GB


async def test_get_is_case_insensitive(client: httpx.AsyncClient) -> None:
    await client.post("/country")
    assert (await client.get("/country/gb")).json() == GB


@pytest.mark.parametrize("code", ["G", "GBR", "G1", "%27%3B--", "12"])
async def test_get_refuses_malformed_codes(client: httpx.AsyncClient, code: str) -> None:
    response = await client.get(f"/country/{code}")
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["path", "code"]


async def test_post_completes_a_code_from_iso_3166(client: httpx.AsyncClient) -> None:
    response = await client.post("/country", json={"code": "fr"})
    assert response.status_code == 201
    assert response.headers["location"] == "/country/FR"
    assert response.json() == country(
        code="FR",
        alpha_3="FRA",
        numeric_code="250",
        common_name="France",
        official_name="French Republic",
    )


async def test_post_keeps_given_names(client: httpx.AsyncClient) -> None:
    response = await client.post("/country", json={"code": "DE", "common_name": "Deutschland"})
    assert response.status_code == 201
    assert response.json()["common_name"] == "Deutschland"
    assert response.json()["official_name"] == "Federal Republic of Germany"


async def test_post_a_country_without_an_official_name(client: httpx.AsyncClient) -> None:
    response = await client.post("/country", json={"code": "CA"})
    assert response.status_code == 201
    assert response.json()["official_name"] is None


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"code": "XX"}, "code"),
        ({"code": "GBR"}, "code"),
        ({"code": 12}, "code"),
        ({}, "code"),
        ({"code": "FR", "common_name": ""}, "common_name"),
        ({"code": "FR", "common_name": "x" * 101}, "common_name"),
        ({"code": "FR", "common_name": "nul\x00byte"}, "common_name"),
        ({"code": "FR", "official_name": "new\nline"}, "official_name"),
        ({"code": "FR", "capital": "Paris"}, "capital"),
    ],
)
async def test_post_refuses_bad_bodies_naming_the_field(
    client: httpx.AsyncClient, body: dict[str, object], field: str
) -> None:
    response = await client.post("/country", json=body)
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"][-1] == field
    assert (await client.get("/countries")).json()["items"] == []


async def test_post_refuses_malformed_json(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/country", content=b'{"code": "FR"', headers={"content-type": "application/json"}
    )
    assert response.status_code == 422
    assert (await client.get("/countries")).json()["items"] == []


async def test_post_a_duplicate_is_a_conflict(client: httpx.AsyncClient) -> None:
    await client.post("/country")
    again = await client.post("/country", json={"code": "gb", "common_name": "Britain"})
    assert again.status_code == 409
    assert again.json() == {"detail": "Country GB already exists."}
    assert (await client.get("/country/GB")).json() == GB


async def test_list_pages_in_code_order(client: httpx.AsyncClient) -> None:
    for code in ["FR", "DE", "GB", "AT", "ES"]:
        await create(client, code)

    seen: list[str] = []
    after: str | None = None
    pages = 0
    while True:
        params: dict[str, str | int] = {"limit": 2} | ({"after": after} if after else {})
        page = (await client.get("/countries", params=params)).json()
        pages += 1
        seen += [item["code"] for item in page["items"]]
        after = page["next_after"]
        if after is None:
            break
    assert seen == ["AT", "DE", "ES", "FR", "GB"]
    assert pages == 3


async def test_list_of_nothing(client: httpx.AsyncClient) -> None:
    assert (await client.get("/countries")).json() == {"items": [], "next_after": None}


async def test_a_full_last_page_has_no_next(client: httpx.AsyncClient) -> None:
    for code in ["FR", "DE"]:
        await create(client, code)
    page = (await client.get("/countries", params={"limit": 2})).json()
    assert [item["code"] for item in page["items"]] == ["DE", "FR"]
    assert page["next_after"] is None


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"limit": 0}, "limit"),
        ({"limit": 101}, "limit"),
        ({"limit": "x"}, "limit"),
        ({"after": "FRA"}, "after"),
        ({"after": "' OR 1=1 --"}, "after"),
    ],
)
async def test_list_refuses_bad_parameters(
    client: httpx.AsyncClient, params: dict[str, str | int], field: str
) -> None:
    response = await client.get("/countries", params=params)
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["query", field]


async def test_patch_changes_only_what_is_sent(client: httpx.AsyncClient) -> None:
    await client.post("/country")
    response = await client.patch("/country/gb", json={"common_name": "Britain"})
    assert response.status_code == 200
    assert response.json() == GB | {"common_name": "Britain"}

    cleared = await client.patch("/country/GB", json={"official_name": None})
    assert cleared.json() == GB | {"common_name": "Britain", "official_name": None}
    assert (await client.get("/country/GB")).json() == cleared.json()


async def test_patch_with_nothing_to_change_returns_the_country(client: httpx.AsyncClient) -> None:
    await client.post("/country")
    response = await client.patch("/country/GB", json={})
    assert response.status_code == 200
    assert response.json() == GB


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"common_name": None}, "common_name"),
        ({"common_name": ""}, "common_name"),
        ({"code": "FR"}, "code"),
        ({"alpha_3": "XXX"}, "alpha_3"),
    ],
)
async def test_patch_refuses_bad_bodies(
    client: httpx.AsyncClient, body: dict[str, object], field: str
) -> None:
    await client.post("/country")
    response = await client.patch("/country/GB", json=body)
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"][-1] == field
    assert (await client.get("/country/GB")).json() == GB


async def test_patch_of_a_missing_country_is_not_found(client: httpx.AsyncClient) -> None:
    response = await client.patch("/country/FR", json={"common_name": "France"})
    assert response.status_code == 404
    assert response.json() == {"detail": "No country with code FR exists yet."}


async def test_delete(client: httpx.AsyncClient) -> None:
    await client.post("/country")
    response = await client.delete("/country/gb")
    assert response.status_code == 204
    assert response.content == b""
    assert (await client.get("/country/GB")).status_code == 404
    again = await client.delete("/country/GB")
    assert again.status_code == 404
    assert again.json() == {"detail": "No country with code GB exists yet."}


async def test_openapi_documents_every_operation_with_examples(client: httpx.AsyncClient) -> None:
    schema = (await client.get("/openapi.json")).json()
    operations = {
        (method.upper(), path) for path, item in schema["paths"].items() for method in item
    }
    assert operations == {
        ("GET", "/country/{code}"),
        ("PATCH", "/country/{code}"),
        ("DELETE", "/country/{code}"),
        ("POST", "/country"),
        ("GET", "/countries"),
        ("GET", "/health"),
        ("GET", "/ready"),
    }
    assert schema["components"]["schemas"]["CountryCreate"]["examples"]
    assert (await client.get("/docs")).status_code == 200
