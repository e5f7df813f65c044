"""Per-distinct-value lookups: what ingest adds to a chunk about its addresses, user agents, numbers and networks.

A chunk of half a million rows holds far fewer distinct IP addresses, user
agents and phone numbers. Each is looked up once (:mod:`ingest.enrich`,
:mod:`ingest.pseudonymize`) and the answers are spread back over the rows
by dictionary index, as ``_j_<column>_<field>`` columns the checks and the
staging SELECTs read (:mod:`ingest.validate`, :mod:`ingest.staging`):

* IP addresses and user agents are :class:`CachedFacts`: enriched once per
  workspace, whatever number of files and runs they appear in, and kept in
  ``ip_lookup`` and ``ua_lookup``;
* phone numbers are never cached (their facts are keyed hashes, and a raw
  number must not reach DuckDB): :func:`phone_facts` computes them in
  Python, half of a large lookup in a helper process (:class:`PhoneHelper`);
* ``ip_intel`` networks are only normalized.

Inside a file's transaction nothing is registered with DuckDB and no temp
table is created: DuckDB keeps both alive until the transaction ends (so a
rollback can restore them), which made memory grow with the file. The Arrow
tables the SQL reads are handed to :func:`ingest.arrow_sql.arrow_sql` by
name (``FROM {values}``) and freed chunk by chunk.
"""

from __future__ import annotations

import socket
import subprocess
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import partial
from multiprocessing.connection import Connection
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc

from graph.warehouse_schema import (
    DIRTY_IPS_TABLE,
    EVENTS_TABLE,
    INTEL_TABLE,
    IP_LOOKUP_TABLE,
    LAKE_FIXES_TABLE,
    UA_LOOKUP_TABLE,
)
from ingest.arrow_sql import arrow_sql
from ingest.enrich import (
    IntelIndex,
    IntelRecord,
    classify_phones,
    enrich_ips,
    parse_network,
    parse_user_agents,
)
from ingest.free_text import masked_name
from ingest.pseudonymize import BLOCK_DIGITS, hmac_hex_array, normalize_e164_array
from ingest.validate import ColumnCheck

__all__ = ["CachedFacts", "Lookups", "PHONE_COLD_SPLIT_MIN", "PHONE_SPLIT_MIN", "PhoneHelper", "UA_FACTS",
           "ip_facts", "phone_facts"]


def _distinct(column: pa.Array | pa.ChunkedArray) -> tuple[pa.Array, pa.Array]:
    """The distinct values of a column and, for each row, the index of its value.

    The lookups run once per distinct value; ``take`` with the indices
    spreads their answers back over the rows without a join.
    """
    if isinstance(column, pa.ChunkedArray):
        column = column.combine_chunks()
    if not (pa.types.is_string(column.type) or pa.types.is_large_string(column.type)):
        column = column.cast(pa.string())
    encoded = pc.dictionary_encode(column)
    return encoded.dictionary, encoded.indices


def _aligned(cur, values: pa.Array, sql: str) -> pa.Table:
    """Run ``sql`` (reading ``{values}``: ``i``, ``raw``) and return its rows in the order of ``values``."""
    numbered = pa.table({"i": pa.array(range(len(values)), pa.int64()), "raw": values})
    return arrow_sql(cur, f"SELECT * EXCLUDE (i) FROM ({sql}) ORDER BY i", values=numbered)


# --------------------------------------------------------------------------
# Cached in the workspace: IP addresses and user agents
# --------------------------------------------------------------------------


@dataclass(frozen=True)
class CachedFacts:
    """Facts of one kind, computed once per distinct raw value and kept in a workspace table.

    ``compute`` turns the raw values the table does not hold yet into its
    rows (``raw`` and every column); a chunk gets ``fields`` of each value
    (NULLs for a NULL value).
    """

    table: str
    fields: tuple[str, ...]
    compute: Callable[[list[str]], pa.Table]

    def __call__(self, cur, values: pa.Array) -> pa.Table:
        """``fields`` of each of ``values`` (distinct), in their order; new values are computed and kept."""
        new = arrow_sql(
            cur, f"SELECT c.raw FROM {{candidates}} c ANTI JOIN {self.table} l ON l.raw = c.raw WHERE c.raw IS NOT NULL",
            candidates=pa.table({"raw": values}),
        ).column("raw").to_pylist()
        if new:
            arrow_sql(cur, f"INSERT INTO {self.table} BY NAME SELECT * FROM {{new_rows}}", new_rows=self.compute(new))
        fields = ", ".join(f"l.{name}" for name in self.fields)
        return _aligned(cur, values, f"SELECT v.i, {fields} FROM {{values}} v LEFT JOIN {self.table} l ON l.raw = v.raw")


