"""Input a client should not send: every one answered with a 4xx in the published shape."""

import re

import httpx
import pytest
from fastapi import FastAPI
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from alembic_stuff.api.dependencies import get_database
from alembic_stuff.db.database import Database
from alembic_stuff.schemas import PLANES_WITH_INVISIBLES, PRINTABLE, CountryUpdate, shows_nothing
from tests.databases import insert_country_twice

# What Python's json module reads as a float that strict JSON cannot write back.
NON_FINITE = ["NaN", "Infinity", "-Infinity", "1e999"]
JSON = {"content-type": "application/json"}
# The in-process app is built once per test and shared by its examples: none writes a row.
FIXTURES = [HealthCheck.function_scoped_fixture]


@pytest.mark.parametrize("number", NON_FINITE)
@pytest.mark.parametrize(
    ("method", "path", "template"),
    [
        ("POST", "/country", '{"code": %s}'),
        ("POST", "/country", '{"code": "FR", "common_name": %s}'),
        ("POST", "/country", "%s"),
        ("PATCH", "/country/GB", '{"common_name": %s}'),
        ("PATCH", "/country/GB", '{"official_name": %s}'),
        ("PATCH", "/country/GB", "%s"),
    ],
)
async def test_a_non_finite_number_is_refused_with_422(
    client: httpx.AsyncClient, method: str, path: str, template: str, number: str
) -> None:
    await client.post("/country")
    response = await client.request(method, path, content=template % number, headers=JSON)
    assert response.status_code == 422, response.text
    assert isinstance(response.json()["detail"], list)
    assert [c["code"] for c in (await client.get("/countries")).json()["items"]] == ["GB"]
    assert (await client.get("/country/GB")).json()["common_name"] == "United Kingdom"


@pytest.mark.parametrize(
    ("body", "why"),
    [
        (b'{"code": "\xff\xfe"}', "not UTF-8"),
        (b'{"code": "FR", "common_name": "\xc3"}', "not UTF-8"),
        (b"[" * 30_000, "nested too deeply"),
        (b'{"code": %s}' % (b"1" * 5_000), "a number with too many digits"),
    ],
    ids=["invalid-utf-8", "truncated-utf-8", "nested-30000-deep", "a-5000-digit-integer"],
)
async def test_a_body_json_cannot_read_is_a_422_like_malformed_json(
    client: httpx.AsyncClient, body: bytes, why: str
) -> None:
    response = await client.post("/country", content=body, headers=JSON)
    assert response.status_code == 422
    [problem] = response.json()["detail"]
    assert problem["type"] == "json_invalid"
    assert problem["loc"][0] == "body"
    assert problem["ctx"]["error"].endswith(why)
    assert (await client.get("/countries")).json()["items"] == []


@pytest.mark.parametrize(
    ("method", "path", "template"),
    [
        ("PATCH", "/country/GB", '{"common_name": "a%sb"}'),
        ("POST", "/country", '{"code": "FR", "common_name": "a%s"}'),
        ("POST", "/country", '{"code": "%sF"}'),
        ("POST", "/country", '{"code": "FR", "%s": 1}'),
        ("POST", "/country", '"%s"'),
    ],
)
@pytest.mark.parametrize("surrogate", ["\\ud800", "\\udc80"])
async def test_a_lone_surrogate_escape_is_refused_with_422(
    client: httpx.AsyncClient, method: str, path: str, template: str, surrogate: str
) -> None:
    # json reads "\ud800" into a string UTF-8 cannot encode; echoing it back must not fail.
    await client.post("/country")
    response = await client.request(method, path, content=template % surrogate, headers=JSON)
    assert response.status_code == 422, response.text
    assert (await client.get("/country/GB")).json()["common_name"] == "United Kingdom"


@pytest.mark.parametrize("method", ["OPTIONS", "PUT", "TRACE", "POST", "HEAD"])
async def test_405_allows_every_method_the_path_has(client: httpx.AsyncClient, method: str) -> None:
    response = await client.request(method, "/country/GB")
    assert response.status_code == 405
    assert set(response.headers["allow"].split(", ")) == {"GET", "PATCH", "DELETE"}
    if method != "HEAD":  # a HEAD response has no body
        assert response.json() == {"detail": "Method Not Allowed"}


async def test_405_on_a_single_method_path(client: httpx.AsyncClient) -> None:
    response = await client.delete("/country")
    assert response.status_code == 405
    assert response.headers["allow"] == "POST"


# Characters no name may hold: C0 and C1 controls, DEL, line and paragraph separators, and
# bidirectional embeddings, overrides and isolates (they reorder what a reader sees).
FORBIDDEN = [
    *map(chr, range(0x20)),
    *map(chr, range(0x7F, 0xA0)),
    "\u2028",
    "\u2029",
    *map(chr, range(0x202A, 0x202F)),
    *map(chr, range(0x2066, 0x206A)),
]
ALLOWED_TEXT = st.text(
    st.characters(codec="utf-8", exclude_characters="".join(FORBIDDEN)), min_size=1, max_size=30
).filter(lambda text: not all(map(shows_nothing, text)))


