"""The questions the web UI asks, as plain functions: a DuckDB cursor or a store in, plain data out.

Callbacks only call these and shape the answer into components, so every
number on screen is tested here without a browser. Heavy work is one
aggregate SQL query over the ``events`` table (DuckDB scans millions of rows
in milliseconds); nothing here pulls raw events into memory beyond a page of
rows. Graph facts (clusters, members, labels, audit) come through the
:class:`~graph.store.base.GraphStore` interface, so both backends serve the UI.
"""

from __future__ import annotations

import json
import math
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import duckdb
import pandas as pd

from graph import triage
from graph.schema import (
    ACCOUNT,
    CLUSTER,
    CLUSTER_STATUSES,
    DEVICE,
    IP,
    MEMBER_OF,
    PHONE,
)
from graph.store.base import GraphStore, Neighbourhood
from graph.warehouse import EVENTS_TABLE

__all__ = [
    "Window",
    "bucket_seconds",
    "data_window",
    "as_utc",
    "overview_totals",
    "requests_over_time",
    "requests_by_country",
    "top_ips",
    "top_asns",
    "as_names",
    "run_members",
    "cluster_countries",
    "triage_queue",
    "search",
    "handle_index",
    "find_cluster",
    "sub_groups",
    "member_links",
    "infrastructure_table",
    "cluster_graph_elements",
    "member_activity",
    "traffic_mix",
    "member_requests",
    "requests_by_ids",
    "entity_activity",
    "node_element_id",
    "neighbourhood_elements",
    "merge_elements",
    "undo_last_step",
    "audit_log",
    "audit_jsonl",
    "status_counts",
    "ENTITY_LABELS",
]

#: entity kinds of the entity page and the node label each is stored under
ENTITY_LABELS = {"account": ACCOUNT, "ip": IP, "device": DEVICE}
_ENTITY_COLUMN = {"account": "account_id", "ip": "ip", "device": "device_id"}
# bucket widths (seconds) a timeline may use: readable steps only
_STEPS = (60, 300, 900, 1800, 3600, 3 * 3600, 6 * 3600, 12 * 3600, 86400, 7 * 86400)


@dataclass(frozen=True)
class Window:
    """A time window; either end may be open (``None``)."""

    since: datetime | None = None
    until: datetime | None = None

    def sql(self, column: str = "ts") -> tuple[str, list]:
        """A ``WHERE`` fragment (``TRUE`` when open) and its parameters."""
        parts, params = [], []
        if self.since is not None:
            parts.append(f"{column} >= ?")
            params.append(self.since)
        if self.until is not None:
            parts.append(f"{column} < ?")
            params.append(self.until)
        return (" AND ".join(parts) or "TRUE"), params

    @classmethod
    def last(cls, days: float | None, end: datetime | None) -> Window:
        """The ``days`` before ``end`` (the data's end, not now: cases are historical)."""
        if not days or end is None:
            return cls()
        return cls(since=end - timedelta(days=days), until=end + timedelta(microseconds=1))


def _has_events(con: duckdb.DuckDBPyConnection) -> bool:
    found = con.execute(
        "SELECT count(*) FROM information_schema.tables WHERE table_name = ?", [EVENTS_TABLE]
    ).fetchall()
    return bool(found[0][0])


def data_window(con: duckdb.DuckDBPyConnection) -> tuple[datetime | None, datetime | None]:
    """The first and last request time in the workspace (``None`` without events)."""
    if not _has_events(con):
        return None, None
    ((first, last),) = con.execute(f"SELECT min(ts), max(ts) FROM {EVENTS_TABLE}").fetchall()
    return as_utc(first), as_utc(last)


def as_utc(value):
    """A DuckDB/pandas timestamp as an aware UTC ``datetime`` (``None`` stays ``None``)."""
    if value is None or pd.isna(value):
        return None
    if isinstance(value, pd.Timestamp):
        value = value.to_pydatetime()
    return value.astimezone(UTC) if value.tzinfo else value.replace(tzinfo=UTC)


def overview_totals(con: duckdb.DuckDBPyConnection, window: Window = Window()) -> dict[str, int]:
    """Requests, distinct callers, IPs, devices, lookups and matched lookups in the window."""
    if not _has_events(con):
        return dict.fromkeys(("requests", "accounts", "ips", "devices", "lookups", "matched"), 0)
    where, params = window.sql()
    (row,) = con.execute(
        f"""SELECT count(*), count(DISTINCT account_id), count(DISTINCT ip),
                   count(DISTINCT device_id), count(phone_hash), count(matched_account_id)
            FROM {EVENTS_TABLE} WHERE {where}""",
        params,
    ).fetchall()
    return dict(zip(("requests", "accounts", "ips", "devices", "lookups", "matched"), row, strict=True))


