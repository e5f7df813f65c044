"""Country names as analysts write them, from ISO 3166-1 alpha-2 codes."""

from __future__ import annotations

import iso3166

__all__ = ["country_name", "is_country_code"]

# ISO's names are formal ("Russian Federation", "Korea, Democratic People's Republic of"); these
# are the short forms a reader expects, and they keep the two Koreas apart.
_SHORT_NAMES = {
    "IR": "Iran", "RU": "Russia", "KP": "North Korea", "KR": "South Korea", "SY": "Syria", "VE": "Venezuela",
    "TW": "Taiwan", "GB": "United Kingdom", "US": "United States", "VN": "Vietnam", "BO": "Bolivia",
    "TZ": "Tanzania", "MD": "Moldova", "LA": "Laos", "CD": "DR Congo", "PS": "Palestine", "FM": "Micronesia",
    "AE": "United Arab Emirates", "CZ": "Czechia", "MK": "North Macedonia", "TR": "Türkiye",
}


def country_name(code: str | None) -> str:
    """A short English name for an ISO alpha-2 code: ``"unknown"`` when empty, the code itself when unknown.

    Examples
    --------
    >>> country_name("ir"), country_name("KP"), country_name("FR"), country_name("ZZ"), country_name(None)
    ('Iran', 'North Korea', 'France', 'ZZ', 'unknown')
    """
    if not code:
        return "unknown"
    code = code.upper()
    if code in _SHORT_NAMES:
        return _SHORT_NAMES[code]
    try:
        return iso3166.countries_by_alpha2[code].name.split(",")[0]
    except KeyError:
        return code


def is_country_code(code: str | None) -> bool:
    """Whether ``code`` (any case) is an assigned ISO 3166-1 alpha-2 code: ``"IR"`` is, ``"ZZ"`` is not.

    ISO keeps ``ZZ`` and the other user-assigned codes for private use, so no
    country has them and an attribution to one says nothing.

    Examples
    --------
    >>> is_country_code("ir"), is_country_code("ZZ"), is_country_code("Iran"), is_country_code(None)
    (True, False, False, False)
    """
    return bool(code) and code.upper() in iso3166.countries_by_alpha2
