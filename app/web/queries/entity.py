"""The entity page's and the search box's questions: one account, IP, device, network or ASN, and what matches a text.

Networks (/24 or /48 prefixes) and ASNs are not nodes of the graph store:
their pages read the request events, whose every row carries the IP's
``ip_prefix`` and ``ip_asn``, and the AS organisation names of the IP nodes.
"""

from __future__ import annotations

import duckdb
import pandas as pd

from app.events import EventReader, as_utc
from graph.schema import ACCOUNT, DEVICE, IP
from graph.store.base import GraphStore

__all__ = ["ENTITY_KINDS", "ENTITY_LABELS", "asn_index", "entity_activity", "entity_ips", "entity_users",
           "handle_index", "search"]

#: entity kinds that are graph nodes, and the node label each is stored under
ENTITY_LABELS = {"account": ACCOUNT, "ip": IP, "device": DEVICE}
#: every kind of the entity page: the graph's nodes, and the networks and ASNs their IPs belong to
ENTITY_KINDS = (*ENTITY_LABELS, "prefix", "asn")
_ENTITY_COLUMN = {"account": "account_id", "ip": "ip", "device": "device_id", "prefix": "ip_prefix", "asn": "ip_asn"}


def _where(kind: str, key: str) -> tuple[str, object]:
    """The events column of an entity kind and its key as that column holds it (an ASN is a number)."""
    if kind not in _ENTITY_COLUMN:
        raise ValueError(f"kind must be one of {', '.join(_ENTITY_COLUMN)}, not {kind!r}")
    if kind == "asn":
        number = str(key).upper().removeprefix("AS")
        if not number.isdigit():
            raise ValueError(f"an ASN is a number such as 58224 or AS58224, not {key!r}")
        return "ip_asn", int(number)
    return _ENTITY_COLUMN[kind], key


def _membership(members: pd.DataFrame | None) -> pd.DataFrame:
    """The run's membership as a frame to join (``account_id``, ``cluster_id``), empty without a run."""
    if members is None or members.empty:
        return pd.DataFrame({"account_id": [], "cluster_id": []}, dtype=object)
    return members[["account_id", "cluster_id"]].astype(str)


def entity_users(
    con: duckdb.DuckDBPyConnection, kind: str, key: str, members: pd.DataFrame | None, *, limit: int = 200
) -> dict:
    """Who used an IP, network, device or ASN (or which cluster an account is in): the pivot back to clusters.

    Parameters
    ----------
    members : the latest run's membership (``account_id``, ``cluster_id``; :func:`app.web.queries.run_members`)
    limit : most accounts listed (clustered ones first, then the busiest)

    Returns
    -------
    dict
        ``clusters``: ``{"cluster_id", "accounts", "requests"}`` for every
        cluster whose members used the entity, most accounts first;
        ``accounts``: ``{"account_id", "cluster_id", "requests",
        "first_seen", "last_seen"}``; ``total_accounts``.
    """
    column, value = _where(kind, key)
    events = EventReader(con)
    membership = _membership(members)
    clusters = events.rows(
        f"""SELECT m.cluster_id, count(DISTINCT e.account_id) AS accounts, count(*) AS requests
            FROM {{events}} e JOIN {{members}} m USING (account_id)
            WHERE e.{column} = $key GROUP BY 1 ORDER BY accounts DESC, requests DESC, m.cluster_id""",
        {"key": value}, members=membership,
    )
    accounts = events.rows(
        f"""SELECT e.account_id, any_value(m.cluster_id) AS cluster_id, count(*) AS requests,
                   min(e.ts) AS first_seen, max(e.ts) AS last_seen
            FROM {{events}} e LEFT JOIN {{members}} m USING (account_id)
            WHERE e.{column} = $key AND e.account_id IS NOT NULL GROUP BY 1
            ORDER BY (any_value(m.cluster_id) IS NULL), requests DESC, e.account_id LIMIT $limit""",
        {"key": value, "limit": int(limit)}, members=membership,
    )
    total = events.one(f"SELECT count(DISTINCT account_id) AS n FROM {{events}} WHERE {column} = $key",
                       {"key": value})
    return {
        "clusters": [{"cluster_id": r["cluster_id"], "accounts": int(r["accounts"]), "requests": int(r["requests"])}
                     for r in clusters],
        "accounts": [{**r, "requests": int(r["requests"]), "first_seen": as_utc(r["first_seen"]),
                      "last_seen": as_utc(r["last_seen"])} for r in accounts],
        "total_accounts": int(total.get("n") or 0),
    }


def entity_activity(con: duckdb.DuckDBPyConnection, kind: str, key: str) -> dict:
    """What the requests say about one account, IP, device, network or ASN: volume, span, endpoints, countries."""
    column, key = _where(kind, key)
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


