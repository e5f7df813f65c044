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
           "handle_index", "search", "search_keys"]

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
    # one pass: requests per (account, cluster); the clusters, the accounts and their count all follow from it
    used = EventReader(con).rows(
        f"""SELECT e.account_id, m.cluster_id, count(*) AS requests, min(e.ts) AS first_seen, max(e.ts) AS last_seen
            FROM {{events}} e LEFT JOIN {{members}} m USING (account_id)
            WHERE e.{column} = $key AND e.account_id IS NOT NULL GROUP BY 1, 2""",
        {"key": value}, members=_membership(members),
    )
    clusters: dict[str, dict] = {}
    accounts: dict[str, dict] = {}
    for row in used:
        if row["cluster_id"] is not None:
            found = clusters.setdefault(row["cluster_id"], {"cluster_id": row["cluster_id"], "accounts": 0,
                                                            "requests": 0})
            found["accounts"] += 1
            found["requests"] += int(row["requests"])
        account = accounts.setdefault(row["account_id"], {"account_id": row["account_id"], "cluster_id": None,
                                                          "requests": 0, "first_seen": None, "last_seen": None})
        first, last = as_utc(row["first_seen"]), as_utc(row["last_seen"])
        account["cluster_id"] = account["cluster_id"] or row["cluster_id"]
        account["requests"] += int(row["requests"])
        account["first_seen"] = min(account["first_seen"] or first, first)
        account["last_seen"] = max(account["last_seen"] or last, last)
    return {
        "clusters": sorted(clusters.values(), key=lambda c: (-c["accounts"], -c["requests"], c["cluster_id"])),
        "accounts": sorted(accounts.values(), key=lambda a: (a["cluster_id"] is None, -a["requests"],
                                                             a["account_id"]))[:int(limit)],
        "total_accounts": len(accounts),
    }


def entity_activity(con: duckdb.DuckDBPyConnection, kind: str, key: str) -> dict:
    """What the requests say about one account, IP, device, network or ASN: volume, span, endpoints, countries."""
    column, key = _where(kind, key)
    # the entity's requests read once, then summed three ways
    found = EventReader(con).one(
        f"""WITH e AS MATERIALIZED (SELECT ts, account_id, ip, device_id, endpoint, ip_country FROM {{events}}
                                    WHERE {column} = $key)
            SELECT t.*,
                   (SELECT list((name, requests) ORDER BY requests DESC, name) FROM
                      (SELECT endpoint AS name, count(*) AS requests FROM e GROUP BY 1 ORDER BY 2 DESC, 1 LIMIT 8))
                   AS endpoints,
                   (SELECT list((name, requests) ORDER BY requests DESC, name) FROM
                      (SELECT coalesce(nullif(ip_country, ''), '??') AS name, count(*) AS requests FROM e
                       GROUP BY 1 ORDER BY 2 DESC, 1 LIMIT 8)) AS countries
            FROM (SELECT count(*) AS requests, min(ts) AS first_seen, max(ts) AS last_seen,
                         count(DISTINCT account_id) AS accounts, count(DISTINCT ip) AS ips,
                         count(DISTINCT device_id) AS devices FROM e) t""",
        {"key": key},
    )
    if not found.get("requests"):
        return {"requests": 0, "first_seen": None, "last_seen": None, "endpoints": [], "countries": [],
                "accounts": 0, "ips": 0, "devices": 0}
    return {"requests": int(found["requests"]), "first_seen": as_utc(found["first_seen"]),
            "last_seen": as_utc(found["last_seen"]), "accounts": int(found["accounts"]), "ips": int(found["ips"]),
            "devices": int(found["devices"]),
            "endpoints": [(name, int(requests)) for name, requests in found["endpoints"] or []],
            "countries": [(name, int(requests)) for name, requests in found["countries"] or []]}


def entity_ips(con: duckdb.DuckDBPyConnection, kind: str, key: str, *, limit: int = 25) -> tuple[list[dict], int]:
    """The busiest IPs of a network or ASN (``ip``, ``country``, ``kind``, ``requests``), and how many it has."""
    if kind not in ("prefix", "asn"):
        raise ValueError(f"only a network (prefix) or an ASN has IPs, not a {kind!r}")
    column, value = _where(kind, key)
    rows = EventReader(con).rows(
        f"""SELECT ip, any_value(ip_country) AS country, any_value(ip_kind) AS kind, count(*) AS requests,
                   count(ip) OVER () AS total
            FROM {{events}} WHERE {column} = $key GROUP BY 1 ORDER BY requests DESC, ip LIMIT $limit""",
        {"key": value, "limit": int(limit)},
    )
    total = int(rows[0].pop("total")) if rows else 0
    return [{**{k: v for k, v in row.items() if k != "total"}, "requests": int(row["requests"])} for row in rows], total


def search(
    con: duckdb.DuckDBPyConnection,
    store: GraphStore,
    text: str,
    *,
    members: pd.DataFrame | None = None,
    handles: dict[str, str] | None = None,
    asns: dict[int, str] | None = None,
    keys: pd.DataFrame | None = None,
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
    ``AS58224``) or by a part of its organisation's name. ``keys`` is
    :func:`search_keys`, read when not given.
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
    keys = search_keys(con) if keys is None else keys
    pattern = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
    for kind in ("account", "ip", "device"):
        for row in events.rows(
            """SELECT key, requests FROM {keys} WHERE kind = $kind AND key LIKE $pattern ESCAPE '\\'
               ORDER BY (key = $text) DESC, requests DESC LIMIT $limit""",
            {"kind": kind, "pattern": pattern, "text": text, "limit": int(limit)}, keys=keys,
        ):
            add(kind, row["key"], f"{row['requests']:,} requests")
    _add_clusters(events, hits, members)
    return hits


def search_keys(con: duckdb.DuckDBPyConnection) -> pd.DataFrame:
    """Every account, IP and device with its number of requests (``kind``, ``key``, ``requests``): what search matches.

    Tens of thousands of rows, read in one pass over the events; the web
    app keeps it for a version of the data, so a search reads it instead of
    every request (:func:`app.web.search.search_view`).
    """
    found = EventReader(con).query(
        """SELECT CASE WHEN grouping(account_id) = 0 THEN 'account' WHEN grouping(ip) = 0 THEN 'ip' ELSE 'device' END
                      AS kind, CAST(coalesce(account_id, ip, device_id) AS VARCHAR) AS key, count(*) AS requests
           FROM {events} GROUP BY GROUPING SETS ((account_id), (ip), (device_id))
           HAVING coalesce(account_id, ip, device_id) IS NOT NULL"""
    )
    return found if not found.empty else pd.DataFrame({"kind": [], "key": [], "requests": []}, dtype=object)


def _add_clusters(events: EventReader, hits: list[dict], members: pd.DataFrame | None) -> None:
    """Fill each IP, device and ASN hit's ``clusters``: those whose members used it, most members first."""
    for kind in ("ip", "device", "asn"):
        keys = [hit["key"] for hit in hits if hit["kind"] == kind]
        if not keys or members is None or members.empty:
            continue
        column = _ENTITY_COLUMN[kind]
        typed = "INTEGER" if kind == "asn" else "VARCHAR"  # compared as the column holds it, so the scan filters
        found = events.rows(
            f"""SELECT CAST(e.{column} AS VARCHAR) AS key, m.cluster_id, count(DISTINCT e.account_id) AS accounts
                FROM {{events}} e JOIN {{members}} m USING (account_id)
                WHERE e.{column} IN (SELECT unnest($keys::{typed}[]))
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
