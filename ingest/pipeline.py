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
   to the quarantine, good rows straight into their table. As rows
   arrive, exact duplicates within the file (and rows another file of
   this run already brought) are quarantined and rows an earlier run
   loaded are counted as already loaded; neither is inserted. The file's
   rows, quarantine and bookkeeping row commit in **one transaction**:
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

This module keeps the order of things; the rooms it calls on are
:mod:`ingest.readers` (files to chunks), :mod:`ingest.loader` (a chunk
into its table: :mod:`ingest.lookups`, :mod:`ingest.validate`,
:mod:`ingest.staging`, :mod:`ingest.quarantine`, :mod:`ingest.dedup`),
:mod:`ingest.batches` (the ledger), :mod:`ingest.aggregate` (the graph sync)
and :mod:`ingest.summary`.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime
from functools import partial

from graph import warehouse
from graph.store.base import GraphStore
from graph.warehouse_schema import BATCHES_TABLE, SOURCES_TABLE, ensure_tables
from graph.workspace import Workspace
from ingest import aggregate, batches, quarantine
from ingest.enrich import data_sources
from ingest.lake import EventLake
from ingest.loader import FileLoad, TableLoader
from ingest.lookups import Lookups
from ingest.readers import (
    TABLES,
    ExactReadNeeded,
    Header,
    SourceFile,
    TruncatedInput,
    read_header,
)
from ingest.summary import (
    IngestSummary,
    TableSummary,
    Timings,
    fail_on,
    summary_json,
)
from ingest.validate import check_header, prepare_session

__all__ = [
    "IngestSummary",
    "TableSummary",
    "Progress",
    "ingest",
    "CRASH_ENV",
    "BATCHES_TABLE",
    "summary_json",
    "fail_on",
]

#: fault injection for the kill-and-resume test: ``events_loaded`` makes the
#: process exit abruptly right after the first file's events commit
CRASH_ENV = "SYBILSCOPE_INGEST_CRASH_AT"
#: rows validated in one SQL pass (readers hand over ~100k-row blocks; fewer, larger passes are faster)
CHUNK_TARGET_ROWS = 500_000


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


