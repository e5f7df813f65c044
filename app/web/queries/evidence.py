"""The requests behind one row of a cluster's evidence: all of them, a page at a time.

Detection keeps a few request ids a row (``event_ids``, a sample of 3).
An analyst checking a claim wants every request it rests on, so a row is
turned back into what selects those requests among the members' own
(:func:`evidence_selector`): the IP, device, network or number block it
names, the member or pair of members, the synchronized window. Rows of a
section this module does not know fall back to their sampled ids.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

import duckdb
import pandas as pd

from app.events import EventReader
from app.web.queries.cluster import REQUEST_COLUMNS

__all__ = ["EVIDENCE_PAGE_SIZE", "evidence_requests", "evidence_selector"]

EVIDENCE_PAGE_SIZE = 100
# section -> (events column, the row's field naming its value)
_BY_VALUE = {"ips": ("ip", "id"), "devices": ("device_id", "id"), "prefixes": ("ip_prefix", "id"),
             "blocks": ("block_hash", "block")}


def evidence_selector(section: str, row: object) -> dict:
    """What selects the requests behind evidence ``row`` of ``section``, as plain JSON for the page to keep.

    Returns ``{"column", "values"}`` (requests whose column holds one of the
    values), optionally with ``"start_ms"``/``"end_ms"`` and ``"endpoint"``
    (a synchronized window), or ``{"event_ids"}`` (the row's sample).

    >>> evidence_selector("ips", {"id": "5.160.10.1", "event_ids": ["e1"]})
    {'column': 'ip', 'values': ['5.160.10.1']}
    >>> evidence_selector("sharding", {"a": "u1", "b": "u2"})
    {'column': 'account_id', 'values': ['u1', 'u2']}
    """
    if section == "accounts" and isinstance(row, str):
        return {"column": "account_id", "values": [row]}
    if not isinstance(row, dict):
        return {"event_ids": []}
    if section in _BY_VALUE and row.get(_BY_VALUE[section][1]):
        column, field = _BY_VALUE[section]
        return {"column": column, "values": [str(row[field])]}
    if section == "sharding" and row.get("a") and row.get("b"):
        return {"column": "account_id", "values": [str(row["a"]), str(row["b"])]}
    if section == "synchronized_windows" and isinstance(row.get("start"), int | float):
        accounts = row.get("accounts") if isinstance(row.get("accounts"), list) else []
        return {"column": "account_id", "values": [str(a) for a in accounts], "start_ms": row["start"],
                "end_ms": row.get("end") or row["start"], "endpoint": row.get("endpoint")}
    return {"event_ids": [str(e) for e in row.get("event_ids") or []]}


def evidence_requests(
    con: duckdb.DuckDBPyConnection,
    accounts: Sequence[str],
    selector: dict,
    *,
    page: int = 0,
    page_size: int = EVIDENCE_PAGE_SIZE,
) -> tuple[pd.DataFrame, int]:
    """One page (newest first) of the members' requests ``selector`` picks, and how many there are in all."""
    where, params = ["TRUE"], {}
    if "event_ids" in selector:
        where.append("event_id IN (SELECT unnest($event_ids::VARCHAR[]))")
        params["event_ids"] = list(selector["event_ids"])
    else:
        where.append(f"{_column(selector['column'])} IN (SELECT unnest($values::VARCHAR[]))")
        params["values"] = list(selector["values"])
        if "start_ms" in selector:  # a window is [start, end): the bucket detection counted in
            where.append("ts >= $start AND ts < $end")
            params["start"], params["end"] = (datetime.fromtimestamp(selector[k] / 1000, UTC)
                                              for k in ("start_ms", "end_ms"))
            if selector.get("endpoint"):
                where.append("endpoint = $endpoint")
                params["endpoint"] = selector["endpoint"]
    events = EventReader(con).for_accounts(accounts)
    if not accounts or not events.present:
        return pd.DataFrame(columns=list(REQUEST_COLUMNS)), 0
    condition = " AND ".join(where)
    total = int(events.one(f"SELECT count(*) AS n FROM {{events}} WHERE {condition}", params).get("n") or 0)
    frame = events.query(
        f"""SELECT {', '.join(REQUEST_COLUMNS)} FROM {{events}} WHERE {condition}
            ORDER BY ts DESC, event_id LIMIT $limit OFFSET $offset""",
        {**params, "limit": int(page_size), "offset": int(max(0, page)) * int(page_size)},
    )
    return frame, total


def _column(name: str) -> str:
    """The selector's column, checked: it comes back from the browser."""
    allowed = {column for column, _ in _BY_VALUE.values()} | {"account_id"}
    if name not in allowed:
        raise ValueError(f"evidence requests are selected by {', '.join(sorted(allowed))}, not {name!r}")
    return name
