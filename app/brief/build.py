"""The facts of a briefing: everything the templates print, gathered in one pass.

A briefing covers one or more clusters of one detection run (several
clusters that analysts judge to be one operation can be briefed together).
Facts come from three places: the clusters and their memberships in the
graph store, the analysts' judgements (status, attribution, comments, tags),
and the request events in the workspace's warehouse for the numbers behind
scale, timeline, infrastructure and tradecraft. Nothing here formats or
draws; :mod:`app.brief.figures` and :mod:`app.brief.render` do.

No raw phone number can appear: the events hold keyed hashes only, and every
piece of free text (reasons, evidence, rationales, comments) goes through
:func:`app.export.redact.scrub_phone_numbers`.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

import duckdb

from app.access import Reader, WorkspaceAccess
from app.export.redact import Redactor, scrub_phone_numbers
from app.export.select import Filters, select_clusters
from app.export.tables import DEFAULT_TLP, cluster_tlp, most_restrictive_tlp
from app.present.countries import country_name
from app.present.evidence import attribution_summary, evidence_sections
from graph import __version__
from graph.errors import SybilscopeError
from graph.schema import IP
from graph.store.base import GraphStore
from graph.triage import judgement
from graph.warehouse import EVENTS_TABLE
from graph.workspace import Workspace

__all__ = ["Briefing", "collect_briefing", "network_confidence", "CONFIDENCE_WORDS"]

# What each confidence level means, printed in the briefing (after ICD 203's usage).
CONFIDENCE_WORDS = {
    "high": "high-quality information from several independent sources; the judgement is hard to overturn",
    "moderate": "credibly sourced and plausible, but not corroborated enough for a higher level",
    "low": "the information is scant, questionable or fragmented; the judgement is a working hypothesis",
}
_TOP = 10
# The appendix lists the busiest indicators; exports (STIX, CSV) carry every one.
_INDICATOR_CAP = 150


def network_confidence(score: float, status: str) -> str:
    """Confidence that a cluster is a coordinated abuse network, from its score and triage.

    The detection score alone never gives ``high``: that takes an analyst's
    confirmation. A dismissed cluster is ``low`` whatever its score.
    """
    if status == "dismissed":
        return "low"
    if status == "confirmed" and score >= 0.8:
        return "high"
    if score >= 0.5:
        return "moderate"
    return "low"


@dataclass
class Briefing:
    """Everything a briefing template prints. See :func:`collect_briefing`."""

    title: str
    subject: str
    tlp: str
    generated_at: datetime
    reproduce: dict
    clusters: list[dict]
    key_judgements: list[dict]
    scale: dict
    timeline: list[dict]
    timeline_unit: str
    countries: list[dict]
    asns: list[dict]
    ip_kinds: list[dict]
    top_ips: list[dict]
    hours: list[int]
    tradecraft: dict
    target_regions: list[dict]
    exposure: list[dict]
    attribution: list[dict]
    detection: dict
    notes: list[dict]
    indicators: dict
    utc_offset: float | None = None
    redacted: bool = False
    figures: dict[str, str] = field(default_factory=dict)


def _events_present(events: duckdb.DuckDBPyConnection) -> bool:
    return bool(
        events.execute(
            "SELECT count(*) FROM information_schema.tables WHERE table_name = ?", [EVENTS_TABLE]
        ).fetchone()[0]
    )


class _Events:
    """Queries over the member accounts' events (UTC throughout)."""

    def __init__(self, cursor: duckdb.DuckDBPyConnection, account_ids: Sequence[str]):
        self.cursor = cursor
        self.present = _events_present(cursor)
        self.params = {"ids": list(account_ids)}
        self.scope = f"FROM {EVENTS_TABLE} WHERE account_id IN (SELECT unnest($ids))"

    def rows(self, sql: str) -> list[tuple]:
        if not self.present:
            return []
        return self.cursor.execute(sql.replace("{scope}", self.scope), self.params).fetchall()

    def one(self, sql: str) -> tuple:
        found = self.rows(sql)
        return found[0] if found else ()


_MATCHED = "matched_account_id IS NOT NULL AND matched_account_id <> ''"