def entity_ips(con: duckdb.DuckDBPyConnection, kind: str, key: str, *, limit: int = 25) -> tuple[list[dict], int]:
    """The busiest IPs of a network or ASN (``ip``, ``country``, ``kind``, ``requests``), and how many it has."""
    if kind not in ("prefix", "asn"):
        raise ValueError(f"only a network (prefix) or an ASN has IPs, not a {kind!r}")
    column, value = _where(kind, key)
    events = EventReader(con)
    rows = events.rows(
        f"""SELECT ip, any_value(ip_country) AS country, any_value(ip_kind) AS kind, count(*) AS requests
            FROM {{events}} WHERE {column} = $key GROUP BY 1 ORDER BY requests DESC, ip LIMIT $limit""",
        {"key": value, "limit": int(limit)},
    )
    total = events.one(f"SELECT count(DISTINCT ip) AS n FROM {{events}} WHERE {column} = $key", {"key": value})
    return [{**row, "requests": int(row["requests"])} for row in rows], int(total.get("n") or 0)


def search(
    con: duckdb.DuckDBPyConnection,
    store: GraphStore,
    text: str,
    *,
    members: pd.DataFrame | None = None,
    handles: dict[str, str] | None = None,
    asns: dict[int, str] | None = None,
    limit: int = 20,
) -> list[dict]:
    """Find clusters, accounts, handles, ASNs, IPs and devices matching ``text`` (exact or prefix).

    Each hit is ``{"kind", "key", "detail", "cluster_id", "clusters"}``:
    ``clusters`` are the clusters of the latest run (``members``) the hit
    takes part in (an account's own; for an IP, device or ASN those whose
    members used it, most members first), ``cluster_id`` an account's one.
    ``handles`` maps lower-case handles to account ids (see
    :func:`handle_index`); ``asns`` AS numbers to organisation names (see
    :func:`asn_index`): an ASN is found by its number (``58224``,
    ``AS58224``) or by a part of its organisation's name.
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
        cluster_id = membership.get(key) if kind == "account" else None
        hits.append({"kind": kind, "key": key, "detail": detail, "cluster_id": cluster_id,
                     "clusters": [cluster_id] if cluster_id else []})

    lowered = text.lower()
    for cluster in store.clusters():
        if cluster["cluster_id"].lower().startswith(lowered):
            add("cluster", cluster["cluster_id"], f"score {cluster.get('score', 0):.2f}, {cluster.get('size')} accounts")
    for handle, account_id in (handles or {}).items():
        if handle.startswith(lowered.lstrip("@")):
            add("account", account_id, f"@{handle}")
    number = lowered.removeprefix("as")
    for asn, org in sorted((asns or {}).items()):
        if (number.isdigit() and str(asn).startswith(number)) or (len(lowered) >= 2 and lowered in org.lower()):
            add("asn", str(asn), org or "organisation unknown")
    events = EventReader(con)
    pattern = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
    for kind in ("account", "ip", "device"):
        column = _ENTITY_COLUMN[kind]
        for row in events.rows(
            f"""SELECT {column} AS key, count(*) AS requests FROM {{events}}
                WHERE {column} LIKE $pattern ESCAPE '\\' GROUP BY 1
                ORDER BY ({column} = $text) DESC, requests DESC LIMIT $limit""",
            {"pattern": pattern, "text": text, "limit": int(limit)},
        ):
            add(kind, row["key"], f"{row['requests']:,} requests")
    _add_clusters(events, hits, members)
    return hits


def _add_clusters(events: EventReader, hits: list[dict], members: pd.DataFrame | None) -> None:
    """Fill each IP, device and ASN hit's ``clusters``: those whose members used it, most members first."""
    for kind in ("ip", "device", "asn"):
        keys = [hit["key"] for hit in hits if hit["kind"] == kind]
        if not keys or members is None or members.empty:
            continue
        column = _ENTITY_COLUMN[kind]
        found = events.rows(
            f"""SELECT CAST(e.{column} AS VARCHAR) AS key, m.cluster_id, count(DISTINCT e.account_id) AS accounts
                FROM {{events}} e JOIN {{members}} m USING (account_id)
                WHERE CAST(e.{column} AS VARCHAR) IN (SELECT unnest($keys::VARCHAR[]))
                GROUP BY 1, 2 ORDER BY 1, accounts DESC, 2""",
            {"keys": keys}, members=_membership(members),
        )
        for hit in hits:
            if hit["kind"] == kind:
                hit["clusters"] = [row["cluster_id"] for row in found if row["key"] == hit["key"]]


def asn_index(store: GraphStore) -> dict[int, str]:
    """AS number -> organisation name of every ASN the IP nodes name (build once, cache)."""
    index: dict[int, str] = {}
    for batch in store.iter_nodes(IP):
        for node in batch:
            if node.get("asn") is not None:
                index.setdefault(int(node["asn"]), str(node.get("as_org") or ""))
    return index


def handle_index(store: GraphStore) -> dict[str, str]:
    """Lower-case handle -> account id for every account with a handle (build once, cache)."""
    index: dict[str, str] = {}
    for batch in store.iter_nodes(ACCOUNT):
        for node in batch:
            if node.get("handle"):
                index[str(node["handle"]).lower()] = node["account_id"]
    return index
