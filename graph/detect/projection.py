"""Projection: from a workspace's store and event table to what detection works on.

The graph store (embedded or Neo4j) holds the aggregated graph: accounts,
IPs and devices, and request edges with counts. The workspace's DuckDB event
table holds every request. Detection reads:

* account creation times and labels from the store;
* the clusters of earlier runs, for stable ids;
* the request events, left in DuckDB and queried there: the account-to-
  infrastructure edges detection weighs are aggregated from them in SQL, only
  for the accounts it needs (the same edges ingest wrote to the store as
  ``USED_IP`` and ``USED_DEVICE``, without reading millions of them back).

:func:`infrastructure_frame` and :func:`bipartite_graph` project the store's
own edges (either backend) for callers that want the whole
account-to-infrastructure graph. Both backends answer the same reads, so
detection gives the same result on either.
"""

from __future__ import annotations

from collections.abc import Mapping

import networkx as nx
import pandas as pd

from graph import warehouse
from graph.detect.frames import Events
from graph.detect.infrastructure import EDGE_COLUMNS
from graph.errors import SybilscopeError
from graph.schema import ACCOUNT, IP, USED_DEVICE, USED_IP, node_kind
from graph.store.base import GraphStore
from graph.workspace import Workspace

__all__ = [
    "workspace_events",
    "infrastructure_frame",
    "accounts_frame",
    "cluster_history",
    "bipartite_graph",
]


def workspace_events(workspace: Workspace) -> Events:
    """The workspace's event table as detection's :class:`~graph.detect.frames.Events`.

    On the ``spark`` engine, the workspace's Parquet events read by Spark
    (:func:`graph.spark.events.lake_events`), behind the same interface.
    """
    if workspace.settings.engine == "spark":
        from graph.spark.events import lake_events  # PySpark is optional: imported only when chosen

        return lake_events(workspace)
    events = Events(warehouse.connect(workspace.db_path), warehouse.EVENTS_TABLE)
    if not events.exists():
        raise SybilscopeError(
            f"the workspace {workspace.root} has no request events yet: run `sybilscope ingest CASE_DIR` first"
        )
    return events


def infrastructure_frame(store: GraphStore, *, batch_size: int = 100_000) -> pd.DataFrame:
    """Account-to-infrastructure edges (IP, prefix, device) projected from the store.

    Returns
    -------
    DataFrame
        Columns :data:`graph.detect.infrastructure.EDGE_COLUMNS`; ``lookups``
        is not kept on store edges and comes back empty.
    """
    ip_rows = [row for batch in store.iter_nodes(IP, batch_size=batch_size) for row in batch]
    ips = pd.DataFrame(ip_rows, columns=None) if ip_rows else pd.DataFrame(columns=["ip", "prefix", "kind", "country", "asn"])
    for column in ("prefix", "kind", "country", "asn"):
        if column not in ips.columns:
            ips[column] = None
    ips = ips[["ip", "prefix", "kind", "country", "asn"]].rename(columns={"ip": "entity"})
    used_ip = pd.DataFrame(
        [(e["src"], e["dst"], e.get("count") or 0) for batch in store.iter_edges(USED_IP, batch_size=batch_size) for e in batch],
        columns=["account_id", "entity", "requests"],
    )
    used_ip = used_ip.merge(ips, on="entity", how="left")
    used_ip["kind"] = used_ip["kind"].fillna("unknown")
    used_ip["entity_type"] = "ip"
    prefix = (
        used_ip.dropna(subset=["prefix"])
        .groupby(["account_id", "prefix"], sort=True)
        .agg(requests=("requests", "sum"), kind=("kind", "first"), country=("country", "first"), asn=("asn", "first"))
        .reset_index()
        .rename(columns={"prefix": "entity"})
    )
    prefix["entity_type"] = "prefix"
    device = pd.DataFrame(
        [(e["src"], e["dst"], e.get("count") or 0) for batch in store.iter_edges(USED_DEVICE, batch_size=batch_size) for e in batch],
        columns=["account_id", "entity", "requests"],
    )
    device["entity_type"] = "device"
    device["kind"] = "device"
    device["country"] = None
    device["asn"] = None
    edges = pd.concat([used_ip.drop(columns=["prefix"]), prefix, device], ignore_index=True)
    edges["lookups"] = pd.NA
    edges["asn"] = pd.to_numeric(edges["asn"], errors="coerce").astype("Int64")
    edges["requests"] = edges["requests"].astype("int64")
    edges["entity_accounts"] = edges.groupby(["entity_type", "entity"])["account_id"].transform("nunique")
    edges = edges.sort_values(["entity_type", "entity", "account_id"], ignore_index=True)
    return edges[list(EDGE_COLUMNS)]


