"""MISP: the selected clusters as MISP events, built with ``pymisp`` (BSD-2-Clause).

One event a cluster (``per="cluster"``, the default; a cluster that is an
operation of several squads is one event for the whole operation), or one
event a squad of each operation (``per="squad"``; a cluster without squads
stays one event; squad events carry no number hashes, which belong to the
whole operation). Each event is written as ``misp-<cluster>[-<squad>].json``,
the MISP JSON one ``MISPEvent.load_file`` reads back.

Attributes, each with a comment saying why it is there: the IP addresses
the members used (``ip-src``) and their autonomous systems (``AS``), the
member account ids and device ids (``text``), the user agents of those
devices as parsed (``user-agent``), the attributed actor (``threat-actor``)
and, only when asked (``phone_hashes``), the keyed hashes of the phone
numbers the cluster's lookups matched to an account: never a raw number.

Tags: the cluster's TLP 2.0 marking (``tlp:amber``; ``TLP:AMBER`` when the
analyst set none, as in STIX), its technique tags as analysts set them
(``DISARM:T0150.008``, ``FT3:FT027``), the Admiralty grades of its status on
the event and of its attribution on the actor attribute
(``admiralty-scale:source-reliability="b"``,
``admiralty-scale:information-credibility="2"``).

Event uuids are UUIDv5 of the cluster (and squad), so exporting twice gives
the same events and MISP updates them instead of duplicating.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

from app.export.files import replacing
from app.export.tables import ExportContent
from app.present.techniques import technique_of_tag
from graph import admiralty

if TYPE_CHECKING:  # pymisp takes a second to import: only the MISP export loads it
    from pymisp import MISPEvent

__all__ = ["build_events", "write", "PER"]

PER = ("cluster", "squad")
_NAMESPACE = uuid.UUID("0b9d3f6e-52a4-5c37-8d1e-6f2a9c4b7e10")
# MISP's analysis levels: 0 initial, 1 ongoing, 2 completed
_ANALYSIS = {"new": 0, "in_review": 1, "confirmed": 2, "dismissed": 2}


def _by_cluster(rows: list[dict]) -> dict[str, list[dict]]:
    found: dict[str, list[dict]] = defaultdict(list)
    for row in rows:
        for cid in row.get("cluster_ids") or [row.get("cluster_id")]:
            found[cid].append(row)
    return found


def _latest(judgements: list[dict], cluster_id: str, kind: str) -> dict:
    rows = [j for j in judgements if j["cluster_id"] == cluster_id and j["kind"] == kind]
    return rows[-1] if rows else {}


class _Cluster:
    """What one cluster's events are made of, read once from the export tables."""

    def __init__(self, content: ExportContent, row: dict):
        tables = content.tables
        self.row = row
        self.cid = row["cluster_id"]
        self.details = next((d for d in tables["cluster_details"] if d["cluster_id"] == self.cid), {})
        self.accounts = [a for a in tables["accounts"] if a["cluster_id"] == self.cid]
        self.ips = _by_cluster(tables["ips"]).get(self.cid, [])
        self.devices = _by_cluster(tables["devices"]).get(self.cid, [])
        self.status = _latest(tables["judgements"], self.cid, "status")
        self.attribution = _latest(tables["judgements"], self.cid, "attribution")
        self.numbers = content.exposed_number_hashes.get(self.cid, [])
        self.used: dict[str, set[str]] = defaultdict(set)  # account -> the IPs and devices it used
        members = {a["account_id"] for a in self.accounts}
        for edge in tables["edges"]:
            if edge["src_type"] == "account" and edge["src"] in members:
                self.used[edge["src"]].add(edge["dst"])

    def squads(self) -> dict[str | None, list[dict]]:
        found: dict[str | None, list[dict]] = defaultdict(list)
        for account in self.accounts:
            found[account.get("sub_group")].append(account)
        return found


