"""Phone-number pseudonymization (CONTRACT section 4).

A raw phone number never leaves ingest. What the rest of sybilscope sees is:

``phone_hash``
    HMAC-SHA256, keyed with the workspace secret, of the normalized E.164
    number (``+`` and digits). Without the key nobody can test a guessed
    number against it; with the key an analyst can check "is this number in
    the case?" by hashing it the same way.
``block_hash``
    the same HMAC of the number without its last three digits: numbers of
    one block of 1,000 share it, so block coverage (how much of a block an
    account enumerated) and sharding (accounts splitting the number space)
    stay measurable.
``block_ordinal``
    the last three digits as an integer 0..999: the position inside the
    block, needed to tell sequential from random-order enumeration.

The hashing runs in DuckDB (:func:`hmac_sql`) because a lookup log of the
2019 incident's size has ~17 million distinct numbers: Python's ``hmac``
does about a million a second on one core, DuckDB's ``sha256`` runs on every
core inside the same query that joins the result back. :func:`phone_hash`
is the plain Python reference the tests hold the SQL to.
"""

from __future__ import annotations

import hashlib
import hmac
import re

__all__ = [
    "BLOCK_DIGITS",
    "normalize_e164",
    "phone_hash",
    "block_of",
    "block_ordinal",
    "hmac_sql",
    "hmac_params",
    "mask_phone",
    "mask_phone_sql",
]

#: digits dropped from a number to name its block (a block holds 10**3 numbers)
BLOCK_DIGITS = 3

_SHA256_BLOCK = 64
_E164 = re.compile(r"\+?([0-9]{4,15})")


def normalize_e164(raw: str | None) -> str | None:
    """The number as ``+`` and digits, or ``None`` when it cannot be E.164.

    A leading ``+`` may be missing (CONTRACT section 2); surrounding blanks
    are ignored. Anything else (spaces inside, letters, more than 15 digits)
    is not a number this contract accepts.

    Examples
    --------
    >>> normalize_e164("989121234567")
    '+989121234567'
    >>> normalize_e164("+98 912") is None
    True
    """
    if raw is None:
        return None
    match = _E164.fullmatch(raw.strip())
    return "+" + match.group(1) if match else None


def phone_hash(secret: bytes, e164: str) -> str:
    """Hex HMAC-SHA256 of a normalized number (or block) under the workspace secret."""
    return hmac.new(secret, e164.encode("ascii"), hashlib.sha256).hexdigest()


def block_of(e164: str) -> str:
    """The number without its last :data:`BLOCK_DIGITS` digits: the block it belongs to."""
    return e164[:-BLOCK_DIGITS]


def block_ordinal(e164: str) -> int:
    """The last :data:`BLOCK_DIGITS` digits as an integer: the number's place in its block."""
    return int(e164[-BLOCK_DIGITS:])


def hmac_params(secret: bytes) -> tuple[bytes, bytes]:
    """The inner and outer padded keys of HMAC-SHA256 (RFC 2104) for :func:`hmac_sql`.

    They are passed to DuckDB as query parameters, never spliced into SQL
    text, so the key cannot surface in a query log or an error message.
    """
    key = hashlib.sha256(secret).digest() if len(secret) > _SHA256_BLOCK else secret
    key = key.ljust(_SHA256_BLOCK, b"\0")
    inner = bytes(b ^ 0x36 for b in key)
    outer = bytes(b ^ 0x5C for b in key)
    return inner, outer


def hmac_sql(expr: str, inner_param: str = "$hmac_inner", outer_param: str = "$hmac_outer") -> str:
    """A DuckDB expression computing hex HMAC-SHA256 of the VARCHAR ``expr``.

    ``sha256(outer || unhex(sha256(inner || message)))`` is HMAC by its
    definition; bind the two named parameters to :func:`hmac_params`.
    """
    return (
        f"sha256({outer_param}::BLOB || unhex(sha256({inner_param}::BLOB || ({expr})::BLOB)))"
    )


def mask_phone(raw: str | None) -> str | None:
    """A phone value safe to show in the quarantine: every digit after the first two hidden.

    Used on rejected rows, whose phone may be anything (a valid number next
    to a bad timestamp, a number with a typo): the first two digits say
    roughly which country, the rest is gone.

    Examples
    --------
    >>> mask_phone("+989121234567")
    '+98**********'
    """
    if raw is None:
        return None
    seen = 0
    out = []
    for char in raw:
        if char.isdigit():
            seen += 1
            out.append(char if seen <= 2 else "*")
        else:
            out.append(char)
    return "".join(out)


_MASK_HEAD = r"^([^0-9]*(?:[0-9][^0-9]*){0,2})"


def mask_phone_sql(expr: str) -> str:
    """:func:`mask_phone` as a DuckDB expression, for masking rejected rows in bulk."""
    return (
        f"(regexp_extract({expr}, '{_MASK_HEAD}', 1) || "
        f"regexp_replace(substr({expr}, length(regexp_extract({expr}, '{_MASK_HEAD}', 1)) + 1), "
        "'[0-9]', '*', 'g'))"
    )