def _scale(ev: _Events, clusters: list[dict]) -> dict:
    row = ev.one(
        f"""SELECT count(*), count(phone_hash), count(DISTINCT phone_hash),
                   count(DISTINCT CASE WHEN {_MATCHED} THEN phone_hash END),
                   count(DISTINCT CASE WHEN {_MATCHED} THEN matched_account_id END),
                   count(DISTINCT ip), count(DISTINCT ip_prefix), count(DISTINCT ip_asn),
                   count(DISTINCT device_id), count(DISTINCT ip_country), count(DISTINCT block_hash),
                   min(ts), max(ts), count(DISTINCT account_id)
            {{scope}}"""
    )
    keys = ("requests", "lookups", "numbers_looked_up", "numbers_matched", "accounts_exposed", "ips",
            "prefixes", "asns", "devices", "ip_countries", "blocks", "first_seen", "last_seen", "active_accounts")
    scale = dict(zip(keys, row, strict=True)) if row else {k: 0 for k in keys} | {"first_seen": None, "last_seen": None}
    scale["accounts"] = sum(int(c.get("size") or 0) for c in clusters)
    first, last = scale["first_seen"], scale["last_seen"]
    if first is None:
        first = min((c["first_seen"] for c in clusters if c.get("first_seen")), default=None)
        last = max((c["last_seen"] for c in clusters if c.get("last_seen")), default=None)
    scale["first_seen"], scale["last_seen"] = _utc(first), _utc(last)
    scale["days"] = (last - first).total_seconds() / 86400 if first and last else 0.0
    scale["match_rate"] = (scale["numbers_matched"] / scale["numbers_looked_up"]) if scale["numbers_looked_up"] else 0.0
    return scale


def _utc(moment: datetime | None) -> datetime | None:
    if moment is None:
        return None
    if moment.tzinfo is None:
        return moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)


def _timeline(ev: _Events, days: float) -> tuple[list[dict], str]:
    unit = "hour" if days <= 3 else "day"
    rows = ev.rows(
        f"""SELECT date_trunc('{unit}', ts AT TIME ZONE 'UTC') AS t, count(*), count(phone_hash),
                   count(DISTINCT CASE WHEN {_MATCHED} THEN phone_hash END)
            {{scope}} GROUP BY t ORDER BY t"""
    )
    return [
        {"t": _utc(r[0]), "requests": r[1], "lookups": r[2], "matched": r[3]} for r in rows
    ], unit


def _share(rows: list[dict], key: str = "requests") -> list[dict]:
    total = sum(r[key] for r in rows) or 1
    for r in rows:
        r["share"] = r[key] / total
    return rows


