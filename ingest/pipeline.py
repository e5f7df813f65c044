"""Ingest orchestration: case files in, events and graph out, every row accounted for.

One call, :func:`ingest`, does the whole job:

1. **Preflight**: every file's header is read and checked before anything is
   loaded, so a missing required column stops the run with nothing half done.
2. **Load**, table by table (``ip_intel`` first: it enriches the requests),
   file by file. A file is read in chunks of about half a million rows;
   Python looks every *distinct* IP address, user agent and phone number
   of the chunk up once (enrichment, pseudonymization) and spreads the
   answers over the rows by dictionary index; one DuckDB statement then
   checks, normalizes and hashes the whole chunk column-wise. Bad rows go
   to the quarantine, good rows straight into their table. At the end of
   the file, exact duplicates within it (and rows another file of this run
   already brought) are quarantined, rows an earlier run loaded are counted
   as already loaded, and both are taken out again. The file's rows,
   quarantine and bookkeeping row commit in **one transaction**:
   ``ingest_batches`` then says ``events_loaded``.
3. **Sync**: the graph aggregates of everything touched by batches not yet
   synced are recomputed from the full event table (:mod:`ingest.aggregate`)
   and upserted with replace semantics; then the batches say
   ``graph_synced``.

Idempotent and resumable: a file already loaded (same table, same sha256)
is skipped; a run killed after step 2 finds batches that are loaded but not
synced and syncs them; a run killed inside step 2 rolled that file back and
loads it again. Re-running changes nothing. A gzip file that breaks off
keeps the rows before the break (its batch says ``truncated`` and the
command fails naming it); ingesting it again loads it again whole.
"""

from __future__ import annotations

import hashlib
import json
import os
import resource
import time
from collections.abc import Iterable, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime

import numpy as np
import pyarrow as pa

from graph import warehouse
from graph.errors import SybilscopeError
from graph.store.base import GraphStore
from graph.warehouse_schema import (
    ACCOUNTS_TABLE,
    BATCHES_TABLE,
    DIRTY_IPS_TABLE,
    EVENTS_TABLE,
    INTEL_TABLE,
    LABELS_TABLE,
    SOURCES_TABLE,
    ensure_tables,
)
from graph.workspace import Workspace
from ingest import aggregate, quarantine
from ingest.dedup import DuplicateIndex
from ingest.enrich import data_sources
from ingest.free_text import FREE_TEXT, IDENTIFIERS, masked_column, masked_name
from ingest.lookups import Lookups
from ingest.pseudonymize import mask_phone_sql
from ingest.readers import (
    TABLES,
    Chunk,
    ExactReadNeeded,
    Header,
    InputError,
    SourceFile,
    TruncatedInput,
    iter_chunks,
    read_header,
)
from ingest.validate import (
    BLANKS_SQL,
    REASONS,
    SPECS,
    check_header,
    column_checks,
    longest_values,
    padded_columns,
    prepare_session,
    quote,
    reason_sql,
    too_large_sql,
    xml_forbidden,
)

__all__ = [
    "IngestSummary",
    "TableSummary",
    "Progress",
    "ingest",
    "CRASH_ENV",
    "BATCHES_TABLE",
]

#: fault injection for the kill-and-resume test: ``events_loaded`` makes the
#: process exit abruptly right after the first file's events commit
CRASH_ENV = "SYBILSCOPE_INGEST_CRASH_AT"

# Column names an unknown accounts column must not have to be kept in
# ``extra``: whatever it holds could be a raw phone number.
_PHONE_LIKE = ("phone", "msisdn", "mobile", "tel")
_KNOWN_PHONE_SAFE = {"phone_country", "discoverable_by_phone"}
_CLIP = 1_000
#: rows validated in one SQL pass (readers hand over ~100k-row blocks; fewer, larger passes are faster)
CHUNK_TARGET_ROWS = 500_000


# --------------------------------------------------------------------------
# Results
# --------------------------------------------------------------------------


@dataclass
class TableSummary:
    """What happened to one table's rows in one run."""

    files: int = 0
    files_skipped: int = 0
    read: int = 0
    loaded: int = 0
    quarantined: int = 0
    already_loaded: int = 0
    quarantined_by_reason: dict[str, int] = field(default_factory=dict)
    ignored_columns: list[str] = field(default_factory=list)
    #: per column, values loaded that hold characters XML 1.0 forbids (NUL, other controls)
    forbidden_characters: dict[str, int] = field(default_factory=dict)