def _ip_rows(raws: Sequence[str], intel: IntelIndex | None) -> pa.Table:
    """:func:`~ingest.enrich.enrich_ips` of the addresses as ``ip_lookup`` rows."""
    return enrich_ips(raws, intel).rename_columns(
        ["raw", "valid", "value", "version", "prefix", "country", "country_source", "asn",
         "as_org", "asn_source", "kind", "kind_source"]
    ).drop(["valid"])


def ip_facts(intel: IntelIndex | None) -> CachedFacts:
    """``value`` (the address, compressed; NULL when invalid), ``prefix``, ``country``, ``asn``, ``kind``.

    ``intel`` is the workspace's ``ip_intel`` as it stands: what it says
    wins over the offline sources.
    """
    return CachedFacts(IP_LOOKUP_TABLE, ("value", "prefix", "country", "asn", "kind"),
                       partial(_ip_rows, intel=intel))


def _ua_rows(raws: Sequence[str]) -> pa.Table:
    """:func:`~ingest.enrich.parse_user_agents` of the user agents as ``ua_lookup`` rows."""
    return parse_user_agents(raws).rename_columns(
        ["raw", "user_agent_family", "app_version", "os_family", "device_family"]
    )


#: family, version, OS and device of each user agent
UA_FACTS = CachedFacts(UA_LOOKUP_TABLE, ("user_agent_family", "app_version", "os_family", "device_family"),
                       _ua_rows)


# --------------------------------------------------------------------------
# Not cached: networks and phone numbers
# --------------------------------------------------------------------------


def _network_facts(values: pa.Array) -> pa.Table:
    """Each ``ip_intel.network`` value as a normalized CIDR block (NULL when it is none)."""
    out = []
    for raw in values.to_pylist():
        try:
            out.append(str(parse_network(raw)) if raw is not None and raw.strip() else None)
        except ValueError:
            out.append(None)
    return pa.table({"value": pa.array(out, pa.string())})


def phone_facts(values: pa.Array, secret: bytes) -> pa.Table:
    """Pseudonyms and facts of each distinct phone value.

    ``value`` is the keyed hash when the value can be a phone number (else
    NULL: quarantined as ``invalid phone``); ``block_hash`` is computed once
    per distinct block. The raw numbers exist only in this process's Arrow
    memory: they are hashed here, in Python, and never handed to DuckDB, so
    not even a spill file of the database can hold one.
    """
    e164 = normalize_e164_array(values)
    facts = classify_phones(e164.fill_null(""))
    valid = pc.and_(facts.column("possible"), pc.is_valid(facts.column("calling_code"))).combine_chunks()
    e164 = pc.if_else(valid, e164, pa.scalar(None, pa.string()))
    blocks = pc.dictionary_encode(pc.utf8_slice_codeunits(e164, 0, -BLOCK_DIGITS))
    none = pa.nulls(len(values))
    return pa.table({
        "value": hmac_hex_array(secret, e164),
        "block_hash": hmac_hex_array(secret, blocks.dictionary).take(blocks.indices),
        "block_ordinal": pc.cast(pc.utf8_slice_codeunits(e164, -BLOCK_DIGITS), pa.int16()),
        "calling_code": pc.if_else(valid, facts.column("calling_code"), none.cast(pa.int16())),
        "region": pc.if_else(valid, facts.column("region"), none.cast(pa.string())),
        "number_type": pc.if_else(valid, facts.column("number_type"), none.cast(pa.string())),
    })


#: distinct phone values from which a lookup is split with the helper process (fewer: not worth a round trip)
PHONE_SPLIT_MIN = 50_000
#: numbers a run looks up (its lookups so far, this one included) before the helper is started: a fresh
#: interpreter importing phonenumbers takes about 0.7 s, what this process spends on about 200,000
#: numbers (80,000 took 0.25 s alone, 0.92 s split with a helper started for them), so a run pays for
#: the start once about 400,000 are to be shared
PHONE_COLD_SPLIT_MIN = 400_000


