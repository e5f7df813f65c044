"""The executor's side of a Spark ingest: one requests file checked by the embedded path's own loader.

:func:`check_files` is the Arrow batch function Spark's ``mapInArrow`` runs
(:mod:`ingest.lake`). Each input row names one file; the executor reads it
with :mod:`ingest.readers` and loads it with :class:`ingest.loader.TableLoader`
into a DuckDB of its own, in memory: the same reader, lookups, checks,
reasons, pseudonyms and duplicate index as the embedded path, not a copy of
them. What the file gave comes back as rows of :data:`OUTPUT`: its events,
and one side row each for its quarantine, its addresses' enrichment and its
counters (Arrow IPC or JSON in ``_side``), which the driver puts in the
workspace.

The pseudonym secret and the workspace's ``ip_intel`` never travel inside
the function or the plan: the function is handed *readers* of them (a Spark
broadcast, or a file on the executor's side) and calls them on the executor.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path

import duckdb
import pyarrow as pa

from graph.warehouse_schema import (
    EVENTS,
    INTEL_TABLE,
    IP_LOOKUP_TABLE,
    QUARANTINE_TABLE,
    ensure_tables,
)
from ingest.loader import TableLoader
from ingest.lookups import Lookups
from ingest.readers import ExactReadNeeded, TruncatedInput, read_header, source_file
from ingest.summary import Timings
from ingest.validate import prepare_session

__all__ = ["FILES", "OUTPUT", "SIDE_KINDS", "check_files", "read_side", "secret_file_reader"]

#: what the function reads: a requests file of the run, its place in the run's order and its batch
FILES = pa.schema([("file_no", pa.int32()), ("path", pa.string()), ("batch_id", pa.string())])

_DUCK_TO_ARROW = {"VARCHAR": pa.string(), "TIMESTAMPTZ": pa.timestamp("us", tz="UTC"), "INTEGER": pa.int32(),
                  "SMALLINT": pa.int16()}

#: what it gives: event rows (``_kind`` NULL), then side rows (``_kind`` one of :data:`SIDE_KINDS`)
OUTPUT = pa.schema(
    [(c.name, _DUCK_TO_ARROW[c.sql]) for c in EVENTS.columns]
    + [("_file_no", pa.int32()), ("_kind", pa.string()), ("_side", pa.binary())]
)
SIDE_KINDS = ("file", "quarantine", "ip_lookup")


def check_files(secret: Callable[[], bytes], intel: Callable[[], pa.Table], chunk_rows: int
                ) -> Callable[[Iterator[pa.RecordBatch]], Iterator[pa.RecordBatch]]:
    """The ``mapInArrow`` function: each file of :data:`FILES` loaded, its rows as :data:`OUTPUT`.

    ``secret`` and ``intel`` are called on the executor (a broadcast's
    value, or a file read there); ``chunk_rows`` rows are checked a pass.
    """
    def run(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        for batch in batches:
            for row in batch.to_pylist():
                yield from _check_file(row, secret(), intel(), chunk_rows)
    return run


def _check_file(row: dict, secret: bytes, intel: pa.Table, chunk_rows: int) -> Iterator[pa.RecordBatch]:
    """One file through :class:`TableLoader` on a DuckDB in memory; its events, then its side rows."""
    cur = duckdb.connect()
    try:
        prepare_session(cur)
        ensure_tables(cur)
        if intel.num_rows:
            cur.from_arrow(intel).insert_into(INTEL_TABLE)
        source = source_file(row["path"], "requests")
        header = read_header(source)
        lookups = Lookups(cur, secret)
        try:
            loader = TableLoader(cur, secret, lookups, Timings(), [row["batch_id"]])
            try:
                file, truncated = loader.load_file(source, header, row["batch_id"], False,
                                                   chunk_rows=chunk_rows, on_rows=lambda _: None)
            except ExactReadNeeded:
                cur.execute(f"DELETE FROM {QUARANTINE_TABLE}")
                file, truncated = loader.load_file(source, header, row["batch_id"], True,
                                                   chunk_rows=chunk_rows, on_rows=lambda _: None)
        finally:
            lookups.close()
        events = cur.sql(f"SELECT * FROM {EVENTS.name}").to_arrow_table()
        for batch in events.to_batches(max_chunksize=100_000):
            yield _events_batch(batch, row["file_no"])
        counters = {"read": file.read, "inserted": file.inserted, "quarantined": file.quarantined,
                    "unknown": file.unknown, "forbidden": file.forbidden,
                    "truncated": str(truncated) if isinstance(truncated, TruncatedInput) else None}
        sides = {
            "file": json.dumps(counters).encode(),
            "quarantine": _ipc(cur.sql(f"SELECT * FROM {QUARANTINE_TABLE}").to_arrow_table()),
            "ip_lookup": _ipc(cur.sql(f"SELECT * FROM {IP_LOOKUP_TABLE}").to_arrow_table()),
        }
        yield _side_batch(row["file_no"], sides)
    finally:
        cur.close()


def _events_batch(batch: pa.RecordBatch, file_no: int) -> pa.RecordBatch:
    columns = [batch.column(name).cast(OUTPUT.field(name).type) for name in batch.schema.names]
    columns += [pa.array([file_no] * batch.num_rows, pa.int32()), pa.nulls(batch.num_rows, pa.string()),
                pa.nulls(batch.num_rows, pa.binary())]
    return pa.RecordBatch.from_arrays(columns, schema=OUTPUT)


def _side_batch(file_no: int, sides: dict[str, bytes]) -> pa.RecordBatch:
    """One row a side output: every event column NULL, ``_kind`` and ``_side`` set."""
    count = len(sides)
    columns = [pa.nulls(count, f.type) for f in OUTPUT if not f.name.startswith("_")]
    columns += [pa.array([file_no] * count, pa.int32()), pa.array(list(sides), pa.string()),
                pa.array(list(sides.values()), pa.binary())]
    return pa.RecordBatch.from_arrays(columns, schema=OUTPUT)


def _ipc(table: pa.Table) -> bytes:
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, table.schema) as writer:
        writer.write_table(table)
    return sink.getvalue().to_pybytes()


def read_side(kind: str, payload: bytes) -> pa.Table | dict:
    """A side row's content: the file's counters (a dict), else its table."""
    if kind == "file":
        return json.loads(payload)
    return pa.ipc.open_stream(pa.py_buffer(payload)).read_all()


def secret_file_reader(path: Path) -> Callable[[], bytes]:
    """The secret read on the executor from the workspace's key file (Spark Connect has no broadcast)."""
    def read() -> bytes:
        return bytes.fromhex(path.read_text(encoding="ascii").strip())
    return read
