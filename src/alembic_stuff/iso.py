"""ISO 3166-1 country data, from pycountry."""

from dataclasses import dataclass

import pycountry


@dataclass(frozen=True)
class IsoCountry:
    """One country's ISO 3166-1 entry."""

    alpha_2: str
    alpha_3: str
    numeric: str
    name: str
    official_name: str | None


def lookup(alpha_2: str) -> IsoCountry | None:
    """Return the ISO entry for an alpha-2 code (any case), or None when there is none."""
    entry = pycountry.countries.get(alpha_2=alpha_2.upper())
    if entry is None:
        return None
    return IsoCountry(
        alpha_2=entry.alpha_2,
        alpha_3=entry.alpha_3,
        numeric=entry.numeric,
        name=entry.name,
        official_name=getattr(entry, "official_name", None),
    )


def alpha_2_codes() -> list[str]:
    """Return every ISO 3166-1 alpha-2 code, sorted."""
    return sorted(entry.alpha_2 for entry in pycountry.countries)
