"""Phone numbers: calling code, region and type of normalized E.164 numbers, in bulk.

:func:`classify_phones` gives phonenumbers' answers (Apache-2.0; metadata
from Google's libphonenumber) at millions of numbers a second.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import cache

import numpy as np
import phonenumbers
import pyarrow as pa
import pyarrow.compute as pc
from phonenumbers.phonemetadata import PhoneMetadata

__all__ = ["PHONE_TYPES", "classify_phones"]

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
