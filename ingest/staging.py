"""The staging SELECTs: how a checked chunk of each contract table becomes rows of its warehouse table.

:data:`STAGING` is keyed by the table names of :data:`ingest.validate.SPECS`
and says, per table, which warehouse table its rows go to, which column
holds their content key and which their position in the file.
:func:`staging_sql` writes the one statement that turns a chunk (``{chunk}``,
its per-distinct-value lookups added as ``_j_`` columns and its masked free
text as ``_m_`` columns) into those rows, with each row's quarantine reason
(``_reason``, ``_column``; NULL for a good row) and content hash
(``_h1``, ``_h2``) beside them.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import pyarrow as pa

from graph.warehouse_schema import ACCOUNTS_TABLE, EVENTS_TABLE, INTEL_TABLE, LABELS_TABLE
from ingest.free_text import FREE_TEXT, masked_name
from ingest.validate import BLANKS_SQL, REASONS, SPECS, ColumnCheck, quote, reason_sql

__all__ = ["STAGING", "KEY_SQL", "Staging", "staging_sql"]

# Column names an unknown accounts column must not have to be kept in
# ``extra``: whatever it holds could be a raw phone number.
_PHONE_LIKE = ("phone", "msisdn", "mobile", "tel")
_KNOWN_PHONE_SAFE = {"phone_country", "discoverable_by_phone"}

#: the content key's text, from the two halves of :func:`_row_hash_sql`
KEY_SQL = "to_hex((_h1::UHUGEINT << 64) + _h2)"

#: a request's lookups (chunk column) and the name the staging SELECT reads them by
_REQUEST_LOOKUPS = (
    ("_j_ip_prefix", "e_prefix"), ("_j_ip_country", "e_country"), ("_j_ip_asn", "e_asn"),
    ("_j_ip_kind", "e_kind"), ("_j_user_agent_user_agent_family", "user_agent_family"),
    ("_j_user_agent_app_version", "app_version"), ("_j_user_agent_os_family", "os_family"),
    ("_j_user_agent_device_family", "device_family"), ("_j_phone_value", "phone_hash"),
    ("_j_phone_block_hash", "block_hash"), ("_j_phone_block_ordinal", "block_ordinal"),
    ("_j_phone_calling_code", "calling_code"), ("_j_phone_region", "region"),
    ("_j_phone_number_type", "number_type"),
)


def _row_hash_sql(exprs: Sequence[str]) -> str:
    """The row's 128-bit content hash as two 64-bit halves, ``_h1`` and ``_h2``.

    Two DuckDB hashes (one salted) of the normalized values, NULLs included
    by position. Several times cheaper than ``md5`` of a concatenation,
    which matters at tens of millions of rows. It is not a security boundary
    (phone numbers enter only as keyed hashes). DuckDB keeps its hash stable
    within a storage version; re-ingesting a *file* is recognized by its
    sha256 in any case. :data:`KEY_SQL` turns the halves into the id text.
    """
    values = ", ".join(exprs)
    return f"hash({values}) AS _h1, hash({values}, 'sybilscope-row') AS _h2"


def _requests_select(v: Mapping[str, str]) -> str:
    """An event: the request's checked values, its enrichment and its phone number's pseudonyms."""
    row_hash = _row_hash_sql([
        v["ts"], v["ip"], v["endpoint"], v["account_id"], v["device_id"],
        '"r_user_agent"', v["status"], "phone_hash", v["matched_account_id"],
        v["request_id"], v["ip_country"], v["ip_asn"],
    ])
    return ", ".join([
        "_pos", row_hash, f"{v['ts']} AS ts", f"{v['ip']} AS ip",
        "e_prefix AS ip_prefix", f"coalesce({v['ip_country']}, e_country) AS ip_country",
        f"coalesce({v['ip_asn']}, e_asn) AS ip_asn", "e_kind AS ip_kind",
        f"{v['endpoint']} AS endpoint", f"{v['account_id']} AS account_id",
        f"{v['device_id']} AS device_id", "user_agent_family", "app_version", "os_family",
        "device_family", f"{v['status']} AS status", "phone_hash", "block_hash",
        "block_ordinal", "calling_code AS phone_calling_code", "region AS phone_region",
        "number_type AS phone_type", f"{v['matched_account_id']} AS matched_account_id",
        '"m_request_id" AS request_id',
    ])


def _as_given(v: Mapping[str, str], extra: Sequence[str] = ()) -> str:
    """Every contract column's checked value under its own name, and the ``extra`` columns."""
    return ", ".join(["_pos", _row_hash_sql(list(v.values()) + list(extra)), *extra]
                     + [f"{value} AS {quote(name)}" for name, value in v.items()])


def _accounts_select(v: Mapping[str, str]) -> str:
    """An account as given, its columns outside the contract kept in ``extra``."""
    return _as_given(v, ("extra",))


def _labels_select(v: Mapping[str, str]) -> str:
    """A label on the entity as the graph keys it, its free text masked."""
    row_hash = _row_hash_sql([v["entity"], "entity_key", v["label"], v["actor"], v["source"], v["note"]])
    return ", ".join([
        "_pos", row_hash,
        f"{v['entity']} AS entity", "entity_key AS entity_id", "'label' AS kind",
        f"{v['label']} AS value", '"m_actor" AS actor', '"m_source" AS source', '"m_note" AS note',
    ])


