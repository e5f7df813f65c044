"""STIX 2.1: the selected clusters as a bundle for threat-intelligence platforms.

Built with the ``stix2`` library, so every object is checked as it is made.
Each selected cluster becomes a ``grouping`` (context ``suspicious-activity``)
of its member ``user-account`` objects, the ``ipv4-addr``/``ipv6-addr``
objects they used (with their ``autonomous-system``), and one ``indicator``
a member IP address. The grouping's property extension (:data:`EXTENSION_ID`)
carries the contract's cluster columns, each member's score and the devices
(STIX has no object for an app install id).

A cluster an analyst stands behind (status ``confirmed``, or named with
``--cluster``) also becomes an ``intrusion-set``: the indicators ``indicate``
it, it ``targets`` the countries whose users' numbers it exposed, and, when
an analyst attributed it, it is ``attributed-to`` a ``threat-actor``
(``located-at`` the attributed country, ``originates-from`` on the
intrusion-set) with the attribution's confidence and an ``opinion`` giving
the analyst's rationale. Analyst comments become ``note`` objects; the
cluster's current status becomes an ``opinion`` on its grouping.

Techniques: each technique tag on a cluster (``DISARM:T0150.008``,
``FT3:FT027``, :mod:`app.present.techniques`) becomes an ``attack-pattern``
with ``external_references`` (the framework, the technique id, its URL), in
the grouping's refs, and the intrusion-set ``uses`` it.

Grades: a status or attribution the analyst graded on the Admiralty scale
carries STIX ``confidence`` by the spec's Admiralty Credibility scale
(:func:`graph.admiralty.stix_confidence`) and the MISP ``admiralty-scale``
machine tags as ``labels``; an ungraded attribution keeps the confidence of
its word (low 15, moderate 50, high 85), an ungraded status none.

Markings: every object of a cluster carries that cluster's TLP (its
``TLP:`` tag, default ``TLP:AMBER``) as a FIRST TLP 2.0 marking; what
says nothing about any cluster (the sybilscope identity, the extension
definition, countries, the frameworks' attack patterns) is ``TLP:CLEAR``. stix2 only
ships TLP 1.0 definitions (no ``TLP:CLEAR``, no ``TLP:AMBER+STRICT``), so the
bundle carries OASIS's published TLP 2.0 ``marking-definition`` objects
(their fixed ids and the ``tlp_2_0`` property extension of the OASIS CTI
common objects) for the levels it uses. An object shared by clusters carries
the most restrictive of their markings.

Ids of objects made here are UUIDv5 of what they stand for, so exporting the
same workspace twice gives the same ids and consumers merge instead of
duplicating; observables get stix2's own deterministic ids.
"""

from __future__ import annotations

import ipaddress
import json
import uuid
from collections import defaultdict
from datetime import UTC, datetime
from pathlib import Path

import stix2

from app.export.files import replacing
from app.export.tables import DEFAULT_TLP, ExportContent, most_restrictive_tlp
from app.present.techniques import frameworks, technique_of_tag
from graph import admiralty

__all__ = ["build_bundle", "write", "STIX_TLP", "TLP2_EXTENSION", "CONFIDENCE_SCORES", "EXTENSION_ID"]

# A fixed namespace so ids are stable across exports (uuid5 of the entity's name).
_NAMESPACE = uuid.UUID("6c1f3f0e-7f43-5b8e-9a61-5ec3b9a1d2f4")

# OASIS CTI common objects, extension-definition-specifications/tlp-2.0: fixed ids
# every consumer recognises, and the extension that says which level each is.
TLP2_EXTENSION = "extension-definition--60a3c5c5-0d10-413e-aab3-9e08dde9e88d"
_TLP2_IDS = {
    "TLP:CLEAR": "marking-definition--94868c89-83c2-464b-929b-a1a8aa3c8487",
    "TLP:GREEN": "marking-definition--bab4a63c-aed9-4cf5-a766-dfca5abac2bb",
    "TLP:AMBER": "marking-definition--55d920b0-5e8b-4f79-9ee9-91f868d9b421",
    "TLP:AMBER+STRICT": "marking-definition--939a9414-2ddd-4d32-a0cd-375ea402b003",
    "TLP:RED": "marking-definition--e828b379-4e03-4974-9ac4-e53a884c97c1",
}
STIX_TLP = {
    name: stix2.MarkingDefinition(
        id=sid,
        created="2022-10-01T00:00:00.000Z",
        name=name,
        extensions={TLP2_EXTENSION: {"extension_type": "property-extension",
                                     "tlp_2_0": name.removeprefix("TLP:").lower()}},
    )
    for name, sid in _TLP2_IDS.items()
}
# STIX 2.1 appendix A, the "None/Low/Med/High" scale.
CONFIDENCE_SCORES = {"low": 15, "moderate": 50, "high": 85}
_OPINION_OF_CONFIDENCE = {"low": "neutral", "moderate": "agree", "high": "strongly-agree"}
_OPINION_OF_STATUS = {
    "new": "neutral",
    "in_review": "neutral",
    "confirmed": "strongly-agree",
    "dismissed": "strongly-disagree",
}
_ACCOUNTS_PER_INDICATOR = 200