def ingest(
    workspace: Workspace,
    store: GraphStore,
    sources: Mapping[str, Sequence[SourceFile]],
    *,
    progress: Progress | None = None,
    ignored_files: Iterable[str] = (),
    memory_limit: str = "2GB",
    load_memory_limit: str = "1.5GB",
    lake: EventLake | None = None,
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
    lake : EventLake, optional
        On the ``spark`` engine: the requests go to its day-partitioned
        Parquet, checked on Spark by the same loader (:mod:`ingest.lake`),
        and the graph sync's event aggregates run there.

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

    headers = _preflight(sources, summary)

    cur = warehouse.connect(workspace.db_path)
    prepare_session(cur)
    # Row order inside a table means nothing here (positions are columns),
    # and keeping it serializes DuckDB's inserts.
    cur.execute("SET SESSION preserve_insertion_order = false")
    previous_limit = cur.execute("SELECT current_setting('memory_limit')").fetchall()[0][0]
    cur.execute(f"SET memory_limit = '{load_memory_limit}'")
    try:
        return _load_and_sync(cur, workspace, store, sources, headers, progress, summary, started, memory_limit,
                              lake)
    finally:
        cur.execute(f"SET memory_limit = '{previous_limit}'")


def _preflight(sources: Mapping[str, Sequence[SourceFile]], summary: IngestSummary) -> dict[SourceFile, Header]:
    """Every file's header, checked (:class:`InputError` before anything loads); notes in ``summary``."""
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
    return headers


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


def _load_and_sync(cur, workspace: Workspace, store: GraphStore, sources: Mapping[str, Sequence[SourceFile]],
                   headers: Mapping[SourceFile, Header], progress: Progress, summary: IngestSummary,
                   started: float, sync_memory_limit: str, lake: EventLake | None) -> IngestSummary:
    """The load and sync steps of :func:`ingest`, on its prepared cursor."""
    ensure_tables(cur)
    summary.sources = _record_sources(cur)
    timings = Timings()
    run_batches: list[str] = []
    secret = workspace.secret()
    lookups = Lookups(cur, secret, keep_fixes=lake is not None)
    loader = TableLoader(cur, secret, lookups, timings, run_batches)
    truncations: list[str] = []
    run_id = datetime.now(UTC).strftime("ingest-%Y%m%dT%H%M%S.%fZ")
    try:
        for table in TABLES:
            if table == "requests" and lake is not None:
                break  # the last table: its files are checked together on Spark, below
            for source in sources.get(table, ()):
                loaded = _load_source(cur, loader, source, headers[source], run_id, progress)
                if loaded is None:
                    summary.tables[table].files_skipped += 1
                    continue
                file, truncated = loaded
                summary.add_file(file)
                if truncated is not None:
                    truncations.append(str(truncated))
                progress.file_done(source)
                _crash_point("events_loaded")
    finally:
        lookups.close()
    if lake is not None:
        # before new requests, enriched already with what the fixes bring, are added
        progress.phase("re-enriching the lake's events")
        with timings.timed("lake re-enrichment"):
            lake.apply_fixes(cur)
    if lake is not None and sources.get("requests"):
        progress.phase("requests on Spark")
        with timings.timed("requests on Spark"):
            loads, skipped = lake.load(cur, sources["requests"], run_id, run_batches)
        summary.tables["requests"].files_skipped += skipped
        for file, truncated in loads:
            summary.add_file(file)
            if truncated is not None:
                truncations.append(truncated)

    # the duplicate index is not needed any more: give its memory back before
    # the graph sync's large aggregates
    loader.release()
    cur.execute(f"SET memory_limit = '{sync_memory_limit}'")
    progress.phase("graph sync")
    _sync(cur, store, summary, timings, lake)

    for table, reasons in quarantine.counts_by_reason(cur, run_batches).items():
        summary.tables[table].quarantined_by_reason = reasons
    with timings.timed("quarantine file"):
        summary.quarantine_file = str(quarantine.export_jsonl(cur, workspace.quarantine_dir))
    # Write everything into the database file now, under the ingest's memory
    # limit: otherwise DuckDB does it when the process closes the database,
    # with whatever limit is in force then.
    with timings.timed("checkpoint"):
        cur.execute("CHECKPOINT")
    summary.errors += truncations
    if summary.quarantined:
        summary.warnings.append(
            f"{summary.quarantined:,} row(s) quarantined: see {summary.quarantine_file}"
        )
    summary.seconds = time.perf_counter() - started
    summary.timings = {k: round(v, 3) for k, v in timings.seconds.items()}
    summary.peak_memory = dict(timings.peak_memory)
    return summary


def _load_source(cur, loader: TableLoader, source: SourceFile, header: Header, run_id: str,
                 progress: Progress) -> tuple[FileLoad, TruncatedInput | None] | None:
    """Load one file in one transaction, again on the exact path when the fast one cannot place a row.

    ``None`` when the file was loaded before (same table, same sha256) and
    did not break off then: it is skipped.
    """
    with loader.timings.timed("file hash"):
        batch_id, sha = batches.batch_of(source)
    if not batches.needs_loading(cur, batch_id):
        return None
    progress.file_started(source, source.path.stat().st_size)
    loader.run_batches.append(batch_id)
    load = partial(_load_in_transaction, cur, loader, source, header, batch_id, sha, run_id, progress)
    try:
        return load(exact=False)
    except ExactReadNeeded:
        return load(exact=True)


def _load_in_transaction(cur, loader: TableLoader, source: SourceFile, header: Header, batch_id: str, sha: str,
                         run_id: str, progress: Progress, *, exact: bool) -> tuple[FileLoad, TruncatedInput | None]:
    """The file's rows, quarantine and ledger row, committed together or rolled back together."""
    cur.execute("BEGIN TRANSACTION")
    try:
        # a file that broke off last time is read again whole: its
        # rows already loaded are counted, its rejects written anew
        cur.execute(f"DELETE FROM {quarantine.QUARANTINE_TABLE} WHERE batch_id = ?", [batch_id])
        file, truncated = loader.load_file(source, header, batch_id, exact,
                                           chunk_rows=CHUNK_TARGET_ROWS, on_rows=progress.rows)
        if source.table == "ip_intel":
            with loader.timings.timed("ip_intel refresh"):
                loader.lookups.refresh_ips(batch_id)
        batches.record(cur, file, sha, truncated is not None, run_id)
        with loader.timings.timed("commit"):
            cur.execute("COMMIT")
    except BaseException:
        cur.execute("ROLLBACK")
        raise
    return file, truncated


def _sync(cur, store: GraphStore, summary: IngestSummary, timings: Timings, lake: EventLake | None) -> None:
    """Recompute the graph of every batch loaded but not yet synced, then mark them synced."""
    pending = batches.unsynced(cur)
    if pending:
        with timings.timed("graph sync"):
            events = lake.aggregates(cur) if lake is not None else None
            summary.graph = aggregate.sync_graph(cur, store, pending, events=events, timings=timings)
        batches.mark_synced(cur, pending)


def _crash_point(name: str) -> None:
    if os.environ.get(CRASH_ENV) == name:
        os._exit(99)