def bucket_seconds(span: timedelta, target_buckets: int = 120) -> int:
    """The smallest readable bucket width that cuts ``span`` into at most ``target_buckets``."""
    wanted = max(span.total_seconds() / max(target_buckets, 1), 1)
    for step in _STEPS:
        if step >= wanted:
            return step
    return _STEPS[-1] * math.ceil(wanted / _STEPS[-1])


def requests_over_time(
    con: duckdb.DuckDBPyConnection, window: Window = Window(), *, top_endpoints: int = 6, buckets: int = 120
) -> pd.DataFrame:
    """Requests per time bucket and endpoint (``bucket``, ``endpoint``, ``requests``).

    The busiest ``top_endpoints`` keep their names, the rest add up as
    ``other``; the bucket width is chosen from the window's span.
    """
    columns = ["bucket", "endpoint", "requests"]
    if not _has_events(con):
        return pd.DataFrame(columns=columns)
    where, params = window.sql()
    ((first, last),) = con.execute(f"SELECT min(ts), max(ts) FROM {EVENTS_TABLE} WHERE {where}", params).fetchall()
    if first is None:
        return pd.DataFrame(columns=columns)
    step = bucket_seconds(last - first, buckets)
    return con.execute(
        f"""WITH top AS (
                SELECT endpoint FROM {EVENTS_TABLE} WHERE {where}
                GROUP BY endpoint ORDER BY count(*) DESC LIMIT {int(top_endpoints)})
            SELECT time_bucket(INTERVAL '{step} seconds', ts) AS bucket,
                   CASE WHEN endpoint IN (SELECT endpoint FROM top) THEN endpoint ELSE 'other' END AS endpoint,
                   count(*) AS requests
            FROM {EVENTS_TABLE} WHERE {where}
            GROUP BY ALL ORDER BY bucket, endpoint""",
        params + params,
    ).df()


def requests_by_country(con: duckdb.DuckDBPyConnection, window: Window = Window()) -> pd.DataFrame:
    """Requests, callers and IPs per IP country (``country`` is ISO alpha-2, ``??`` unknown)."""
    if not _has_events(con):
        return pd.DataFrame(columns=["country", "requests", "accounts", "ips"])
    where, params = window.sql()
    return con.execute(
        f"""SELECT coalesce(nullif(ip_country, ''), '??') AS country, count(*) AS requests,
                   count(DISTINCT account_id) AS accounts, count(DISTINCT ip) AS ips
            FROM {EVENTS_TABLE} WHERE {where} GROUP BY 1 ORDER BY requests DESC""",
        params,
    ).df()


def top_ips(con: duckdb.DuckDBPyConnection, window: Window = Window(), *, limit: int = 10) -> pd.DataFrame:
    """The busiest client IPs with their country, ASN, network kind and distinct callers."""
    if not _has_events(con):
        return pd.DataFrame(columns=["ip", "country", "asn", "kind", "requests", "accounts", "devices"])
    where, params = window.sql()
    return con.execute(
        f"""SELECT ip, any_value(ip_country) AS country, any_value(ip_asn) AS asn,
                   any_value(ip_kind) AS kind, count(*) AS requests,
                   count(DISTINCT account_id) AS accounts, count(DISTINCT device_id) AS devices
            FROM {EVENTS_TABLE} WHERE {where}
            GROUP BY ip ORDER BY requests DESC, ip LIMIT {int(limit)}""",
        params,
    ).df()


def top_asns(con: duckdb.DuckDBPyConnection, window: Window = Window(), *, limit: int = 10) -> pd.DataFrame:
    """The busiest autonomous systems: requests, IPs, callers, main country, share of hosting IPs."""
    if not _has_events(con):
        return pd.DataFrame(columns=["asn", "country", "requests", "ips", "accounts", "hosting_share", "sample_ip"])
    where, params = window.sql()
    return con.execute(
        f"""SELECT ip_asn AS asn, mode(ip_country) AS country, count(*) AS requests,
                   count(DISTINCT ip) AS ips, count(DISTINCT account_id) AS accounts,
                   avg(CASE WHEN ip_kind IN ('hosting', 'vpn', 'proxy', 'tor') THEN 1 ELSE 0 END) AS hosting_share,
                   min(ip) AS sample_ip
            FROM {EVENTS_TABLE} WHERE {where} AND ip_asn IS NOT NULL
            GROUP BY ip_asn ORDER BY requests DESC, asn LIMIT {int(limit)}""",
        params,
    ).df()


