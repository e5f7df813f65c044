"""The one interface every graph store implements.

Two backends implement it: :mod:`graph.store.embedded` (DuckDB in the
workspace, the default) and :mod:`graph.store.neo4j` (any Neo4j 5 compatible
server over Bolt). One contract test suite (``tests/test_store_contract.py``)
runs against both, so the rest of sybilscope never asks which one it has.

Conventions shared by every method:

* Node rows are dicts keyed by the schema's property names; the node kind's
  key property is required. Relationship rows carry ``src`` and ``dst`` (the
  key values of the two endpoints) plus the relationship's properties.
* Timestamps are timezone-aware UTC ``datetime`` in and out; ``json``
  properties are plain Python values in and out.
* Writes are atomic a call: a batch lands whole or not at all.
* Labels and audit events are append-only: there is no method to change or
  delete them.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from graph.schema import AUDIT, LABEL, NodeKind, RelKind, node_kind
from graph.store import _rows

__all__ = ["GraphStore", "Neighbourhood"]


@dataclass
class Neighbourhood:
    """An entity's bounded neighbourhood.

    ``nodes`` are dicts with ``_label`` and ``_key`` added; ``edges`` are dicts
    with ``type``, ``src``, ``dst``, ``src_label``, ``dst_label`` and the
    relationship's properties. ``total`` counts every matching relationship,
    ``truncated`` says whether ``limit`` cut the list.
    """

    center: dict | None
    nodes: list[dict] = field(default_factory=list)
    edges: list[dict] = field(default_factory=list)
    total: int = 0
    truncated: bool = False


class GraphStore(ABC):
    """Batched upserts, streaming reads and append-only records over the schema."""

    #: ``"embedded"`` or ``"neo4j"``
    backend: str
    #: whether every write will be refused (a workspace this process may not write)
    read_only: bool = False

    # -- set-up ---------------------------------------------------------------
    @abstractmethod
    def ensure_schema(self) -> None:
        """Create tables or constraints and indexes that are missing (idempotent)."""

    @abstractmethod
    def close(self) -> None:
        """Release connections."""

    def __enter__(self) -> GraphStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- writes ---------------------------------------------------------------
    @abstractmethod
    def upsert_nodes(self, label: str, rows: Sequence[Mapping]) -> int:
        """Create or update nodes by key; returns the number of rows written.

        A property that is ``None`` or absent in a row leaves the stored value
        alone, so partial knowledge (an account seen only as a lookup match)
        never erases fuller knowledge. Rows with the same key in one batch are
        merged, later rows winning.
        """

    def upsert_new_nodes(self, label: str, rows: Sequence[Mapping]) -> int:
        """:meth:`upsert_nodes` for rows the caller knows to be new nodes (ingest knows it from the events).

        A store where upserting costs a look for the key (Neo4j's ``MERGE``)
        creates them without one. A row that proves otherwise (a run resumed
        after a kill wrote it already) is still written right. The result is
        :meth:`upsert_nodes`'s.
        """
        return self.upsert_nodes(label, rows)

    @abstractmethod
    def upsert_edges(self, rel_type: str, rows: Sequence[Mapping]) -> int:
        """Create or update relationships by ``(src, dst)``; returns rows written.

        Missing endpoint nodes are created with their key only. Properties
        given replace the stored ones (``None`` leaves them): request edges are
        aggregates that ingest recomputes, so setting (not adding) keeps
        re-ingest idempotent.
        """

    def upsert_changed_edges(self, rel_type: str, rows: Sequence[Mapping], *, new: bool, start: str = "src") -> int:
        """:meth:`upsert_edges` for rows the caller knows to be all new (``new=True``) or all existing.

        Ingest knows it from the events: an edge whose every event is in the
        batches being synced is new. A store where finding a relationship
        costs an endpoint's degree (Neo4j: an enumerating account holds tens
        of thousands) creates new ones without a look and finds existing ones
        from ``start`` (``"src"`` or ``"dst"``), the endpoint with fewer
        relationships. A row that proves otherwise (a resumed run wrote it
        already) is still written right. The result is :meth:`upsert_edges`'s.
        """
        _rows.check_start(start)
        return self.upsert_edges(rel_type, rows)

    @abstractmethod
    def save_run(self, run: Mapping, clusters: Sequence[Mapping], members: Sequence[Mapping]) -> None:
        """Store a detection run with its clusters and memberships, atomically.

        ``run`` is a :data:`~graph.schema.RUN` row; each cluster row a
        :data:`~graph.schema.CLUSTER` row without ``cluster_key`` and
        ``run_id`` (they are filled in); each member row has ``account_id``,
        ``cluster_id``, ``member_score`` and optional ``reasons`` and
        ``sub_group`` (the account's squad when the cluster is an operation
        of several; ``None`` or ``""`` when it is one group). Saving a
        run id that exists replaces its clusters and memberships whole.
        """

    def append_labels(self, rows: Sequence[Mapping]) -> int:
        """Append labels (never update): ``label_id`` and ``created_at`` are filled in when absent."""
        if not rows:
            return 0
        return self._append(node_kind(LABEL), _rows.fill_labels(rows))

    def append_audit(self, rows: Sequence[Mapping]) -> int:
        """Append audit events (never update): ``event_id`` and ``at`` are filled in when absent."""
        if not rows:
            return 0
        return self._append(node_kind(AUDIT), _rows.fill_audit(rows))

    @abstractmethod
    def _append(self, kind: NodeKind, rows: list[dict]) -> int:
        """Insert filled-in rows whose keys must all be new, in one transaction; returns rows written.

        A key that repeats in ``rows`` or exists already is a ``ValueError``
        and writes nothing: labels and audit events are never updated.
        """

    @abstractmethod
    def append_judgement(self, label: Mapping, audit: Callable[[list[dict]], Mapping]) -> tuple[dict, dict]:
        """Append one label and the audit event that records it, in one transaction.

        ``audit(labels)`` is called inside that transaction with the labelled
        entity's labels as they stand just before this one (oldest first) and
        returns the audit row, so the event's ``before`` is the state this
        label really changed, whoever else is labelling. It may be called
        again when the transaction is retried: it must only compute.
        ``created_at`` and ``at`` are set inside the transaction, so labels
        sort in the order their events record. Returns the label and the event.
        """

    # -- reads ----------------------------------------------------------------
    @abstractmethod
    def get_nodes(self, label: str, keys: Sequence[str]) -> list[dict]:
        """The nodes with these keys that exist, in no particular order."""

    def get_node(self, label: str, key: str) -> dict | None:
        found = self.get_nodes(label, [key])
        return found[0] if found else None

    @abstractmethod
    def iter_nodes(self, label: str, *, batch_size: int = 50_000) -> Iterator[list[dict]]:
        """Every node of a label, in batches (for projection and export)."""

    @abstractmethod
    def iter_edges(
        self,
        rel_type: str,
        *,
        since: datetime | None = None,
        until: datetime | None = None,
        batch_size: int = 50_000,
    ) -> Iterator[list[dict]]:
        """Every relationship of a type, in batches of dicts with ``src``, ``dst`` and properties.

        With ``since``/``until``, only relationships whose ``[first_seen,
        last_seen]`` overlaps the window (types without those properties
        ignore the window).
        """

    def neighbourhood(
        self,
        label: str,
        key: str,
        *,
        rel_types: Sequence[str] | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        limit: int = 200,
    ) -> Neighbourhood:
        """The node and up to ``limit`` of its relationships (both directions), busiest first.

        The checks, the centre, the ranking across types and the far-end
        nodes are the same on every backend; only fetching one type's
        relationships (:meth:`_touching_edges`) is the backend's own.
        """
        kind = node_kind(label)
        if limit < 0:
            raise ValueError(f"limit must be 0 or more, not {limit}")
        rels = _rows.touching(label, rel_types)
        center = self.get_node(label, key)
        if center is None:
            return Neighbourhood(center=None)
        edges: list[dict] = []
        total = 0
        for rel in rels:
            count, found = self._touching_edges(rel, label, key, since=since, until=until, limit=limit)
            total += count
            edges.extend({"type": rel.type, "src_label": rel.src, "dst_label": rel.dst, **row} for row in found)
        edges.sort(key=lambda e: (-_rows.weight(e), e["type"], e["src"], e["dst"]))
        edges = edges[:limit]
        return Neighbourhood(
            center={"_label": kind.label, "_key": key, **center},
            nodes=_rows.neighbour_nodes(self.get_nodes, label, key, edges),
            edges=edges,
            total=total,
            truncated=total > len(edges),
        )

    @abstractmethod
    def _touching_edges(
        self, rel: RelKind, label: str, key: str, *, since: datetime | None, until: datetime | None, limit: int
    ) -> tuple[int, list[dict]]:
        """One relationship type's share of :meth:`neighbourhood`.

        Returns how many relationships of type ``rel`` touch the node (either
        end) and overlap the window, and up to ``limit`` of them, busiest
        first, as rows with ``src``, ``dst`` and the relationship's properties.
        """

    @abstractmethod
    def neighbour_counts(
        self, label: str, key: str, *, since: datetime | None = None, until: datetime | None = None
    ) -> dict[str, int]:
        """How many relationships of each type the node has: shown before expanding."""

    @abstractmethod
    def runs(self) -> list[dict]:
        """Detection runs, newest first."""

    def latest_run(self) -> dict | None:
        found = self.runs()
        return found[0] if found else None

    def clusters(self, run_id: str | None = None) -> list[dict]:
        """The clusters of a run (the latest run when ``None``), highest score first."""
        if run_id is None:
            latest = self.latest_run()
            if latest is None:
                return []
            run_id = latest["run_id"]
        return self._run_clusters(run_id)

    @abstractmethod
    def _run_clusters(self, run_id: str) -> list[dict]:
        """The clusters of run ``run_id``, highest score first."""

    @abstractmethod
    def cluster_history(self, cluster_id: str) -> list[dict]:
        """The cluster's rows across every run that found it, oldest run first."""

    def members(self, cluster_id: str, run_id: str | None = None) -> list[dict]:
        """Member rows (``account_id``, ``member_score``, ``reasons``, ``sub_group``), strongest first.

        Without ``run_id``, the members in the last run that found the cluster.
        """
        if run_id is None:
            history = self.cluster_history(cluster_id)
            if not history:
                return []
            run_id = history[-1]["run_id"]
        return self._cluster_members(cluster_id, run_id)

    @abstractmethod
    def _cluster_members(self, cluster_id: str, run_id: str) -> list[dict]:
        """:meth:`members` of the cluster in run ``run_id``."""

    @abstractmethod
    def labels(self, entity: str | None = None, entity_id: str | None = None) -> list[dict]:
        """Labels, oldest first, optionally for one entity kind or one entity."""

    @abstractmethod
    def audit_events(self, target: str | None = None, limit: int | None = None) -> list[dict]:
        """Audit events, newest first, optionally for one target."""

    @abstractmethod
    def counts(self) -> dict[str, int]:
        """Number of nodes per label and relationships per type (every schema name present)."""

    # -- placement ------------------------------------------------------------
    def shares_warehouse(self, db_path: str | Path) -> bool:
        """Whether the graph lives in the DuckDB file ``db_path`` (the workspace's warehouse).

        Then SQL on that file can write the graph in place (the embedded
        store's ``upsert_query``), and ingest aggregates without moving rows
        out of DuckDB. Stores elsewhere (a Neo4j server) say no.
        """
        return False
