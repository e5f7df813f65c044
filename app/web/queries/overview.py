"""The overview page's questions: what the whole case's requests look like in a time window."""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

import duckdb
import pandas as pd

from app.events import EventReader, as_utc
from graph.schema import IP
from graph.store.base import GraphStore

__all__ = ["TRAFFIC_PARTS", "Window", "as_names", "bucket_seconds", "data_window", "overview_totals",
           "requests_by_country", "requests_over_time", "top_asns", "top_ips", "traffic"]

# bucket widths (seconds) a timeline may use: readable steps only
_STEPS = (60, 300, 900, 1800, 3600, 3 * 3600, 6 * 3600, 12 * 3600, 86400, 7 * 86400)
_TOTALS = ("requests", "accounts", "ips", "devices", "lookups", "matched")


@dataclass(frozen=True)
class Window:
    """A time window, ``since <= ts < until``; either end may be open (``None``)."""

    since: datetime | None = None
    until: datetime | None = None

    def events(self, con: duckdb.DuckDBPyConnection) -> EventReader:
        """The events of this window on the cursor ``con``."""
        return EventReader(con).window(self.since, self.until)

    @classmethod
    def last(cls, days: float | None, end: datetime | None) -> Window:
        """The ``days`` before ``end`` (the data's end, not now: cases are historical)."""
        if not days or end is None:
            return cls()
        return cls(since=end - timedelta(days=days), until=end + timedelta(microseconds=1))


def data_window(con: duckdb.DuckDBPyConnection) -> tuple[datetime | None, datetime | None]:
    """The first and last request time in the workspace (``None`` without events)."""
    span = EventReader(con).one("SELECT min(ts) AS first, max(ts) AS last FROM {events}")
    return as_utc(span.get("first")), as_utc(span.get("last"))


def overview_totals(con: duckdb.DuckDBPyConnection, window: Window = Window()) -> dict[str, int]:
    """Requests, distinct callers, IPs, devices, lookups and matched lookups in the window."""
    return dict.fromkeys(_TOTALS, 0) | window.events(con).one(
        """SELECT count(*) AS requests, count(DISTINCT account_id) AS accounts, count(DISTINCT ip) AS ips,
                  count(DISTINCT device_id) AS devices, count(phone_hash) AS lookups,
                  count(matched_account_id) AS matched
           FROM {events}"""
    )


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
    events = window.events(con)
    span = events.one("SELECT min(ts) AS first, max(ts) AS last FROM {events}")
    if span.get("first") is None:
        return pd.DataFrame(columns=["bucket", "endpoint", "requests"])
    return events.query(
        """WITH top AS (
               SELECT endpoint FROM {events} GROUP BY endpoint ORDER BY count(*) DESC, endpoint LIMIT $top)
           SELECT time_bucket(to_seconds($step), ts) AS bucket,
                  CASE WHEN endpoint IN (SELECT endpoint FROM top) THEN endpoint ELSE 'other' END AS endpoint,
                  count(*) AS requests
           FROM {events} GROUP BY ALL ORDER BY bucket, endpoint""",
        {"top": int(top_endpoints), "step": bucket_seconds(span["last"] - span["first"], buckets)},
    )


def requests_by_country(con: duckdb.DuckDBPyConnection, window: Window = Window()) -> pd.DataFrame:
    """Requests, callers and IPs per IP country (``country`` is ISO alpha-2, ``??`` unknown)."""
    events = window.events(con)
    if not events.present:
        return pd.DataFrame(columns=["country", "requests", "accounts", "ips"])
    return events.query(
        """SELECT coalesce(nullif(ip_country, ''), '??') AS country, count(*) AS requests,
                  count(DISTINCT account_id) AS accounts, count(DISTINCT ip) AS ips
           FROM {events} GROUP BY 1 ORDER BY requests DESC, country"""
    )


def top_ips(con: duckdb.DuckDBPyConnection, window: Window = Window(), *, limit: int = 10) -> pd.DataFrame:
    """The busiest client IPs with their country, ASN, network kind and distinct callers."""
    events = window.events(con)
    if not events.present:
        return pd.DataFrame(columns=["ip", "country", "asn", "kind", "requests", "accounts", "devices"])
    return events.query(
        """SELECT ip, any_value(ip_country) AS country, any_value(ip_asn) AS asn,
                  any_value(ip_kind) AS kind, count(*) AS requests,
                  count(DISTINCT account_id) AS accounts, count(DISTINCT device_id) AS devices
           FROM {events} GROUP BY ip ORDER BY requests DESC, ip LIMIT $limit""",
        {"limit": int(limit)},
    )


def top_asns(con: duckdb.DuckDBPyConnection, window: Window = Window(), *, limit: int = 10) -> pd.DataFrame:
    """The busiest autonomous systems: requests, IPs, callers, main country, share of hosting IPs."""
    events = window.events(con)
    if not events.present:
        return pd.DataFrame(columns=["asn", "country", "requests", "ips", "accounts", "hosting_share", "sample_ip"])
    return events.query(
        """SELECT ip_asn AS asn, mode(ip_country) AS country, count(*) AS requests,
                  count(DISTINCT ip) AS ips, count(DISTINCT account_id) AS accounts,
                  avg(CASE WHEN ip_kind IN ('hosting', 'vpn', 'proxy', 'tor') THEN 1 ELSE 0 END) AS hosting_share,
                  min(ip) AS sample_ip
           FROM {events} WHERE ip_asn IS NOT NULL
           GROUP BY ip_asn ORDER BY requests DESC, asn LIMIT $limit""",
        {"limit": int(limit)},
    )


#: what :func:`traffic` answers, each a DataFrame but ``totals``
TRAFFIC_PARTS = ("totals", "over_time", "by_country", "top_ips", "top_asns")


def traffic(con: duckdb.DuckDBPyConnection, window: Window = Window()) -> dict[str, object]:
    """Everything the overview shows above the queue for ``window``, keyed by :data:`TRAFFIC_PARTS`."""
    return {"totals": overview_totals(con, window), "over_time": requests_over_time(con, window),
            "by_country": requests_by_country(con, window), "top_ips": top_ips(con, window),
            "top_asns": top_asns(con, window)}


def as_names(store: GraphStore, sample_ips: Iterable[str]) -> dict[int, str]:
    """AS organisation names by ASN, read from the IP nodes of one sample IP per ASN."""
    names: dict[int, str] = {}
    for node in store.get_nodes(IP, [ip for ip in sample_ips if ip]):
        if node.get("asn") is not None and node.get("as_org"):
            names[int(node["asn"])] = node["as_org"]
    return names
