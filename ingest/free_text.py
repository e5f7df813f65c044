"""Phone numbers inside the case's free-text columns, masked before ingest stores them.

A label's note ("victim number +60191097873"), a user agent or a request id
can carry a phone number, and CONTRACT section 4 keeps raw numbers out of
the workspace. Ingest stores these columns only as masked here
(:func:`graph.phone_text.mask_phone_numbers` decides what is a number):

* text (a note, an actor, a source, a user agent) gets the mask
  ``[phone number removed]``, as exports and analysts' labels do;
* an identifier (a request id) gets a keyed pseudonym of the number
  instead, ``phone-`` and the first 16 hex digits of its phone hash, so
  that two requests with different numbers in their ids stay two requests,
  and an analyst holding the workspace key can still tie the id to the
  number's ``phone_hash``.

Rows are still told apart (and de-duplicated) by their values as they came:
only what is stored is masked. Masking runs once per distinct value, and
only on values with a ``+digit`` or seven digits in a row.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from graph.phone_text import mask_phone_numbers
from ingest.pseudonymize import phone_hash

__all__ = ["FREE_TEXT", "IDENTIFIERS", "masked_column", "masked_name"]

#: per table, the columns of free text that could hold a phone number
FREE_TEXT = {"requests": ("user_agent", "request_id"), "labels": ("note", "actor", "source")}
#: free-text columns that identify something: a number in them becomes a keyed pseudonym
IDENTIFIERS = ("request_id",)
#: the hex digits of the phone hash a pseudonym keeps (64 bits)
_PSEUDONYM_HEX = 16


def masked_name(column: str) -> str:
    """The name of the chunk column that holds ``column`` masked."""
    return f"_m_{column}"


def masked_column(column: pa.Array | pa.ChunkedArray, secret: bytes | None = None) -> pa.Array:
    """The column as text with every phone number in it masked (NULL stays NULL).

    Parameters
    ----------
    column : pyarrow array
        Text, or any type that casts to text (a Parquet id column may be integers).
    secret : bytes, optional
        The workspace secret: numbers become keyed pseudonyms (identifiers);
        without it, the mask.
    """
    if isinstance(column, pa.ChunkedArray):
        column = column.combine_chunks()
    if not (pa.types.is_string(column.type) or pa.types.is_large_string(column.type)):
        column = column.cast(pa.string())
    candidates = pc.fill_null(pc.match_substring_regex(column, r"\+\d|\d{7}"), False)
    where = np.flatnonzero(candidates.to_numpy(zero_copy_only=False))
    if len(where) == 0:
        return column
    replace = None
    if secret is not None:
        def replace(e164: str) -> str:
            return "phone-" + phone_hash(secret, e164)[:_PSEUDONYM_HEX]
    values = column.take(pa.array(where)).to_pylist()
    masked = {value: mask_phone_numbers(value, replace) for value in set(values)}
    out = [masked[value] for value in values]
    if all(a == b for a, b in zip(out, values, strict=True)):
        return column
    mask = np.zeros(len(column), dtype=bool)
    mask[where] = True
    return pc.replace_with_mask(column, pa.array(mask), pa.array(out, column.type))