@settings(max_examples=300, derandomize=True, database=None)
@given(before=ALLOWED_TEXT, bad=st.sampled_from(FORBIDDEN), after=ALLOWED_TEXT)
def test_names_with_a_control_or_bidi_character_are_refused(
    before: str, bad: str, after: str
) -> None:
    with pytest.raises(ValidationError):
        CountryUpdate(common_name=before + bad + after)
    with pytest.raises(ValidationError):
        CountryUpdate(official_name=before + bad + after)


@settings(max_examples=300, derandomize=True, database=None)
@given(name=ALLOWED_TEXT)
def test_names_of_any_other_characters_are_accepted(name: str) -> None:
    assert CountryUpdate(common_name=name).common_name == name.strip()


@pytest.mark.parametrize(
    "name", ["abc\u202edcba", "C1\x85control", "RLI\u2067x\u2069", "line\u2028break"]
)
async def test_the_api_refuses_such_a_name(client: httpx.AsyncClient, name: str) -> None:
    await client.post("/country")
    response = await client.patch("/country/GB", json={"common_name": name})
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["body", "common_name"]
    assert (await client.get("/country/GB")).json()["common_name"] == "United Kingdom"


# A name right-to-left scripts need: Arabic with a right-to-left mark.
async def test_a_right_to_left_name_is_kept(client: httpx.AsyncClient) -> None:
    await client.post("/country", json={"code": "EG"})
    name = "\u0645\u0635\u0631\u200f"
    response = await client.patch("/country/EG", json={"common_name": name})
    assert response.status_code == 200
    assert response.json()["common_name"] == name


