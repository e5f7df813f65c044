"""Loading one table's files, chunk by chunk: lookups, checks, quarantine, duplicates, insert.

:class:`TableLoader` holds what outlives a file (the run's duplicate index
of the table being loaded, its files so far, the lookups); each file gets a
:class:`FileLoad` whose counters say what happened to its rows. A chunk
goes through one staging statement (:mod:`ingest.staging`); its bad rows
go to the quarantine, its good rows straight into their warehouse table,
inside the caller's transaction for the file (see :mod:`ingest.pipeline`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa

from ingest import quarantine
from ingest.arrow_sql import arrow_sql
from ingest.dedup import DuplicateIndex
from ingest.free_text import FREE_TEXT, IDENTIFIERS, masked_column, masked_name
from ingest.lookups import Lookups
from ingest.readers import Chunk, Header, SourceFile, TruncatedInput, iter_chunks
from ingest.staging import STAGING, staging_sql
from ingest.summary import Timings
from ingest.validate import (
    SPECS,
    column_checks,
    longest_values,
    padded_columns,
    too_large_sql,
    xml_forbidden,
)

__all__ = ["FileLoad", "TableLoader"]


@dataclass
class FileLoad:
    """One file being loaded: where its rows go and what happened to them so far."""

    source: SourceFile
    batch_id: str
    #: the file's columns outside the contract
    unknown: list[str]
    read: int = 0
    quarantined: int = 0
    inserted: int = 0
    existing: int = 0
    #: per column, values holding characters XML 1.0 forbids: [count, first position]
    forbidden: dict[str, list[int]] = field(default_factory=dict)


class TableLoader:
    """Loads the files of a run into their warehouse tables, a chunk at a time.

    ``cur`` is the ingest cursor (UTC session, in the file's transaction);
    ``run_batches`` the batches of this run so far (rows they loaded are
    duplicates, rows other batches loaded are already loaded).
    """

    def __init__(self, cur, secret: bytes, lookups: Lookups, timings: Timings, run_batches: list[str]):
        self.cur = cur
        self.secret = secret
        self.lookups = lookups
        self.timings = timings
        self.run_batches = run_batches
        self.file_ids = DuplicateIndex()
        self.table_files: list[SourceFile] = []
        self.file_no = 0
        self.earlier_runs = False

    def _start_file(self, source: SourceFile, header: Header, batch_id: str) -> FileLoad:
        """Make ready to load ``source`` (again, when a transaction of it was rolled back)."""
        cur = self.cur
        table = source.table
        target = STAGING[table].target
        # a file that broke off last time is loaded again whole
        cur.execute(f"DELETE FROM {target} WHERE batch_id = ?", [batch_id])
        if not self.table_files or self.table_files[0].table != table:
            self.file_ids, self.table_files = DuplicateIndex(), []
        if source not in self.table_files:
            self.table_files.append(source)
        self.file_no = self.table_files.index(source)
        self.file_ids.forget(self.file_no)
        # rows loaded by earlier runs are looked up in the table; this run's are in file_ids
        self.earlier_runs = bool(cur.execute(
            f"SELECT count(*) FROM (SELECT 1 FROM {target} "
            "WHERE NOT list_contains(?, batch_id) LIMIT 1)", [self.run_batches]
        ).fetchall()[0][0])
        return FileLoad(source, batch_id, [n for n in header.columns if n not in SPECS[table].names])

    def load_file(self, source: SourceFile, header: Header, batch_id: str, exact: bool, *, chunk_rows: int,
                  on_rows: Callable[[int], None]) -> tuple[FileLoad, TruncatedInput | None]:
        """Check and insert one file inside the caller's transaction.

        Rows go straight into their table about ``chunk_rows`` at a time
        (DuckDB writes large transactions to the database file as they
        grow, so memory stays flat), exact duplicates held back as they are
        found; ``on_rows`` hears of the rows read. Returns the file's load
        (its counters) and the truncation (if the file broke off) after
        keeping its rows. :class:`ExactReadNeeded` (from the fast path)
        leaves the caller to roll back and call again with ``exact``.
        """
        file = self._start_file(source, header, batch_id)
        truncated = None
        pending: list[Chunk] = []
        try:
            for chunk in self.timings.each("read", iter_chunks(source, header, exact=exact)):
                pending.append(chunk)
                if sum(c.rows_read for c in pending) >= chunk_rows:
                    self._flush(file, pending, on_rows)
        except TruncatedInput as exc:
            truncated = exc
        self._flush(file, pending, on_rows)
        return file, truncated

    def _flush(self, file: FileLoad, pending: list[Chunk], on_rows: Callable[[int], None]) -> None:
        """Load the chunks read so far as one: per-chunk SQL has a fixed cost worth spreading."""
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
        self.load_chunk(file, merged)
        on_rows(merged.rows_read)

    def release(self) -> None:
        """Give the duplicate index's memory back (tens of bytes a row loaded): the run's loading is done."""
        self.file_ids, self.table_files = DuplicateIndex(), []

    def load_chunk(self, file: FileLoad, chunk: Chunk) -> None:
        """Quarantine the chunk's unreadable rows, then check, stage and insert the others."""
        source = file.source
        file.read += chunk.rows_read
        file.quarantined += quarantine.add_problems(self.cur, file.batch_id, source, chunk.problems)
        if chunk.data.num_rows == 0:
            return
        kept = [n for n in chunk.data.column_names
                if n in SPECS[source.table].names or (source.table == "accounts" and n in file.unknown)]
        for name, rows in xml_forbidden(chunk.data.select(kept)).items():
            file.forbidden.setdefault(name, [0, int(chunk.positions[rows[0]])])[0] += len(rows)
        self._stage(file, chunk.data.append_column("_pos", pa.array(chunk.positions, pa.int64())))

    def _masked_text(self, table: str, data: pa.Table) -> pa.Table:
        """Add each free-text column with phone numbers masked (:mod:`ingest.free_text`) as ``_m_<name>``."""
        for name in FREE_TEXT.get(table, ()):
            if name in data.column_names:
                secret = self.secret if name in IDENTIFIERS else None
                data = data.append_column(masked_name(name), masked_column(data.column(name), secret))
        return data

    def _stage(self, file: FileLoad, data: pa.Table) -> None:
        """Look values up, check and stage one chunk, then insert its good rows."""
        cur = self.cur
        source = file.source
        table = source.table
        present = {name: data.schema.field(name).type for name in data.column_names if name != "_pos"}
        checks = column_checks(table, present, padded_columns(data))
        with self.timings.timed("lookups (IP, user agent, phone: per distinct value)"):
            data = self._masked_text(table, data)
            data = self.lookups.add_to(table, data, checks)
        large = too_large_sql(list(present), present, longest_values(data))
        with self.timings.timed("checks (SQL)"):
            rows = arrow_sql(cur, staging_sql(table, checks, present, set(data.column_names), file.unknown, large),
                             chunk=data)
            # usually every row is good: then the join with the whole chunk is not worth running
            if rows.column("_reason").null_count < rows.num_rows:
                file.quarantined += quarantine.add_rejected(cur, file.batch_id, source, rows, data, list(present))
        with self.timings.timed("de-duplicate"):
            keep = self._keep(file, rows)
            rows = rows.append_column("_keep", pa.array(keep))
        with self.timings.timed("insert"):
            staging = STAGING[table]
            inserted = arrow_sql(
                cur,
                f"INSERT INTO {staging.target} BY NAME SELECT * EXCLUDE "
                f"(_reason, _column, _pos, _h1, _h2, _keep), _pos AS {staging.position}, $batch AS batch_id "
                "FROM {rows} WHERE _keep",
                {"batch": file.batch_id},
                rows=rows,
            ).column(0)[0].as_py()
            file.inserted += int(inserted)

    def _keep(self, file: FileLoad, rows: pa.Table) -> np.ndarray:
        """Which rows of the chunk to insert: good ones that are not exact duplicates.

        A copy of an earlier row of the same file, or of a row another file
        of this table brought in this run, is quarantined as ``duplicate
        row``; a row an earlier run loaded is counted as already loaded.
        Neither is inserted.
        (Masks, not filtered copies: the chunk's columns are never copied.)
        """
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
            file.quarantined += quarantine.add_duplicates(self.cur, file.batch_id, file.source, pa.table({
                "pos": positions[repeated],
                "first_pos": first[repeated],
                "first_file": pa.array([files[i] for i in first_file[repeated]], pa.string()),
                "first_key": pa.array([names[i] for i in first_file[repeated]], pa.string()),
            }))
            keep[good[repeated]] = False
        if self.earlier_runs:
            staging = STAGING[file.source.table]
            key = staging.key
            candidates = pa.table({
                "pos": positions[~repeated],
                key: rows.column(key).take(pa.array(good[~repeated])),
            })
            seen = arrow_sql(
                self.cur,
                f"SELECT DISTINCT c.pos FROM {{candidates}} c JOIN {staging.target} t ON t.{key} = c.{key} "
                "WHERE NOT list_contains($run, t.batch_id)", {"run": self.run_batches}, candidates=candidates,
            )
            if seen.num_rows:
                file.existing += seen.num_rows
                keep[good[np.isin(positions, seen.column("pos").to_numpy())]] = False
        return keep