@dataclass
class IngestSummary:
    """The outcome of :func:`ingest`, as the CLI prints it and ``--json`` emits it."""

    tables: dict[str, TableSummary]
    graph: dict[str, int] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    seconds: float = 0.0
    quarantine_file: str | None = None
    sources: list[dict] = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=dict)
    peak_memory: dict[str, float] = field(default_factory=dict)

    @property
    def rows_read(self) -> int:
        return sum(t.read for t in self.tables.values())

    @property
    def quarantined(self) -> int:
        return sum(t.quarantined for t in self.tables.values())

    def to_dict(self) -> dict:
        """Plain data for ``--json`` (CONTRACT section 5: ``tables`` with read/loaded/quarantined)."""
        return {
            "tables": {name: asdict(t) for name, t in self.tables.items()},
            "graph": dict(self.graph),
            "errors": list(self.errors),
            "warnings": list(self.warnings),
            "seconds": round(self.seconds, 3),
            "rows_per_second": round(self.rows_read / self.seconds) if self.seconds else None,
            "quarantine_file": self.quarantine_file,
            "sources": self.sources,
            "timings": dict(self.timings),
            "peak_memory_gb_by_phase": dict(self.peak_memory),
        }


class Progress:
    """Where :func:`ingest` reports progress; the default reports nowhere.

    The CLI passes one that drives a rich progress bar; scripts and tests
    use this silent one.
    """

    def file_started(self, source: SourceFile, size: int) -> None:
        """A file begins loading (``size`` in bytes on disk)."""

    def rows(self, count: int) -> None:
        """``count`` more rows were read."""

    def file_done(self, source: SourceFile) -> None:
        """The file's events are committed."""

    def phase(self, name: str) -> None:
        """A named step without rows (e.g. ``graph sync``) begins."""


# --------------------------------------------------------------------------
# Workspace tables (defined in graph.warehouse_schema)
# --------------------------------------------------------------------------


def _record_sources(cur) -> list[dict]:
    now = datetime.now(UTC)
    sources = [dict(s) for s in data_sources()]
    for source in sources:
        cur.execute(
            f"INSERT OR REPLACE INTO {SOURCES_TABLE} VALUES (?, ?, ?, ?, ?, ?)",
            [source["name"], source["version"], source["licence"], source["used_for"],
             source["detail"], now],
        )
    return sources


# --------------------------------------------------------------------------
# One chunk
# --------------------------------------------------------------------------


def _clip_sql(expr: str) -> str:
    return f"CASE WHEN length({expr}) > {_CLIP} THEN left({expr}, {_CLIP}) || '...' ELSE {expr} END"


def _record_sql(table: str, columns: Sequence[str]) -> str:
    """JSON text of a chunk row as it came, phone fields and numbers in free text masked, long fields clipped."""
    parts = []
    for name in columns:
        shown = masked_name(name) if name in FREE_TEXT.get(table, ()) else name
        value = f"c.{quote(shown)}::VARCHAR"
        if name in quarantine.PHONE_FIELDS.get(table, ()):
            masked = mask_phone_sql(value)
            if table == "labels":
                masked = (f"CASE WHEN lower(trim(c.entity::VARCHAR)) = 'phone' "
                          f"THEN {masked} ELSE {value} END") if "entity" in columns else masked
            value = masked
        parts.append(f"'{name.replace(chr(39), chr(39) * 2)}', {_clip_sql(value)}")
    return f"json_object({', '.join(parts)})::VARCHAR" if parts else "'{}'"


def _row_hash_sql(exprs: Sequence[str]) -> str:
    """The row's 128-bit content hash as two 64-bit halves, ``_h1`` and ``_h2``.

    Two DuckDB hashes (one salted) of the normalized values, NULLs included
    by position. Several times cheaper than ``md5`` of a concatenation,
    which matters at tens of millions of rows. It is not a security boundary
    (phone numbers enter only as keyed hashes). DuckDB keeps its hash stable
    within a storage version; re-ingesting a *file* is recognized by its
    sha256 in any case. :data:`_KEY_SQL` turns the halves into the id text.
    """
    values = ", ".join(exprs)
    return f"hash({values}) AS _h1, hash({values}, 'sybilscope-row') AS _h2"