async def test_any_unique_violation_is_a_409_that_echoes_nothing(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    # A unit of work no use case has: the net under conflicts a use case did not foresee.
    database: Database = await app.dependency_overrides[get_database]()

    async def insert_twice() -> None:
        await database.transaction(insert_country_twice, "secret-from-the-request")

    app.add_api_route("/insert-twice", insert_twice, methods=["POST"])
    response = await client.post("/insert-twice")
    assert response.status_code == 409
    assert "secret" not in response.text


# The published pattern, as JSON Schema reads it: `$` ends the text (in Python's re it may
# also match before a final newline).
PUBLISHED_NAME = re.compile(PRINTABLE.removeprefix("^").removesuffix("$"))


@settings(max_examples=500, derandomize=True, database=None)
@given(
    name=st.text(
        st.sampled_from(
            ["a", " ", "\n", "\t", "\u00a0", "\u202e", "\x85", "\u0301", "\u200b", "\U000e0041"]
        )
    )
)
def test_a_name_is_accepted_exactly_when_the_published_schema_accepts_it(name: str) -> None:
    published = bool(PUBLISHED_NAME.fullmatch(name)) and 1 <= len(name) <= 100
    try:
        accepted = CountryUpdate(common_name=name).common_name
    except ValidationError:
        accepted = None
    assert (accepted is not None) == published, repr(name)
    assert accepted is None or accepted == name.strip()


async def test_a_name_a_schema_checker_refuses_is_refused(client: httpx.AsyncClient) -> None:
    # What the API fuzz run sent: a leading newline, which stripping alone would hide.
    body = {"code": "HK", "common_name": "\nHong Kong"}
    assert (await client.post("/country", json=body)).status_code == 422


@pytest.mark.parametrize("name", ["\u00a0", " \u3000 ", "\t"])
def test_a_blank_name_is_refused_by_the_published_pattern_too(name: str) -> None:
    # Stripped, it would be empty: the schema's pattern refuses it, not only the length check.
    assert not re.fullmatch(PRINTABLE, name)
    with pytest.raises(ValidationError):
        CountryUpdate(common_name=name)


@pytest.mark.parametrize(
    ("method", "path", "body", "where"),
    [
        ("GET", "/country/GBR", None, ["path", "code"]),
        ("GET", "/country/G1", None, ["path", "code"]),
        ("GET", "/countries?after=%C3%85X", None, ["query", "after"]),
        ("PATCH", "/country/GB", {"common_name": "\u202eevil"}, ["body", "common_name"]),
        ("POST", "/country", {"code": "FR", "official_name": "a\x00b"}, ["body", "official_name"]),
    ],
)
async def test_a_pattern_mismatch_says_what_the_value_should_be_not_the_regex(
    client: httpx.AsyncClient, method: str, path: str, body: object, where: list[str]
) -> None:
    await client.post("/country")
    response = await client.request(method, path, json=body)

    assert response.status_code == 422
    [problem] = response.json()["detail"]
    assert problem["type"] == "string_pattern_mismatch"
    assert problem["loc"] == where
    assert problem["msg"].startswith("Should be ")
    assert problem["ctx"]["pattern"] not in problem["msg"]  # still there, for programs


@pytest.mark.parametrize("path", ["/country/GB/", "/countries/", "/country/", "/health/"])
async def test_a_trailing_slash_never_redirects_to_the_host_header(
    client: httpx.AsyncClient, path: str
) -> None:
    # Starlette's slash redirect built its Location from Host: an open redirect.
    await client.post("/country")
    response = await client.get(path, headers={"Host": "evil.example"})
    assert response.status_code == 404
    assert "location" not in response.headers
    assert "evil" not in response.text


# What shows nothing on its own: format characters (U+200B, U+2060, U+FEFF, bidi marks),
# spaces and separators of any kind, controls, and combining marks; and blank-looking letters.
INVISIBLE = st.characters(categories=["Cf", "Zs", "Zl", "Zp", "Cc", "Mn", "Me"]) | st.sampled_from(
    ["\u115f", "\u1160", "\u3164", "\uffa0", "\u2800", "\U0001d159", "\t", "\n", "\x1c"]
)
INVISIBLE_NAMES = [
    "\u200b",
    "\u2060",
    "\ufeff",
    "\u200b\u2060\ufeff",
    "\u200e\u200f",
    "\u3000\u00a0\u2007",
    "\u0301",
    "\u0301\u20dd\u034f",
    "\u3164",
    "\u2800",
    "\U000e0041\U000e007f",
    "\U0001d173",
    "\U0001d159",
    "\ufe0f",
]


@settings(max_examples=500, derandomize=True, database=None)
@given(name=st.text(INVISIBLE, min_size=1, max_size=40))
def test_a_name_of_only_invisible_characters_is_refused(name: str) -> None:
    with pytest.raises(ValidationError):
        CountryUpdate(common_name=name)
    with pytest.raises(ValidationError):
        CountryUpdate(official_name=name)
    assert not PUBLISHED_NAME.fullmatch(name)  # and the published schema says so


@pytest.mark.parametrize("name", INVISIBLE_NAMES)
async def test_the_api_says_why_it_refuses_an_invisible_name(
    client: httpx.AsyncClient, name: str
) -> None:
    await client.post("/country")
    for body in ({"common_name": name}, {"official_name": name}):
        response = await client.patch("/country/GB", json=body)
        assert response.status_code == 422
        [problem] = response.json()["detail"]
        assert "at least one visible character" in problem["msg"]
    created = await client.post("/country", json={"code": "FR", "common_name": name})
    assert created.status_code == 422
    assert (await client.get("/country/GB")).json()["common_name"] == "United Kingdom"


@pytest.mark.parametrize("name", ["a\u200bb", "e\u0301", "\u3164x", "\u200fمصر", "\U0001f600"])
def test_a_name_with_something_visible_is_kept(name: str) -> None:
    assert CountryUpdate(common_name=name).common_name == name


def test_every_invisible_character_is_in_the_planes_the_pattern_covers() -> None:
    outside = [
        hex(point)
        for point in range(0x110000)
        if point >> 16 not in PLANES_WITH_INVISIBLES and shows_nothing(chr(point))
    ]
    assert outside == []


# Where a nested value goes: a field the model does not have, and fields that want text.
NESTING_PLACES = [
    ("POST", "/country", '{"code": "FR", "x": %s}'),
    ("POST", "/country", '{"code": %s}'),
    ("PATCH", "/country/GB", '{"common_name": %s}'),
    ("PATCH", "/country/GB", "%s"),
]


@settings(max_examples=60, derandomize=True, database=None, suppress_health_check=FIXTURES)
@given(
    place=st.sampled_from(NESTING_PLACES),
    depth=st.integers(1, 3_000),
    opener=st.sampled_from(["[", '{"k": ']),
)
async def test_a_value_nested_any_depth_is_a_422(
    client: httpx.AsyncClient, place: tuple[str, str, str], depth: int, opener: str
) -> None:
    method, path, template = place
    closer = "]" if opener == "[" else "}"
    nested = opener * depth + "1" + closer * depth
    response = await client.request(method, path, content=template % nested, headers=JSON)
    assert response.status_code == 422, response.text[:300]
    assert isinstance(response.json()["detail"], list)


@settings(max_examples=100, derandomize=True, database=None, suppress_health_check=FIXTURES)
@given(
    place=st.sampled_from([("POST", "/country"), ("PATCH", "/country/GB")]),
    body=st.binary(min_size=1, max_size=64),
    content_type=st.sampled_from(
        [None, "text/plain", "application/octet-stream", "application/x-www-form-urlencoded"]
    ),
)
async def test_a_body_of_any_bytes_and_any_type_is_a_4xx_in_json(
    client: httpx.AsyncClient, place: tuple[str, str], body: bytes, content_type: str | None
) -> None:
    method, path = place
    headers = {"content-type": content_type} if content_type else {}
    response = await client.request(method, path, content=body, headers=headers)
    assert 400 <= response.status_code < 500, response.text[:300]
    assert "detail" in response.json()