# The property extension that carries a cluster's export columns on its grouping.
EXTENSION_ID = "extension-definition--2f6b8f7e-1c0d-4f3a-9d6e-5b1a7c9e0d42"
_EXTENSION_CREATED = datetime(2026, 1, 1, tzinfo=UTC)
_EXTENSION_SCHEMA = (
    "Properties: cluster_id, score (0..1), size (member accounts), top_ip_country (ISO alpha-2), "
    "status (new, in_review, confirmed, dismissed), run_id, kind, member_scores (account id to 0..1), "
    "sub_groups (account id to its squad, only for an operation of several squads), "
    "device_ids (list), exposure (country to exposed numbers); what a cluster lacks is left out. "
    "See sybilscope's CONTRACT section 5."
)


def _present(properties: dict) -> dict:
    """The properties that hold something: STIX forbids null properties and empty lists and dictionaries.

    A cluster without a detection kind, a device or squads would otherwise make the bundle invalid.
    """
    return {k: v for k, v in properties.items() if v is not None and v != [] and v != {}}


def _sid(kind: str, *parts: str) -> str:
    """A stable id: UUIDv5 of what the object stands for, with the version bits of a v4.

    STIX 2.1 wants SDO and SRO ids to be UUIDv4 (validator check 103); the
    spec only asks that they be unique, so a hash wearing v4's version and
    variant bits is both valid and reproducible.
    """
    digest = uuid.uuid5(_NAMESPACE, "/".join((kind, *parts))).bytes
    return f"{kind}--{uuid.UUID(bytes=digest, version=4)}"


def _stamp(value: object, fallback: datetime) -> datetime:
    return value if isinstance(value, datetime) else fallback


def _quote(text: str) -> str:
    return text.replace("\\", "\\\\").replace("'", "\\'")


class _Builder:
    """Collects objects by id so shared observables are made once."""

    def __init__(self, content: ExportContent, named: set[str]):
        self.content = content
        self.named = named
        run = content.selection.run
        self.when = _stamp(run.get("finished_at") or run.get("started_at"), content.created_at)
        self.objects: dict[str, object] = {}
        self.identity = stix2.Identity(
            id=_sid("identity", "sybilscope"),
            name="sybilscope",
            identity_class="system",
            description="Findings of a sybilscope investigation workspace.",
            created=self.when,
            modified=self.when,
            object_marking_refs=[STIX_TLP["TLP:CLEAR"].id],
        )
        self.objects[self.identity.id] = self.identity
        definition = stix2.ExtensionDefinition(
            id=EXTENSION_ID,
            created_by_ref=self.identity.id,
            created=_EXTENSION_CREATED,
            modified=_EXTENSION_CREATED,
            name="sybilscope cluster",
            description="The detected cluster a grouping stands for, in sybilscope's export layout.",
            schema=_EXTENSION_SCHEMA,
            version="1.0.0",
            extension_types=["property-extension"],
            object_marking_refs=[STIX_TLP["TLP:CLEAR"].id],
        )
        self.objects[definition.id] = definition
        self.extension = definition.id
        self.cluster_tlp = {row["cluster_id"]: row.get("tlp") or DEFAULT_TLP for row in content.tables["cluster_details"]}

    def add(self, obj: object) -> str:
        self.objects[obj.id] = obj  # type: ignore[attr-defined]
        return obj.id  # type: ignore[attr-defined]

    def marking(self, *cluster_ids: str) -> list[str]:
        tlp = most_restrictive_tlp(self.cluster_tlp.get(c) for c in cluster_ids)
        return [STIX_TLP[tlp].id]

    def sdo(self, cls: type, sid: str, cluster_ids: tuple[str, ...], **props: object) -> str:
        props.setdefault("created", self.when)
        props.setdefault("modified", props["created"])
        return self.add(
            cls(
                id=sid,
                created_by_ref=self.identity.id,
                object_marking_refs=self.marking(*cluster_ids),
                **props,
            )
        )

    def location(self, country: str) -> str:
        sid = _sid("location", country)
        if sid not in self.objects:
            # A country says nothing secret: locations are shared TLP:CLEAR.
            self.objects[sid] = stix2.Location(
                id=sid,
                created_by_ref=self.identity.id,
                created=self.when,
                modified=self.when,
                country=country,
                name=country,
                object_marking_refs=[STIX_TLP["TLP:CLEAR"].id],
            )
        return sid

    def attack_pattern(self, tag: str) -> str | None:
        """The attack pattern a technique tag names (shared, TLP:CLEAR), ``None`` for any other tag."""
        technique = technique_of_tag(tag)
        if technique is None:
            return None
        sid = _sid("attack-pattern", technique.tag)
        if sid not in self.objects:
            framework = frameworks()[technique.framework]
            self.objects[sid] = stix2.AttackPattern(
                id=sid,
                created_by_ref=self.identity.id,
                created=self.when,
                modified=self.when,
                name=technique.name,
                description=f"{framework['name']} {framework['version']}, tactic {technique.tactic}: "
                            f"{technique.name}. Licence: {framework['licence']}",
                external_references=[{"source_name": framework["stix_source_name"],
                                      "external_id": technique.id, "url": technique.url}],
                object_marking_refs=[STIX_TLP["TLP:CLEAR"].id],
            )
        return sid

    def relationship(self, rel: str, src: str, dst: str, clusters: tuple[str, ...], **props: object) -> str:
        sid = _sid("relationship", rel, src, dst)
        return self.sdo(
            stix2.Relationship, sid, clusters, relationship_type=rel, source_ref=src, target_ref=dst, **props
        )