def as_names(store: GraphStore, sample_ips: Iterable[str]) -> dict[int, str]:
    """AS organisation names by ASN, read from the IP nodes of one sample IP per ASN."""
    names: dict[int, str] = {}
    for node in store.get_nodes(IP, [ip for ip in sample_ips if ip]):
        if node.get("asn") is not None and node.get("as_org"):
            names[int(node["asn"])] = node["as_org"]
    return names


# -- clusters and the triage queue -------------------------------------------------


def run_members(store: GraphStore, run_id: str) -> pd.DataFrame:
    """Every membership of one run: ``account_id``, ``cluster_id``, ``member_score``."""
    prefix = f"{run_id}/"
    rows = [
        (edge["src"], edge["dst"][len(prefix):], edge.get("member_score"))
        for batch in store.iter_edges(MEMBER_OF)
        for edge in batch
        if edge.get("run_id") == run_id and str(edge["dst"]).startswith(prefix)
    ]
    return pd.DataFrame(rows, columns=["account_id", "cluster_id", "member_score"])


def cluster_countries(
    con: duckdb.DuckDBPyConnection, members: pd.DataFrame, *, top: int = 3
) -> dict[str, list[tuple[str, int]]]:
    """Each cluster's busiest IP countries with request counts, from its members' events."""
    if members.empty or not _has_events(con):
        return {}
    con.register("_ui_members", members[["account_id", "cluster_id"]])
    try:
        rows = con.execute(
            f"""SELECT cluster_id, country, requests FROM (
                    SELECT m.cluster_id, coalesce(nullif(e.ip_country, ''), '??') AS country,
                           count(*) AS requests,
                           row_number() OVER (PARTITION BY m.cluster_id
                                              ORDER BY count(*) DESC, country) AS rank
                    FROM {EVENTS_TABLE} e JOIN _ui_members m ON e.account_id = m.account_id
                    GROUP BY m.cluster_id, country)
                WHERE rank <= {int(top)} ORDER BY cluster_id, rank"""
        ).fetchall()
    finally:
        con.unregister("_ui_members")
    countries: dict[str, list[tuple[str, int]]] = defaultdict(list)
    for cluster_id, country, requests in rows:
        countries[cluster_id].append((country, int(requests)))
    return dict(countries)


def _last_label_times(store: GraphStore) -> dict[str, datetime]:
    latest: dict[str, datetime] = {}
    for label in store.labels("cluster"):
        at = label.get("created_at")
        if at is not None and (label["entity_id"] not in latest or at > latest[label["entity_id"]]):
            latest[label["entity_id"]] = at
    return latest


def triage_queue(
    store: GraphStore,
    *,
    clusters: Sequence[dict] | None = None,
    countries: dict[str, list[tuple[str, int]]] | None = None,
    statuses: Sequence[str] | None = None,
    min_score: float = 0.0,
    country: str | None = None,
    window: Window = Window(),
) -> list[dict]:
    """The latest run's clusters, highest score first, with status and last activity, filtered.

    Parameters
    ----------
    store : GraphStore
    clusters : rows of the run (the latest run's when ``None``)
    countries : :func:`cluster_countries` of the run (the top country alone when ``None``)
    statuses, min_score, country, window : the queue's filters, as
        :class:`graph.triage.QueueFilters` defines them (``window`` gives
        ``since`` and ``until``); "Export queue" and ``sybilscope queue``
        apply the same ones.

    Returns
    -------
    list of dict
        ``cluster_id``, ``score``, ``size``, ``kind``, ``status``,
        ``countries`` (e.g. ``"IR 71% · IL 20%"``), ``country_codes``,
        ``first_seen``, ``last_seen``, ``last_label`` and ``last_activity``
        (the later of the last request and the last analyst action).
    """
    rows = list(store.clusters() if clusters is None else clusters)
    filters = triage.QueueFilters(statuses=tuple(statuses or ()), min_score=min_score or None, country=country,
                                  since=window.since, until=window.until)
    label_times = _last_label_times(store)
    queue = []
    for row in triage.queue(rows, triage.current_statuses(store), filters):
        cluster_id = row["cluster_id"]
        mix = (countries or {}).get(cluster_id) or (
            [(row["top_ip_country"], 1)] if row.get("top_ip_country") else []
        )
        codes = [code for code, _ in mix]
        first, last = row.get("first_seen"), row.get("last_seen")
        total = sum(n for _, n in mix) or 1
        label_at = label_times.get(cluster_id)
        activity = max((t for t in (last, label_at) if t is not None), default=None)
        queue.append(
            {
                "cluster_id": cluster_id,
                "score": row.get("score"),
                "size": row.get("size"),
                "kind": row.get("kind"),
                "status": row["status"],
                "countries": " · ".join(f"{code} {round(100 * n / total)}%" for code, n in mix)
                if countries
                else " · ".join(codes),
                "country_codes": codes,
                "first_seen": first,
                "last_seen": last,
                "last_label": label_at,
                "last_activity": activity,
            }
        )
    return queue