_KEY_SQL = "to_hex((_h1::UHUGEINT << 64) + _h2)"


@dataclass
class _FileRun:
    """Counters of one file's load."""

    read: int = 0
    quarantined: int = 0
    inserted: int = 0
    existing: int = 0
    #: per column, values holding characters XML 1.0 forbids: [count, first position]
    forbidden: dict[str, list[int]] = field(default_factory=dict)


class _Loader:
    """Loads one table's files; ``cur`` is the ingest cursor (UTC session)."""

    def __init__(self, cur, workspace: Workspace, run_batches: list[str]):
        self.timings: dict[str, float] = {}
        self.peak_memory: dict[str, float] = {}
        self.cur = cur
        self.workspace = workspace
        self.secret = workspace.secret()
        self.run_batches = run_batches
        self.lookups = Lookups(cur, self.secret)
        self.file_ids = DuplicateIndex()
        self.table_files: list[SourceFile] = []
        self.file_no = 0
        self.earlier_runs = False

    @contextmanager
    def timed(self, phase: str):
        """Add the block's wall time to ``timings[phase]`` (the summary shows where time goes)."""
        started = time.perf_counter()
        try:
            yield
        finally:
            self.timings[phase] = self.timings.get(phase, 0.0) + time.perf_counter() - started
            peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20  # KiB -> GiB (Linux)
            if peak > self.peak_memory.get("_seen", 0.0):
                self.peak_memory[phase] = round(peak, 2)
                self.peak_memory["_seen"] = peak

    def _timed_chunks(self, chunks):
        iterator = iter(chunks)
        while True:
            with self.timed("read"):
                chunk = next(iterator, None)
            if chunk is None:
                return
            yield chunk

    # -- chunk ---------------------------------------------------------------
    def chunk(self, source: SourceFile, batch_id: str, chunk: Chunk, unknown: Sequence[str],
              counters: _FileRun) -> None:
        cur = self.cur
        counters.read += chunk.rows_read
        counters.quarantined += quarantine.add_problems(cur, batch_id, source, chunk.problems)
        if chunk.data.num_rows == 0:
            return
        kept = [n for n in chunk.data.column_names
                if n in SPECS[source.table].names or (source.table == "accounts" and n in unknown)]
        for name, rows in xml_forbidden(chunk.data.select(kept)).items():
            counters.forbidden.setdefault(name, [0, int(chunk.positions[rows[0]])])[0] += len(rows)
        data = chunk.data.append_column("_pos", pa.array(chunk.positions, pa.int64()))
        self._chunk_sql(source, batch_id, data, unknown, counters)

    def _masked_text(self, table: str, data: pa.Table) -> pa.Table:
        """Add each free-text column with phone numbers masked (:mod:`ingest.free_text`) as ``_m_<name>``."""
        for name in FREE_TEXT.get(table, ()):
            if name in data.column_names:
                secret = self.secret if name in IDENTIFIERS else None
                data = data.append_column(masked_name(name), masked_column(data.column(name), secret))
        return data

    def _chunk_sql(self, source, batch_id, data: pa.Table, unknown, counters: _FileRun) -> None:
        """Look values up, check and stage one chunk (see the module docstring)."""
        cur = self.cur
        table = source.table
        present = {name: data.schema.field(name).type for name in data.column_names if name != "_pos"}
        checks = column_checks(table, present, padded_columns(data))
        with self.timed("lookups (IP, user agent, phone: per distinct value)"):
            data = self._masked_text(table, data)
            data = self.lookups.add_to(table, data, checks)
        extra_select = [
            f"NULLIF(trim(c.{quote(masked_name(n))}::VARCHAR, {BLANKS_SQL}), '') AS {quote('m_' + n)}"
            if n in present else f"NULL::VARCHAR AS {quote('m_' + n)}"
            for n in FREE_TEXT.get(table, ())
        ]
        if table == "requests":
            looked = set(data.column_names)
            extra_select += [
                f'{"c." + quote(n) if n in looked else "NULL"} AS {quote(alias)}'
                for n, alias in (
                    ("_j_ip_prefix", "e_prefix"), ("_j_ip_country", "e_country"), ("_j_ip_asn", "e_asn"),
                    ("_j_ip_kind", "e_kind"), ("_j_user_agent_user_agent_family", "user_agent_family"),
                    ("_j_user_agent_app_version", "app_version"), ("_j_user_agent_os_family", "os_family"),
                    ("_j_user_agent_device_family", "device_family"), ("_j_phone_value", "phone_hash"),
                    ("_j_phone_block_hash", "block_hash"), ("_j_phone_block_ordinal", "block_ordinal"),
                    ("_j_phone_calling_code", "calling_code"), ("_j_phone_region", "region"),
                    ("_j_phone_number_type", "number_type"),
                )
            ]
        if table == "labels":
            extra_select.append(self._entity_key_sql(checks))
        if table == "accounts":
            extra_select.append(self._extra_sql(unknown) + " AS extra")
        large = too_large_sql(list(present), present, longest_values(data))
        selects = ["c._pos"]
        for check in checks:
            selects.append(f"{check.raw} AS {check.raw_name}")
            selects.append(f"{check.value} AS {check.value_name}")
        if large is not None:
            selects.append(f"{large} AS _large")
        selects += extra_select
        reason, column = reason_sql(checks, "_large" if large is not None else None)
        if table == "labels":
            reason, column = self._label_reason(reason, column)
        key = self._KEY.get(table, "row_hash")
        extra_key = f", 'lbl-' || {_KEY_SQL} AS label_id" if table == "labels" else ""
        with self.timed("checks (SQL)"):
            _chunk = data  # noqa: F841 - read by SQL
            # one pass: checks, reasons and the table's columns (content hash included)
            rows = cur.sql(
                f"SELECT *, {_KEY_SQL} AS {key}{extra_key} FROM ("
                f"SELECT {self._stage_select(table)}, _reason, _column "
                f"FROM (SELECT *, {reason} AS _reason, {column} AS _column "
                f"FROM (SELECT {', '.join(selects)} FROM _chunk c)))"
            ).to_arrow_table()
            params = {"batch": batch_id, "table": table, "file": str(source.path),
                      "pos_name": source.position_name}
            # usually every row is good: then the join with the whole chunk is not worth running
            if rows.column("_reason").null_count < rows.num_rows:
                record = _record_sql(table, list(present))
                bad = cur.execute(
                    f"INSERT INTO {quarantine.QUARANTINE_TABLE} SELECT $batch, $table, $file, $pos_name, "
                    f"r._pos, r._column, r._reason, {record} FROM rows r JOIN _chunk c USING (_pos) "
                    "WHERE r._reason IS NOT NULL", params,
                ).fetchall()[0][0]
                counters.quarantined += int(bad)
        with self.timed("de-duplicate"):
            keep = self._keep(table, batch_id, rows, counters, params)
            rows = rows.append_column("_keep", pa.array(keep))  # noqa: F841 - read by SQL
        with self.timed("insert"):
            position = self._POSITION.get(table, "pos")
            inserted = cur.execute(
                f"INSERT INTO {self._TARGET[table]} BY NAME SELECT * EXCLUDE "
                f"(_reason, _column, _pos, _h1, _h2, _keep), _pos AS {position}, $batch AS batch_id "
                "FROM rows WHERE _keep",
                {"batch": batch_id},
            ).fetchall()[0][0]
            counters.inserted += int(inserted)

    def _keep(self, table: str, batch_id: str, rows: pa.Table, counters: _FileRun, params: dict) -> np.ndarray:
        """Which rows of the chunk to insert: good ones that are not exact duplicates.

        A copy of an earlier row of the same file, or of a row another file
        of this table brought in this run, is quarantined as ``duplicate
        row``; a row an earlier run loaded is counted as already loaded.
        Neither is inserted.
        (Masks, not filtered copies: the chunk's columns are never copied.)
        """
        cur = self.cur
        keep = rows.column("_reason").is_null().to_numpy(zero_copy_only=False)
        good = np.flatnonzero(keep)
        positions = rows.column("_pos").to_numpy()[good]
        first, first_file = self.file_ids.duplicates(
            rows.column("_h1").to_numpy()[good], rows.column("_h2").to_numpy()[good], positions, self.file_no
        )
        repeated = first >= 0
        if repeated.any():
            files = [str(s.path) for s in self.table_files]
            names = [f"same_as_{s.position_name}" for s in self.table_files]
            dups = pa.table({  # noqa: F841 - read by SQL
                "pos": positions[repeated],
                "first_pos": first[repeated],
                "first_file": pa.array([files[i] for i in first_file[repeated]], pa.string()),
                "first_key": pa.array([names[i] for i in first_file[repeated]], pa.string()),
            })
            counters.quarantined += int(cur.execute(
                f"INSERT INTO {quarantine.QUARANTINE_TABLE} SELECT $batch, $table, $file, $pos_name, "
                f"pos, NULL, '{REASONS['duplicate']}', CASE WHEN first_file = $file "
                "THEN json_object(first_key, first_pos) "
                "ELSE json_object('same_as_row_of', first_file, first_key, first_pos) END::VARCHAR "
                "FROM dups", params,
            ).fetchall()[0][0])
            keep[good[repeated]] = False
        if self.earlier_runs:
            key = self._KEY.get(table, "row_hash")
            candidates = pa.table({  # noqa: F841 - read by SQL
                "pos": positions[~repeated],
                key: rows.column(key).take(pa.array(good[~repeated])),
            })
            seen = cur.sql(  # noqa: F841 - read by SQL
                f"SELECT DISTINCT c.pos FROM candidates c JOIN {self._TARGET[table]} t ON t.{key} = c.{key} "
                "WHERE NOT list_contains($run, t.batch_id)", params={"run": self.run_batches},
            ).to_arrow_table()
            if seen.num_rows:
                counters.existing += seen.num_rows
                keep[good[np.isin(positions, seen.column("pos").to_numpy())]] = False
        return keep

    @staticmethod
    def _entity_key_sql(checks) -> str:
        """A label's entity as the graph keys it: addresses normalized, phone numbers hashed."""
        id_raw = next(c.raw for c in checks if c.column.name == "id")
        entity_raw = next(c.raw for c in checks if c.column.name == "entity")
        return (
            f"CASE lower({entity_raw}) WHEN 'ip' THEN c._j_id_ip_value "
            f"WHEN 'phone' THEN CASE WHEN regexp_full_match(lower({id_raw}), '[0-9a-f]{{64}}') "
            f"THEN lower({id_raw}) ELSE c._j_id_phone_value END ELSE {id_raw} END AS entity_key"
        )

    @staticmethod
    def _label_reason(reason: str, column: str) -> tuple[str, str]:
        bad = '"v_entity" IN (\'ip\', \'phone\') AND "r_id" IS NOT NULL AND entity_key IS NULL'
        why = (f"CASE WHEN \"v_entity\" = 'ip' THEN '{REASONS['ip']}' "
               f"ELSE '{REASONS['phone']}' END")
        return (f"coalesce({reason}, CASE WHEN {bad} THEN {why} END)",
                f"coalesce({column}, CASE WHEN {bad} THEN 'id' END)")

    @staticmethod
    def _extra_sql(unknown: Sequence[str]) -> str:
        kept = [n for n in unknown if n.lower() in _KNOWN_PHONE_SAFE
                or not any(word in n.lower() for word in _PHONE_LIKE)]
        if not kept:
            return "NULL::VARCHAR"
        parts = ", ".join(f"'{n.replace(chr(39), chr(39) * 2)}', c.{quote(n)}" for n in kept)
        return f"json_object({parts})::VARCHAR"

    @staticmethod
    def _stage_select(table: str) -> str:
        v = {name: quote("v_" + name) for name in SPECS[table].names}
        if table == "requests":
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
        if table == "accounts":
            cols = SPECS[table].names
            row_hash = _row_hash_sql([v[n] for n in cols] + ["extra"])
            return ", ".join(["_pos", row_hash, "extra"]
                             + [f"{v[n]} AS {quote(n)}" for n in cols])
        if table == "ip_intel":
            cols = SPECS[table].names
            row_hash = _row_hash_sql([v[n] for n in cols])
            return ", ".join(["_pos", row_hash] + [f"{v[n]} AS {quote(n)}" for n in cols])
        # labels
        row_hash = _row_hash_sql([v["entity"], "entity_key", v["label"], v["actor"], v["source"], v["note"]])
        return ", ".join([
            "_pos", row_hash,
            f"{v['entity']} AS entity", "entity_key AS entity_id", "'label' AS kind",
            f"{v['label']} AS value", '"m_actor" AS actor', '"m_source" AS source', '"m_note" AS note',
        ])

    # -- file ------------------------------------------------------------------
    _TARGET = {"requests": EVENTS_TABLE, "accounts": ACCOUNTS_TABLE, "ip_intel": INTEL_TABLE,
               "labels": LABELS_TABLE}
    _KEY = {"requests": "event_id"}
    _POSITION = {"requests": "source_row"}

    def load_file(self, source: SourceFile, header: Header, batch_id: str, progress: Progress,
                  exact: bool) -> tuple[_FileRun, int, int, TruncatedInput | None]:
        """Check and insert one file inside the caller's transaction.

        Rows go straight into their table chunk by chunk (DuckDB writes
        large transactions to the database file as they grow, so memory
        stays flat), exact duplicates held back as they are found. Returns
        the counters, rows loaded, rows already in the workspace, and the
        truncation (if the file broke off) after keeping its rows.
        """
        cur = self.cur
        table = source.table
        # a file that broke off last time is loaded again whole
        cur.execute(f"DELETE FROM {self._TARGET[table]} WHERE batch_id = ?", [batch_id])
        if not self.table_files or self.table_files[0].table != table:
            self.file_ids, self.table_files = DuplicateIndex(), []
        if source not in self.table_files:
            self.table_files.append(source)
        self.file_no = self.table_files.index(source)
        self.file_ids.forget(self.file_no)
        # rows loaded by earlier runs are looked up in the table; this run's are in file_ids
        self.earlier_runs = bool(cur.execute(
            f"SELECT count(*) FROM (SELECT 1 FROM {self._TARGET[table]} "
            "WHERE NOT list_contains(?, batch_id) LIMIT 1)", [self.run_batches]
        ).fetchall()[0][0])
        unknown = [n for n in header.columns if n not in SPECS[table].names]
        counters = _FileRun()
        truncated = None
        pending: list[Chunk] = []
        try:
            for chunk in self._timed_chunks(iter_chunks(source, header, exact=exact)):
                pending.append(chunk)
                if sum(c.rows_read for c in pending) >= CHUNK_TARGET_ROWS:
                    self._flush(source, batch_id, pending, unknown, counters, progress)
        except TruncatedInput as exc:
            truncated = exc
        self._flush(source, batch_id, pending, unknown, counters, progress)
        return counters, counters.inserted, counters.existing, truncated

    def _flush(self, source, batch_id, pending: list[Chunk], unknown, counters, progress) -> None:
        """Process the chunks read so far as one: per-chunk SQL has a fixed cost worth spreading."""
        if not pending:
            return
        if len(pending) == 1:
            merged = pending[0]
        else:
            merged = Chunk(
                pa.concat_tables([c.data for c in pending], promote_options="default"),
                np.concatenate([c.positions for c in pending]),
                [p for c in pending for p in c.problems],
            )
        pending.clear()
        self.chunk(source, batch_id, merged, unknown, counters)
        progress.rows(merged.rows_read)