def build_bundle(content: ExportContent) -> stix2.Bundle:
    """The export's content as one STIX 2.1 bundle (see the module docstring)."""
    named = set(content.selection.filters.cluster_ids)
    b = _Builder(content, named)
    tables = content.tables
    details = {row["cluster_id"]: row for row in tables["cluster_details"]}

    accounts_of: dict[str, list[dict]] = defaultdict(list)
    for row in tables["accounts"]:
        accounts_of[row["cluster_id"]].append(row)
    members_of: dict[str, dict[str, float]] = defaultdict(dict)
    squads_of: dict[str, dict[str, str]] = defaultdict(dict)
    for row in tables["members"]:
        members_of[row["cluster_id"]][row["account_id"]] = row["member_score"]
        if row.get("sub_group"):
            squads_of[row["cluster_id"]][row["account_id"]] = row["sub_group"]
    ips_of: dict[str, list[dict]] = defaultdict(list)
    for row in tables["ips"]:
        for cid in row["cluster_ids"]:
            ips_of[cid].append(row)
    devices_of: dict[str, list[str]] = defaultdict(list)
    for row in tables["devices"]:
        for cid in row["cluster_ids"]:
            devices_of[cid].append(row["device_id"])
    judgements_of: dict[str, list[dict]] = defaultdict(list)
    for row in tables["judgements"]:
        judgements_of[row["cluster_id"]].append(row)

    ip_objects: dict[str, str] = {}
    ip_indicators: dict[str, str] = {}
    for row in tables["ips"]:
        clusters = tuple(row["cluster_ids"])
        marks = b.marking(*clusters)
        as_refs = []
        if row.get("asn") is not None:
            system = stix2.AutonomousSystem(
                number=int(row["asn"]), name=row.get("as_org") or None, object_marking_refs=marks
            )
            as_refs.append(b.add(system))
        version = row.get("version") or ipaddress.ip_address(row["ip"]).version
        cls = stix2.IPv4Address if version == 4 else stix2.IPv6Address
        ip_objects[row["ip"]] = b.add(cls(value=row["ip"], belongs_to_refs=as_refs or None, object_marking_refs=marks))
        kind = "ipv4-addr" if version == 4 else "ipv6-addr"
        confirmed = any(c in named or _status(tables, c) == "confirmed" for c in clusters)
        where = ", ".join(v for v in (row.get("country"), row.get("as_org"), row.get("kind")) if v)
        ip_indicators[row["ip"]] = b.sdo(
            stix2.Indicator,
            _sid("indicator", kind, row["ip"]),
            clusters,
            name=f"IP address used by sybilscope cluster {', '.join(clusters)}",
            description=(
                f"{row.get('requests') or 0} requests by cluster members" + (f" ({where})" if where else "")
            ),
            indicator_types=["malicious-activity" if confirmed else "anomalous-activity"],
            pattern=f"[{kind}:value = '{_quote(row['ip'])}']",
            pattern_type="stix",
            valid_from=_stamp(row.get("first_seen"), b.when),
        )

    for row in tables["clusters"]:
        cid = row["cluster_id"]
        extra = details.get(cid, {})
        clusters = (cid,)
        marks = b.marking(cid)
        account_refs = []
        for account in accounts_of[cid]:
            props = {"user_id": account["account_id"], "object_marking_refs": marks}
            if account.get("handle"):
                props["account_login"] = account["handle"]
            if isinstance(account.get("created_at"), datetime):
                props["account_created"] = account["created_at"]
            account_refs.append(b.add(stix2.UserAccount(**props)))
        account_ids = [a["account_id"] for a in accounts_of[cid]]
        account_indicators = []
        for start in range(0, len(account_ids), _ACCOUNTS_PER_INDICATOR):
            chunk = account_ids[start : start + _ACCOUNTS_PER_INDICATOR]
            pattern = " OR ".join(f"[user-account:user_id = '{_quote(a)}']" for a in chunk)
            account_indicators.append(
                b.sdo(
                    stix2.Indicator,
                    _sid("indicator", "accounts", cid, str(start)),
                    clusters,
                    name=f"Member accounts of sybilscope cluster {cid} ({start + 1}-{start + len(chunk)})",
                    description=f"Accounts detected as members of cluster {cid} (score {float(row.get('score') or 0):.2f}).",
                    indicator_types=["malicious-activity" if row["status"] == "confirmed" else "anomalous-activity"],
                    pattern=pattern,
                    pattern_type="stix",
                    valid_from=_stamp(extra.get("first_seen"), b.when),
                )
            )
        refs = account_refs + account_indicators
        for ip in ips_of[cid]:
            refs += [ip_objects[ip["ip"]], ip_indicators[ip["ip"]]]

        patterns = [p for p in (b.attack_pattern(tag) for tag in extra.get("tags") or []) if p]
        refs += patterns
        description = _describe(row, extra)
        if cid in named or row["status"] == "confirmed":
            intrusion = _intrusion_set(b, row, extra, description)
            refs.append(intrusion)
            refs += [b.relationship("uses", intrusion, pattern, clusters) for pattern in patterns]
            for indicator in account_indicators + [ip_indicators[ip["ip"]] for ip in ips_of[cid]]:
                refs.append(b.relationship("indicates", indicator, intrusion, clusters))
            for country in sorted((extra.get("exposure") or {}) if isinstance(extra.get("exposure"), dict) else {}):
                if len(country) == 2 and country.isalpha():
                    refs.append(b.relationship("targets", intrusion, b.location(country.upper()), clusters,
                                               description=f"exposed the phone numbers of users in {country.upper()}"))
            refs += _attribution(b, intrusion, extra, clusters, _latest(judgements_of[cid], "attribution"))

        grouping = b.sdo(
            stix2.Grouping,
            _sid("grouping", cid),
            clusters,
            name=f"sybilscope cluster {cid}",
            description=description,
            context="suspicious-activity",
            confidence=round(100 * float(row.get("score") or 0.0)),
            object_refs=sorted(set(refs)),
            extensions={b.extension: _present({
                "extension_type": "property-extension",
                **{k: row[k] for k in ("cluster_id", "score", "size", "top_ip_country", "status")},
                "run_id": extra.get("run_id"),
                "kind": extra.get("kind"),
                "member_scores": members_of[cid],
                "sub_groups": squads_of[cid],
                "device_ids": sorted(devices_of[cid]),
                "exposure": extra.get("exposure") or {},
            })},
        )
        if row["status"] in _OPINION_OF_STATUS:
            latest = _latest(judgements_of[cid], "status")
            b.sdo(
                stix2.Opinion,
                _sid("opinion", "status", cid),
                clusters,
                created=_stamp(latest and latest.get("created_at"), b.when),
                opinion=_OPINION_OF_STATUS[row["status"]],
                explanation=f"Analyst status: {row['status']}"
                + (f" ({latest['note']})" if latest and latest.get("note") else ""),
                authors=[latest["created_by"]] if latest and latest.get("created_by") else None,
                object_refs=[grouping],
                **_graded((latest or {}).get("details")),
            )
        for index, comment in enumerate(j for j in judgements_of[cid] if j["kind"] == "comment"):
            b.sdo(
                stix2.Note,
                _sid("note", cid, str(index)),
                clusters,
                created=_stamp(comment.get("created_at"), b.when),
                content=comment.get("value") or "",
                authors=[comment["created_by"]] if comment.get("created_by") else None,
                object_refs=[grouping],
            )

    markings = {m.id: m for m in STIX_TLP.values()}
    used = {ref for obj in b.objects.values() for ref in (getattr(obj, "object_marking_refs", None) or [])}
    objects = [markings[m] for m in sorted(used)] + list(b.objects.values())
    return stix2.Bundle(objects=objects, allow_custom=True)


