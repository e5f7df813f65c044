"""What the briefed accounts' requests say: scale, timeline, infrastructure, tradecraft and exposure.

Each function takes an :class:`app.events.EventReader` narrowed to the
member accounts (its ``{events}`` are their requests, UTC throughout) and
returns the plain rows and numbers :mod:`app.brief.build` hands the
templates. Without events (a graph restored without its warehouse) the
numbers are zero or ``None`` and the lists empty, except where detection
recorded the fact on the clusters themselves.
"""

from __future__ import annotations

from collections import Counter

from app.events import EventReader, as_utc
from app.present.countries import country_name
from app.present.evidence import exposed_accounts, exposure_summary
from graph.detect.exposure import exposure_by_country, matched_outside
from graph.detect.frames import Events
from graph.schema import IP
from graph.store.base import GraphStore

__all__ = ["exposure", "infrastructure", "scale", "share", "target_regions", "timeline", "tradecraft"]

# a lookup that found an account: its number belongs to someone on the platform
_MATCHED = "nullif(matched_account_id, '') IS NOT NULL"
# IP nodes fetched from the store at a time
_NODE_BATCH = 5_000


def share(rows: list[dict], key: str = "requests") -> list[dict]:
    """``rows`` with ``share``: each row's part of the total of ``key``."""
    total = sum(r[key] for r in rows) or 1
    for r in rows:
        r["share"] = r[key] / total
    return rows


def scale(events: EventReader, clusters: list[dict]) -> dict:
    """How big the operation was: requests, lookups, numbers, infrastructure, its span in days."""
    found = events.one(
        f"""SELECT count(*) AS requests, count(phone_hash) AS lookups,
                   count(DISTINCT phone_hash) AS numbers_looked_up,
                   count(DISTINCT CASE WHEN {_MATCHED} THEN phone_hash END) AS numbers_matched,
                   count(DISTINCT CASE WHEN {_MATCHED} THEN matched_account_id END) AS accounts_exposed,
                   count(DISTINCT ip) AS ips, count(DISTINCT ip_prefix) AS prefixes, count(DISTINCT ip_asn) AS asns,
                   count(DISTINCT device_id) AS devices, count(DISTINCT ip_country) AS ip_countries,
                   count(DISTINCT block_hash) AS blocks, min(ts) AS first_seen, max(ts) AS last_seen,
                   count(DISTINCT account_id) AS active_accounts
            FROM {{events}}"""
    )
    counts = ("requests", "lookups", "numbers_looked_up", "numbers_matched", "accounts_exposed", "ips",
              "prefixes", "asns", "devices", "ip_countries", "blocks", "active_accounts")
    facts = dict.fromkeys(counts, 0) | found
    facts["accounts"] = sum(int(c.get("size") or 0) for c in clusters)
    first, last = facts.get("first_seen"), facts.get("last_seen")
    if first is None:
        first = min((c["first_seen"] for c in clusters if c.get("first_seen")), default=None)
        last = max((c["last_seen"] for c in clusters if c.get("last_seen")), default=None)
    facts["first_seen"], facts["last_seen"] = as_utc(first), as_utc(last)
    facts["days"] = (last - first).total_seconds() / 86400 if first and last else 0.0
    looked_up = facts["numbers_looked_up"]
    facts["match_rate"] = (facts["numbers_matched"] / looked_up) if looked_up else 0.0
    return facts


def timeline(events: EventReader, days: float) -> tuple[list[dict], str]:
    """Requests, lookups and matched numbers an hour (a span of up to three days) or a day, and the unit."""
    unit = "hour" if days <= 3 else "day"
    rows = events.rows(
        f"""SELECT date_trunc($unit, ts AT TIME ZONE 'UTC') AS t, count(*) AS requests, count(phone_hash) AS lookups,
                   count(DISTINCT CASE WHEN {_MATCHED} THEN phone_hash END) AS matched
            FROM {{events}} GROUP BY t ORDER BY t""",
        {"unit": unit},
    )
    return [row | {"t": as_utc(row["t"])} for row in rows], unit


