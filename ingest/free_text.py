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

from graph.phone_text import bare_runs, mask_phone_numbers
from ingest.enrich import classify_phones
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
        The workspace secret, for identifiers: numbers become keyed
        pseudonyms. Without it, text: numbers become the mask, and the
        column's distinct values are masked rather than its rows (a user
        agent repeats over thousands of rows; a request id over a few).
    """
    if isinstance(column, pa.ChunkedArray):
        column = column.combine_chunks()
    if not (pa.types.is_string(column.type) or pa.types.is_large_string(column.type)):
        column = column.cast(pa.string())
    if secret is None:
        encoded = pc.dictionary_encode(column)
        masked = _masked_values(encoded.dictionary, None)
        return column if masked is encoded.dictionary else masked.take(encoded.indices)
    return _masked_values(column, secret)


def _masked_values(values: pa.Array, secret: bytes | None) -> pa.Array:
    """``values`` with numbers masked; the same object when none holds one."""
    # two cheap scans instead of one alternation (RE2 runs them 2-3 times faster)
    candidates = pc.or_(pc.match_substring_regex(values, r"[0-9]{8}"),
                        pc.match_substring_regex(values, r"\+[0-9]"))
    where = np.flatnonzero(pc.fill_null(candidates, False).to_numpy(zero_copy_only=False))
    if len(where) == 0:
        return values
    replace = None
    if secret is not None:
        def replace(e164: str) -> str:
            return "phone-" + phone_hash(secret, e164)[:_PSEUDONYM_HEX]
    found = values.take(pa.array(where)).to_pylist()
    runs_of = {value: bare_runs(value) for value in set(found)}
    runs = sorted({run for value_runs in runs_of.values() for run in value_runs})
    valid = set()
    if runs:  # libphonenumber's answer in bulk: one by one it manages ~40k numbers a second
        facts = classify_phones(pa.array(["+" + run for run in runs], pa.string()))
        ok = pc.and_(pc.is_valid(facts.column("region")), pc.not_equal(facts.column("number_type"), "unknown"))
        valid = {run for run, good in zip(runs, ok.to_pylist(), strict=True) if good}
    masked = {
        value: mask_phone_numbers(value, replace, valid.__contains__)
        if "+" in value or not valid.isdisjoint(value_runs) else value
        for value, value_runs in runs_of.items()
    }
    out = [masked[value] for value in found]
    if out == found:
        return values
    mask = np.zeros(len(values), dtype=bool)
    mask[where] = True
    return pc.replace_with_mask(values, pa.array(mask), pa.array(out, values.type))
