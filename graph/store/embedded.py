"""The embedded graph store: one DuckDB table a node label and a relationship type.

Tables are derived from :mod:`graph.schema` (``NodeKind.table``,
``RelKind.table``), columns from the properties' portable types. Keys are
unique by construction rather than by a ``PRIMARY KEY``: every write goes
through :meth:`EmbeddedStore._upsert`, which merges a batch's duplicate keys,
matches the batch against the table once (a hash join that keeps the
matched ``rowid``), updates the matched rows and inserts the rest, all in one
transaction under a process-wide write lock. Measured here, DuckDB's ART
index made the same bulk upserts three to four times slower
(``INSERT ... ON CONFLICT``: about 200k rows/s; this: 0.6 to 1.3M rows/s on the
database side; ``benchmarks/store_load.py`` measures the whole call).

Readers never wait: each thread reads through its own cursor and sees the
last committed state (DuckDB's MVCC), so the web UI can browse while ingest
or a label write is running.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Collection, Iterator, Mapping, Sequence
from contextlib import contextmanager, suppress
from datetime import UTC, datetime, timedelta
from pathlib import Path

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from graph import warehouse
from graph.errors import StoreError
from graph.schema import (
    AUDIT,
    CLUSTER,
    FOUND_IN,
    LABEL,
    MEMBER_OF,
    NODES,
    RELATIONSHIPS,
    RUN,
    NodeKind,
    RelKind,
    node_kind,
    rel_kind,
)
from graph.store import _rows
from graph.store.base import GraphStore

__all__ = ["EmbeddedStore", "SQL_TYPES"]

#: portable property type -> DuckDB column type
SQL_TYPES = {
    "str": "VARCHAR",
    "int": "BIGINT",
    "float": "DOUBLE",
    "bool": "BOOLEAN",
    "timestamp": "TIMESTAMPTZ",
    "json": "VARCHAR",
}

_ARROW_TYPES = {
    "str": pa.string(),
    "int": pa.int64(),
    "float": pa.float64(),
    "bool": pa.bool_(),
    "timestamp": pa.timestamp("us", tz="UTC"),
    "json": pa.string(),
}

_WRITE_LOCKS: dict[Path, threading.RLock] = {}
_WRITE_LOCKS_GUARD = threading.Lock()

_BATCH = "_sybilscope_batch"
_STAGED = "_sybilscope_staged"


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)


def _select(kind: NodeKind | RelKind, alias: str = "") -> str:
    """The kind's columns, named (a table may keep a column the schema dropped)."""
    names = list(kind.names) if isinstance(kind, NodeKind) else [*_rows.EDGE_KEYS, *kind.names]
    prefix = f"{alias}." if alias else ""
    return ", ".join(prefix + _q(name) for name in names)


def _py_column(column: pa.Array | pa.ChunkedArray) -> list:
    """One Arrow column as Python values; timestamps as aware UTC datetimes.

    Arrow's own conversion of zoned timestamps costs about 6 us a value (it
    goes through zoneinfo); epoch arithmetic is ten times faster and exact.
    """
    if pa.types.is_timestamp(column.type):
        micros = column.cast(pa.timestamp("us", tz="UTC")).cast(pa.int64()).to_pylist()
        return [None if value is None else _EPOCH + value * _MICROSECOND for value in micros]
    return column.to_pylist()


def _py_rows(data: pa.Table | pa.RecordBatch) -> list[dict]:
    """Arrow rows as dicts, converted column by column (see :func:`_py_column`)."""
    names = data.schema.names
    columns = [_py_column(data.column(i)) for i in range(len(names))]
    return [dict(zip(names, values, strict=True)) for values in zip(*columns, strict=True)]


def _decode_json(kind: NodeKind | RelKind, rows: list[dict]) -> list[dict]:
    """Decode the ``json`` properties of rows read with :func:`_select`, in place."""
    for name in [p.name for p in kind.properties if p.type == "json"]:
        for row in rows:
            row[name] = _rows.decode_json(row[name])
    return rows