# --------------------------------------------------------------------------
# The run
# --------------------------------------------------------------------------


def _forbidden_warning(source: SourceFile, forbidden: dict[str, list[int]]) -> str:
    """One line naming the file, its columns whose values hold characters XML 1.0 forbids, and where."""
    count = sum(c for c, _ in forbidden.values())
    name, (_, first) = min(forbidden.items(), key=lambda item: item[1][1])
    columns = ", ".join(f"{n} ({c:,})" for n, (c, _) in sorted(forbidden.items()))
    return (f"{source}: {count:,} value(s) hold NUL or other control characters XML 1.0 forbids, "
            f"in {columns}; the first is {name} on {source.position_name} {first:,}. They are "
            "loaded as they are; GraphML and GEXF exports replace them")


def _sha256(path) -> str:
    with open(path, "rb") as handle:
        return hashlib.file_digest(handle, "sha256").hexdigest()


def _batch_id(table: str, sha: str) -> str:
    return f"{table}-{sha[:20]}"


def _crash_point(name: str) -> None:
    if os.environ.get(CRASH_ENV) == name:
        os._exit(99)


def ingest(
    workspace: Workspace,
    store: GraphStore,
    sources: Mapping[str, Sequence[SourceFile]],
    *,
    progress: Progress | None = None,
    ignored_files: Iterable[str] = (),
    memory_limit: str = "2GB",
    load_memory_limit: str = "1.5GB",
) -> IngestSummary:
    """Load case files into the workspace's events and graph store.

    Parameters
    ----------
    workspace : Workspace
        Where events, quarantine and bookkeeping live.
    store : GraphStore
        The workspace's graph store (embedded or Neo4j).
    sources : mapping of table name to files
        As :func:`ingest.readers.discover` returns them.
    progress : Progress, optional
        Receives rows read and phases (the CLI's progress bar).
    ignored_files : iterable of str
        Files of the case folder that belong to no table, reported as warnings.
    memory_limit : str
        DuckDB's memory limit for the graph sync (it spills to the
        workspace's temporary folder beyond it); the previous limit is
        restored after.
    load_memory_limit : str
        DuckDB's memory limit while files load. Lower, because the duplicate
        index (22 bytes a row loaded) grows in Python memory beside it: at
        36M rows, 2 GB here peaked at 4.07 GB with the phone helper, 1.5 GB
        at 3.56 GB.

    Returns
    -------
    IngestSummary
        Per table: files, rows read, loaded, quarantined (by reason), already
        loaded; graph counts; warnings; errors (a truncated file).

    Raises
    ------
    InputError
        Before loading anything, when a file cannot be used (missing
        required column, wrong delimiter, unreadable).
    """
    started = time.perf_counter()
    progress = progress or Progress()
    summary = IngestSummary(tables={name: TableSummary() for name in TABLES if sources.get(name)})
    summary.warnings += [f"{name}: not a file of any contract table; ignored" for name in ignored_files]
    if not sources.get("requests"):
        summary.warnings.append("no requests file: the case has no events (only reference tables)")

    headers: dict[SourceFile, Header] = {}
    for table in TABLES:
        for source in sources.get(table, ()):
            header = read_header(source)
            unknown = check_header(source, header)
            headers[source] = header
            if header.empty:
                summary.warnings.append(f"{source}: empty file (no header, no rows)")
            summary.tables[table].files += 1
            if unknown and table != "accounts":
                for name in unknown:
                    if name not in summary.tables[table].ignored_columns:
                        summary.tables[table].ignored_columns.append(name)

    cur = warehouse.connect(workspace.db_path)
    prepare_session(cur)
    # Row order inside a table means nothing here (positions are columns),
    # and keeping it serializes DuckDB's inserts.
    cur.execute("SET SESSION preserve_insertion_order = false")
    previous_limit = cur.execute("SELECT current_setting('memory_limit')").fetchall()[0][0]
    cur.execute(f"SET memory_limit = '{load_memory_limit}'")
    try:
        return _ingest(cur, workspace, store, sources, progress, summary, headers, started, memory_limit)
    finally:
        cur.execute(f"SET memory_limit = '{previous_limit}'")


