"""The embedded graph store: one DuckDB table a node label and a relationship type.

Tables are derived from :mod:`graph.schema` (``NodeKind.table``,
``RelKind.table``), columns from the properties' portable types
(:mod:`graph.store.embedded_sql`). Rows travel to and from DuckDB as Arrow
(:mod:`graph.store.embedded_arrow`). Every write merges its rows by key
(:mod:`graph.store.embedded_merge`) in one transaction under a process-wide
write lock.

Readers never wait: each thread reads through its own cursor and sees the
last committed state (DuckDB's MVCC), so the web UI can browse while ingest
or a label write is running.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Collection, Iterator, Mapping, Sequence
from contextlib import contextmanager, suppress
from datetime import datetime
from pathlib import Path

import duckdb

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
from graph.store.embedded_arrow import arrow_batch, decode_json, py_rows
from graph.store.embedded_merge import merge_batch, merge_query
from graph.store.embedded_sql import (
    SQL_TYPES,
    add_column,
    column_list,
    create_table,
    execute,
    ident,
    label_filter,
    side_and_window,
    window,
)

__all__ = ["EmbeddedStore", "SQL_TYPES"]

_WRITE_LOCKS: dict[Path, threading.RLock] = {}
_WRITE_LOCKS_GUARD = threading.Lock()


def _write_lock(path: Path) -> threading.RLock:
    """One lock per database file: writers take turns, so they never conflict."""
    with _WRITE_LOCKS_GUARD:
        return _WRITE_LOCKS.setdefault(path, threading.RLock())


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
        execute(cur, "SET TimeZone = 'UTC'")
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
        return py_rows(relation.to_arrow_table())

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
                execute(cur, "BEGIN TRANSACTION")
            except duckdb.ConnectionException:
                cur = self._cursor(fresh=True)
                execute(cur, "BEGIN TRANSACTION")
            try:
                yield cur
            except BaseException as exc:
                execute(cur, "ROLLBACK")
                if isinstance(exc, duckdb.Error):
                    raise StoreError(f"the embedded store {self.db_path} refused the write: {exc}") from exc
                raise
            try:
                execute(cur, "COMMIT")
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
                execute(cur, create_table(kind))
                existing = {
                    row[0]
                    for row in execute(
                        cur,
                        "SELECT column_name FROM information_schema.columns WHERE table_name = ?",
                        [kind.table],
                    )
                }
                for prop in kind.properties:
                    if prop.name not in existing:
                        execute(cur, add_column(kind, prop))

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
        kind = node_kind(name) if name in {n.label for n in NODES} else rel_kind(name)
        with self._transaction() as cur:
            return merge_query(cur, kind, sql, params, present_endpoints)

    def upsert_nodes(self, label: str, rows: _rows.Rows) -> int:
        """See :meth:`GraphStore.upsert_nodes`; ``rows`` may also be a ``pyarrow.Table``."""
        return self._upsert(node_kind(label), rows)

    def upsert_edges(self, rel_type: str, rows: _rows.Rows) -> int:
        """See :meth:`GraphStore.upsert_edges`; ``rows`` may also be a ``pyarrow.Table``."""
        return self._upsert(rel_kind(rel_type), rows)

    def _upsert(self, kind: NodeKind | RelKind, rows: _rows.Rows) -> int:
        """Check and type the rows before the transaction opens, then merge them in it."""
        if len(rows) == 0:
            return 0
        batch, columns = arrow_batch(kind, rows)
        with self._transaction() as cur:
            return merge_batch(cur, kind, batch, columns)

    def save_run(self, run: Mapping, clusters: Sequence[Mapping], members: Sequence[Mapping]) -> None:
        run_id = _rows.check_key("a detection run", run.get(node_kind(RUN).key))
        cluster_rows = _rows.cluster_rows(run_id, clusters)
        keys = {row["cluster_id"]: row["cluster_key"] for row in cluster_rows}
        member_rows = _rows.member_rows(run_id, keys, members)
        found_in = [{"src": row["cluster_key"], "dst": run_id} for row in cluster_rows]
        run_kind, cluster_kind = node_kind(RUN), node_kind(CLUSTER)
        member_kind, found_kind = rel_kind(MEMBER_OF), rel_kind(FOUND_IN)
        # check every batch before the transaction opens, so a bad row changes nothing
        batches = ((run_kind, [run]), (cluster_kind, cluster_rows), (found_kind, found_in), (member_kind, member_rows))
        staged = [(kind, *arrow_batch(kind, rows)) for kind, rows in batches if rows]
        with self._transaction() as cur:
            execute(cur, f"DELETE FROM {ident(member_kind.table)} WHERE run_id = ?", [run_id])
            execute(cur, f"DELETE FROM {ident(found_kind.table)} WHERE dst = ?", [run_id])
            execute(cur, f"DELETE FROM {ident(cluster_kind.table)} WHERE run_id = ?", [run_id])
            execute(cur, f"DELETE FROM {ident(run_kind.table)} WHERE {ident(run_kind.key)} = ?", [run_id])
            for kind, batch, columns in staged:
                merge_batch(cur, kind, batch, columns)

    def _append(self, kind: NodeKind, rows: list[dict]) -> int:
        """Insert rows whose keys must all be new: labels and audit events are never updated."""
        with self._transaction() as cur:
            return self._append_in(cur, kind, rows)

    def _append_in(self, cur: duckdb.DuckDBPyConnection, kind: NodeKind, rows: list[dict]) -> int:
        """:meth:`_append` inside the caller's transaction."""
        ids = [row[kind.key] for row in rows]
        _rows.check_unique(kind.label, ids)
        batch, columns = arrow_batch(kind, rows)
        clash = execute(
            cur,
            f"SELECT {ident(kind.key)} FROM {ident(kind.table)} WHERE {ident(kind.key)} IN (SELECT unnest(?))",
            [ids],
        )
        if clash:
            raise ValueError(f"{kind.label} {clash[0][0]!r} exists already: {kind.label}s are append-only")
        return merge_batch(cur, kind, batch, columns)

    def append_judgement(self, label: Mapping, audit: Callable[[list[dict]], Mapping]) -> tuple[dict, dict]:
        label_kind, audit_kind = node_kind(LABEL), node_kind(AUDIT)
        # the write lock is held from here to the commit: no other writer of this database
        # can add a label between reading the state and recording the change
        with self._transaction() as cur:
            row = _rows.fill_labels([label])[0]
            where, params = label_filter(row["entity"], row["entity_id"])
            found = py_rows(cur.sql(f"SELECT {column_list(label_kind)} FROM {ident(label_kind.table)} WHERE {where} "
                                    "ORDER BY created_at, label_id", params=params).to_arrow_table())
            event = _rows.fill_audit([audit([_rows.node_row(label_kind, r) for r in found])])[0]
            self._append_in(cur, label_kind, [row])
            self._append_in(cur, audit_kind, [event])
        return row, event

    # -- reads ----------------------------------------------------------------
    def _nodes(self, kind: NodeKind, where: str = "TRUE", params: Sequence = (), tail: str = "") -> list[dict]:
        found = self._query(f"SELECT {column_list(kind)} FROM {ident(kind.table)} WHERE {where} {tail}", params)
        return [_rows.node_row(kind, row) for row in found]

    def get_nodes(self, label: str, keys: Sequence[str]) -> list[dict]:
        kind = node_kind(label)
        if not keys:
            return []
        return self._nodes(kind, f"{ident(kind.key)} IN (SELECT unnest(?::VARCHAR[]))", [list(keys)])

    def _stream(self, sql: str, params: Sequence, batch_size: int) -> Iterator[list[dict]]:
        """Rows of one query in batches, through a cursor of its own (a generator may outlive a call)."""
        if batch_size < 1:
            raise ValueError(f"batch_size must be at least 1, not {batch_size}")
        cur = self._new_cursor()
        try:
            reader = cur.sql(sql, params=list(params)).to_arrow_reader(batch_size)
            pending: list[dict] = []
            for record_batch in reader:
                pending.extend(py_rows(record_batch))
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
        for batch in self._stream(f"SELECT {column_list(kind)} FROM {ident(kind.table)}", [], batch_size):
            yield decode_json(kind, batch)

    def iter_edges(
        self,
        rel_type: str,
        *,
        since: datetime | None = None,
        until: datetime | None = None,
        batch_size: int = 50_000,
    ) -> Iterator[list[dict]]:
        kind = rel_kind(rel_type)
        where, params = window(kind, since, until)
        sql = f"SELECT {column_list(kind)} FROM {ident(kind.table)} WHERE {where}"
        for batch in self._stream(sql, params, batch_size):
            yield decode_json(kind, batch)

    def _count(self, table: str, where: str, params: Sequence) -> int:
        return self._query(f"SELECT count(*) AS n FROM {ident(table)} WHERE {where}", params)[0]["n"]

    def _touching_edges(
        self, rel: RelKind, label: str, key: str, *, since: datetime | None, until: datetime | None, limit: int
    ) -> tuple[int, list[dict]]:
        side, params = side_and_window(rel, label, key, since, until)
        total = self._count(rel.table, side, params)
        order = 'COALESCE("count", 0) DESC, ' if "count" in rel.names else ""
        found = self._query(
            f"SELECT {column_list(rel)} FROM {ident(rel.table)} WHERE {side} ORDER BY {order}src, dst LIMIT {int(limit)}",
            params,
        )
        return total, [_rows.rel_row(rel, row) for row in found]

    def neighbour_counts(
        self, label: str, key: str, *, since: datetime | None = None, until: datetime | None = None
    ) -> dict[str, int]:
        node_kind(label)
        counts = {}
        for rel in _rows.touching(label, None):
            side, params = side_and_window(rel, label, key, since, until)
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
            f"SELECT {column_list(kind, 'c')} FROM {ident(kind.table)} c LEFT JOIN {ident(run.table)} r ON r.run_id = c.run_id "
            "WHERE c.cluster_id = ? ORDER BY r.started_at ASC NULLS LAST, c.run_id",
            [cluster_id],
        )
        return [_rows.node_row(kind, row) for row in found]

    def _cluster_members(self, cluster_id: str, run_id: str) -> list[dict]:
        kind = rel_kind(MEMBER_OF)
        found = self._query(
            f"SELECT src, member_score, reasons, sub_group FROM {ident(kind.table)} WHERE dst = ? "
            "ORDER BY member_score DESC NULLS LAST, src",
            [_rows.cluster_key(run_id, cluster_id)],
        )
        return [_rows.member_out(row, cluster_id, run_id) for row in found]

    def labels(self, entity: str | None = None, entity_id: str | None = None) -> list[dict]:
        where, params = label_filter(entity, entity_id)
        return self._nodes(node_kind(LABEL), where, params, "ORDER BY created_at, label_id")

    def audit_events(self, target: str | None = None, limit: int | None = None) -> list[dict]:
        where, params = ("target = ?", [target]) if target is not None else ("TRUE", [])
        tail = 'ORDER BY "at" DESC, event_id DESC'
        if limit is not None:
            tail += f" LIMIT {int(limit)}"
        return self._nodes(node_kind(AUDIT), where, params, tail)

    def counts(self) -> dict[str, int]:
        kinds = [(n.label, n.table) for n in NODES] + [(r.type, r.table) for r in RELATIONSHIPS]
        sql = " UNION ALL ".join(f"SELECT ? AS name, count(*) AS n FROM {ident(table)}" for _, table in kinds)
        found = {row["name"]: row["n"] for row in self._query(sql, [name for name, _ in kinds])}
        return {name: int(found[name]) for name, _ in kinds}

    def shares_warehouse(self, db_path: str | Path) -> bool:
        return Path(db_path).resolve() == self.db_path