def _latest(judgements: list[dict], kind: str) -> dict | None:
    """A cluster's newest label of ``kind`` (the rows are oldest first), ``None`` when it has none."""
    return next((j for j in reversed(judgements) if j["kind"] == kind), None)


def _graded(details: object) -> dict:
    """STIX ``confidence`` and ``labels`` of a label's Admiralty grades; nothing when it is ungraded."""
    confidence = admiralty.stix_confidence(details)
    return _present({"confidence": confidence, "labels": admiralty.misp_tags(details)})


def _status(tables: dict, cluster_id: str) -> str:
    for row in tables["clusters"]:
        if row["cluster_id"] == cluster_id:
            return row["status"]
    return "new"


def _describe(row: dict, extra: dict) -> str:
    reasons = extra.get("reasons") or []
    text = (
        f"Cluster {row['cluster_id']} of detection run {extra.get('run_id')}: "
        f"{row.get('size')} accounts, score {float(row.get('score') or 0):.2f}, "
        f"most requests from {row.get('top_ip_country') or 'an unknown country'}, "
        f"analyst status {row['status']}."
    )
    if reasons:
        text += " Why: " + "; ".join(str(r) for r in reasons) + "."
    return text


def _intrusion_set(b: _Builder, row: dict, extra: dict, description: str) -> str:
    cid = row["cluster_id"]
    props: dict[str, object] = {
        "name": extra.get("actor") or f"sybilscope cluster {cid}",
        "description": description,
        "aliases": [cid],
        "goals": ["match phone numbers to platform accounts through the lookup API"],
        "confidence": round(100 * float(row.get("score") or 0.0)),
    }
    if isinstance(extra.get("first_seen"), datetime):
        props["first_seen"] = extra["first_seen"]
    if isinstance(extra.get("last_seen"), datetime):
        props["last_seen"] = extra["last_seen"]
    return b.sdo(stix2.IntrusionSet, _sid("intrusion-set", cid), (cid,), **props)