def _ingest(cur, workspace, store, sources, progress, summary, headers, started, sync_memory_limit) -> IngestSummary:
    """The load and sync steps of :func:`ingest`, on its prepared cursor."""
    ensure_tables(cur)
    summary.sources = _record_sources(cur)
    run_batches: list[str] = []
    loader = _Loader(cur, workspace, run_batches)
    truncations: list[TruncatedInput] = []
    run_id = datetime.now(UTC).strftime("ingest-%Y%m%dT%H%M%S.%fZ")

    try:
        for table in TABLES:
            for source in sources.get(table, ()):
                tsum = summary.tables[table]
                header = headers[source]
                with loader.timed("file hash"):
                    sha = _sha256(source.path)
                batch_id = _batch_id(table, sha)
                status = cur.execute(
                    f"SELECT status FROM {BATCHES_TABLE} WHERE batch_id = ?", [batch_id]
                ).fetchall()
                if status and status[0][0] != "truncated":
                    tsum.files_skipped += 1
                    continue
                progress.file_started(source, source.path.stat().st_size)
                run_batches.append(batch_id)
                for exact in (False, True):
                    cur.execute("BEGIN TRANSACTION")
                    try:
                        # a file that broke off last time is read again whole: its
                        # rows already loaded are counted, its rejects written anew
                        cur.execute(f"DELETE FROM {quarantine.QUARANTINE_TABLE} WHERE batch_id = ?", [batch_id])
                        counters, loaded, existing, truncated = loader.load_file(
                            source, header, batch_id, progress, exact
                        )
                        if table == "ip_intel":
                            with loader.timed("ip_intel refresh"):
                                loader.lookups.refresh_ips(batch_id)
                        file_status = "truncated" if truncated else "events_loaded"
                        cur.execute(f"DELETE FROM {BATCHES_TABLE} WHERE batch_id = ?", [batch_id])
                        cur.execute(
                            f"INSERT INTO {BATCHES_TABLE} VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, NULL, ?)",
                            [batch_id, table, str(source.path), sha, source.path.stat().st_size,
                             file_status, counters.read, loaded, counters.quarantined, existing,
                             datetime.now(UTC), run_id],
                        )
                        with loader.timed("commit"):
                            cur.execute("COMMIT")
                    except ExactReadNeeded:
                        cur.execute("ROLLBACK")
                        continue
                    except BaseException:
                        cur.execute("ROLLBACK")
                        raise
                    break
                tsum.read += counters.read
                tsum.loaded += loaded
                tsum.quarantined += counters.quarantined
                tsum.already_loaded += existing
                if counters.forbidden:
                    summary.warnings.append(_forbidden_warning(source, counters.forbidden))
                    for name, (count, _) in sorted(counters.forbidden.items()):
                        tsum.forbidden_characters[name] = tsum.forbidden_characters.get(name, 0) + count
                if truncated is not None:
                    truncations.append(truncated)
                progress.file_done(source)
                _crash_point("events_loaded")
    finally:
        loader.lookups.close()

    # the duplicate index (tens of bytes a row loaded) is not needed any more: give
    # its memory back before the graph sync's large aggregates
    loader.file_ids, loader.table_files = DuplicateIndex(), []
    cur.execute(f"SET memory_limit = '{sync_memory_limit}'")
    progress.phase("graph sync")
    pending = [r[0] for r in cur.execute(
        f"SELECT batch_id FROM {BATCHES_TABLE} WHERE synced_at IS NULL ORDER BY loaded_at"
    ).fetchall()]
    if pending:
        with loader.timed("graph sync"):
            summary.graph = aggregate.sync_graph(cur, store, pending)
        cur.execute(
            f"UPDATE {BATCHES_TABLE} SET synced_at = $now, "
            "status = CASE WHEN status = 'truncated' THEN status ELSE 'graph_synced' END "
            "WHERE list_contains($ids, batch_id)",
            {"now": datetime.now(UTC), "ids": pending},
        )
        cur.execute(f"DELETE FROM {DIRTY_IPS_TABLE} WHERE list_contains($ids, batch_id)", {"ids": pending})

    for table, reasons in quarantine.counts_by_reason(cur, run_batches).items():
        summary.tables[table].quarantined_by_reason = reasons
    with loader.timed("quarantine file"):
        summary.quarantine_file = str(quarantine.export_jsonl(cur, workspace.quarantine_dir))
    # Write everything into the database file now, under the ingest's memory
    # limit: otherwise DuckDB does it when the process closes the database,
    # with whatever limit is in force then.
    with loader.timed("checkpoint"):
        cur.execute("CHECKPOINT")
    summary.errors += [str(t) for t in truncations]
    if summary.quarantined:
        summary.warnings.append(
            f"{summary.quarantined:,} row(s) quarantined: see {summary.quarantine_file}"
        )
    summary.seconds = time.perf_counter() - started
    summary.timings = {k: round(v, 3) for k, v in loader.timings.items()}
    summary.peak_memory = {k: v for k, v in loader.peak_memory.items() if k != "_seen"}
    return summary


def summary_json(summary: IngestSummary) -> str:
    """The summary as one JSON line (what ``ingest --json`` prints)."""
    return json.dumps(summary.to_dict(), default=str)


def fail_on(summary: IngestSummary) -> SybilscopeError | None:
    """The error a command should exit with after this summary, if any."""
    if summary.errors:
        return InputError("; ".join(summary.errors))
    return None


__all__ += ["summary_json", "fail_on"]