def find_cluster(store: GraphStore, cluster_id: str) -> dict | None:
    """The cluster's row in the latest run that found it (``None`` if no run did)."""
    for row in store.clusters():
        if row["cluster_id"] == cluster_id:
            return row
    history = store.cluster_history(cluster_id)
    return history[-1] if history else None


def _label_order(label: str) -> tuple:
    """Sub-group labels in reading order: S2 before S10."""
    digits = "".join(ch for ch in label if ch.isdigit())
    return (label.rstrip("0123456789"), int(digits) if digits else -1, label)


def sub_groups(cluster: dict, members: Sequence[dict]) -> list[dict]:
    """An operation's squads: ``sub_group``, ``size``, ``ties`` and ``accounts`` (strongest first).

    Sizes and accounts come from the members' ``sub_group``; what ties each
    squad together comes from detection's ``evidence["sub_groups"]`` (where a
    squad no member names still shows, with the size detection gave). Empty
    when the cluster is one group.
    """
    evidence = cluster.get("evidence") if isinstance(cluster.get("evidence"), dict) else {}
    described = evidence.get("sub_groups") if isinstance(evidence.get("sub_groups"), list) else []
    told = {str(row["sub_group"]): row for row in described if isinstance(row, dict) and row.get("sub_group")}
    accounts: dict[str, list[str]] = defaultdict(list)
    for member in sorted(members, key=lambda m: (-(m.get("member_score") or 0.0), m["account_id"])):
        if member.get("sub_group"):
            accounts[member["sub_group"]].append(member["account_id"])
    rows = []
    for label in sorted(set(accounts) | set(told), key=_label_order):
        row = told.get(label, {})
        mine = accounts.get(label) or [str(a) for a in row.get("accounts") or []]
        rows.append({"sub_group": label, "size": len(accounts[label]) if label in accounts else int(row.get("size") or 0),
                     "ties": str(row.get("ties") or ""), "accounts": mine})
    return rows


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
    if _has_events(con):
        pattern = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        for kind, column in _ENTITY_COLUMN.items():
            rows = con.execute(
                f"""SELECT {column}, count(*) AS requests FROM {EVENTS_TABLE}
                    WHERE {column} LIKE ? ESCAPE '\\' GROUP BY 1
                    ORDER BY ({column} = ?) DESC, requests DESC LIMIT {int(limit)}""",
                [pattern, text],
            ).fetchall()
            for key, requests in rows:
                add(kind, key, f"{requests:,} requests")
    return hits


def handle_index(store: GraphStore) -> dict[str, str]:
    """Lower-case handle -> account id for every account with a handle (build once, cache)."""
    index: dict[str, str] = {}
    for batch in store.iter_nodes(ACCOUNT):
        for node in batch:
            if node.get("handle"):
                index[str(node["handle"]).lower()] = node["account_id"]
    return index


# -- the cluster page ----------------------------------------------------------------


def _accounts_cte(con: duckdb.DuckDBPyConnection, accounts: Sequence[str]) -> str:
    """Register the accounts as a view for this cursor and return its name."""
    con.register("_ui_accounts", pd.DataFrame({"account_id": list(dict.fromkeys(accounts))}))
    return "_ui_accounts"


def member_links(con: duckdb.DuckDBPyConnection, accounts: Sequence[str]) -> pd.DataFrame:
    """Which IPs and devices the accounts used: ``kind``, ``key``, ``account_id``, ``requests``,
    plus for IPs ``country``, ``asn`` and ``ip_kind``."""
    columns = ["kind", "key", "account_id", "requests", "country", "asn", "ip_kind"]
    if not accounts or not _has_events(con):
        return pd.DataFrame(columns=columns)
    view = _accounts_cte(con, accounts)
    try:
        return con.execute(
            f"""SELECT 'ip' AS kind, e.ip AS key, e.account_id, count(*) AS requests,
                       any_value(e.ip_country) AS country, any_value(e.ip_asn) AS asn,
                       any_value(e.ip_kind) AS ip_kind
                FROM {EVENTS_TABLE} e JOIN {view} a ON e.account_id = a.account_id
                GROUP BY e.ip, e.account_id
                UNION ALL
                SELECT 'device', e.device_id, e.account_id, count(*), NULL, NULL, NULL
                FROM {EVENTS_TABLE} e JOIN {view} a ON e.account_id = a.account_id
                WHERE e.device_id IS NOT NULL AND e.device_id <> ''
                GROUP BY e.device_id, e.account_id"""
        ).df()
    finally:
        con.unregister(view)