@dataclass(frozen=True)
class Staging:
    """Where one contract table's rows go: its warehouse table and the SELECT that shapes them.

    ``select`` maps each contract column to the SQL of its checked value
    (``"v_<name>"``) and returns the warehouse columns, beginning with
    ``_pos`` and the content hash.
    """

    target: str
    select: Callable[[Mapping[str, str]], str]
    #: the column holding the row's content key (what an earlier run's copy is found by)
    key: str = "row_hash"
    #: the column holding the row's line or row number in its file
    position: str = "pos"


STAGING: dict[str, Staging] = {
    "requests": Staging(EVENTS_TABLE, _requests_select, key="event_id", position="source_row"),
    "accounts": Staging(ACCOUNTS_TABLE, _accounts_select),
    "ip_intel": Staging(INTEL_TABLE, _as_given),
    "labels": Staging(LABELS_TABLE, _labels_select),
}


def _entity_key_sql(checks: Sequence[ColumnCheck]) -> str:
    """A label's entity as the graph keys it: addresses normalized, phone numbers hashed."""
    id_raw = next(c.raw for c in checks if c.column.name == "id")
    entity_raw = next(c.raw for c in checks if c.column.name == "entity")
    return (
        f"CASE lower({entity_raw}) WHEN 'ip' THEN c._j_id_ip_value "
        f"WHEN 'phone' THEN CASE WHEN regexp_full_match(lower({id_raw}), '[0-9a-f]{{64}}') "
        f"THEN lower({id_raw}) ELSE c._j_id_phone_value END ELSE {id_raw} END AS entity_key"
    )


def _label_reason(reason: str, column: str) -> tuple[str, str]:
    """A label on an address or a number whose id is neither is quarantined as an invalid one."""
    bad = '"v_entity" IN (\'ip\', \'phone\') AND "r_id" IS NOT NULL AND entity_key IS NULL'
    why = (f"CASE WHEN \"v_entity\" = 'ip' THEN '{REASONS['ip']}' "
           f"ELSE '{REASONS['phone']}' END")
    return (f"coalesce({reason}, CASE WHEN {bad} THEN {why} END)",
            f"coalesce({column}, CASE WHEN {bad} THEN 'id' END)")


def _extra_sql(unknown: Sequence[str]) -> str:
    """An account's columns outside the contract as one JSON object, those that may hold a number left out."""
    kept = [n for n in unknown if n.lower() in _KNOWN_PHONE_SAFE
            or not any(word in n.lower() for word in _PHONE_LIKE)]
    if not kept:
        return "NULL::VARCHAR"
    parts = ", ".join(f"'{n.replace(chr(39), chr(39) * 2)}', c.{quote(n)}" for n in kept)
    return f"json_object({parts})::VARCHAR"


def staging_sql(table: str, checks: Sequence[ColumnCheck], present: Mapping[str, pa.DataType],
                chunk_columns: Sequence[str], unknown: Sequence[str], large: str | None) -> str:
    """One pass over ``{chunk}``: checks, reasons and the table's columns, content key included.

    The chunk is handed in as ``chunk`` (:func:`ingest.arrow_sql.arrow_sql`).

    Parameters
    ----------
    table : str
        A key of :data:`STAGING`.
    checks : sequence of ColumnCheck
        :func:`ingest.validate.column_checks` of the chunk.
    present : mapping of column name to Arrow type
        The chunk's columns as they came.
    chunk_columns : sequence of str
        Every column of the chunk, lookups and masked text included.
    unknown : sequence of str
        The file's columns outside the contract (kept in an account's ``extra``).
    large : str, optional
        :func:`ingest.validate.too_large_sql` of the chunk.
    """
    extra_select = [
        f"NULLIF(trim(c.{quote(masked_name(n))}::VARCHAR, {BLANKS_SQL}), '') AS {quote('m_' + n)}"
        if n in present else f"NULL::VARCHAR AS {quote('m_' + n)}"
        for n in FREE_TEXT.get(table, ())
    ]
    if table == "requests":
        extra_select += [f'{"c." + quote(n) if n in chunk_columns else "NULL"} AS {quote(alias)}'
                         for n, alias in _REQUEST_LOOKUPS]
    if table == "labels":
        extra_select.append(_entity_key_sql(checks))
    if table == "accounts":
        extra_select.append(_extra_sql(unknown) + " AS extra")
    selects = ["c._pos"]
    for check in checks:
        selects.append(f"{check.raw} AS {check.raw_name}")
        selects.append(f"{check.value} AS {check.value_name}")
    if large is not None:
        selects.append(f"{large} AS _large")
    selects += extra_select
    reason, column = reason_sql(checks, "_large" if large is not None else None)
    if table == "labels":
        reason, column = _label_reason(reason, column)
    extra_key = f", 'lbl-' || {KEY_SQL} AS label_id" if table == "labels" else ""
    stage = STAGING[table].select({name: quote("v_" + name) for name in SPECS[table].names})
    return (
        f"SELECT *, {KEY_SQL} AS {STAGING[table].key}{extra_key} FROM ("
        f"SELECT {stage}, _reason, _column "
        f"FROM (SELECT *, {reason} AS _reason, {column} AS _column "
        f"FROM (SELECT {', '.join(selects)} FROM {{chunk}} c)))"
    )