def _write_lock(path: Path) -> threading.RLock:
    """One lock per database file: writers take turns, so they never conflict."""
    with _WRITE_LOCKS_GUARD:
        return _WRITE_LOCKS.setdefault(path, threading.RLock())


def _q(name: str) -> str:
    """A quoted identifier (schema names only; ``count``, ``user``, ``at`` are keywords)."""
    return '"' + name.replace('"', '""') + '"'


def _run(cur: duckdb.DuckDBPyConnection, sql: str, params: object = None) -> list[tuple]:
    """Execute a statement to its end (DuckDB keeps a cursor busy until its result is read)."""
    return cur.execute(sql, params).fetchall() if params is not None else cur.execute(sql).fetchall()


def _props(kind: NodeKind | RelKind) -> dict[str, str]:
    return {p.name: p.type for p in kind.properties}


#: the SQL condition of each bound of :func:`graph.store._rows.window_bounds`
_WINDOW_SQL = {"since": "last_seen >= ?", "until": "first_seen <= ?"}


def _window(kind: RelKind, since: datetime | None, until: datetime | None) -> tuple[str, list]:
    """SQL condition for "``[first_seen, last_seen]`` overlaps the window" (types without them: none)."""
    bounds = _rows.window_bounds(kind, since, until)
    return (" AND ".join(_WINDOW_SQL[name] for name in bounds) or "TRUE"), list(bounds.values())


