"""The embedded store's upsert: merge a batch, or a query's rows, into a kind's table by key.

Keys are unique by construction rather than by a ``PRIMARY KEY``: the
batch's duplicate keys are merged, the batch is matched against the table
once (a hash join that keeps the matched ``rowid``), the matched rows are
updated and the rest inserted. Measured here, DuckDB's ART index made the
same bulk upserts three to four times slower (``INSERT ... ON CONFLICT``:
about 200k rows/s; this: 0.6 to 1.3M rows/s on the database side;
``benchmarks/store_load.py`` measures the whole call).

Every function runs inside the caller's transaction (see
:meth:`graph.store.embedded.EmbeddedStore._transaction`).
"""

from __future__ import annotations

from collections.abc import Collection, Sequence

import duckdb
import pyarrow as pa

from graph.schema import NodeKind, RelKind, node_kind
from graph.store import _rows
from graph.store.embedded_sql import execute, ident

__all__ = ["merge_batch", "merge_query"]

_BATCH = "_sybilscope_batch"
_STAGED = "_sybilscope_staged"


def merge_batch(
    cur: duckdb.DuckDBPyConnection, kind: NodeKind | RelKind, batch: pa.Table, columns: Sequence[str]
) -> int:
    """Merge an :func:`~graph.store.embedded_arrow.arrow_batch` into the kind's table; returns distinct keys written.

    For a relationship kind, the endpoint nodes of its *new* relationships
    are created first when missing (an existing relationship's endpoints
    exist already).
    """
    keys = _rows.row_keys(kind)
    others = [c for c in columns if c not in keys]
    key_list = ", ".join(ident(k) for k in keys)
    merged = "".join(f", arg_max({ident(c)}, _ord) FILTER (WHERE {ident(c)} IS NOT NULL) AS {ident(c)}" for c in others)
    cur.register(_BATCH, batch)
    try:
        distinct = f"({key_list})" if len(keys) > 1 else key_list
        (repeated,) = execute(cur, f"SELECT count(*) - count(DISTINCT {distinct}) FROM {_BATCH}")[0]
        # merging repeated keys costs a third more than the rest of staging: only when needed
        source = (
            f"(SELECT {key_list}{merged} FROM {_BATCH} GROUP BY {key_list})"
            if repeated
            else f"(SELECT {', '.join(ident(c) for c in columns)} FROM {_BATCH})"
        )
        _stage(cur, kind, source)
    finally:
        cur.unregister(_BATCH)
    return _merge_staged(cur, kind, columns)


def merge_query(
    cur: duckdb.DuckDBPyConnection,
    kind: NodeKind | RelKind,
    sql: str,
    params: object = None,
    present_endpoints: Collection[str] = (),
) -> int:
    """Merge the rows of ``sql`` into the kind's table (see :meth:`~graph.store.embedded.EmbeddedStore.upsert_query`).

    Into an empty table the rows are inserted straight away, with no
    matching at all. Returns the rows the query gave.
    """
    name, keys = _rows.kind_name(kind), _rows.row_keys(kind)
    found = [d[0] for d in cur.execute(f"SELECT * FROM ({sql}) LIMIT 0", params).description]
    columns = _rows.columns_of(name, _rows.row_columns(kind), pa.table({c: pa.nulls(0) for c in found}), keys)
    cols = ", ".join(ident(c) for c in columns)
    empty = not execute(cur, f"SELECT 1 FROM {ident(kind.table)} LIMIT 1")
    if empty:
        (total,) = execute(cur, f"INSERT INTO {ident(kind.table)} ({cols}) SELECT {cols} FROM ({sql})", params)[0]
        if isinstance(kind, RelKind):
            _ensure_endpoints(cur, kind, ident(kind.table), present_endpoints)
        return int(total)
    _stage(cur, kind, f"(SELECT {cols} FROM ({sql}))", params)
    return _merge_staged(cur, kind, columns, present_endpoints)


def _stage(cur: duckdb.DuckDBPyConnection, kind: NodeKind | RelKind, source: str, params: object = None) -> None:
    """Stage the rows of ``source`` (SQL) with ``_rid``: the table's row of the same key, NULL when new."""
    join = " AND ".join(f"t.{ident(k)} = b.{ident(k)}" for k in _rows.row_keys(kind))
    execute(cur, f"CREATE OR REPLACE TEMP TABLE {_STAGED} AS SELECT b.*, t.rowid AS _rid "
             f"FROM {source} b LEFT JOIN {ident(kind.table)} t ON {join}", params)


def _merge_staged(
    cur: duckdb.DuckDBPyConnection,
    kind: NodeKind | RelKind,
    columns: Sequence[str],
    present_endpoints: Collection[str] = (),
) -> int:
    """Apply the staged rows to the kind's table: update the matched, insert the new; drop the stage."""
    table, keys = kind.table, _rows.row_keys(kind)
    others = [c for c in columns if c not in keys]
    total, matched = execute(cur, f"SELECT count(*), count(_rid) FROM {_STAGED}")[0]
    if matched and others:
        sets = ", ".join(f"{ident(c)} = COALESCE(s.{ident(c)}, {ident(table)}.{ident(c)})" for c in others)
        execute(cur, f"UPDATE {ident(table)} SET {sets} FROM {_STAGED} s WHERE {ident(table)}.rowid = s._rid")
    if total > matched:
        if isinstance(kind, RelKind):
            _ensure_endpoints(cur, kind, f"(SELECT * FROM {_STAGED} WHERE _rid IS NULL)", present_endpoints)
        cols = ", ".join(ident(c) for c in columns)
        execute(cur, f"INSERT INTO {ident(table)} ({cols}) SELECT {cols} FROM {_STAGED} WHERE _rid IS NULL")
    execute(cur, f"DROP TABLE {_STAGED}")
    return int(total)


def _ensure_endpoints(
    cur: duckdb.DuckDBPyConnection, kind: RelKind, new_edges: str, present: Collection[str] = ()
) -> None:
    """Create the missing endpoint nodes of the new relationships ``new_edges`` (SQL), key only."""
    for column, label in (("src", kind.src), ("dst", kind.dst)):
        if label in present:
            continue
        node = node_kind(label)
        # missing ones first, then distinct: usually nothing is missing, so the
        # distinct runs over nothing rather than over every endpoint
        execute(
            cur,
            f"INSERT INTO {ident(node.table)} ({ident(node.key)}) SELECT DISTINCT k FROM ("
            f"SELECT s.{column} AS k FROM {new_edges} s "
            f"ANTI JOIN {ident(node.table)} n ON n.{ident(node.key)} = s.{column})",
        )
