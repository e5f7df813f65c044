"""The entity page's and the search box's questions: one account, IP or device, and what matches a text."""

from __future__ import annotations

import duckdb
import pandas as pd

from app.events import EventReader, as_utc
from graph.schema import ACCOUNT, DEVICE, IP
from graph.store.base import GraphStore

__all__ = ["ENTITY_LABELS", "entity_activity", "handle_index", "search"]

#: entity kinds of the entity page and the node label each is stored under
ENTITY_LABELS = {"account": ACCOUNT, "ip": IP, "device": DEVICE}
_ENTITY_COLUMN = {"account": "account_id", "ip": "ip", "device": "device_id"}


def entity_activity(con: duckdb.DuckDBPyConnection, kind: str, key: str) -> dict:
    """What the requests say about one account, IP or device: volume, span, endpoints, countries."""
    if kind not in _ENTITY_COLUMN:
        raise ValueError(f"kind must be one of {', '.join(_ENTITY_COLUMN)}, not {kind!r}")
    column = _ENTITY_COLUMN[kind]
    events = EventReader(con)
    found = events.one(
        f"""SELECT count(*) AS requests, min(ts) AS first_seen, max(ts) AS last_seen,
                   count(DISTINCT account_id) AS accounts, count(DISTINCT ip) AS ips,
                   count(DISTINCT device_id) AS devices
            FROM {{events}} WHERE {column} = $key""",
        {"key": key},
    )
    if not found.get("requests"):
        return {"requests": 0, "first_seen": None, "last_seen": None, "endpoints": [], "countries": [],
                "accounts": 0, "ips": 0, "devices": 0}
    endpoints = events.rows(
        f"""SELECT endpoint AS name, count(*) AS requests FROM {{events}} WHERE {column} = $key
            GROUP BY 1 ORDER BY 2 DESC LIMIT 8""",
        {"key": key},
    )
    countries = events.rows(
        f"""SELECT coalesce(nullif(ip_country, ''), '??') AS name, count(*) AS requests FROM {{events}}
            WHERE {column} = $key GROUP BY 1 ORDER BY 2 DESC LIMIT 8""",
        {"key": key},
    )
    return {"requests": int(found["requests"]), "first_seen": as_utc(found["first_seen"]),
            "last_seen": as_utc(found["last_seen"]), "accounts": int(found["accounts"]), "ips": int(found["ips"]),
            "devices": int(found["devices"]),
            "endpoints": [(row["name"], int(row["requests"])) for row in endpoints],
            "countries": [(row["name"], int(row["requests"])) for row in countries]}


def search(
    con: duckdb.DuckDBPyConnection,
    store: GraphStore,
    text: str,
    *,
    members: pd.DataFrame | None = None,
    handles: dict[str, str] | None = None,
    limit: int = 20,
) -> list[dict]:
    """Find accounts, handles, IPs, devices and clusters matching ``text`` (exact or prefix).

    Each hit is ``{"kind", "key", "detail", "cluster_id"}``; ``cluster_id``
    names the cluster an account belongs to in the latest run (``members``).
    ``handles`` maps lower-case handles to account ids (see
    :func:`handle_index`).
    """
    text = (text or "").strip()
    if not text:
        return []
    hits: list[dict] = []
    seen: set[tuple[str, str]] = set()
    membership = (
        dict(zip(members["account_id"], members["cluster_id"], strict=True))
        if members is not None and not members.empty
        else {}
    )

    def add(kind: str, key: str, detail: str) -> None:
        if (kind, key) in seen or len(hits) >= limit:
            return
        seen.add((kind, key))
        hits.append({"kind": kind, "key": key, "detail": detail,
                     "cluster_id": membership.get(key) if kind == "account" else None})

    lowered = text.lower()
    for cluster in store.clusters():
        if cluster["cluster_id"].lower().startswith(lowered):
            add("cluster", cluster["cluster_id"], f"score {cluster.get('score', 0):.2f}, {cluster.get('size')} accounts")
    for handle, account_id in (handles or {}).items():
        if handle.startswith(lowered.lstrip("@")):
            add("account", account_id, f"@{handle}")
    events = EventReader(con)
    pattern = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
    for kind, column in _ENTITY_COLUMN.items():
        for row in events.rows(
            f"""SELECT {column} AS key, count(*) AS requests FROM {{events}}
                WHERE {column} LIKE $pattern ESCAPE '\\' GROUP BY 1
                ORDER BY ({column} = $text) DESC, requests DESC LIMIT $limit""",
            {"pattern": pattern, "text": text, "limit": int(limit)},
        ):
            add(kind, row["key"], f"{row['requests']:,} requests")
    return hits


def handle_index(store: GraphStore) -> dict[str, str]:
    """Lower-case handle -> account id for every account with a handle (build once, cache)."""
    index: dict[str, str] = {}
    for batch in store.iter_nodes(ACCOUNT):
        for node in batch:
            if node.get("handle"):
                index[str(node["handle"]).lower()] = node["account_id"]
    return index