def _attribution(b: _Builder, intrusion: str, extra: dict, clusters: tuple[str, ...],
                 label: dict | None) -> list[str]:
    actor = extra.get("actor")
    if not actor:
        return []
    confidence = extra.get("attribution_confidence") or "low"
    rationale = extra.get("attribution_rationale") or ""
    refs = []
    threat_actor = b.sdo(
        stix2.ThreatActor,
        _sid("threat-actor", actor),
        clusters,
        name=actor,
        threat_actor_types=["nation-state"] if extra.get("actor_country") else ["unknown"],
    )
    refs.append(threat_actor)
    graded = _graded((label or {}).get("details"))
    attributed = b.relationship(
        "attributed-to", intrusion, threat_actor, clusters,
        description=rationale or None,
        **{"confidence": CONFIDENCE_SCORES.get(confidence, 15), **graded},
    )
    refs.append(attributed)
    country = (extra.get("actor_country") or "").upper()
    if len(country) == 2:
        location = b.location(country)
        refs.append(b.relationship("located-at", threat_actor, location, clusters))
        refs.append(b.relationship("originates-from", intrusion, location, clusters))
    if rationale:
        b.sdo(
            stix2.Opinion,
            _sid("opinion", "attribution", intrusion, actor),
            clusters,
            opinion=_OPINION_OF_CONFIDENCE.get(confidence, "neutral"),
            explanation=f"Attributed to {actor} with {confidence} confidence: {rationale}",
            object_refs=[attributed],
        )
    return refs


def write(content: ExportContent, out_dir: Path) -> list[Path]:
    """Write ``OUT_DIR/bundle.json``."""
    bundle = build_bundle(content)
    path = out_dir / "bundle.json"
    # stix2's serializer sorts nothing; reparse to write stable, readable JSON.
    with replacing(path, "w", encoding="utf-8") as handle:
        handle.write(json.dumps(json.loads(bundle.serialize()), indent=1, ensure_ascii=False) + "\n")
    return [path]