def infrastructure_table(links: pd.DataFrame) -> pd.DataFrame:
    """Shared infrastructure first: per IP or device, how many members used it and how much."""
    if links.empty:
        return pd.DataFrame(columns=["kind", "key", "members", "requests", "country", "asn", "ip_kind"])
    table = (
        links.groupby(["kind", "key"], dropna=False)
        .agg(members=("account_id", "nunique"), requests=("requests", "sum"),
             country=("country", "first"), asn=("asn", "first"), ip_kind=("ip_kind", "first"))
        .reset_index()
        .sort_values(["members", "requests", "key"], ascending=[False, False, True])
    )
    return table.reset_index(drop=True)


_HOSTING_KINDS = frozenset({"hosting", "vpn", "proxy", "tor"})


def cluster_graph_elements(
    members: Sequence[dict],
    links: pd.DataFrame,
    *,
    cap: int = 1500,
    hub_min_members: int = 12,
    hub_share: float = 0.5,
    max_members: int = 400,
) -> tuple[list[dict], dict[str, int]]:
    """Cytoscape elements for a cluster: members, shared IPs and devices, hubs collapsed.

    Parameters
    ----------
    members : member rows (``account_id``, ``member_score``), strongest first
    links : :func:`member_links` of the members
    cap : most elements (nodes plus edges) to draw; dash-cytoscape slows past ~1,000
    hub_min_members, hub_share : an IP or device used by at least this many
        drawn members and this share of them is a hub: drawn once, linked to
        the members' box by one edge instead of one edge per member
    max_members : most member nodes; the weakest beyond it fold into one node

    Returns
    -------
    elements : list of dict
        Nodes have ``data.id`` (``acct:``, ``ip:``, ``dev:`` + key, or
        ``members``, ``more-members``), ``data.label``, ``data.kind`` and
        classes; edges ``data.source``/``data.target``/``data.weight``.
    stats : dict
        ``members``, ``members_hidden``, ``infra``, ``infra_hidden``,
        ``hubs``, ``elements``.

    Notes
    -----
    Infrastructure is added most-shared first until the cap, so what is
    dropped first is what one member used alone. Runs in O(links).
    """
    if cap < 10:
        raise ValueError("cap must be at least 10 elements")
    ordered = sorted(members, key=lambda m: -(m.get("member_score") or 0.0))
    budget = cap - 1  # the members' box
    drawn = ordered[: min(max_members, max(1, budget // 3))]
    hidden_members = len(ordered) - len(drawn)
    drawn_ids = {m["account_id"] for m in drawn}
    elements: list[dict] = [{"data": {"id": "members", "label": f"{len(ordered)} member accounts", "kind": "box"},
                             "classes": "box"}]
    for member in drawn:
        elements.append({
            "data": {"id": f"acct:{member['account_id']}", "label": member["account_id"], "kind": "account",
                     "key": member["account_id"], "parent": "members",
                     "score": round(float(member.get("member_score") or 0.0), 3)},
            "classes": "account",
        })
    if hidden_members:
        elements.append({"data": {"id": "more-members", "label": f"+{hidden_members} weaker members",
                                  "kind": "summary", "parent": "members"}, "classes": "summary"})
    used = len(elements)

    infra: dict[tuple[str, str], dict] = {}
    if not links.empty:
        for row in links.itertuples(index=False):
            if row.account_id not in drawn_ids:
                continue
            item = infra.setdefault((row.kind, row.key), {"accounts": {}, "country": row.country,
                                                          "asn": row.asn, "ip_kind": row.ip_kind})
            item["accounts"][row.account_id] = item["accounts"].get(row.account_id, 0) + int(row.requests)
    ranked = sorted(infra.items(), key=lambda kv: (-len(kv[1]["accounts"]), -sum(kv[1]["accounts"].values()), kv[0]))
    hub_floor = max(hub_min_members, math.ceil(hub_share * len(drawn)))
    hubs = shown = hidden = 0
    for (kind, key), item in ranked:
        accounts = item["accounts"]
        is_hub = len(accounts) >= hub_floor and len(drawn) >= hub_min_members
        cost = 2 if is_hub else 1 + len(accounts)
        if used + cost > cap:
            hidden += 1
            continue
        node_id = f"{'ip' if kind == 'ip' else 'dev'}:{key}"
        classes = [kind]
        if kind == "ip" and item["ip_kind"] in _HOSTING_KINDS:
            classes.append("hosting")
        label = key if kind == "ip" else f"device {key}"
        if kind == "ip" and isinstance(item["country"], str) and item["country"]:
            label = f"{key} ({item['country']})"
        data = {"id": node_id, "label": label, "kind": kind, "key": key, "members": len(accounts),
                "requests": int(sum(accounts.values()))}
        if is_hub:
            hubs += 1
            classes.append("hub")
            data["label"] = f"{label} · shared by {len(accounts)}"
            elements.append({"data": data, "classes": " ".join(classes)})
            elements.append({"data": {"id": f"e:{node_id}:members", "source": node_id, "target": "members",
                                      "weight": len(accounts)}, "classes": "hub-edge"})
        else:
            elements.append({"data": data, "classes": " ".join(classes)})
            for account_id, requests in accounts.items():
                elements.append({"data": {"id": f"e:{node_id}:{account_id}", "source": f"acct:{account_id}",
                                          "target": node_id, "weight": requests}})
        used += cost
        shown += 1
    stats = {"members": len(drawn), "members_hidden": hidden_members, "infra": shown,
             "infra_hidden": hidden, "hubs": hubs, "elements": len(elements)}
    return elements, stats


def member_activity(
    con: duckdb.DuckDBPyConnection, accounts: Sequence[str], *, bins: int = 96, max_rows: int = 60
) -> dict:
    """The lockstep picture: requests per member (rows) and time bin (columns).

    Rows are the busiest ``max_rows`` members, ordered by their first
    request so that accounts started together sit together.

    Returns
    -------
    dict
        ``x`` (bin start times), ``y`` (account ids), ``z`` (row-major
        counts), ``bin_seconds`` and ``rows_hidden`` (members not shown).
    """
    empty = {"x": [], "y": [], "z": [], "bin_seconds": 0, "rows_hidden": 0}
    if not accounts or not _has_events(con):
        return empty
    view = _accounts_cte(con, accounts)
    try:
        (span,) = con.execute(
            f"SELECT min(ts), max(ts) FROM {EVENTS_TABLE} e JOIN {view} a ON e.account_id = a.account_id"
        ).fetchall()
        if span[0] is None:
            return empty
        first = as_utc(span[0])
        step = max(1, math.ceil(((span[1] - span[0]).total_seconds() + 1) / bins))
        busiest = con.execute(
            f"""SELECT e.account_id, count(*) AS n, min(e.ts) AS first
                FROM {EVENTS_TABLE} e JOIN {view} a ON e.account_id = a.account_id
                GROUP BY 1 ORDER BY n DESC, e.account_id LIMIT {int(max_rows)}"""
        ).fetchall()
        total_members = con.execute(
            f"SELECT count(DISTINCT e.account_id) FROM {EVENTS_TABLE} e JOIN {view} a ON e.account_id = a.account_id"
        ).fetchall()[0][0]
        rows = [acct for acct, _, _ in sorted(busiest, key=lambda r: (r[2], r[0]))]
        index = {acct: i for i, acct in enumerate(rows)}
        cells = con.execute(
            f"""SELECT e.account_id, CAST(floor((epoch(e.ts) - epoch(?::TIMESTAMPTZ)) / {step}) AS INTEGER) AS b,
                       count(*) FROM {EVENTS_TABLE} e JOIN {view} a ON e.account_id = a.account_id
                WHERE e.account_id IN (SELECT unnest(?::VARCHAR[]))
                GROUP BY 1, 2""",
            [first, rows],
        ).fetchall()
    finally:
        con.unregister(view)
    width = min(bins, max((b for _, b, _ in cells), default=0) + 1)
    z = [[0] * width for _ in rows]
    for acct, b, n in cells:
        z[index[acct]][min(b, width - 1)] += int(n)
    x = [first + timedelta(seconds=step * i) for i in range(width)]
    return {"x": x, "y": rows, "z": z, "bin_seconds": step, "rows_hidden": max(0, total_members - len(rows))}


def traffic_mix(con: duckdb.DuckDBPyConnection, accounts: Sequence[str]) -> dict[str, pd.DataFrame]:
    """The members' requests by IP country, by ASN and by network kind (hosting, mobile, ...)."""
    out = {name: pd.DataFrame(columns=[name, "requests", "ips", "sample_ip"]) for name in ("country", "asn", "ip_kind")}
    if not accounts or not _has_events(con):
        return out
    view = _accounts_cte(con, accounts)
    try:
        for name, expr in (("country", "coalesce(nullif(e.ip_country, ''), '??')"),
                           ("asn", "e.ip_asn"),
                           ("ip_kind", "coalesce(nullif(e.ip_kind, ''), 'unknown')")):
            out[name] = con.execute(
                f"""SELECT {expr} AS {name}, count(*) AS requests, count(DISTINCT e.ip) AS ips,
                           min(e.ip) AS sample_ip
                    FROM {EVENTS_TABLE} e JOIN {view} a ON e.account_id = a.account_id
                    GROUP BY 1 ORDER BY requests DESC LIMIT 15"""
            ).df()
    finally:
        con.unregister(view)
    return out


_REQUEST_COLUMNS = ("ts", "account_id", "endpoint", "ip", "ip_country", "ip_asn", "ip_kind", "device_id",
                    "user_agent_family", "status", "phone_region", "block_ordinal", "matched_account_id",
                    "request_id")


def member_requests(
    con: duckdb.DuckDBPyConnection,
    accounts: Sequence[str],
    *,
    ip: str | None = None,
    device_id: str | None = None,
    limit: int = 200,
) -> pd.DataFrame:
    """The underlying requests of the members, newest first, optionally through one IP or device.

    Phone numbers appear only as their region and position in the block:
    the raw number was never stored.
    """
    if not accounts or not _has_events(con):
        return pd.DataFrame(columns=list(_REQUEST_COLUMNS))
    view = _accounts_cte(con, accounts)
    where, params = ["TRUE"], []
    if ip:
        where.append("e.ip = ?")
        params.append(ip)
    if device_id:
        where.append("e.device_id = ?")
        params.append(device_id)
    try:
        return con.execute(
            f"""SELECT {', '.join('e.' + c for c in _REQUEST_COLUMNS)}
                FROM {EVENTS_TABLE} e JOIN {view} a ON e.account_id = a.account_id
                WHERE {' AND '.join(where)} ORDER BY e.ts DESC LIMIT {int(limit)}""",
            params,
        ).df()
    finally:
        con.unregister(view)


def requests_by_ids(con: duckdb.DuckDBPyConnection, event_ids: Sequence[str], *, limit: int = 200) -> pd.DataFrame:
    """The requests detection cited as evidence (by ``event_id``), newest first."""
    if not event_ids or not _has_events(con):
        return pd.DataFrame(columns=list(_REQUEST_COLUMNS))
    return con.execute(
        f"""SELECT {', '.join(_REQUEST_COLUMNS)} FROM {EVENTS_TABLE}
            WHERE event_id IN (SELECT unnest(?::VARCHAR[])) ORDER BY ts DESC LIMIT {int(limit)}""",
        [list(event_ids)],
    ).df()


# -- the entity page -----------------------------------------------------------------


def entity_activity(con: duckdb.DuckDBPyConnection, kind: str, key: str) -> dict:
    """What the requests say about one account, IP or device: volume, span, endpoints, countries."""
    if kind not in _ENTITY_COLUMN:
        raise ValueError(f"kind must be one of {', '.join(_ENTITY_COLUMN)}, not {kind!r}")
    empty = {"requests": 0, "first_seen": None, "last_seen": None, "endpoints": [], "countries": [],
             "accounts": 0, "ips": 0, "devices": 0}
    if not _has_events(con):
        return empty
    column = _ENTITY_COLUMN[kind]
    (row,) = con.execute(
        f"""SELECT count(*), min(ts), max(ts), count(DISTINCT account_id), count(DISTINCT ip),
                   count(DISTINCT device_id)
            FROM {EVENTS_TABLE} WHERE {column} = ?""",
        [key],
    ).fetchall()
    if not row[0]:
        return empty
    endpoints = con.execute(
        f"SELECT endpoint, count(*) FROM {EVENTS_TABLE} WHERE {column} = ? GROUP BY 1 ORDER BY 2 DESC LIMIT 8",
        [key],
    ).fetchall()
    countries = con.execute(
        f"""SELECT coalesce(nullif(ip_country, ''), '??'), count(*) FROM {EVENTS_TABLE}
            WHERE {column} = ? GROUP BY 1 ORDER BY 2 DESC LIMIT 8""",
        [key],
    ).fetchall()
    return {"requests": int(row[0]), "first_seen": as_utc(row[1]), "last_seen": as_utc(row[2]),
            "accounts": int(row[3]), "ips": int(row[4]), "devices": int(row[5]),
            "endpoints": [(e, int(n)) for e, n in endpoints], "countries": [(c, int(n)) for c, n in countries]}


_NODE_PREFIX = {ACCOUNT: "acct", IP: "ip", DEVICE: "dev", PHONE: "phone", CLUSTER: "cluster"}
_LABEL_ENTITY = {ACCOUNT: "account", IP: "ip", DEVICE: "device", PHONE: "phone", CLUSTER: "cluster"}


def node_element_id(label: str, key: str) -> str:
    """The cytoscape id of a graph node: a short kind prefix and its key."""
    return f"{_NODE_PREFIX.get(label, label.lower())}:{key}"


def _node_caption(node: dict) -> str:
    label, key = node["_label"], node["_key"]
    if label == ACCOUNT and node.get("handle"):
        return f"@{node['handle']}"
    if label == IP and node.get("country"):
        return f"{key} ({node['country']})"
    if label == PHONE:  # a keyed hash: a short prefix is enough to tell numbers apart
        return f"phone {key[:10]}"
    if label == CLUSTER:
        return node.get("cluster_id") or key
    return key


def neighbourhood_elements(nb: Neighbourhood, *, step: int = 0) -> list[dict]:
    """Cytoscape elements of a :class:`~graph.store.base.Neighbourhood`.

    Every element carries ``data.step`` (which expansion added it), so that
    undo can drop the elements of the last step.
    """
    elements: list[dict] = []
    nodes = ([nb.center] if nb.center else []) + list(nb.nodes)
    for node in nodes:
        label = node["_label"]
        elements.append({
            "data": {"id": node_element_id(label, node["_key"]), "label": _node_caption(node),
                     "kind": _LABEL_ENTITY.get(label, label.lower()), "node_label": label,
                     "key": node["_key"], "step": step},
            "classes": _LABEL_ENTITY.get(label, "other"),
        })
    for edge in nb.edges:
        source = node_element_id(edge["src_label"], edge["src"])
        target = node_element_id(edge["dst_label"], edge["dst"])
        elements.append({
            "data": {"id": f"{edge['type']}:{source}->{target}", "source": source, "target": target,
                     "rel": edge["type"], "weight": edge.get("count") or 1, "step": step},
        })
    return elements


def merge_elements(existing: Sequence[dict], added: Sequence[dict]) -> list[dict]:
    """``existing`` plus the elements of ``added`` it does not have yet (by id), order kept."""
    have = {el["data"]["id"] for el in existing}
    merged = list(existing)
    for el in added:
        if el["data"]["id"] not in have:
            have.add(el["data"]["id"])
            merged.append(el)
    return merged


def undo_last_step(elements: Sequence[dict]) -> list[dict]:
    """The elements without those added by the latest expansion (step 0 is never removed)."""
    last = max((el["data"].get("step", 0) for el in elements), default=0)
    if last == 0:
        return list(elements)
    return [el for el in elements if el["data"].get("step", 0) != last]


# -- audit -----------------------------------------------------------------------------


def audit_log(
    store: GraphStore,
    *,
    user: str | None = None,
    action: str | None = None,
    target: str | None = None,
    limit: int | None = 2000,
) -> list[dict]:
    """Audit events, newest first, filtered by user, action prefix and target substring."""
    events = store.audit_events(limit=None)
    out = []
    for event in events:
        if user and event.get("user") != user:
            continue
        if action and not str(event.get("action", "")).startswith(action):
            continue
        if target and target.lower() not in str(event.get("target", "")).lower():
            continue
        out.append(event)
        if limit is not None and len(out) >= limit:
            break
    return out


def _jsonable(value):
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat().replace("+00:00", "Z")
    return str(value)


def audit_jsonl(events: Iterable[dict]) -> str:
    """Audit events as JSON Lines: one object a line, timestamps in ISO 8601 UTC."""
    return "".join(json.dumps(event, default=_jsonable, sort_keys=True) + "\n" for event in events)


def status_counts(queue: Iterable[dict]) -> dict[str, int]:
    """How many queue rows have each triage status (every status present)."""
    counted = Counter(item["status"] for item in queue)
    return {status: counted.get(status, 0) for status in CLUSTER_STATUSES}
