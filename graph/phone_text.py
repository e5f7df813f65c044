"""Phone numbers inside free text, found and masked before anything stores or shows the text.

Phone numbers are personal data (CONTRACT section 4): ingest never keeps
one in a phone field, but people type them into label notes and comments
("victim number +60191097873"), and clients put them into user agents and
request ids. Whatever stores such text masks it first with
:func:`mask_phone_numbers`: the graph store for labels and audit events,
ingest for the case's free-text columns, exports and briefings once more
on the way out.

What counts as a number: with a ``+``, anything phone-shaped (7 to 15
digits, with spaces, dashes, dots or brackets between them); a bare run of
8 to 15 digits only when it is a valid number with a ``+`` in front
(libphonenumber's metadata), so dates, ASNs, counts and build numbers
survive. A run inside a longer run of digits or a dotted number (an IP
address, a version) is not a phone number.

This lives in ``graph`` because the store masks on its write path, and
``graph`` imports neither ``ingest`` nor ``app``.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from functools import lru_cache

import phonenumbers

__all__ = ["PHONE_MASK", "bare_runs", "mask_phone_numbers", "mask_phone_numbers_in"]

#: what a phone number in free text becomes unless the caller says otherwise
PHONE_MASK = "[phone number removed]"

_PLUS_NUMBER = re.compile(r"\+\d[\d \-().]{5,22}\d")
_BARE_DIGITS = re.compile(r"(?<![\d.])\d{8,15}(?!\d|\.\d)")
#: a cheap test first: most text holds neither a "+digit" nor seven digits in a row
_CANDIDATE = re.compile(r"\+\d|\d{8}")


@lru_cache(maxsize=1 << 16)
def _bare_is_phone(digits: str) -> bool:
    """Whether ``+digits`` is a valid number exactly as written (no national prefix dropped)."""
    try:
        number = phonenumbers.parse("+" + digits, None)
    except phonenumbers.NumberParseException:
        return False
    return (phonenumbers.is_valid_number(number)
            and phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164) == "+" + digits)


def bare_runs(text: str) -> list[str]:
    """The bare digit runs in ``text`` that are phone numbers if they are valid ones.

    For callers that validate many in bulk and pass the answer to
    :func:`mask_phone_numbers` as ``is_phone``.
    """
    return _BARE_DIGITS.findall(_PLUS_NUMBER.sub(" ", text)) if _CANDIDATE.search(text) else []


def mask_phone_numbers(
    text: str,
    replace: Callable[[str], str] | None = None,
    is_phone: Callable[[str], bool] | None = None,
) -> str:
    """``text`` with every phone number in it replaced.

    Parameters
    ----------
    text : str
    replace : callable, optional
        Gets the number as E.164 (``+`` and digits) and returns what stands
        in its place; :data:`PHONE_MASK` when not given. Ingest passes a
        keyed pseudonym for identifiers, whose distinct values must stay
        distinct.
    is_phone : callable, optional
        Whether a bare digit run (:func:`bare_runs`) is a valid number;
        libphonenumber's answer when not given.

    Examples
    --------
    >>> mask_phone_numbers("victim number +60191097873, case 20191224")
    'victim number [phone number removed], case 20191224'
    """
    if not _CANDIDATE.search(text):
        return text
    replace = replace or (lambda _: PHONE_MASK)
    is_phone = is_phone or _bare_is_phone

    def plus(match: re.Match[str]) -> str:
        digits = re.sub(r"\D", "", match.group())
        return replace("+" + digits) if 7 <= len(digits) <= 15 else match.group()

    def bare(match: re.Match[str]) -> str:
        digits = match.group()
        return replace("+" + digits) if is_phone(digits) else digits

    return _BARE_DIGITS.sub(bare, _PLUS_NUMBER.sub(plus, text))


def mask_phone_numbers_in(value: object, replace: Callable[[str], str] | None = None) -> object:
    """Any JSON-like value with :func:`mask_phone_numbers` applied to every string in it (not to keys)."""
    if isinstance(value, str):
        return mask_phone_numbers(value, replace)
    if isinstance(value, dict):
        return {k: mask_phone_numbers_in(v, replace) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [mask_phone_numbers_in(v, replace) for v in value]
    return value