def _serve(fd: int) -> None:
    """The helper process: :func:`phone_facts` of whatever arrives on ``fd``, until the ingest hangs up."""
    conn = Connection(fd)
    while True:
        try:
            values, secret = conn.recv()
        except EOFError:  # the ingest finished, or died: nothing left to do
            return
        try:
            conn.send(phone_facts(values, secret))
        except Exception as exc:  # noqa: BLE001 - handed back to the ingest, which raises it
            conn.send(exc)


class PhoneHelper:
    """A second process that computes half of each large phone lookup while this one does the other half.

    Hashing and classifying numbers is single-threaded Python and numpy,
    and DuckDB is idle meanwhile: one core of two did nothing. The helper
    is a fresh interpreter (not a fork: DuckDB's threads; not
    ``multiprocessing``'s spawn, which re-imports the caller's main script)
    started once a run has looked up enough numbers to pay for its start
    (:data:`PHONE_COLD_SPLIT_MIN`), holding only its end of a socket pair: it exits
    when the ingest hangs up or dies. Raw numbers cross the socket in
    memory only, like the Arrow memory they come from.
    """

    def __init__(self) -> None:
        self._conn: Connection | None = None
        self._process: subprocess.Popen | None = None
        self._seen = 0  # numbers looked up through this helper, split or not

    def _start(self) -> Connection:
        if self._conn is None:
            mine, theirs = socket.socketpair()
            with theirs:
                self._process = subprocess.Popen(
                    [sys.executable, "-c",
                     f"from ingest.lookups import _serve; _serve({theirs.fileno()})"],
                    pass_fds=(theirs.fileno(),), cwd=Path(__file__).resolve().parent.parent,
                )
            self._conn = Connection(mine.detach())
        return self._conn

    def phone_facts(self, values: pa.Array, secret: bytes) -> pa.Table:
        """:func:`phone_facts` of ``values``, the second half computed by the helper."""
        self._seen += len(values)
        if len(values) < PHONE_SPLIT_MIN or (self._conn is None and self._seen < PHONE_COLD_SPLIT_MIN):
            return phone_facts(values, secret)
        conn = self._start()
        half = len(values) // 2
        # a compact copy: a slice would carry (and pickle) the whole buffer
        conn.send((pa.concat_arrays([values.slice(half)]), secret))
        try:
            first = phone_facts(values.slice(0, half), secret)
        finally:  # the helper's answer is taken even when this half failed: the next call must not get it
            second = conn.recv()
        if isinstance(second, Exception):
            raise second
        return pa.concat_tables([first, second])

    def close(self) -> None:
        """Hang up and wait for the helper to finish."""
        if self._conn is not None:
            self._conn.close()
            try:
                self._process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()
            self._conn = self._process = None


# --------------------------------------------------------------------------
# A run's lookups
# --------------------------------------------------------------------------