def _event(cluster: _Cluster, squad: str | None, accounts: list[dict], number_hashes: list[str]) -> MISPEvent:
    from pymisp import MISPEvent

    row, details, cid = cluster.row, cluster.details, cluster.cid
    used = set().union(*(cluster.used[a["account_id"]] for a in accounts)) if squad else None
    ips = [ip for ip in cluster.ips if used is None or ip["ip"] in used]
    devices = [d for d in cluster.devices if used is None or d["device_id"] in used]
    where = f"cluster {cid}" + (f", squad {squad}" if squad else "")
    confirmed = row["status"] == "confirmed"

    event = MISPEvent()
    event.uuid = str(uuid.uuid5(_NAMESPACE, f"{cid}/{squad or ''}"))
    event.info = (f"sybilscope {where}: {details.get('tradecraft') or details.get('kind') or 'coordinated accounts'}"
                  + (f" - {details['headline']}" if details.get("headline") else ""))
    event.distribution = 0  # this organisation only: the analyst shares it on, by its TLP
    event.threat_level_id = 2 if confirmed else 3
    event.analysis = _ANALYSIS.get(row["status"], 0)
    if isinstance(details.get("first_seen"), datetime):
        event.set_date(details["first_seen"].date())
    event.add_tag((details.get("tlp") or "TLP:AMBER").lower())
    for tag in details.get("tags") or []:
        if technique_of_tag(tag):
            event.add_tag(tag)
    for tag in admiralty.misp_tags((cluster.status or {}).get("details")):
        event.add_tag(tag)
    event.add_attribute("comment", f"sybilscope {where}: score {float(row.get('score') or 0):.2f}, "
                        f"{len(accounts)} accounts, analyst status {row['status']}"
                        + (f" ({cluster.status['note']})" if cluster.status.get("note") else ""),
                        comment="what this event is: the detection and the analysts' status")
    for ip in ips:
        facts = ", ".join(str(v) for v in (ip.get("country"), ip.get("as_org"), ip.get("kind")) if v)
        event.add_attribute("ip-src", ip["ip"], to_ids=confirmed,
                            comment=f"used by members of {where}: {ip.get('requests') or 0} requests"
                                    + (f" ({facts})" if facts else ""))
    for asn, org in sorted({(ip["asn"], ip.get("as_org") or "") for ip in ips if ip.get("asn") is not None}):
        count = sum(1 for ip in ips if ip.get("asn") == asn)
        event.add_attribute("AS", str(asn), comment=f"network of {count} IP addresses {where}'s members used"
                                                    + (f" ({org})" if org else ""))
    for account in accounts:
        event.add_attribute("text", account["account_id"], category="Social network",
                            comment=f"member account of {where} (member score "
                                    f"{float(account.get('member_score') or 0):.2f})")
    for device in devices:
        event.add_attribute("text", device["device_id"], category="Other",
                            comment=f"device id (app install or fingerprint) used by members of {where}")
    agents = sorted({" ".join(str(v) for v in (d.get("user_agent_family"), d.get("app_version"),
                                               d.get("os_family")) if v) for d in devices} - {""})
    for agent in agents:
        event.add_attribute("user-agent", agent,
                            comment=f"client of {where}'s devices, as parsed from their User-Agent headers")
    if details.get("actor"):
        actor = event.add_attribute("threat-actor", details["actor"],
                                    comment=f"analysts' attribution ({details.get('attribution_confidence')} "
                                            f"confidence): {details.get('attribution_rationale') or ''}")
        for tag in admiralty.misp_tags((cluster.attribution or {}).get("details")):
            actor.add_tag(tag)
    for number in number_hashes:
        event.add_attribute("text", number, category="Other",
                            comment=f"keyed hash (HMAC-SHA256, workspace key) of a phone number {where}'s lookups "
                                    "matched to an account: only the holder of the key can test a number against it")
    return event


def build_events(content: ExportContent) -> dict[str, MISPEvent]:
    """The export's clusters as MISP events, by file stem (see the module docstring)."""
    per = content.options.get("per") or "cluster"
    if per not in PER:
        raise ValueError(f"MISP events are made per {' or '.join(PER)}, not {per!r}")
    events: dict[str, MISPEvent] = {}
    for row in content.tables["clusters"]:
        cluster = _Cluster(content, row)
        squads = cluster.squads()
        if per == "squad" and len(squads) > 1:
            for squad, accounts in sorted(squads.items(), key=lambda kv: str(kv[0])):
                events[f"misp-{cluster.cid}-{squad}"] = _event(cluster, squad or "none", accounts, [])
        else:
            events[f"misp-{cluster.cid}"] = _event(cluster, None, cluster.accounts, cluster.numbers)
    return events


def write(content: ExportContent, out_dir: Path) -> list[Path]:
    """Write one ``misp-<cluster>.json`` a MISP event."""
    paths = []
    for stem, event in build_events(content).items():
        path = out_dir / f"{stem}.json"
        with replacing(path, "w", encoding="utf-8") as handle:
            handle.write(event.to_json(indent=1) + "\n")
        paths.append(path)
    return paths
