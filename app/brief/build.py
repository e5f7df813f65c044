"""The facts of a briefing: everything the templates print, gathered in one pass.

A briefing covers one or more clusters of one detection run (several
clusters that analysts judge to be one operation can be briefed together).
Facts come from three places: the clusters and their memberships in the
graph store, the analysts' judgements (status, attribution, comments, tags),
and the request events in the workspace's warehouse for the numbers behind
scale, timeline, infrastructure and tradecraft (:mod:`app.brief.activity`).
Nothing here formats or
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

from app.access import Reader, WorkspaceAccess
from app.brief import activity, edition
from app.brief.ties import operation_ties
from app.brief.words import GLOSSARY, list_names, settle_plurals, status_words
from app.events import EventReader, as_utc
from app.export.redact import scrub_phone_numbers
from app.export.select import Filters, select_clusters
from app.export.tables import DEFAULT_TLP, cluster_tlp, most_restrictive_tlp
from app.present.clock import operator_clock, working_week
from app.present.countries import country_name
from app.present.evidence import attribution_summary, evidence_sections
from app.present.quantities import SCORE_UNITS
from app.present.tradecraft import cluster_tradecraft
from graph import __version__
from graph.detect.attribution import weekly_rhythm
from graph.detect.behaviour import weekly_histograms
from graph.detect.frames import Events
from graph.errors import SybilscopeError
from graph.store.base import GraphStore
from graph.triage import judgement
from graph.workspace import Workspace

__all__ = ["Briefing", "collect_briefing", "network_confidence", "CONFIDENCE_WORDS"]

# What each confidence level means, printed in the briefing (after ICD 203's usage).
CONFIDENCE_WORDS = {
    "high": "high-quality information from several independent sources; the judgement is hard to overturn",
    "moderate": "credibly sourced and plausible, but not corroborated enough for a higher level",
    "low": "the information is scant, questionable or fragmented; the judgement is a working hypothesis",
}
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
    clock: dict | None = None
    working_week: str | None = None
    score_units: str = SCORE_UNITS
    redacted: bool = False
    edition: str = "full"
    ties: dict | None = None
    glossary: dict[str, str] = field(default_factory=lambda: dict(GLOSSARY))
    figures: dict[str, str] = field(default_factory=dict)


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


def _hints(attribution: object, analyst_country: str | None = None, at: datetime | None = None) -> list[dict]:
    """Detection's attribution hints as readable sentences, the clock reconciled with the analysts' country."""
    return [{"name": what, "value": sentence} for what, sentence in attribution_summary(
        attribution if isinstance(attribution, dict) else None, analyst_country, as_utc(at))]


def collect_briefing(
    workspace: Workspace,
    store: GraphStore,
    cluster_ids: Sequence[str],
    *,
    run_id: str | None = None,
    tlp: str | None = None,
    redact: bool = False,
    reader: Reader | None = None,
    edition_name: str = "full",
    include_notes: bool = False,
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
    edition_name : {"full", "public"}
        Who reads it (:mod:`app.brief.edition`); ``public`` is redacted whatever ``redact`` says.
    include_notes : bool
        Print the analysts' comments (never in the public edition).
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

    scrub = edition.cleaner(edition_name, workspace, store, members, redact)
    public = edition_name == "public"

    def clean(value: object) -> object:
        return scrub(scrub_phone_numbers(value))

    with (reader or WorkspaceAccess(workspace, store).reader)() as cursor:
        events = EventReader(cursor).for_accounts(sorted(members))
        scale = activity.scale(events, clusters)
        timeline, unit = activity.timeline(events, scale["days"])
        countries, asns, kinds, ips = activity.infrastructure(events, store)
        scale.update(ip_countries=len([c for c in countries if c["country"]]),
                     asns=len([a for a in asns if a["asn"] is not None]),
                     prefixes=len({ip["prefix"] for ip in ips if ip["prefix"]}))
        tradecraft = activity.tradecraft(events)
        targets = activity.target_regions(events)
        operation = Events(cursor)
        exposure, exposed = activity.exposure(operation, sorted(members), clusters)
        scale.update(exposed)
        looked_up = scale["numbers_looked_up"]
        scale["match_rate"] = scale["numbers_matched"] / looked_up if looked_up else 0.0
        week = sum(weekly_histograms(operation, sorted(members)).values()) if operation.exists() else None
        ties = operation_ties(cursor, store, clusters, run["run_id"])

    marking = tlp and most_restrictive_tlp([tlp], default="")
    if tlp and not marking:
        raise SybilscopeError(f"unknown TLP marking {tlp!r}: use TLP:CLEAR, TLP:GREEN, TLP:AMBER, "
                              "TLP:AMBER+STRICT or TLP:RED")
    marking = marking or most_restrictive_tlp((cluster_tlp(judged[c["cluster_id"]].tags) for c in clusters),
                                              default=DEFAULT_TLP)

    cluster_rows = []
    attribution = []
    notes = []
    for index, cluster in enumerate(clusters):
        cid = edition.cluster_label(edition_name, cluster["cluster_id"], index)
        j = judged[cluster["cluster_id"]]
        confidence = network_confidence(float(cluster.get("score") or 0), cluster["status"])
        cluster_rows.append({
            "cluster_id": cid, "score": float(cluster.get("score") or 0), "size": cluster.get("size"),
            "kind": cluster.get("kind"), **cluster_tradecraft(cluster), "status": cluster["status"],
            "status_words": status_words(cluster["status"]), "status_reason": clean(j.status_reason),
            "top_ip_country": cluster.get("top_ip_country"), "top_ip_country_name": country_name(cluster.get("top_ip_country")),
            "first_seen": as_utc(cluster.get("first_seen")), "last_seen": as_utc(cluster.get("last_seen")),
            "reasons": [settle_plurals(r) for r in clean(list(cluster.get("reasons") or []))],
            "evidence": [] if public else clean(_evidence_tables(cluster.get("evidence"))),
            "confidence": confidence, "tags": list(j.tags),
        })
        if j.attribution:
            a = j.attribution
            attribution.append({
                "cluster_id": cid, "actor": a.get("actor"), "country": a.get("country"),
                "country_name": country_name(a.get("country")) if a.get("country") else None,
                "confidence": a.get("confidence") or "low", "rationale": clean(a.get("note") or ""),
                "by": a.get("created_by"), "at": as_utc(a.get("created_at")),
                "hints": clean(_hints(cluster.get("attribution"), a.get("country"), cluster.get("first_seen"))),
            })
        else:
            attribution.append({"cluster_id": cid, "actor": None, "hints": clean(_hints(cluster.get("attribution")))})
        for comment in j.comments if include_notes and not public else ():
            notes.append({"cluster_id": cid, "text": clean(comment["text"]), "by": comment.get("by"), "at": as_utc(comment.get("at"))})

    lead = cluster_rows[0]
    attributed = [a for a in attribution if a.get("actor")]
    actors = list(dict.fromkeys(a["actor"] for a in attributed))
    subject = actors[0] if len(actors) == 1 else (
        f"cluster {lead['cluster_id']}" if len(cluster_rows) == 1 else f"{len(cluster_rows)} clusters")
    title = (f"{subject}: coordinated phone-number enumeration network" if actors
             else f"Coordinated phone-number enumeration: {subject}")
    key_judgements = _key_judgements(cluster_rows, attributed, scale, countries, exposure)
    origin = next((a.get("country") for a in attributed if a.get("country")), None)
    clock = operator_clock(_clock_hint(clusters), origin, scale["first_seen"])
    origin = origin or next((c["country"] for c in countries if c["country"]), None)

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
            "workspace": workspace.root.name,  # its name, never where it lies on this machine
            "store": getattr(store, "backend", ""),
            "run_id": run["run_id"],
            "started_at": as_utc(run.get("started_at")),
            "finished_at": as_utc(run.get("finished_at")),
            "data_fingerprint": run.get("data_fingerprint"),
            "params": run.get("params") or {},
            "code_version": run.get("code_version"),
            "sybilscope_version": __version__,
            "cluster_ids": [c["cluster_id"] for c in clusters],
            "command": "sybilscope brief " + " ".join(c["cluster_id"] for c in clusters) + f" --run {run['run_id']}"
                       + (" --edition public" if public else ""),
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
        utc_offset=clock["offset_hours"] if clock else None,
        clock=clock,
        working_week=working_week(weekly_rhythm(week, clock["offset_hours"] if clock else None), origin)
        if week is not None else None,
        redacted=redact or public,
        edition=edition_name,
        ties=ties,
    )


def _clock_hint(clusters: list[dict]) -> dict | None:
    """Detection's operator-clock estimate for the briefing: the highest-scoring cluster's that has one."""
    for cluster in clusters:
        hints = cluster.get("attribution")
        for key, value in hints.items() if isinstance(hints, dict) else ():
            if "offset" not in str(key):
                continue
            if isinstance(value, dict) and value.get("offset_hours") is not None:  # detection's form
                return value
            if isinstance(value, int | float) and not isinstance(value, bool) and -14 <= value <= 14:
                return {"offset_hours": float(value)}
    return None


def _key_judgements(clusters: list[dict], attributed: list[dict], scale: dict, countries: list[dict],
                    exposure: list[dict]) -> list[dict]:
    """The summary's estimative statements, each with the confidence it rests on."""
    levels = ("low", "moderate", "high")
    network = min((c["confidence"] for c in clusters), key=levels.index)
    statuses = Counter(c["status"] for c in clusters)
    basis = (f"detection score{'s' if len(clusters) > 1 else ''} of "
             + list_names([f"{c['score']:.2f}" for c in clusters])
             + (f"; analyst status {list_names([f'{n} {status_words(s)}' if len(clusters) > 1 else status_words(s) for s, n in statuses.items()])}"))
    origin = list_names([c["name"] for c in countries[:3] if c["country"]]) or "unknown locations"
    judgements = [{
        "confidence": network,
        "text": (f"We assess with {network} confidence that the {scale['accounts']:,} accounts described here "
                 f"acted as one coordinated network to match phone numbers to accounts through the lookup API, "
                 f"sending {scale['lookups']:,} lookups from infrastructure mostly in {origin}."),
        "basis": basis,
    }]
    if scale["numbers_matched"]:
        top = list_names([e["name"] for e in exposure[:3]])
        judgements.append({
            "confidence": network,
            "text": (f"We assess with {network} confidence that the network learned which account belongs to "
                     f"{scale['numbers_matched']:,} phone numbers, exposing users mostly in {top}."),
            "basis": f"{scale['numbers_looked_up']:,} distinct numbers looked up, {scale['match_rate']:.1%} matched",
        })
    if not attributed:
        judgements.append({
            "confidence": "low",
            "text": ("No analyst has attributed this activity. What this briefing says of where it comes from rests "
                     "on automated signals (infrastructure, working hours, prior labels), and we hold it with low "
                     "confidence."),
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
                     + f" operated {'this network' if len(rows) == len(clusters) else list_names([r['cluster_id'] for r in rows])}."),
            "basis": "; ".join(r["rationale"] for r in rows if r.get("rationale")) or "analyst attribution",
        })
    return judgements