class EmbeddedStore(GraphStore):
    """The graph in the workspace's DuckDB file (see the module docstring).

    Parameters
    ----------
    db_path : path
        The DuckDB database file, shared with the request event table
        (:func:`graph.warehouse.connect` opens it once a process).
    """

    backend = "embedded"

    def __init__(self, db_path: str | Path):
        self.db_path = Path(db_path).resolve()
        self._local = threading.local()
        self._cursors: list[duckdb.DuckDBPyConnection] = []
        self._cursors_guard = threading.Lock()
        self._write_lock = _write_lock(self.db_path)

    def __repr__(self) -> str:
        return f"EmbeddedStore({str(self.db_path)!r})"

    # -- connections ----------------------------------------------------------
    def _new_cursor(self) -> duckdb.DuckDBPyConnection:
        cur = warehouse.connect(self.db_path)
        # TIMESTAMPTZ values come out in the session's zone: make it UTC whatever the machine's.
        _run(cur, "SET TimeZone = 'UTC'")
        with self._cursors_guard:
            self._cursors.append(cur)
        return cur

    def _cursor(self, *, fresh: bool = False) -> duckdb.DuckDBPyConnection:
        """This thread's cursor (DuckDB cursors must not be shared between threads).

        ``fresh`` replaces it: after :func:`graph.warehouse.close_all` (the end
        of a CLI command, a test) the old one is closed but this store may live on.
        """
        cur = getattr(self._local, "cursor", None)
        if cur is None or fresh:
            cur = self._local.cursor = self._new_cursor()
        return cur

    def _query(self, sql: str, params: Sequence | None = None) -> list[dict]:
        try:
            relation = self._cursor().sql(sql, params=list(params or []))
        except duckdb.ConnectionException:
            relation = self._cursor(fresh=True).sql(sql, params=list(params or []))
        return _py_rows(relation.to_arrow_table())

    @property
    def read_only(self) -> bool:
        """Whether the workspace database is open read-only here (see :mod:`graph.warehouse`)."""
        return warehouse.read_only(self.db_path)

    def _refuse_if_read_only(self) -> None:
        if self.read_only:
            raise StoreError(
                f"the workspace database {self.db_path} is read-only here (its file or folder cannot be "
                "written): reading works, but ingest, detect, labels and audit records need write access"
            )

    @contextmanager
    def _transaction(self) -> Iterator[duckdb.DuckDBPyConnection]:
        """One write transaction, alone among this process's writers; rolled back on any error."""
        self._refuse_if_read_only()
        with self._write_lock:
            cur = self._cursor()
            try:
                _run(cur, "BEGIN TRANSACTION")
            except duckdb.ConnectionException:
                cur = self._cursor(fresh=True)
                _run(cur, "BEGIN TRANSACTION")
            try:
                yield cur
            except BaseException as exc:
                _run(cur, "ROLLBACK")
                if isinstance(exc, duckdb.Error):
                    raise StoreError(f"the embedded store {self.db_path} refused the write: {exc}") from exc
                raise
            try:
                _run(cur, "COMMIT")
            except duckdb.Error as exc:
                raise StoreError(f"the embedded store {self.db_path} could not commit: {exc}") from exc

    # -- set-up ---------------------------------------------------------------
    def ensure_schema(self) -> None:
        """Create missing tables, and add columns the schema gained since they were made.

        A read-only database is only checked: it must hold every table and
        column already, or it is refused with what to do.
        """
        if self.read_only:
            self._check_schema()
            return
        with self._transaction() as cur:
            for kind in (*NODES, *RELATIONSHIPS):
                keys = [kind.key] if isinstance(kind, NodeKind) else list(_rows.EDGE_KEYS)
                columns = [f"{_q(k)} VARCHAR NOT NULL" for k in keys if k not in kind.names]
                columns += [
                    f"{_q(p.name)} {SQL_TYPES[p.type]}{' NOT NULL' if p.name in keys else ''}"
                    for p in kind.properties
                ]
                _run(cur, f"CREATE TABLE IF NOT EXISTS {_q(kind.table)} ({', '.join(columns)})")
                existing = {
                    row[0]
                    for row in _run(
                        cur,
                        "SELECT column_name FROM information_schema.columns WHERE table_name = ?",
                        [kind.table],
                    )
                }
                for prop in kind.properties:
                    if prop.name not in existing:
                        _run(cur, f"ALTER TABLE {_q(kind.table)} ADD COLUMN {_q(prop.name)} {SQL_TYPES[prop.type]}")

    def _check_schema(self) -> None:
        found: dict[str, set[str]] = {}
        for table, column in self._cursor().execute(
            "SELECT table_name, column_name FROM information_schema.columns WHERE table_schema = 'main'"
        ).fetchall():
            found.setdefault(table, set()).add(column)
        for kind in (*NODES, *RELATIONSHIPS):
            missing = {p.name for p in kind.properties} - found.get(kind.table, set())
            if kind.table not in found or missing:
                what = f"table {kind.table}" if kind.table not in found else f"{kind.table}.{min(missing)}"
                raise StoreError(
                    f"the workspace database {self.db_path} is read-only here and lacks {what}, which this "
                    "version of sybilscope needs: open it once where it can be written, to add it"
                )

    def close(self) -> None:
        """Close this store's cursors (the process-wide database stays open for others)."""
        with self._cursors_guard:
            cursors, self._cursors = self._cursors, []
        for cur in cursors:
            # a cursor may already be closed with its database by warehouse.close_all()
            with suppress(duckdb.Error):
                cur.close()
        self._local = threading.local()

    # -- writes ---------------------------------------------------------------
    def _arrow_batch(
        self, what: str, types: Mapping[str, str], keys: Sequence[str], rows: _rows.Rows
    ) -> tuple[pa.Table, list[str]]:
        """The rows as an Arrow table of the schema's types plus a row ordinal; keys checked."""
        columns = _rows.columns_of(what, [*keys, *[n for n in types if n not in keys]], rows)
        for key in keys:
            if key not in columns:
                raise ValueError(f"{what} rows need {key!r}")
        types = {name: "str" if name in keys else types[name] for name in columns}
        if isinstance(rows, pa.Table):
            arrays = {name: self._arrow_column(what, name, types[name], rows.column(name)) for name in columns}
        else:
            arrays = self._arrow_columns(what, types, rows)
        for key in keys:
            array = arrays[key]
            missing = array.null_count + (pc.sum(pc.equal(array, "")).as_py() or 0)
            if missing:
                raise ValueError(f"{what}: {missing} row(s) have no {key!r}; every row needs its key")
        size = len(rows)
        arrays["_ord"] = pa.array(np.arange(size, dtype=np.int64))
        return pa.table(arrays), columns

    @staticmethod
    def _arrow_column(what: str, name: str, type_: str, column: pa.ChunkedArray | list) -> pa.Array:
        """One column in its schema type; ``ValueError`` naming the property when a value does not fit."""
        try:
            if type_ == "json":
                values = column.to_pylist() if isinstance(column, pa.ChunkedArray) else column
                return pa.array([_rows.encode_json(v) for v in values], pa.string())
            if isinstance(column, pa.ChunkedArray):
                return column.cast(_ARROW_TYPES[type_])
            return pa.array(column, _ARROW_TYPES[type_])
        except (pa.ArrowException, TypeError, ValueError, OverflowError) as exc:
            raise ValueError(f"{what}.{name} must hold {type_} values: {exc}") from exc

    def _arrow_columns(self, what: str, types: Mapping[str, str], rows: Sequence[Mapping]) -> dict:
        """Dict rows as Arrow columns: converted in one pass by Arrow, ``json`` columns encoded here."""
        plain = [name for name, type_ in types.items() if type_ != "json"]
        schema = pa.schema([(name, _ARROW_TYPES[types[name]]) for name in plain])
        try:
            table = pa.Table.from_pylist(rows, schema=schema)
        except (pa.ArrowException, TypeError, ValueError, OverflowError):
            # find the column at fault, to name it
            for name in plain:
                self._arrow_column(what, name, types[name], [row.get(name) for row in rows])
            raise
        arrays = {name: table.column(name) for name in plain}
        for name, type_ in types.items():
            if type_ == "json":
                arrays[name] = self._arrow_column(what, name, type_, [row.get(name) for row in rows])
        return {name: arrays[name] for name in types}

    def _upsert(
        self,
        cur: duckdb.DuckDBPyConnection,
        table: str,
        keys: Sequence[str],
        columns: Sequence[str],
        batch: pa.Table,
        endpoints: RelKind | None = None,
    ) -> int:
        """Merge ``batch`` into ``table`` inside the caller's transaction; returns distinct keys written.

        With ``endpoints``, the batch is a relationship batch and the endpoint
        nodes of its *new* relationships are created first when missing (an
        existing relationship's endpoints exist already).
        """
        others = [c for c in columns if c not in keys]
        key_list = ", ".join(_q(k) for k in keys)
        merged = "".join(
            f", arg_max({_q(c)}, _ord) FILTER (WHERE {_q(c)} IS NOT NULL) AS {_q(c)}" for c in others
        )
        join = " AND ".join(f"t.{_q(k)} = b.{_q(k)}" for k in keys)
        cur.register(_BATCH, batch)
        try:
            distinct = f"({key_list})" if len(keys) > 1 else key_list
            (repeated,) = _run(cur, f"SELECT count(*) - count(DISTINCT {distinct}) FROM {_BATCH}")[0]
            # merging repeated keys costs a third more than the rest of staging: only when needed
            source = (
                f"(SELECT {key_list}{merged} FROM {_BATCH} GROUP BY {key_list})"
                if repeated
                else f"(SELECT {', '.join(_q(c) for c in columns)} FROM {_BATCH})"
            )
            _run(cur, f"CREATE OR REPLACE TEMP TABLE {_STAGED} AS SELECT b.*, t.rowid AS _rid "
                      f"FROM {source} b LEFT JOIN {_q(table)} t ON {join}")
        finally:
            cur.unregister(_BATCH)
        return self._merge_staged(cur, table, keys, columns, endpoints)

    def _merge_staged(
        self,
        cur: duckdb.DuckDBPyConnection,
        table: str,
        keys: Sequence[str],
        columns: Sequence[str],
        endpoints: RelKind | None,
        present_endpoints: Collection[str] = (),
    ) -> int:
        """Apply the staged rows (``_rid``: the matched row, NULL when new) to ``table``; drop the stage."""
        others = [c for c in columns if c not in keys]
        total, matched = _run(cur, f"SELECT count(*), count(_rid) FROM {_STAGED}")[0]
        if matched and others:
            sets = ", ".join(f"{_q(c)} = COALESCE(s.{_q(c)}, {_q(table)}.{_q(c)})" for c in others)
            _run(cur, f"UPDATE {_q(table)} SET {sets} FROM {_STAGED} s WHERE {_q(table)}.rowid = s._rid")
        if total > matched:
            if endpoints is not None:
                self._ensure_endpoints(cur, endpoints, f"(SELECT * FROM {_STAGED} WHERE _rid IS NULL)",
                                       present_endpoints)
            cols = ", ".join(_q(c) for c in columns)
            _run(cur, f"INSERT INTO {_q(table)} ({cols}) SELECT {cols} FROM {_STAGED} WHERE _rid IS NULL")
        _run(cur, f"DROP TABLE {_STAGED}")
        return int(total)

    def upsert_query(self, name: str, sql: str, params: Mapping | None = None, *,
                     present_endpoints: Collection[str] = ()) -> int:
        """Upsert the rows of a query over this database (``name``: a node label or relationship type).

        The set-based twin of :meth:`upsert_nodes` / :meth:`upsert_edges`
        for data that already lives in the workspace's DuckDB file (ingest's
        aggregates of the event table): nothing crosses into Python. Same
        semantics: properties the query gives (non-NULL) replace stored
        ones, missing nodes and relationships are created, and new
        relationships' endpoint nodes are created key-only when missing.
        The query's columns must be the kind's key(s) and properties, each
        key at most once (a ``GROUP BY`` over them). Into an empty table the
        rows are inserted straight away, with no matching at all.

        ``present_endpoints`` names node labels whose nodes the caller knows
        exist for every relationship of the query (ingest writes the Phone,
        IPAddress and Device nodes from the same events first): checking
        them would cost a join of every relationship with every node.

        Returns
        -------
        int
            Rows the query gave.
        """
        if name in {n.label for n in NODES}:
            kind: NodeKind | RelKind = node_kind(name)
            keys, endpoints = [kind.key], None
            allowed = list(kind.names)
        else:
            kind = rel_kind(name)
            keys, endpoints = list(_rows.EDGE_KEYS), kind
            allowed = [*_rows.EDGE_KEYS, *kind.names]
        with self._transaction() as cur:
            found = [d[0] for d in cur.execute(f"SELECT * FROM ({sql}) LIMIT 0", params).description]
            columns = _rows.columns_of(name, allowed, pa.table({c: pa.nulls(0) for c in found}))
            for key in keys:
                if key not in columns:
                    raise ValueError(f"{name} rows need {key!r}")
            cols = ", ".join(_q(c) for c in columns)
            empty = not _run(cur, f"SELECT 1 FROM {_q(kind.table)} LIMIT 1")
            if empty:
                (total,) = _run(cur, f"INSERT INTO {_q(kind.table)} ({cols}) SELECT {cols} FROM ({sql})", params)[0]
                if endpoints is not None:
                    self._ensure_endpoints(cur, endpoints, _q(kind.table), present_endpoints)
                return int(total)
            join = " AND ".join(f"t.{_q(k)} = b.{_q(k)}" for k in keys)
            _run(cur, f"CREATE OR REPLACE TEMP TABLE {_STAGED} AS SELECT b.*, t.rowid AS _rid "
                      f"FROM (SELECT {cols} FROM ({sql})) b LEFT JOIN {_q(kind.table)} t ON {join}", params)
            return self._merge_staged(cur, kind.table, keys, columns, endpoints, present_endpoints)

    def _ensure_endpoints(self, cur: duckdb.DuckDBPyConnection, kind: RelKind, new_edges: str,
                          present: Collection[str] = ()) -> None:
        """Create the missing endpoint nodes of the new relationships ``new_edges`` (SQL), key only."""
        for column, label in (("src", kind.src), ("dst", kind.dst)):
            if label in present:
                continue
            node = node_kind(label)
            # missing ones first, then distinct: usually nothing is missing, so the
            # distinct runs over nothing rather than over every endpoint
            _run(
                cur,
                f"INSERT INTO {_q(node.table)} ({_q(node.key)}) SELECT DISTINCT k FROM ("
                f"SELECT s.{column} AS k FROM {new_edges} s "
                f"ANTI JOIN {_q(node.table)} n ON n.{_q(node.key)} = s.{column})",
            )

    def upsert_nodes(self, label: str, rows: _rows.Rows) -> int:
        """See :meth:`GraphStore.upsert_nodes`; ``rows`` may also be a ``pyarrow.Table``."""
        kind = node_kind(label)
        if len(rows) == 0:
            return 0
        batch, columns = self._arrow_batch(kind.label, _props(kind), [kind.key], rows)
        with self._transaction() as cur:
            return self._upsert(cur, kind.table, [kind.key], columns, batch)

    def upsert_edges(self, rel_type: str, rows: _rows.Rows) -> int:
        """See :meth:`GraphStore.upsert_edges`; ``rows`` may also be a ``pyarrow.Table``."""
        kind = rel_kind(rel_type)
        if len(rows) == 0:
            return 0
        batch, columns = self._arrow_batch(kind.type, _props(kind), _rows.EDGE_KEYS, rows)
        with self._transaction() as cur:
            return self._upsert(cur, kind.table, _rows.EDGE_KEYS, columns, batch, endpoints=kind)

    def save_run(self, run: Mapping, clusters: Sequence[Mapping], members: Sequence[Mapping]) -> None:
        run_id = _rows.check_key("a detection run", run.get(node_kind(RUN).key))
        cluster_rows = _rows.cluster_rows(run_id, clusters)
        keys = {row["cluster_id"]: row["cluster_key"] for row in cluster_rows}
        member_rows = _rows.member_rows(run_id, keys, members)
        found_in = [{"src": row["cluster_key"], "dst": run_id} for row in cluster_rows]
        run_kind, cluster_kind = node_kind(RUN), node_kind(CLUSTER)
        member_kind, found_kind = rel_kind(MEMBER_OF), rel_kind(FOUND_IN)
        # check every batch before the transaction opens, so a bad row changes nothing
        staged: list[tuple[str, Sequence[str], pa.Table, list[str], RelKind | None]] = []
        for kind, rows in ((run_kind, [run]), (cluster_kind, cluster_rows)):
            if rows:
                batch, columns = self._arrow_batch(kind.label, _props(kind), [kind.key], rows)
                staged.append((kind.table, [kind.key], batch, columns, None))
        for rel, rows in ((found_kind, found_in), (member_kind, member_rows)):
            if rows:
                batch, columns = self._arrow_batch(rel.type, _props(rel), _rows.EDGE_KEYS, rows)
                staged.append((rel.table, _rows.EDGE_KEYS, batch, columns, rel))
        with self._transaction() as cur:
            _run(cur, f"DELETE FROM {_q(member_kind.table)} WHERE run_id = ?", [run_id])
            _run(cur, f"DELETE FROM {_q(found_kind.table)} WHERE dst = ?", [run_id])
            _run(cur, f"DELETE FROM {_q(cluster_kind.table)} WHERE run_id = ?", [run_id])
            _run(cur, f"DELETE FROM {_q(run_kind.table)} WHERE {_q(run_kind.key)} = ?", [run_id])
            for table, keys_, batch, columns, endpoints in staged:
                self._upsert(cur, table, keys_, columns, batch, endpoints=endpoints)

    def _append(self, kind: NodeKind, rows: list[dict]) -> int:
        """Insert rows whose keys must all be new: labels and audit events are never updated."""
        with self._transaction() as cur:
            return self._append_in(cur, kind, rows)

    def _append_in(self, cur: duckdb.DuckDBPyConnection, kind: NodeKind, rows: list[dict]) -> int:
        """:meth:`_append` inside the caller's transaction."""
        ids = [row[kind.key] for row in rows]
        _rows.check_unique(kind.label, ids)
        batch, columns = self._arrow_batch(kind.label, _props(kind), [kind.key], rows)
        clash = _run(
            cur,
            f"SELECT {_q(kind.key)} FROM {_q(kind.table)} WHERE {_q(kind.key)} IN (SELECT unnest(?))",
            [ids],
        )
        if clash:
            raise ValueError(f"{kind.label} {clash[0][0]!r} exists already: {kind.label}s are append-only")
        return self._upsert(cur, kind.table, [kind.key], columns, batch)

    def append_judgement(self, label: Mapping, audit: Callable[[list[dict]], Mapping]) -> tuple[dict, dict]:
        label_kind, audit_kind = node_kind(LABEL), node_kind(AUDIT)
        # the write lock is held from here to the commit: no other writer of this database
        # can add a label between reading the state and recording the change
        with self._transaction() as cur:
            row = _rows.fill_labels([label])[0]
            where, params = _label_filter(row["entity"], row["entity_id"])
            found = _py_rows(cur.sql(f"SELECT {_select(label_kind)} FROM {_q(label_kind.table)} WHERE {where} "
                                     "ORDER BY created_at, label_id", params=params).to_arrow_table())
            event = _rows.fill_audit([audit([_rows.node_row(label_kind, r) for r in found])])[0]
            self._append_in(cur, label_kind, [row])
            self._append_in(cur, audit_kind, [event])
        return row, event

    # -- reads ----------------------------------------------------------------
    def _nodes(self, kind: NodeKind, where: str = "TRUE", params: Sequence = (), tail: str = "") -> list[dict]:
        found = self._query(f"SELECT {_select(kind)} FROM {_q(kind.table)} WHERE {where} {tail}", params)
        return [_rows.node_row(kind, row) for row in found]

    def get_nodes(self, label: str, keys: Sequence[str]) -> list[dict]:
        kind = node_kind(label)
        if not keys:
            return []
        return self._nodes(kind, f"{_q(kind.key)} IN (SELECT unnest(?::VARCHAR[]))", [list(keys)])

    def _stream(self, sql: str, params: Sequence, batch_size: int) -> Iterator[list[dict]]:
        """Rows of one query in batches, through a cursor of its own (a generator may outlive a call)."""
        if batch_size < 1:
            raise ValueError(f"batch_size must be at least 1, not {batch_size}")
        cur = self._new_cursor()
        try:
            reader = cur.sql(sql, params=list(params)).to_arrow_reader(batch_size)
            pending: list[dict] = []
            for record_batch in reader:
                pending.extend(_py_rows(record_batch))
                while len(pending) >= batch_size:
                    yield pending[:batch_size]
                    pending = pending[batch_size:]
            if pending:
                yield pending
        finally:
            with self._cursors_guard:
                if cur in self._cursors:
                    self._cursors.remove(cur)
            cur.close()

    def iter_nodes(self, label: str, *, batch_size: int = 50_000) -> Iterator[list[dict]]:
        kind = node_kind(label)
        for batch in self._stream(f"SELECT {_select(kind)} FROM {_q(kind.table)}", [], batch_size):
            yield _decode_json(kind, batch)

    def iter_edges(
        self,
        rel_type: str,
        *,
        since: datetime | None = None,
        until: datetime | None = None,
        batch_size: int = 50_000,
    ) -> Iterator[list[dict]]:
        kind = rel_kind(rel_type)
        where, params = _window(kind, since, until)
        sql = f"SELECT {_select(kind)} FROM {_q(kind.table)} WHERE {where}"
        for batch in self._stream(sql, params, batch_size):
            yield _decode_json(kind, batch)

    def _count(self, table: str, where: str, params: Sequence) -> int:
        return self._query(f"SELECT count(*) AS n FROM {_q(table)} WHERE {where}", params)[0]["n"]

    def _touching_edges(
        self, rel: RelKind, label: str, key: str, *, since: datetime | None, until: datetime | None, limit: int
    ) -> tuple[int, list[dict]]:
        side, params = _side_and_window(rel, label, key, since, until)
        total = self._count(rel.table, side, params)
        order = 'COALESCE("count", 0) DESC, ' if "count" in rel.names else ""
        found = self._query(
            f"SELECT {_select(rel)} FROM {_q(rel.table)} WHERE {side} ORDER BY {order}src, dst LIMIT {int(limit)}",
            params,
        )
        return total, [_rows.rel_row(rel, row) for row in found]

    def neighbour_counts(
        self, label: str, key: str, *, since: datetime | None = None, until: datetime | None = None
    ) -> dict[str, int]:
        node_kind(label)
        counts = {}
        for rel in _rows.touching(label, None):
            side, params = _side_and_window(rel, label, key, since, until)
            counts[rel.type] = self._count(rel.table, side, params)
        return counts

    def runs(self) -> list[dict]:
        kind = node_kind(RUN)
        return self._nodes(kind, tail="ORDER BY started_at DESC NULLS LAST, run_id DESC")

    def _run_clusters(self, run_id: str) -> list[dict]:
        return self._nodes(
            node_kind(CLUSTER), "run_id = ?", [run_id], "ORDER BY score DESC NULLS LAST, cluster_id"
        )

    def cluster_history(self, cluster_id: str) -> list[dict]:
        kind = node_kind(CLUSTER)
        run = node_kind(RUN)
        found = self._query(
            f"SELECT {_select(kind, 'c')} FROM {_q(kind.table)} c LEFT JOIN {_q(run.table)} r ON r.run_id = c.run_id "
            "WHERE c.cluster_id = ? ORDER BY r.started_at ASC NULLS LAST, c.run_id",
            [cluster_id],
        )
        return [_rows.node_row(kind, row) for row in found]

    def _cluster_members(self, cluster_id: str, run_id: str) -> list[dict]:
        kind = rel_kind(MEMBER_OF)
        found = self._query(
            f"SELECT src, member_score, reasons, sub_group FROM {_q(kind.table)} WHERE dst = ? "
            "ORDER BY member_score DESC NULLS LAST, src",
            [_rows.cluster_key(run_id, cluster_id)],
        )
        return [_rows.member_out(row, cluster_id, run_id) for row in found]

    def labels(self, entity: str | None = None, entity_id: str | None = None) -> list[dict]:
        where, params = _label_filter(entity, entity_id)
        return self._nodes(node_kind(LABEL), where, params, "ORDER BY created_at, label_id")

    def audit_events(self, target: str | None = None, limit: int | None = None) -> list[dict]:
        where, params = ("target = ?", [target]) if target is not None else ("TRUE", [])
        tail = 'ORDER BY "at" DESC, event_id DESC'
        if limit is not None:
            tail += f" LIMIT {int(limit)}"
        return self._nodes(node_kind(AUDIT), where, params, tail)

    def counts(self) -> dict[str, int]:
        kinds = [(n.label, n.table) for n in NODES] + [(r.type, r.table) for r in RELATIONSHIPS]
        sql = " UNION ALL ".join(f"SELECT ? AS name, count(*) AS n FROM {_q(table)}" for _, table in kinds)
        found = {row["name"]: row["n"] for row in self._query(sql, [name for name, _ in kinds])}
        return {name: int(found[name]) for name, _ in kinds}


def _side_and_window(
    rel: RelKind, label: str, key: str, since: datetime | None, until: datetime | None
) -> tuple[str, list]:
    """SQL condition and its parameters: the relationship touches the node (either end) and overlaps the window."""
    ends = [end for end, end_label in (("src", rel.src), ("dst", rel.dst)) if end_label == label]
    side = "(" + " OR ".join(f"{end} = ?" for end in ends) + ")"
    window, params = _window(rel, since, until)
    return f"{side} AND {window}", [key] * len(ends) + params


def _label_filter(entity: str | None, entity_id: str | None) -> tuple[str, list]:
    """SQL condition and parameters for the labels of one entity kind, one entity, or all."""
    wanted = _rows.label_conditions(entity, entity_id)
    return (" AND ".join(f"{name} = ?" for name in wanted) or "TRUE"), list(wanted.values())

