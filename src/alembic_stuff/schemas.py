"""The API's request and response bodies, kept apart from the ORM models."""

import unicodedata
from typing import Annotated

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    field_validator,
)
from pydantic.json_schema import WithJsonSchema

from alembic_stuff import iso

ALPHA_2_PATTERN = r"^[A-Za-z]{2}$"


def _known_alpha_2(code: str) -> str:
    if iso.lookup(code) is None:
        raise ValueError(f"{code.upper()!r} is not an ISO 3166-1 alpha-2 country code")
    return code.upper()


# Published as the exact list of codes, so clients (and the API fuzz tests) know which are
# valid; lower case is accepted too, and normalised.
CountryCode = Annotated[
    str,
    StringConstraints(pattern=ALPHA_2_PATTERN),
    AfterValidator(_known_alpha_2),
    WithJsonSchema(
        {
            "type": "string",
            "enum": iso.alpha_2_codes(),
            "description": "ISO 3166-1 alpha-2 code (lower case is accepted too).",
            "examples": ["FR"],
        }
    ),
]
# Characters that show nothing on their own: controls, format characters (U+200B, U+2060,
# U+FEFF, the bidirectional controls), spaces and separators of every kind, and combining
# marks (drawn on the character before them). Plus letters and symbols that print blank: the
# Hangul fillers, the blank Braille pattern and the musical null notehead. A name must hold
# something else. Private-use and unassigned code points are not among them: a font that
# defines one draws it, and any other draws a replacement box.
_SHOWS_NOTHING = frozenset({"Cc", "Cf", "Zs", "Zl", "Zp", "Mn", "Me"})
_PRINTS_BLANK = frozenset("\u115f\u1160\u3164\uffa0\u2800\U0001d159")
# Unicode places every such character in these planes (the tests check it).
PLANES_WITH_INVISIBLES = (0, 1, 14)


def shows_nothing(char: str) -> bool:
    """True for a character that shows nothing on its own (see _SHOWS_NOTHING)."""
    return unicodedata.category(char) in _SHOWS_NOTHING or char.isspace() or char in _PRINTS_BLANK


def _class_of_invisibles() -> str:
    """A regular-expression class body of every character `shows_nothing` is true of."""
    ranges: list[list[int]] = []
    for plane in PLANES_WITH_INVISIBLES:
        for point in range(plane << 16, (plane + 1) << 16):
            if not shows_nothing(chr(point)):
                continue
            if ranges and ranges[-1][1] == point - 1:
                ranges[-1][1] = point
            else:
                ranges.append([point, point])
    return "".join(
        _escaped(first) if first == last else f"{_escaped(first)}-{_escaped(last)}"
        for first, last in ranges
    )


def _escaped(point: int) -> str:
    # \uXXXX reads the same in Python's re, pydantic's Rust regex and JSON Schema's ECMA-262;
    # no escape above U+FFFF does, so those characters stand as themselves.
    return f"\\u{point:04x}" if point <= 0xFFFF else chr(point)


# Printable text only: PostgreSQL cannot store NUL, and no name needs a control character
# (C0, DEL, C1), a line or paragraph separator, or a bidirectional embedding, override or
# isolate, which make text display in an order other than the one it is stored in
# ("Trojan Source", CVE-2021-42574). The marks U+200E and U+200F stay: right-to-left names
# need them, and they reorder nothing around them. And at least one character that shows
# something: surrounding whitespace is stripped, and a name of only invisible characters
# (U+200B, a combining accent, a Hangul filler) would look empty, or like another's name.
_NOT_IN_NAMES = r"\x00-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069"
PRINTABLE = rf"^[^{_NOT_IN_NAMES}]*[^{_class_of_invisibles()}][^{_NOT_IN_NAMES}]*$"
# What each published pattern means, for the 422 a client gets when a value does not match it
# (pydantic's own message quotes the regular expression).
PATTERN_MEANINGS = {
    ALPHA_2_PATTERN: "Should be a two-letter ISO 3166-1 alpha-2 country code, like GB",
    PRINTABLE: (
        "Should be printable text with at least one visible character: not only spaces, "
        "invisible or format characters, or combining marks"
    ),
}


def _stripped(name: str) -> str:
    return name.strip()


# Checked as sent, then stripped: the published schema describes the text a client sends, so
# checking after stripping would accept a name the schema refuses ("\nFrance").
CommonName = Annotated[
    str,
    StringConstraints(min_length=1, max_length=100, pattern=PRINTABLE),
    AfterValidator(_stripped),
]
OfficialName = Annotated[
    str,
    StringConstraints(min_length=1, max_length=200, pattern=PRINTABLE),
    AfterValidator(_stripped),
]


class CountryRead(BaseModel):
    """A country as the API returns it."""

    model_config = ConfigDict(
        from_attributes=True,
        json_schema_extra={
            "examples": [
                {
                    "code": "GB",
                    "alpha_3": "GBR",
                    "numeric_code": "826",
                    "common_name": "United Kingdom",
                    "official_name": "United Kingdom of Great Britain and Northern Ireland",
                }
            ]
        },
    )

    code: str
    alpha_3: str
    numeric_code: str
    common_name: str
    official_name: str | None


class CountryCreate(BaseModel):
    """A new country: the code, and optionally names that differ from ISO 3166's."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [{"code": "FR"}, {"code": "DE", "common_name": "Deutschland"}]
        },
    )

    code: CountryCode
    common_name: CommonName | None = None
    official_name: OfficialName | None = None


class CountryUpdate(BaseModel):
    """A change to a country's names; fields left out are left alone."""

    model_config = ConfigDict(
        extra="forbid", json_schema_extra={"examples": [{"common_name": "Britain"}]}
    )

    # May be left out, but not null: the published schema says so, and the validator below
    # refuses null (the type admits None only so that "left out" can be told apart).
    common_name: Annotated[
        CommonName | None,
        WithJsonSchema({"type": "string", "minLength": 1, "maxLength": 100, "pattern": PRINTABLE}),
    ] = None
    official_name: OfficialName | None = None

    @field_validator("common_name")
    @classmethod
    def _common_name_not_null(cls, value: str | None) -> str:
        # Runs only when the field is sent: null is refused, leaving it out is not.
        if value is None:
            raise ValueError("common_name cannot be null; leave it out to keep the current name")
        return value


class CountryPage(BaseModel):
    """One page of countries in code order, and the cursor of the next page."""

    items: list[CountryRead]
    next_after: str | None = Field(
        description="Pass as `after` to get the next page; null on the last page."
    )


class Message(BaseModel):
    """An error's explanation."""

    detail: str
