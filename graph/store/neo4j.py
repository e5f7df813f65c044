"""The graph in a Neo4j 5 compatible server, through the official ``neo4j`` driver over Bolt.

Rules this store keeps, because servers differ and data is hostile (the Cypher
text is built in :mod:`graph.store.neo4j_cypher`, the writes in
:mod:`graph.store.neo4j_writes`):

* Labels, relationship types and property names come only from
  :mod:`graph.schema` (checked with ``node_kind``/``rel_kind``); values travel
  as parameters, never inside the Cypher text.
* Every write is one managed transaction (``session.execute_write``): a call's
  batch lands whole or not at all, and the driver retries transient
  failures. Large batches are sent in chunks of ``chunk_size`` rows inside
  that one transaction.
* ``None`` never reaches ``SET n += row``: there it would delete the property,
  and the contract says ``None`` leaves stored values alone.
* Timestamps are native DateTime values on the server, so Cypher compares
  and sorts them and other tools read them as times. They travel as ISO
  text both ways (``datetime($text)`` in, ``toString()`` out): the Python
  driver's own temporal packing costs about 100 us a value. ArcadeDB's Bolt
  server returns DateTime parameters it stored as zone-less UTC wall time;
  text with ``Z`` avoids that ambiguity too. Callers get aware UTC
  ``datetime`` values.
* ``json`` properties are JSON strings (Neo4j has no map properties).
* Every session names its database: a pooled connection otherwise keeps
  the database it used last.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import datetime

import neo4j
from neo4j import GraphDatabase
from neo4j import exceptions as neo4j_errors

from graph.errors import StoreError
from graph.schema import (
    ACCOUNT,
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
from graph.store.neo4j_cypher import (
    REL_KEY,
    ident,
    index_name,
    match_where,
    parse_time,
    pattern,
    props_map,
    read_props,
    rel_key_constraint,
    rel_key_name,
    schema_entries,
    window,
)
from graph.store.neo4j_writes import (
    append_in,
    create_node_statement,
    edge_statement,
    lower_degree_starts,
    node_statement,
    prepare,
    prepare_nodes,
    rel_key,
    run_chunks,
    save_run_work,
    upsert_from,
    with_rel_keys,
)

__all__ = ["Neo4jStore", "index_name"]

BOLT_SCHEMES = ("bolt", "bolt+s", "bolt+ssc", "neo4j", "neo4j+s", "neo4j+ssc")
ENV_HINT = "SYBILSCOPE_NEO4J_URI, SYBILSCOPE_NEO4J_USER, SYBILSCOPE_NEO4J_PASSWORD and SYBILSCOPE_NEO4J_DATABASE"


def _one_line(message: object) -> str:
    """Driver messages span lines; errors reach the user as one."""
    return " ".join(str(message).split())


def _ordered(rows: list[dict], *keys: tuple[str, bool]) -> list[dict]:
    """Rows sorted like SQL ``ORDER BY k1 [DESC], k2 [DESC] ... NULLS LAST`` (what the embedded store does)."""
    for name, descending in reversed(keys):
        present = [row for row in rows if row.get(name) is not None]
        missing = [row for row in rows if row.get(name) is None]
        rows = sorted(present, key=lambda row, n=name: row[n], reverse=descending) + missing
    return rows


# how often a label write starts again after losing a race with another writer of the same entity
_JUDGEMENT_ATTEMPTS = 100


class _StaleState(Exception):
    """Another transaction recorded a change of this entity since this one read it."""


def _lost_race(error: BaseException | None) -> bool:
    """Whether a failed commit was the unique constraint refusing a second event for one state."""
    if isinstance(error, neo4j_errors.ConstraintError):
        return True
    text = f"{getattr(error, 'code', '')} {getattr(error, 'message', '')}".lower()
    return isinstance(error, neo4j_errors.Neo4jError) and ("duplicate" in text or "unique" in text)


class Neo4jStore(GraphStore):
    """The graph in a Neo4j 5 compatible server (see the module docstring).

    Parameters
    ----------
    uri : str
        Bolt URI, e.g. ``bolt://127.0.0.1:7687`` or ``neo4j+s://host``.
    user, password : str or None
        Credentials (basic auth); no user means no authentication.
    database : str
        The database every session names.
    chunk_size : int
        Rows per ``UNWIND`` statement inside a write transaction.
    """

    backend = "neo4j"

    def __init__(
        self,
        uri: str,
        user: str | None,
        password: str | None,
        database: str = "neo4j",
        *,
        chunk_size: int = 5_000,
    ):
        if not uri:
            raise StoreError(f"no Neo4j URI: set SYBILSCOPE_NEO4J_URI (e.g. bolt://127.0.0.1:7687); see {ENV_HINT}")
        self.uri = uri
        self.user = user
        self.database = database or "neo4j"
        self.chunk_size = chunk_size
        scheme = uri.split("://", 1)[0].lower() if "://" in uri else ""
        if scheme not in BOLT_SCHEMES:
            raise StoreError(
                f"{uri!r} is not a Bolt URI: set SYBILSCOPE_NEO4J_URI to e.g. bolt://127.0.0.1:7687 "
                f"(schemes: {', '.join(BOLT_SCHEMES)})"
            )
        auth = neo4j.basic_auth(user, password or "") if user else None
        try:
            self._driver = GraphDatabase.driver(uri, auth=auth)
        except (ValueError, neo4j_errors.ConfigurationError) as exc:
            raise StoreError(f"{uri!r} is not a Bolt URI ({exc}): set SYBILSCOPE_NEO4J_URI to e.g. bolt://host:7687") from exc

    def __repr__(self) -> str:
        return f"Neo4jStore({self.uri!r}, database={self.database!r})"

    # -- driver plumbing ------------------------------------------------------
    @contextmanager
    def _errors(self, doing: str) -> Iterator[None]:
        """Driver errors as one :class:`StoreError` sentence that says what to do."""
        where = f"the Neo4j server at {self.uri}"
        try:
            yield
        except neo4j_errors.AuthError as exc:
            raise StoreError(
                f"{where} refused the credentials of user {self.user!r} while {doing}: "
                "check SYBILSCOPE_NEO4J_USER and SYBILSCOPE_NEO4J_PASSWORD"
            ) from exc
        except (neo4j_errors.ServiceUnavailable, neo4j_errors.SessionExpired, OSError) as exc:
            raise StoreError(
                f"cannot reach {where} while {doing} ({_one_line(exc)}): is it running? Set {ENV_HINT}"
            ) from exc
        except neo4j_errors.Neo4jError as exc:
            if "DatabaseNotFound" in (exc.code or ""):
                raise StoreError(
                    f"{where} has no database {self.database!r}: create it or set SYBILSCOPE_NEO4J_DATABASE"
                ) from exc
            raise StoreError(f"{where} (database {self.database!r}) failed while {doing}: {_one_line(exc.message)}") from exc
        except neo4j_errors.DriverError as exc:
            raise StoreError(f"the Neo4j driver failed while {doing} against {where}: {_one_line(exc)}") from exc

    def _read(self, query: str, doing: str, **params: object) -> list[dict]:
        with self._errors(doing):
            records, _, _ = self._driver.execute_query(
                query, params, database_=self.database, routing_=neo4j.RoutingControl.READ
            )
        return [record.data() for record in records]

    def _write(self, work: Callable[[neo4j.ManagedTransaction], object], doing: str) -> object:
        """Run ``work`` as one managed write transaction (retried by the driver on transient errors)."""
        with self._errors(doing), self._driver.session(database=self.database) as session:
            return session.execute_write(work)

    # -- set-up ---------------------------------------------------------------
    def ensure_schema(self) -> None:
        """Named uniqueness constraints on every node and relationship key, named indexes on indexed properties.

        A relationship type's key constraint is created only after its
        relationships written before keys existed got theirs
        (:meth:`_backfill_rel_keys`): so a type whose constraint exists needs
        no look through its relationships (a scan of the whole graph on a
        server without relationship property indexes), and a run killed
        while keying finds the constraint missing and keys the rest.
        """
        with self._errors("opening the graph store"):
            # fails at once when the server is down, where execute_query would retry for 30 s
            self._driver.verify_connectivity()
        existing = {row["name"] for row in self._read("SHOW CONSTRAINTS YIELD name RETURN name", "reading constraints")}
        indexes = {row["name"] for row in self._read("SHOW INDEXES YIELD name RETURN name", "reading indexes")}
        with self._errors("creating constraints and indexes"):
            for name, statement in schema_entries(relationships=False):
                # only what is missing: a round trip each, paid by every command that opens the store
                if name not in existing and name not in indexes:
                    # schema changes cannot share a transaction with other statements in Neo4j
                    self._driver.execute_query(statement, database_=self.database)
        for kind in RELATIONSHIPS:
            if rel_key_name(kind) in existing:
                continue
            if kind.type not in (MEMBER_OF, FOUND_IN):  # run and membership relationships carry no key
                self._backfill_rel_keys(kind)
            with self._errors("creating constraints"):
                self._driver.execute_query(rel_key_constraint(kind), database_=self.database)

    def _backfill_rel_keys(self, kind: RelKind, batch: int = 5_000) -> None:
        """Give request relationships of ``kind`` written before relationship keys existed their key.

        Relationships are created by key now (:meth:`upsert_edges`); one
        without a key would be written again beside itself.
        """
        src, dst = node_kind(kind.src), node_kind(kind.dst)
        find = (
            f"MATCH (a:{ident(src.label)})-[r:{ident(kind.type)}]->(b:{ident(dst.label)}) "
            f"WHERE r.{ident(REL_KEY)} IS NULL AND a.{ident(src.key)} IS NOT NULL AND b.{ident(dst.key)} IS NOT NULL "
            f"RETURN a.{ident(src.key)} AS src, b.{ident(dst.key)} AS dst LIMIT $batch"
        )
        mark = (
            f"UNWIND $rows AS row MATCH (a:{ident(src.label)} {{{ident(src.key)}: row.src}})"
            f"-[r:{ident(kind.type)}]->(b:{ident(dst.label)} {{{ident(dst.key)}: row.dst}}) "
            f"WHERE r.{ident(REL_KEY)} IS NULL SET r.{ident(REL_KEY)} = row.key"
        )
        while rows := self._read(find, f"finding unkeyed {kind.type} relationships", batch=batch):
            keyed = [{**row, "key": rel_key(row["src"], row["dst"])} for row in rows]
            self._write(lambda tx, keyed=keyed, mark=mark: tx.run(mark, rows=keyed).consume(),
                        f"keying {kind.type} relationships")
            if len(rows) < batch:
                break

    def close(self) -> None:
        self._driver.close()

    # -- writes ---------------------------------------------------------------
    def upsert_nodes(self, label: str, rows: _rows.Rows) -> int:
        """See :meth:`GraphStore.upsert_nodes`; ``rows`` may also be a ``pyarrow.Table``."""
        kind = node_kind(label)
        prepared = prepare_nodes(kind, rows)
        return self._write_rows(node_statement(kind, prepared), prepared, f"writing {kind.label} nodes")

    def upsert_new_nodes(self, label: str, rows: _rows.Rows) -> int:
        """See :meth:`GraphStore.upsert_new_nodes`: created; if one exists, the transaction is rolled back and
        the rows upserted instead (``MERGE``)."""
        kind = node_kind(label)
        prepared = prepare_nodes(kind, rows)
        if not prepared:
            return 0
        doing = f"writing new {kind.label} nodes"
        create, upsert = create_node_statement(kind, prepared), node_statement(kind, prepared)
        with self._errors(doing), self._driver.session(database=self.database) as session:
            try:
                session.execute_write(lambda tx: run_chunks(tx, create, prepared, self.chunk_size))
            except neo4j_errors.ConstraintError:  # rolled back whole: a resumed run wrote some already
                session.execute_write(lambda tx: run_chunks(tx, upsert, prepared, self.chunk_size))
        return len(prepared)

    def upsert_edges(self, rel_type: str, rows: _rows.Rows) -> int:
        """See :meth:`GraphStore.upsert_edges`; ``rows`` may also be a ``pyarrow.Table``.

        Most request edges of a batch are new (all on a first load): they are
        created. When the key's constraint refuses one, the transaction is
        rolled back and the rows are written again from the endpoint whose key
        repeats less among them (:func:`lower_degree_starts`). Callers that
        know which edges exist use :meth:`upsert_changed_edges` and need no
        rollback.
        """
        kind = rel_kind(rel_type)
        prepared = with_rel_keys(prepare(kind, rows))
        if not prepared:
            return 0
        self._create_or_upsert(kind, prepared, lower_degree_starts(prepared))
        return len(prepared)

    def upsert_changed_edges(self, rel_type: str, rows: _rows.Rows, *, new: bool, start: str = "src") -> int:
        """See :meth:`GraphStore.upsert_changed_edges`: new edges created, existing ones found from ``start``."""
        kind, start = rel_kind(rel_type), _rows.check_start(start)
        prepared = with_rel_keys(prepare(kind, rows))
        if not prepared:
            return 0
        if new:
            self._create_or_upsert(kind, prepared, {start: prepared})
        else:
            self._write(lambda tx: upsert_from(tx, kind, prepared, start, self.chunk_size),
                        f"updating {kind.type} relationships")
        return len(prepared)

    def _create_or_upsert(self, kind: RelKind, prepared: list[dict], starts: Mapping[str, list[dict]]) -> None:
        """Create every relationship; if one exists (a run resumed after a kill), upsert them from ``starts``."""
        create = edge_statement(kind, prepared)
        with self._errors(f"writing {kind.type} relationships"), self._driver.session(database=self.database) as session:
            try:
                session.execute_write(lambda tx: run_chunks(tx, create, prepared, self.chunk_size))
            except neo4j_errors.ConstraintError:  # rolled back whole: write them again, finding those that exist
                session.execute_write(lambda tx: [
                    upsert_from(tx, kind, group, start, self.chunk_size) for start, group in starts.items() if group
                ])

    def _write_rows(self, statement: str, prepared: list[dict], doing: str) -> int:
        """Run ``statement`` over every prepared row in one transaction; returns the rows written."""
        if not prepared:
            return 0
        self._write(lambda tx: run_chunks(tx, statement, prepared, self.chunk_size), doing)
        return len(prepared)

    def save_run(self, run: Mapping, clusters: Sequence[Mapping], members: Sequence[Mapping]) -> None:
        run_kind, cluster_kind = node_kind(RUN), node_kind(CLUSTER)
        run_id = _rows.check_key("a detection run", run.get(run_kind.key))
        cluster_rows = _rows.cluster_rows(run_id, clusters)
        cluster_keys = {row["cluster_id"]: row["cluster_key"] for row in cluster_rows}
        (run_row,) = prepare_nodes(run_kind, [run])
        cluster_prepared = prepare_nodes(cluster_kind, cluster_rows)
        member_prepared = prepare(rel_kind(MEMBER_OF), _rows.member_rows(run_id, cluster_keys, members))
        work = save_run_work(run_id, run_row, cluster_prepared, member_prepared, self.chunk_size)
        self._write(work, f"saving detection run {run_id}")

    def _append(self, kind: NodeKind, rows: list[dict]) -> int:
        """Create nodes whose keys must all be new: labels and audit events are never updated."""
        _rows.check_unique(kind.label, [row[kind.key] for row in rows])
        prepared = prepare_nodes(kind, rows)
        self._write(lambda tx: append_in(tx, kind, prepared, self.chunk_size), f"appending {kind.label} nodes")
        return len(prepared)

    def append_judgement(self, label: Mapping, audit: Callable[[list[dict]], Mapping]) -> tuple[dict, dict]:
        """See :meth:`GraphStore.append_judgement`.

        Reading inside the transaction is not enough on a server that reads
        committed data only: two transactions could read the same state and
        both commit. So the event's id names the state it changes (the entity
        and how many labels it had): two transactions that read the same state
        write the same id, the unique constraint lets one commit, and the
        other starts again from the new state.
        """
        label_kind, audit_kind = node_kind(LABEL), node_kind(AUDIT)
        _rows.fill_labels([label])  # checked before anything is sent
        entity = f"{label.get('entity')}:{label.get('entity_id')}"
        state = "aud-" + hashlib.sha256(entity.encode("utf-8")).hexdigest()[:20]
        read = (
            f"MATCH (n:{ident(label_kind.label)}) WHERE n.entity = $entity AND n.entity_id = $entity_id "
            f"RETURN {props_map('n', label_kind)} AS p"
        )
        taken = f"MATCH (n:{ident(audit_kind.label)} {{{ident(audit_kind.key)}: $key}}) RETURN count(n) AS n"
        written: dict = {}

        def work(tx: neo4j.ManagedTransaction) -> None:
            # filled here, so a retried transaction gets a fresh time and the state it really saw
            row = _rows.fill_labels([label])[0]
            found = [read_props(label_kind, r["p"]) for r in tx.run(read, entity=row["entity"], entity_id=row["entity_id"])]
            found = _ordered(found, ("created_at", False), ("label_id", False))
            event = _rows.fill_audit([{**audit(found), "event_id": f"{state}-{len(found)}"}])[0]
            label_rows = prepare_nodes(label_kind, [row])
            event_rows = prepare_nodes(audit_kind, [event])
            if tx.run(taken, key=event["event_id"]).single()["n"]:
                raise _StaleState(entity)
            append_in(tx, label_kind, label_rows, self.chunk_size)
            try:
                append_in(tx, audit_kind, event_rows, self.chunk_size)
            except ValueError as exc:  # committed by another writer since the check above
                raise _StaleState(entity) from exc
            written.update(label=row, event=event)

        doing = f"appending a label on {entity}"
        for _attempt in range(_JUDGEMENT_ATTEMPTS):
            try:
                self._write(work, doing)
                return written["label"], written["event"]
            except _StaleState:
                continue
            except StoreError as exc:
                if not _lost_race(exc.__cause__):
                    raise
        raise StoreError(f"{doing}: others kept changing it for {_JUDGEMENT_ATTEMPTS} attempts; try again")

    # -- reads ----------------------------------------------------------------
    def _nodes(self, kind: NodeKind, where: str = "true", doing: str = "", **params: object) -> list[dict]:
        found = self._read(
            f"MATCH (n:{ident(kind.label)}) WHERE {where} RETURN {props_map('n', kind)} AS p",
            doing or f"reading {kind.label} nodes",
            **params,
        )
        return [read_props(kind, row["p"]) for row in found]

    def get_nodes(self, label: str, keys: Sequence[str]) -> list[dict]:
        kind = node_kind(label)
        if not keys:
            return []
        return self._nodes(kind, f"n.{ident(kind.key)} IN $keys", keys=list(keys))

    def _stream(self, query: str, doing: str, batch_size: int, params: Mapping) -> Iterator[list[dict]]:
        """One query's records in batches, streamed from the server (reads need no write transaction)."""
        if batch_size < 1:
            raise ValueError(f"batch_size must be at least 1, not {batch_size}")
        with self._errors(doing), self._driver.session(
            database=self.database, fetch_size=batch_size, default_access_mode=neo4j.READ_ACCESS
        ) as session:
            batch: list[dict] = []
            for record in session.run(query, dict(params)):
                batch.append(record.data())
                if len(batch) == batch_size:
                    yield batch
                    batch = []
            if batch:
                yield batch

    def iter_nodes(self, label: str, *, batch_size: int = 50_000) -> Iterator[list[dict]]:
        kind = node_kind(label)
        query = f"MATCH (n:{ident(kind.label)}) RETURN {props_map('n', kind)} AS p"
        for batch in self._stream(query, f"reading {kind.label} nodes", batch_size, {}):
            yield [read_props(kind, row["p"]) for row in batch]

    def iter_edges(
        self,
        rel_type: str,
        *,
        since: datetime | None = None,
        until: datetime | None = None,
        batch_size: int = 50_000,
    ) -> Iterator[list[dict]]:
        kind = rel_kind(rel_type)
        src, dst = node_kind(kind.src), node_kind(kind.dst)
        within, params = window(kind, since, until)
        query = (
            f"MATCH (a:{ident(src.label)})-[r:{ident(kind.type)}]->(b:{ident(dst.label)}) WHERE {within} "
            f"RETURN a.{ident(src.key)} AS src, b.{ident(dst.key)} AS dst, {props_map('r', kind)} AS p"
        )
        for batch in self._stream(query, f"reading {kind.type} relationships", batch_size, params):
            yield [{"src": row["src"], "dst": row["dst"], **read_props(kind, row["p"])} for row in batch]

    def _touching_edges(
        self, rel: RelKind, label: str, key: str, *, since: datetime | None, until: datetime | None, limit: int
    ) -> tuple[int, list[dict]]:
        within, params = window(rel, since, until)
        match = match_where(pattern(rel, label), within)
        src, dst = node_kind(rel.src), node_kind(rel.dst)
        doing = f"reading the neighbourhood of {label} {key}"
        total = self._read(f"{match} RETURN count(r) AS n", doing, key=key, **params)[0]["n"]
        found = self._read(
            f"{match} RETURN a.{ident(src.key)} AS src, b.{ident(dst.key)} AS dst, {props_map('r', rel)} AS p "
            "ORDER BY coalesce(r.count, 0) DESC, src, dst LIMIT $limit",
            doing,
            key=key,
            limit=int(limit),
            **params,
        )
        return total, [{"src": row["src"], "dst": row["dst"], **read_props(rel, row["p"])} for row in found]

    def neighbour_counts(
        self, label: str, key: str, *, since: datetime | None = None, until: datetime | None = None
    ) -> dict[str, int]:
        kind = node_kind(label)
        rels = _rows.touching(label, None)
        counts = {rel.type: 0 for rel in rels}
        parts, params = [], {}
        for number, rel in enumerate(rels):
            within, window_params = window(rel, since, until)
            params.update(window_params)
            src, dst = node_kind(rel.src), node_kind(rel.dst)
            near = f"(n)-[r:{ident(rel.type)}]->(:{ident(dst.label)})" if rel.src == label else (
                f"(:{ident(src.label)})-[r:{ident(rel.type)}]->(n)"
            )
            parts.append(f"COUNT {{ MATCH {near} WHERE {within} }} AS c{number}")
        found = self._read(
            f"MATCH (n:{ident(kind.label)} {{{ident(kind.key)}: $key}}) RETURN {', '.join(parts)}",
            f"counting the relationships of {label} {key}",
            key=key,
            **params,
        )
        if found:
            counts = {rel.type: int(found[0][f"c{number}"]) for number, rel in enumerate(rels)}
        return counts

    def runs(self) -> list[dict]:
        found = self._nodes(node_kind(RUN), doing="reading detection runs")
        return _ordered(found, ("started_at", True), ("run_id", True))

    def _run_clusters(self, run_id: str) -> list[dict]:
        found = self._nodes(node_kind(CLUSTER), "n.run_id = $run_id", "reading clusters", run_id=run_id)
        return _ordered(found, ("score", True), ("cluster_id", False))

    def cluster_history(self, cluster_id: str) -> list[dict]:
        kind, run = node_kind(CLUSTER), node_kind(RUN)
        found = self._read(
            f"MATCH (c:{ident(kind.label)} {{cluster_id: $cluster_id}}) "
            f"OPTIONAL MATCH (r:{ident(run.label)} {{{ident(run.key)}: c.run_id}}) "
            f"RETURN {props_map('c', kind)} AS p, toString(r.started_at) AS started_at",
            f"reading the history of cluster {cluster_id}",
            cluster_id=cluster_id,
        )
        rows = [{"row": read_props(kind, f["p"]), "started_at": parse_time(f["started_at"])} for f in found]
        rows = _ordered([{**r, "run_id": r["row"]["run_id"]} for r in rows], ("started_at", False), ("run_id", False))
        return [r["row"] for r in rows]

    def _cluster_members(self, cluster_id: str, run_id: str) -> list[dict]:
        kind, account = node_kind(CLUSTER), node_kind(ACCOUNT)
        member = rel_kind(MEMBER_OF)
        found = self._read(
            f"MATCH (a:{ident(account.label)})-[m:{ident(member.type)}]->"
            f"(c:{ident(kind.label)} {{{ident(kind.key)}: $cluster_key}}) "
            f"RETURN a.{ident(account.key)} AS src, m.member_score AS member_score, m.reasons AS reasons, "
            "m.sub_group AS sub_group",
            f"reading the members of cluster {cluster_id}",
            cluster_key=_rows.cluster_key(run_id, cluster_id),
        )
        ordered = _ordered(found, ("member_score", True), ("src", False))
        return [_rows.member_out(row, cluster_id, run_id) for row in ordered]

    def labels(self, entity: str | None = None, entity_id: str | None = None) -> list[dict]:
        wanted = _rows.label_conditions(entity, entity_id)
        where = " AND ".join(f"n.{name} = ${name}" for name in wanted) or "true"
        found = self._nodes(node_kind(LABEL), where, "reading labels", **wanted)
        return _ordered(found, ("created_at", False), ("label_id", False))

    def audit_events(self, target: str | None = None, limit: int | None = None) -> list[dict]:
        kind = node_kind(AUDIT)
        where = "n.target = $target" if target is not None else "true"
        tail = " LIMIT $limit" if limit is not None else ""
        found = self._read(
            f"MATCH (n:{ident(kind.label)}) WHERE {where} RETURN {props_map('n', kind)} AS p "
            f"ORDER BY n.at DESC, n.{ident(kind.key)} DESC{tail}",
            "reading audit events",
            target=target,
            limit=None if limit is None else int(limit),
        )
        return [read_props(kind, row["p"]) for row in found]

    def counts(self) -> dict[str, int]:
        counts = {}
        for kind in NODES:
            counts[kind.label] = self._read(
                f"MATCH (n:{ident(kind.label)}) RETURN count(n) AS n", "counting nodes"
            )[0]["n"]
        for rel in RELATIONSHIPS:
            counts[rel.type] = self._read(
                f"MATCH ()-[r:{ident(rel.type)}]->() RETURN count(r) AS n", "counting relationships"
            )[0]["n"]
        return counts

