"""Phone pseudonymization: the bulk HMAC equals the RFC 2104 HMAC, masks hide the number."""

from __future__ import annotations

import hashlib
import hmac

import duckdb
import pyarrow as pa
import pytest

from ingest.pseudonymize import (
    block_of,
    block_ordinal,
    hmac_hex_array,
    mask_phone,
    mask_phone_sql,
    normalize_e164,
    normalize_e164_array,
    phone_hash,
)

NUMBERS = ["+989121234567", "+60123456789", "+12015550123", "+4930123"]


@pytest.mark.parametrize("raw, expected", [
    ("+989121234567", "+989121234567"),
    ("989121234567", "+989121234567"),
    ("  +60123456789 ", "+60123456789"),
    ("+98 912 123 4567", None),
    ("0098912", "+0098912"),  # digits: well-formed here, refused later (no calling code 0)
    ("+1234567890123456", None),
    ("phone", None),
    ("", None),
    (None, None),
])
def test_normalize_e164(raw, expected):
    assert normalize_e164(raw) == expected


@pytest.mark.parametrize("secret", [bytes(range(32)), b"k", bytes(range(100))])
def test_bulk_hmac_is_rfc2104_hmac(secret):
    values = pa.chunked_array([NUMBERS[:2], [None, *NUMBERS[2:], "+989121234"]])
    got = hmac_hex_array(secret, values).to_pylist()
    assert got[2] is None
    for number, digest in zip(NUMBERS[:2] + [None] + NUMBERS[2:] + ["+989121234"], got, strict=True):
        if number is not None:
            assert digest == hmac.new(secret, number.encode(), hashlib.sha256).hexdigest()
            assert digest == phone_hash(secret, number)
    assert hmac_hex_array(secret, pa.array([], pa.string())).to_pylist() == []


def test_bulk_normalize_is_normalize_e164():
    raws = ["+989121234567", "989121234567", "  +60123456789 ", "\t+4930123\r\n", "+98 912 123 4567",
            "0098912", "+1234567890123456", "++4930123", "phone", "", None, "+123", "+1234"]
    assert normalize_e164_array(pa.array(raws, pa.string())).to_pylist() == [normalize_e164(r) for r in raws]


def test_hash_depends_on_the_secret():
    assert phone_hash(b"a" * 32, NUMBERS[0]) != phone_hash(b"b" * 32, NUMBERS[0])


def test_block_and_ordinal():
    assert block_of("+989121234567") == "+989121234"
    assert block_ordinal("+989121234567") == 567
    assert block_ordinal("+989121234007") == 7
    # numbers of one block share the block, not the ordinal
    assert block_of("+989121234000") == block_of("+989121234999")


@pytest.mark.parametrize("raw", ["+989121234567", "989121234567", "+98 912-12a", "1", "", "ab12c3d4", "é9x9999"])
def test_mask_sql_matches_python(raw):
    con = duckdb.connect()
    assert con.execute(f"SELECT {mask_phone_sql('$v')}", {"v": raw}).fetchone()[0] == mask_phone(raw)


def test_mask_keeps_two_digits_only():
    masked = mask_phone("+989121234567")
    assert masked == "+98**********"
    assert sum(c.isdigit() for c in masked) == 2