class Lookups:
    """Every lookup of one ingest, on its cursor: :meth:`add_to` a chunk, :meth:`close` at the end.

    Holds the workspace's ``ip_intel`` (re-read by :meth:`refresh_ips` when
    an ``ip_intel`` file loads), the workspace secret phone facts are keyed
    with, and the phone helper process. ``keep_fixes``: the events live in a
    Spark lake, whose files :meth:`refresh_ips` cannot update in the
    transaction; it records the fixes for the lake to take in
    (:meth:`ingest.lake.EventLake.apply_fixes`).
    """

    def __init__(self, cur, secret: bytes, *, keep_fixes: bool = False):
        self.cur = cur
        self.secret = secret
        self.keep_fixes = keep_fixes
        self.phones = PhoneHelper()
        self._read_intel()

    def _read_intel(self) -> None:
        rows = self.cur.execute(
            f"SELECT network, country, asn, as_org, kind FROM {INTEL_TABLE} ORDER BY batch_id, pos"
        ).fetchall()
        self.intel = IntelIndex(IntelRecord(*row) for row in rows) if rows else None
        self._ip_facts = ip_facts(self.intel)

    def add_to(self, table: str, data: pa.Table, checks: Sequence[ColumnCheck]) -> pa.Table:
        """The chunk with each lookup's answers added as ``_j_<column>_<field>`` columns.

        ``checks`` (:func:`ingest.validate.column_checks`) name the columns
        to look up and their prefix; a request's user agent is looked up by
        its masked text (the lookup table keeps no phone number either), a
        label's id as an address or a number when its entity says so.
        """
        added: dict[str, pa.Array] = {}

        def spread(prefix: str, column, facts) -> None:
            values, indices = _distinct(column)
            looked = facts(values)
            for name in looked.column_names:
                added[f"{prefix}_{name}"] = looked.column(name).take(indices)

        kinds = {
            "ip": partial(self._ip_facts, self.cur),
            "phone": partial(self.phones.phone_facts, secret=self.secret),
            "network": _network_facts,
        }
        for check in checks:
            if check.join_alias is None:
                continue
            name = check.column.name
            column = data.column(name) if name in data.column_names else pa.nulls(data.num_rows, pa.string())
            spread(check.join_alias, column, kinds[check.column.kind])
        if table == "requests" and "user_agent" in data.column_names:
            spread("_j_user_agent", data.column(masked_name("user_agent")), partial(UA_FACTS, self.cur))
        if table == "labels":
            entity = pc.utf8_lower(pc.utf8_trim_whitespace(data.column("entity").cast(pa.string())))
            ids = data.column("id").cast(pa.string())
            for kind in ("ip", "phone"):
                spread(f"_j_id_{kind}", pc.if_else(pc.equal(entity, kind), ids, pa.scalar(None, pa.string())),
                       kinds[kind])
        for name, column in added.items():
            data = data.append_column(name, column)
        return data

    def refresh_ips(self, batch_id: str) -> None:
        """Re-enrich every address seen before with the new ``ip_intel``, fixing events and nodes.

        Events keep a country or ASN that came with the request itself: only
        values equal to the old enrichment are replaced. The addresses that
        changed are marked for the graph sync under ``batch_id``.
        """
        cur = self.cur
        self._read_intel()
        cached = cur.sql(f"SELECT raw FROM {IP_LOOKUP_TABLE} WHERE value IS NOT NULL").to_arrow_table()
        if cached.num_rows == 0:
            return
        changed = arrow_sql(
            cur,
            "SELECT f.*, o.country AS old_country, o.asn AS old_asn FROM {fresh} f JOIN "
            f"{IP_LOOKUP_TABLE} o USING (raw) WHERE (f.country, f.asn, f.as_org, f.kind, f.country_source, "
            "f.asn_source, f.kind_source) IS DISTINCT FROM (o.country, o.asn, o.as_org, o.kind, "
            "o.country_source, o.asn_source, o.kind_source)",
            fresh=_ip_rows(cached.column("raw").to_pylist(), self.intel),
        )
        if changed.num_rows == 0:
            return
        arrow_sql(
            cur,
            f"UPDATE {IP_LOOKUP_TABLE} SET country = c.country, country_source = c.country_source, "
            "asn = c.asn, as_org = c.as_org, asn_source = c.asn_source, kind = c.kind, "
            f"kind_source = c.kind_source FROM {{changed}} c WHERE {IP_LOOKUP_TABLE}.raw = c.raw",
            changed=changed,
        )
        arrow_sql(
            cur,
            f"UPDATE {EVENTS_TABLE} SET "
            "ip_country = CASE WHEN ip_country IS NOT DISTINCT FROM c.old_country THEN c.country ELSE ip_country END, "
            "ip_asn = CASE WHEN ip_asn IS NOT DISTINCT FROM c.old_asn THEN c.asn ELSE ip_asn END, "
            "ip_kind = c.kind "
            f"FROM {{changed}} c WHERE {EVENTS_TABLE}.ip = c.value",
            changed=changed,
        )
        arrow_sql(cur, f"INSERT INTO {DIRTY_IPS_TABLE} SELECT DISTINCT value, $batch FROM {{changed}}",
                  {"batch": batch_id}, changed=changed)
        if self.keep_fixes:
            arrow_sql(cur, f"INSERT INTO {LAKE_FIXES_TABLE} SELECT (SELECT coalesce(max(seq), 0) + 1 FROM "
                      f"{LAKE_FIXES_TABLE}), $batch, value, old_country, country, old_asn, asn, kind "
                      "FROM (SELECT DISTINCT ON (value) * FROM {changed} ORDER BY value, raw)",
                      {"batch": batch_id}, changed=changed)

    def close(self) -> None:
        """End the phone helper process."""
        self.phones.close()