def _infrastructure(ev: _Events, store: GraphStore) -> tuple[list, list, list, list]:
    """Countries, ASNs, hosting mix and IPs, from per-IP traffic and the graph's IP nodes.

    The IP node is the better source (ip_intel may have refined what the edge
    enrichment said at ingest); the event's own enrichment fills its gaps.
    """
    per_ip = ev.rows("""SELECT ip, any_value(ip_country), any_value(ip_asn), any_value(ip_kind),
                               any_value(ip_prefix), count(*), count(DISTINCT account_id), min(ts), max(ts)
                        {scope} GROUP BY ip ORDER BY 6 DESC, ip""")
    nodes: dict[str, dict] = {}
    keys = [r[0] for r in per_ip]
    for start in range(0, len(keys), 5_000):
        nodes.update({n["ip"]: n for n in store.get_nodes(IP, keys[start : start + 5_000])})
    ips = []
    for ip, country, asn, kind, prefix, requests, accounts, first, last in per_ip:
        node = nodes.get(ip, {})
        ips.append({
            "ip": ip,
            "country": node.get("country") or country,
            "asn": node.get("asn") if node.get("asn") is not None else asn,
            "org": node.get("as_org"),
            "kind": node.get("kind") or kind or "unknown",
            "prefix": node.get("prefix") or prefix,
            "requests": requests,
            "accounts": accounts,
            "first_seen": _utc(first),
            "last_seen": _utc(last),
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
        return _share(sorted(buckets.values(), key=lambda r: (-r["requests"], str(next(iter(r.values()))))))

    return ranked(by_country), ranked(by_asn), ranked(by_kind), ips


def _tradecraft(ev: _Events) -> dict:
    hours = [0] * 24
    for hour, count in ev.rows("SELECT hour(ts AT TIME ZONE 'UTC'), count(*) {scope} GROUP BY 1"):
        hours[int(hour)] = count
    busiest = sorted(range(24), key=lambda h: -hours[h])[:8]
    total = sum(hours) or 1
    weekday = ev.one("SELECT count(*) FILTER (WHERE isodow(ts AT TIME ZONE 'UTC') <= 5), count(*) {scope}")
    blocks = ev.one(
        """SELECT count(*), avg(n), max(n), count(*) FILTER (WHERE accounts = 1),
                  count(*) FILTER (WHERE n >= 100), avg(accounts)
           FROM (SELECT block_hash, count(DISTINCT phone_hash) AS n, count(DISTINCT account_id) AS accounts
                 {scope} AND block_hash IS NOT NULL GROUP BY block_hash)"""
    )
    steps = ev.one(
        """SELECT count(*) FILTER (WHERE block_hash = prev_block AND abs(block_ordinal - prev_ordinal) = 1),
                  count(*) FILTER (WHERE block_hash = prev_block),
                  count(*) FILTER (WHERE prev_block IS NOT NULL),
                  median(gap)
           FROM (SELECT block_hash, block_ordinal,
                        lag(block_hash) OVER w AS prev_block, lag(block_ordinal) OVER w AS prev_ordinal,
                        epoch(ts) - epoch(lag(ts) OVER w) AS gap
                 {scope} AND phone_hash IS NOT NULL
                 WINDOW w AS (PARTITION BY account_id ORDER BY ts, block_ordinal))"""
    )
    # Sharding inside blocks: accounts visit the same blocks but never the same number.
    lookers = ev.one(
        """SELECT count(*) FILTER (WHERE accounts = 1), count(*)
           FROM (SELECT phone_hash, count(DISTINCT account_id) AS accounts
                 {scope} AND phone_hash IS NOT NULL GROUP BY phone_hash)"""
    )
    per_account = ev.one(
        """SELECT avg(n), max(n), median(n)
           FROM (SELECT account_id, count(DISTINCT phone_hash) AS n {scope} AND phone_hash IS NOT NULL
                 GROUP BY account_id)"""
    )
    devices = ev.one(
        """SELECT count(DISTINCT device_id), avg(a), max(a)
           FROM (SELECT device_id, count(DISTINCT account_id) AS a {scope} AND device_id IS NOT NULL
                 GROUP BY device_id)"""
    )
    clients = [
        {"client": " ".join(p for p in (r[0], r[1]) if p) or "unknown", "os": r[2] or "unknown", "requests": r[3],
         "devices": r[4]}
        for r in ev.rows("""SELECT user_agent_family, app_version, os_family, count(*), count(DISTINCT device_id)
                            {scope} GROUP BY 1, 2, 3 ORDER BY 4 DESC LIMIT 8""")
    ]
    endpoints = _share([
        {"endpoint": r[0], "requests": r[1]}
        for r in ev.rows("SELECT endpoint, count(*) {scope} GROUP BY 1 ORDER BY 2 DESC LIMIT 8")
    ])
    n_blocks = (blocks[0] if blocks else 0) or 0
    same_block = (steps[1] if steps else 0) or 0
    single_block = (blocks[3] / n_blocks) if n_blocks else None
    single_number = (lookers[0] / lookers[1]) if lookers and lookers[1] else None
    accounts_per_block = float(blocks[5] or 0) if blocks else 0.0
    return {
        "sharding": _sharding(single_block, single_number, accounts_per_block),
        "hours": hours,
        "busiest_hours": sorted(busiest),
        "busiest_share": sum(hours[h] for h in busiest) / total,
        "weekday_share": (weekday[0] / weekday[1]) if weekday and weekday[1] else None,
        "blocks": n_blocks,
        "numbers_per_block": float(blocks[1] or 0) if blocks else 0.0,
        "max_per_block": int(blocks[2] or 0) if blocks else 0,
        "dense_blocks": int(blocks[4] or 0) if blocks else 0,
        "single_account_block_share": (blocks[3] / n_blocks) if n_blocks else None,
        "accounts_per_block": float(blocks[5] or 0) if blocks else 0.0,
        "single_account_number_share": (lookers[0] / lookers[1]) if lookers and lookers[1] else None,
        "sequential_share": (steps[0] / same_block) if same_block else None,
        "same_block_share": (same_block / steps[2]) if steps and steps[2] else None,
        "median_gap_seconds": float(steps[3]) if steps and steps[3] is not None else None,
        "numbers_per_account": float(per_account[0] or 0) if per_account else 0.0,
        "max_numbers_per_account": int(per_account[1] or 0) if per_account else 0,
        "devices": int(devices[0] or 0) if devices else 0,
        "accounts_per_device": float(devices[1] or 0) if devices else 0.0,
        "max_accounts_per_device": int(devices[2] or 0) if devices else 0,
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


def _exposure(ev: _Events, clusters: list[dict]) -> list[dict]:
    rows = ev.rows(
        f"""SELECT phone_region, count(DISTINCT phone_hash), count(DISTINCT matched_account_id)
            {{scope}} AND {_MATCHED} GROUP BY 1 ORDER BY 2 DESC, 1"""
    )
    if rows:
        return _share([{"country": r[0], "name": country_name(r[0]), "numbers": r[1], "accounts": r[2]}
                       for r in rows], "numbers")
    # No events (a store restored without its warehouse): fall back on what detection recorded.
    recorded: Counter[str] = Counter()
    for cluster in clusters:
        exposure = cluster.get("exposure")
        if isinstance(exposure, dict):
            recorded.update({k: int(v) for k, v in exposure.items() if isinstance(v, int | float)})
    return _share([{"country": k, "name": country_name(k), "numbers": v, "accounts": None}
                   for k, v in recorded.most_common()], "numbers")


def _target_regions(ev: _Events) -> list[dict]:
    return _share([
        {"country": r[0], "name": country_name(r[0]), "numbers": r[1], "lookups": r[2]}
        for r in ev.rows("""SELECT phone_region, count(DISTINCT phone_hash), count(*)
                            {scope} AND phone_hash IS NOT NULL GROUP BY 1 ORDER BY 2 DESC, 1""")
    ], "numbers")


_EVIDENCE_ROWS = 6
# Reading order for evidence columns (detection stores them alphabetically): what the row is
# first, when next, how much after, and long lists of accounts last.
_COLUMN_ORDER = ("id", "block", "ip", "prefix", "device", "asn", "country", "kind", "a", "b", "start", "end",
                 "endpoint", "coverage", "complementarity", "expected overlap", "overlap", "shared blocks",
                 "lookups", "matched", "numbers", "requests", "members", "outside accounts", "accounts")


def _evidence_tables(evidence: object) -> list[dict]:
    """A cluster's evidence as the small tables the cluster page shows (request ids left out)."""
    tables = []
    for section in evidence_sections(evidence if isinstance(evidence, dict) else None):
        columns = section["columns"]
        order = sorted(range(len(columns)), key=lambda i: (
            _COLUMN_ORDER.index(columns[i]) if columns[i] in _COLUMN_ORDER else len(_COLUMN_ORDER) - 1, i))
        tables.append({"title": section["title"], "total": section["total"],
                       "columns": [columns[i] for i in order],
                       "rows": [[row[i] for i in order] for row in section["rows"][:_EVIDENCE_ROWS]]})
    return tables


def _hints(attribution: object) -> list[dict]:
    """Detection's attribution hints as readable sentences."""
    return [{"name": what, "value": sentence}
            for what, sentence in attribution_summary(attribution if isinstance(attribution, dict) else None)]


def collect_briefing(
    workspace: Workspace,
    store: GraphStore,
    cluster_ids: Sequence[str],
    *,
    run_id: str | None = None,
    tlp: str | None = None,
    redact: bool = False,
    reader: Reader | None = None,
) -> Briefing:
    """Gather the facts of a briefing on ``cluster_ids`` (of the latest run unless ``run_id``).

    Parameters
    ----------
    workspace, store : Workspace, GraphStore
        The investigation.
    cluster_ids : sequence of str
        The clusters the briefing covers, at least one.
    run_id : str, optional
        The detection run (default: the latest).
    tlp : str, optional
        Override the marking; default the most restrictive ``TLP:`` tag of the
        clusters, else ``TLP:AMBER``.
    redact : bool
        Replace account ids in free text with keyed pseudonyms (public release).
    reader : callable, optional
        Gives the cursor on the events (the workspace's own when ``None``).
    """
    if not cluster_ids:
        raise SybilscopeError("name at least one cluster to brief on (see the queue or an export for ids)")
    selection = select_clusters(store, Filters(cluster_ids=tuple(dict.fromkeys(cluster_ids)), run_id=run_id))
    run = selection.run
    clusters = sorted(selection.clusters, key=lambda c: (-(c.get("score") or 0), c["cluster_id"]))
    members: dict[str, str] = {}
    judged = {}
    for cluster in clusters:
        for member in store.members(cluster["cluster_id"], run["run_id"]):
            members.setdefault(member["account_id"], cluster["cluster_id"])
        judged[cluster["cluster_id"]] = judgement(store, "cluster", cluster["cluster_id"])

    redactor = None
    if redact:
        redactor = Redactor(workspace.secret(), members)

    def clean(value: object) -> object:
        value = scrub_phone_numbers(value)
        return redactor.value(value) if redactor else value

    with (reader or WorkspaceAccess(workspace, store).reader)() as cursor:
        ev = _Events(cursor, sorted(members))
        scale = _scale(ev, clusters)
        timeline, unit = _timeline(ev, scale["days"])
        countries, asns, kinds, ips = _infrastructure(ev, store)
        scale.update(ip_countries=len([c for c in countries if c["country"]]),
                     asns=len([a for a in asns if a["asn"] is not None]),
                     prefixes=len({ip["prefix"] for ip in ips if ip["prefix"]}))
        tradecraft = _tradecraft(ev)
        exposure = _exposure(ev, clusters)
        targets = _target_regions(ev)

    marking = tlp and most_restrictive_tlp([tlp], default="")
    if tlp and not marking:
        raise SybilscopeError(f"unknown TLP marking {tlp!r}: use TLP:CLEAR, TLP:GREEN, TLP:AMBER, "
                              "TLP:AMBER+STRICT or TLP:RED")
    marking = marking or most_restrictive_tlp((cluster_tlp(judged[c["cluster_id"]].tags) for c in clusters),
                                              default=DEFAULT_TLP)

    cluster_rows = []
    attribution = []
    notes = []
    for cluster in clusters:
        cid = cluster["cluster_id"]
        j = judged[cid]
        confidence = network_confidence(float(cluster.get("score") or 0), cluster["status"])
        cluster_rows.append({
            "cluster_id": cid, "score": float(cluster.get("score") or 0), "size": cluster.get("size"),
            "kind": cluster.get("kind"), "status": cluster["status"], "status_reason": clean(j.status_reason),
            "top_ip_country": cluster.get("top_ip_country"), "top_ip_country_name": country_name(cluster.get("top_ip_country")),
            "first_seen": _utc(cluster.get("first_seen")), "last_seen": _utc(cluster.get("last_seen")),
            "reasons": clean(list(cluster.get("reasons") or [])), "evidence": clean(_evidence_tables(cluster.get("evidence"))),
            "confidence": confidence, "tags": list(j.tags),
        })
        if j.attribution:
            a = j.attribution
            attribution.append({
                "cluster_id": cid, "actor": a.get("actor"), "country": a.get("country"),
                "country_name": country_name(a.get("country")) if a.get("country") else None,
                "confidence": a.get("confidence") or "low", "rationale": clean(a.get("note") or ""),
                "by": a.get("created_by"), "at": _utc(a.get("created_at")),
                "hints": clean(_hints(cluster.get("attribution"))),
            })
        else:
            attribution.append({"cluster_id": cid, "actor": None, "hints": clean(_hints(cluster.get("attribution")))})
        for comment in j.comments:
            notes.append({"cluster_id": cid, "text": clean(comment["text"]), "by": comment.get("by"), "at": _utc(comment.get("at"))})

    lead = cluster_rows[0]
    attributed = [a for a in attribution if a.get("actor")]
    actors = list(dict.fromkeys(a["actor"] for a in attributed))
    subject = actors[0] if len(actors) == 1 else (
        f"cluster {lead['cluster_id']}" if len(cluster_rows) == 1 else f"{len(cluster_rows)} clusters")
    title = (f"{subject}: coordinated phone-number enumeration network" if actors
             else f"Coordinated phone-number enumeration: {subject}")
    key_judgements = _key_judgements(cluster_rows, attributed, scale, countries, exposure)

    prefixes: Counter[str] = Counter()
    for ip in ips:
        if ip["prefix"]:
            prefixes[ip["prefix"]] += ip["requests"]
    indicators = {
        "ips": ips[:_INDICATOR_CAP],
        "ips_total": len(ips),
        "prefixes": sorted(prefixes.items(), key=lambda kv: (-kv[1], kv[0]))[:_INDICATOR_CAP],
        "asns": asns,
        "clients": tradecraft["clients"],
    }
    return Briefing(
        title=title,
        subject=subject,
        tlp=marking,
        generated_at=datetime.now(UTC),
        reproduce={
            "workspace": str(workspace.root),
            "store": getattr(store, "backend", ""),
            "run_id": run["run_id"],
            "started_at": _utc(run.get("started_at")),
            "finished_at": _utc(run.get("finished_at")),
            "data_fingerprint": run.get("data_fingerprint"),
            "params": run.get("params") or {},
            "code_version": run.get("code_version"),
            "sybilscope_version": __version__,
            "cluster_ids": [c["cluster_id"] for c in cluster_rows],
            "command": "sybilscope brief " + " ".join(c["cluster_id"] for c in cluster_rows) + f" --run {run['run_id']}",
        },
        clusters=cluster_rows,
        key_judgements=key_judgements,
        scale=scale,
        timeline=timeline,
        timeline_unit=unit,
        countries=countries,
        asns=asns,
        ip_kinds=kinds,
        top_ips=ips[:15],
        hours=tradecraft["hours"],
        tradecraft=tradecraft,
        target_regions=targets,
        exposure=exposure,
        attribution=attribution,
        detection={
            "params": run.get("params") or {},
            "code_version": run.get("code_version"),
            "stats": run.get("stats") or {},
        },
        notes=notes,
        indicators=indicators,
        utc_offset=_utc_offset(clusters),
        redacted=redact,
    )


def _utc_offset(clusters: list[dict]) -> float | None:
    """The working-day UTC offset the detection's attribution hints name, if any."""
    for cluster in clusters:
        hints = cluster.get("attribution")
        if not isinstance(hints, dict):
            continue
        for key, value in hints.items():
            if "offset" not in str(key):
                continue
            if isinstance(value, dict):  # detection's form: {"offset_hours": 3.5, "fit": ..., ...}
                value = value.get("offset_hours")
            if isinstance(value, int | float) and not isinstance(value, bool) and -14 <= value <= 14:
                return float(value)
    return None


def _list_names(names: Sequence[str]) -> str:
    names = list(names)
    if len(names) <= 1:
        return "".join(names)
    return ", ".join(names[:-1]) + " and " + names[-1]


def _key_judgements(clusters: list[dict], attributed: list[dict], scale: dict, countries: list[dict],
                    exposure: list[dict]) -> list[dict]:
    """The summary's estimative statements, each with the confidence it rests on."""
    levels = ("low", "moderate", "high")
    network = min((c["confidence"] for c in clusters), key=levels.index)
    statuses = Counter(c["status"] for c in clusters)
    basis = (f"detection score{'s' if len(clusters) > 1 else ''} of "
             + _list_names([f"{c['score']:.2f}" for c in clusters])
             + (f"; analyst status {_list_names([f'{n} {s}' if len(clusters) > 1 else s for s, n in statuses.items()])}"))
    origin = _list_names([c["name"] for c in countries[:3] if c["country"]]) or "unknown locations"
    judgements = [{
        "confidence": network,
        "text": (f"We assess with {network} confidence that the {scale['accounts']:,} accounts described here "
                 f"acted as one coordinated network to match phone numbers to accounts through the lookup API, "
                 f"sending {scale['lookups']:,} lookups from infrastructure mostly in {origin}."),
        "basis": basis,
    }]
    if scale["numbers_matched"]:
        top = _list_names([e["name"] for e in exposure[:3]])
        judgements.append({
            "confidence": network,
            "text": (f"We assess with {network} confidence that the network learned which account belongs to "
                     f"{scale['numbers_matched']:,} phone numbers, exposing users mostly in {top}."),
            "basis": f"{scale['numbers_looked_up']:,} distinct numbers looked up, {scale['match_rate']:.1%} matched",
        })
    if not attributed:
        judgements.append({
            "confidence": "low",
            "text": ("No analyst has attributed this activity. What this briefing says of its likely origin is an "
                     "assessment from automated signals (infrastructure, working hours, prior labels), "
                     "and we hold it with low confidence."),
            "basis": "detection's attribution hints only; no analyst review of attribution",
        })
    by_actor: dict[str, list[dict]] = {}
    for a in attributed:
        by_actor.setdefault(a["actor"], []).append(a)
    for actor, rows in by_actor.items():
        confidence = min((r["confidence"] for r in rows), key=levels.index)
        where = rows[0].get("country_name")
        judgements.append({
            "confidence": confidence,
            "text": (f"We assess with {confidence} confidence that {actor}"
                     + (f", an actor we associate with {where}," if where else "")
                     + f" operated {'this network' if len(rows) == len(clusters) else _list_names([r['cluster_id'] for r in rows])}."),
            "basis": "; ".join(r["rationale"] for r in rows if r.get("rationale")) or "analyst attribution",
        })
    return judgements
