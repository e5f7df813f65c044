"""The cluster page's questions: what the members' requests say (infrastructure, lockstep, traffic mix, rows)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import timedelta

import duckdb
import pandas as pd

from app.events import EventReader, as_utc

__all__ = ["REQUEST_COLUMNS", "infrastructure_table", "member_activity", "member_links", "member_requests",
           "traffic_mix"]

#: the columns of a request as the pages list it: never the phone hash (numbers appear as region and position)
REQUEST_COLUMNS = ("ts", "account_id", "endpoint", "ip", "ip_country", "ip_asn", "ip_kind", "device_id",
                    "user_agent_family", "status", "phone_region", "block_ordinal", "matched_account_id",
                    "request_id")
_MIX = (("country", "coalesce(nullif(ip_country, ''), '??')"), ("asn", "ip_asn"),
        ("ip_kind", "coalesce(nullif(ip_kind, ''), 'unknown')"))


def member_links(con: duckdb.DuckDBPyConnection, accounts: Sequence[str]) -> pd.DataFrame:
    """Which IPs and devices the accounts used: ``kind``, ``key``, ``account_id``, ``requests``,
    plus for IPs ``country``, ``asn`` and ``ip_kind``."""
    events = EventReader(con).for_accounts(accounts)
    if not accounts or not events.present:
        return pd.DataFrame(columns=["kind", "key", "account_id", "requests", "country", "asn", "ip_kind"])
    return events.query(
        """SELECT 'ip' AS kind, ip AS key, account_id, count(*) AS requests,
                  any_value(ip_country) AS country, any_value(ip_asn) AS asn, any_value(ip_kind) AS ip_kind
           FROM {events} GROUP BY ip, account_id
           UNION ALL
           SELECT 'device', device_id, account_id, count(*), NULL, NULL, NULL
           FROM {events} WHERE device_id IS NOT NULL AND device_id <> ''
           GROUP BY device_id, account_id"""
    )


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
    if not accounts:
        return empty
    events = EventReader(con).for_accounts(accounts)
    # one pass gives the span, the members with requests and the busiest of them
    active = events.rows("SELECT account_id, count(*) AS requests, min(ts) AS first, max(ts) AS last "
                         "FROM {events} GROUP BY 1")
    if not active:
        return empty
    span = {"first": min(row["first"] for row in active), "last": max(row["last"] for row in active)}
    first = as_utc(span["first"])
    step = max(1, math.ceil(((span["last"] - span["first"]).total_seconds() + 1) / bins))
    busiest = sorted(active, key=lambda row: (-row["requests"], row["account_id"]))[:int(max_rows)]
    rows = [row["account_id"] for row in sorted(busiest, key=lambda row: (row["first"], row["account_id"]))]
    index = {acct: i for i, acct in enumerate(rows)}
    cells = events.rows(
        """SELECT account_id, CAST(floor((epoch(ts) - epoch($first::TIMESTAMPTZ)) / $step) AS INTEGER) AS bin,
                  count(*) AS requests
           FROM {events} WHERE account_id IN (SELECT unnest($shown::VARCHAR[]))
           GROUP BY 1, 2""",
        {"first": first, "step": step, "shown": rows},
    )
    width = min(bins, max((cell["bin"] for cell in cells), default=0) + 1)
    z = [[0] * width for _ in rows]
    for cell in cells:
        z[index[cell["account_id"]]][min(cell["bin"], width - 1)] += int(cell["requests"])
    x = [first + timedelta(seconds=step * i) for i in range(width)]
    return {"x": x, "y": rows, "z": z, "bin_seconds": step, "rows_hidden": max(0, len(active) - len(rows))}


def traffic_mix(con: duckdb.DuckDBPyConnection, accounts: Sequence[str]) -> dict[str, pd.DataFrame]:
    """The members' requests by IP country, by ASN and by network kind (hosting, mobile, ...)."""
    out = {name: pd.DataFrame(columns=[name, "requests", "ips", "sample_ip"]) for name, _ in _MIX}
    events = EventReader(con).for_accounts(accounts)
    if not accounts or not events.present:
        return out
    # one pass for the three mixes: each is a grouping set, told apart by which column it groups
    names = [name for name, _ in _MIX]
    found = events.query(
        f"""SELECT grouping({', '.join(names)}) AS grouped, {', '.join(f'{expr} AS {name}' for name, expr in _MIX)},
                   count(*) AS requests, count(DISTINCT ip) AS ips, min(ip) AS sample_ip
            FROM {{events}} GROUP BY GROUPING SETS ({', '.join(f'({name})' for name in names)})
            QUALIFY row_number() OVER (PARTITION BY grouped ORDER BY requests DESC) <= 15
            ORDER BY grouped, requests DESC"""
    )
    for i, name in enumerate(names):
        alone = (1 << len(names)) - 1 - (1 << (len(names) - 1 - i))  # every bit set but this column's
        out[name] = found.loc[found["grouped"] == alone, [name, "requests", "ips", "sample_ip"]].reset_index(drop=True)
    return out


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
    events = EventReader(con).for_accounts(accounts)
    if not accounts or not events.present:
        return pd.DataFrame(columns=list(REQUEST_COLUMNS))
    through = {"ip": ip, "device_id": device_id}
    where = " AND ".join(["TRUE", *(f"{column} = ${column}" for column, value in through.items() if value)])
    # the newest times first, from the one column, then only rows that new: sorting every column of
    # hundreds of thousands of requests to keep 200 costs twice as much
    return events.query(
        f"""SELECT {', '.join(REQUEST_COLUMNS)} FROM {{events}}
            WHERE {where} AND ts >= (SELECT min(ts) FROM (SELECT ts FROM {{events}} WHERE {where}
                                                          ORDER BY ts DESC LIMIT $limit))
            ORDER BY ts DESC LIMIT $limit""",
        {"limit": int(limit)} | {column: value for column, value in through.items() if value},
    )