def infrastructure(events: EventReader, store: GraphStore) -> tuple[list, list, list, list]:
    """Countries, ASNs, hosting mix and IPs, from per-IP traffic and the graph's IP nodes.

    The IP node is the better source (ip_intel may have refined what the edge
    enrichment said at ingest); the event's own enrichment fills its gaps.
    """
    per_ip = events.rows("""SELECT ip, any_value(ip_country) AS country, any_value(ip_asn) AS asn,
                                   any_value(ip_kind) AS kind, any_value(ip_prefix) AS prefix, count(*) AS requests,
                                   count(DISTINCT account_id) AS accounts, min(ts) AS first_seen, max(ts) AS last_seen
                            FROM {events} GROUP BY ip ORDER BY requests DESC, ip""")
    nodes: dict[str, dict] = {}
    keys = [row["ip"] for row in per_ip]
    for start in range(0, len(keys), _NODE_BATCH):
        nodes.update({n["ip"]: n for n in store.get_nodes(IP, keys[start : start + _NODE_BATCH])})
    ips = []
    for row in per_ip:
        node = nodes.get(row["ip"], {})
        ips.append({
            "ip": row["ip"],
            "country": node.get("country") or row["country"],
            "asn": node.get("asn") if node.get("asn") is not None else row["asn"],
            "org": node.get("as_org"),
            "kind": node.get("kind") or row["kind"] or "unknown",
            "prefix": node.get("prefix") or row["prefix"],
            "requests": row["requests"],
            "accounts": row["accounts"],
            "first_seen": as_utc(row["first_seen"]),
            "last_seen": as_utc(row["last_seen"]),
        })
    by_country: dict[str | None, dict] = {}
    by_asn: dict[int | None, dict] = {}
    by_kind: dict[str, dict] = {}
    for row in ips:
        c = by_country.setdefault(row["country"], {"country": row["country"], "name": country_name(row["country"]),
                                                   "requests": 0, "ips": 0})
        a = by_asn.setdefault(row["asn"], {"asn": row["asn"], "org": row["org"], "country": row["country"],
                                           "requests": 0, "ips": 0})
        k = by_kind.setdefault(row["kind"], {"kind": row["kind"], "requests": 0, "ips": 0})
        for bucket in (c, a, k):
            bucket["requests"] += row["requests"]
            bucket["ips"] += 1
        a["org"] = a["org"] or row["org"]

    def ranked(buckets: dict) -> list[dict]:
        return share(sorted(buckets.values(), key=lambda r: (-r["requests"], str(next(iter(r.values()))))))

    return ranked(by_country), ranked(by_asn), ranked(by_kind), ips


def _ratio(part: object, whole: object) -> float | None:
    """``part / whole``, or ``None`` when there is no whole to divide."""
    return (part or 0) / whole if whole else None


def tradecraft(events: EventReader) -> dict:
    """How the operation worked: its hours, how it walked number blocks, its devices and clients."""
    hours = [0] * 24
    for row in events.rows("SELECT hour(ts AT TIME ZONE 'UTC') AS hour, count(*) AS requests FROM {events} GROUP BY 1"):
        hours[int(row["hour"])] = row["requests"]
    busiest = sorted(range(24), key=lambda h: -hours[h])[:8]
    total = sum(hours) or 1
    blocks = events.one(
        """SELECT count(*) AS blocks, avg(n) AS numbers, max(n) AS most_numbers,
                  count(*) FILTER (WHERE accounts = 1) AS single_account, count(*) FILTER (WHERE n >= 100) AS dense,
                  avg(accounts) AS accounts
           FROM (SELECT block_hash, count(DISTINCT phone_hash) AS n, count(DISTINCT account_id) AS accounts
                 FROM {events} WHERE block_hash IS NOT NULL GROUP BY block_hash)"""
    )
    steps = events.one(
        """SELECT count(*) FILTER (WHERE block_hash = prev_block AND abs(block_ordinal - prev_ordinal) = 1)
                      AS sequential,
                  count(*) FILTER (WHERE block_hash = prev_block) AS same_block,
                  count(*) FILTER (WHERE prev_block IS NOT NULL) AS after_another,
                  median(gap) AS median_gap
           FROM (SELECT block_hash, block_ordinal,
                        lag(block_hash) OVER w AS prev_block, lag(block_ordinal) OVER w AS prev_ordinal,
                        epoch(ts) - epoch(lag(ts) OVER w) AS gap
                 FROM {events} WHERE phone_hash IS NOT NULL
                 WINDOW w AS (PARTITION BY account_id ORDER BY ts, block_ordinal))"""
    )
    # Sharding inside blocks: accounts visit the same blocks but never the same number.
    lookers = events.one(
        """SELECT count(*) FILTER (WHERE accounts = 1) AS single_account, count(*) AS numbers
           FROM (SELECT phone_hash, count(DISTINCT account_id) AS accounts
                 FROM {events} WHERE phone_hash IS NOT NULL GROUP BY phone_hash)"""
    )
    per_account = events.one(
        """SELECT avg(n) AS mean, max(n) AS most
           FROM (SELECT account_id, count(DISTINCT phone_hash) AS n FROM {events} WHERE phone_hash IS NOT NULL
                 GROUP BY account_id)"""
    )
    devices = events.one(
        """SELECT count(DISTINCT device_id) AS devices, avg(a) AS mean, max(a) AS most
           FROM (SELECT device_id, count(DISTINCT account_id) AS a FROM {events} WHERE device_id IS NOT NULL
                 GROUP BY device_id)"""
    )
    clients = [
        {"client": " ".join(p for p in (r["user_agent_family"], r["app_version"]) if p) or "unknown",
         "os": r["os_family"] or "unknown", "requests": r["requests"], "devices": r["devices"]}
        for r in events.rows("""SELECT user_agent_family, app_version, os_family, count(*) AS requests,
                                       count(DISTINCT device_id) AS devices
                                FROM {events} GROUP BY 1, 2, 3 ORDER BY requests DESC LIMIT 8""")
    ]
    endpoints = share(events.rows(
        "SELECT endpoint, count(*) AS requests FROM {events} GROUP BY 1 ORDER BY requests DESC LIMIT 8"))
    n_blocks = blocks.get("blocks") or 0
    same_block = steps.get("same_block") or 0
    single_block = _ratio(blocks.get("single_account"), n_blocks)
    single_number = _ratio(lookers.get("single_account"), lookers.get("numbers"))
    accounts_per_block = float(blocks.get("accounts") or 0)
    return {
        "sharding": _sharding(single_block, single_number, accounts_per_block),
        "hours": hours,
        "busiest_hours": sorted(busiest),
        "busiest_share": sum(hours[h] for h in busiest) / total,
        "blocks": n_blocks,
        "numbers_per_block": float(blocks.get("numbers") or 0),
        "max_per_block": int(blocks.get("most_numbers") or 0),
        "dense_blocks": int(blocks.get("dense") or 0),
        "single_account_block_share": single_block,
        "accounts_per_block": accounts_per_block,
        "single_account_number_share": single_number,
        "sequential_share": _ratio(steps.get("sequential"), same_block),
        "same_block_share": _ratio(same_block, steps.get("after_another")),
        "median_gap_seconds": float(steps["median_gap"]) if steps.get("median_gap") is not None else None,
        "numbers_per_account": float(per_account.get("mean") or 0),
        "max_numbers_per_account": int(per_account.get("most") or 0),
        "devices": int(devices.get("devices") or 0),
        "accounts_per_device": float(devices.get("mean") or 0),
        "max_accounts_per_device": int(devices.get("most") or 0),
        "clients": clients,
        "endpoints": endpoints,
    }