def accounts_frame(store: GraphStore, workspace: Workspace | None = None, *, batch_size: int = 100_000) -> pd.DataFrame:
    """Account ids with ``created_at`` (epoch ms) from the store: the population sign-up bursts are judged against.

    With the embedded store and its ``workspace``, the two columns are read
    in SQL straight from the store's account table (a million accounts as
    Python dicts would cost gigabytes); otherwise through ``iter_nodes``.
    """
    if store.backend == "embedded" and workspace is not None:
        cursor = warehouse.connect(workspace.db_path)
        frame = cursor.execute(
            f"SELECT account_id, epoch_ms(created_at) AS created_at FROM {node_kind(ACCOUNT).table} ORDER BY account_id"
        ).df()
        frame["created_at"] = frame["created_at"].astype("float64")
        return frame
    rows = [
        (row["account_id"], row.get("created_at"))
        for batch in store.iter_nodes(ACCOUNT, batch_size=batch_size)
        for row in batch
    ]
    frame = pd.DataFrame(rows, columns=["account_id", "created_at"])
    created = pd.to_datetime(frame["created_at"], utc=True)
    frame["created_at"] = created.astype("datetime64[ms, UTC]").astype("int64").where(created.notna()).astype("float64")
    return frame.sort_values("account_id", ignore_index=True)


def cluster_history(store: GraphStore, *, runs: int = 3) -> list[dict[str, list[str]]]:
    """Members of each cluster of the last ``runs`` detection runs, newest run first."""
    history = []
    for run in store.runs()[:runs]:
        run_id = run["run_id"]
        history.append(
            {
                cluster["cluster_id"]: [m["account_id"] for m in store.members(cluster["cluster_id"], run_id)]
                for cluster in store.clusters(run_id)
            }
        )
    return history


def bipartite_graph(edges: pd.DataFrame, accounts: Mapping[str, object] | None = None) -> nx.Graph:
    """The account-to-infrastructure graph: account nodes and ``ip:``/``prefix:``/``device:`` nodes.

    Parameters
    ----------
    edges : DataFrame
        Account-to-infrastructure edges (:data:`~graph.detect.infrastructure.EDGE_COLUMNS`).
    accounts : collection, optional
        Only these accounts.

    Returns
    -------
    networkx.Graph
        Nodes carry ``bipartite`` (0 accounts, 1 infrastructure) and, for
        infrastructure, ``entity_type`` and ``kind``; edges carry ``requests``.

    Examples
    --------
    >>> edges = pd.DataFrame({"account_id": ["a", "b"], "entity_type": "ip", "entity": "5.1.1.1",
    ...                       "requests": [3, 4], "kind": "hosting"})
    >>> sorted(bipartite_graph(edges).neighbors("ip:5.1.1.1"))
    ['a', 'b']
    """
    if accounts is not None:
        edges = edges[edges["account_id"].isin(set(accounts))]
    G = nx.Graph()
    for account, entity_type, entity, requests, kind in sorted(
        zip(edges["account_id"], edges["entity_type"], edges["entity"], edges["requests"], edges["kind"], strict=True)
    ):
        node = f"{entity_type}:{entity}"
        G.add_node(account, bipartite=0)
        G.add_node(node, bipartite=1, entity_type=entity_type, kind=kind)
        G.add_edge(account, node, requests=int(requests))
    return G