def _sharding(single_block: float | None, single_number: float | None, accounts_per_block: float) -> str | None:
    """How the accounts divided the number space: ``by_block``, ``by_number``, ``none`` or ``None`` (no data).

    Independent enumerators that share blocks also share numbers; accounts
    that share blocks but almost never a number were handed disjoint shares.
    """
    if single_block is None or single_number is None:
        return None
    if accounts_per_block >= 1.5 and single_number >= 0.9:
        return "by_number"
    if single_block >= 0.7:
        return "by_block"
    return "none"


def exposure(events: Events, members: list[str], clusters: list[dict]) -> tuple[list[dict], dict]:
    """Whose numbers the operation matched, by the numbers' region, most exposed first, and the totals.

    Counted by :func:`graph.detect.exposure.matched_outside`, as detection
    counts each cluster's exposure, with every briefed account as one
    operation: a member found by another member is nobody exposed. The
    totals are ``numbers_matched`` and ``accounts_exposed``.
    """
    if events.exists():
        matched = matched_outside(events, {"operation": members})
        rows = exposure_by_country(matched).sort_values(["numbers", "country"], ascending=[False, True])
        totals = {"numbers_matched": int(matched["phone_hash"].nunique()),
                  "accounts_exposed": int(matched["matched_account_id"].nunique())}
        return share([{"country": r.country, "name": country_name(r.country), "numbers": int(r.numbers),
                       "accounts": int(r.accounts)} for r in rows.itertuples()], "numbers"), totals
    # No events (a store restored without its warehouse): fall back on what detection recorded.
    recorded: Counter[str] = Counter()
    for cluster in clusters:
        by_country, _ = exposure_summary(cluster.get("exposure"))
        recorded.update(by_country)
    totals = {"numbers_matched": sum(int((c.get("exposure") or {}).get("numbers_matched") or 0) for c in clusters),
              "accounts_exposed": sum(exposed_accounts(c.get("exposure")) for c in clusters)}
    return share([{"country": k, "name": country_name(k), "numbers": v, "accounts": None}
                  for k, v in recorded.most_common()], "numbers"), totals


def target_regions(events: EventReader) -> list[dict]:
    """Where the numbers looked up are from, by region, most numbers first."""
    return share([
        {"country": r["country"], "name": country_name(r["country"]), "numbers": r["numbers"], "lookups": r["lookups"]}
        for r in events.rows("""SELECT phone_region AS country, count(DISTINCT phone_hash) AS numbers,
                                       count(*) AS lookups
                                FROM {events} WHERE phone_hash IS NOT NULL GROUP BY 1 ORDER BY numbers DESC, country""")
    ], "numbers")
