"""The content every export format carries: one set of tables, built once.

CSV, JSON Lines and Parquet write these tables as they are; GraphML, GEXF
and STIX reshape the same rows into their own conventions. Building the
content in one place is what makes "the same content in every format" true,
and what lets redaction be applied once, consistently, before any file is
written.

Tables (column order and types in :data:`TABLES`):

``clusters``
    CONTRACT section 5: ``cluster_id, score, size, top_ip_country, status``.
``members``
    CONTRACT section 5: ``cluster_id, account_id, member_score``, then
    ``sub_group`` (the account's squad when the cluster is an operation of
    several; empty otherwise).
``cluster_details``
    what else is known of each cluster: detection kind, reasons, evidence,
    attribution hints, exposure, the analysts' attribution, tags and TLP,
    then (added last, so earlier columns keep their places) ``tradecraft``
    and ``headline`` (:mod:`graph.detect.tradecraft`).
``judgements``
    the analysts' labels on each cluster (status changes, attributions,
    tags, comments), oldest first.
``accounts``, ``ips``, ``devices``
    the entities of the selected clusters: member accounts, the IP addresses
    and devices they used, with their stored properties and request counts.
``edges``
    the relationships among those entities (``USED_IP``, ``USED_DEVICE``,
    ``DEVICE_ON_IP``), aggregated as the graph stores them.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

import duckdb

from app.events import EventReader
from app.export.redact import Redactor, scrub_phone_numbers
from app.export.select import Selection
from app.present.tradecraft import cluster_tradecraft
from graph import __version__
from graph.schema import ACCOUNT, DEVICE, DEVICE_ON_IP, IP, USED_DEVICE, USED_IP
from graph.store.base import GraphStore
from graph.triage import judgement

__all__ = [
    "Column",
    "TABLES",
    "ExportContent",
    "build_content",
    "TLP_LEVELS",
    "DEFAULT_TLP",
    "cluster_tlp",
    "most_restrictive_tlp",
    "exposed_number_hashes",
]


@dataclass(frozen=True)
class Column:
    """A column and its portable type: str, int, float, bool, timestamp, json or list.

    ``json`` holds any JSON value (written as JSON text where a format has no
    nested values); ``list`` holds a list of strings.
    """

    name: str
    type: str


def _cols(spec: str) -> tuple[Column, ...]:
    return tuple(Column(*item.split(":")) for item in spec.split())


TABLES: dict[str, tuple[Column, ...]] = {
    "clusters": _cols("cluster_id:str score:float size:int top_ip_country:str status:str"),
    # the contract's three columns first and unchanged: scripts read them by position
    "members": _cols("cluster_id:str account_id:str member_score:float sub_group:str"),
    "cluster_details": _cols(
        "cluster_id:str run_id:str kind:str first_seen:timestamp last_seen:timestamp "
        "reasons:json evidence:json attribution_hints:json exposure:json actor:str "
        "actor_country:str attribution_confidence:str attribution_rationale:str "
        "status_reason:str tags:list tlp:str tradecraft:str headline:str"
    ),
    "judgements": _cols(
        "cluster_id:str kind:str value:str actor:str note:str details:json "
        "created_at:timestamp created_by:str"
    ),
    "accounts": _cols(
        "account_id:str cluster_id:str member_score:float member_reasons:json sub_group:str handle:str "
        "created_at:timestamp phone_country:str discoverable_by_phone:bool status:str lang:str "
        "followers:int signup_ip:str signup_device_id:str requests:int lookups:int "
        "numbers_looked_up:int numbers_matched:int"
    ),
    "ips": _cols(
        "ip:str version:int prefix:str country:str country_source:str asn:int as_org:str "
        "kind:str kind_source:str cluster_ids:list requests:int first_seen:timestamp "
        "last_seen:timestamp"
    ),
    "devices": _cols(
        "device_id:str user_agent_family:str app_version:str os_family:str device_family:str "
        "cluster_ids:list requests:int first_seen:timestamp last_seen:timestamp"
    ),
    "edges": _cols(
        "type:str src_type:str src:str dst_type:str dst:str count:int "
        "first_seen:timestamp last_seen:timestamp"
    ),
}

# The stored node properties each entity table carries (json ``extra`` stays in the store).
_ACCOUNT_PROPERTIES = (
    "handle", "created_at", "phone_country", "discoverable_by_phone", "status", "lang",
    "followers", "signup_ip", "signup_device_id",
)
_IP_PROPERTIES = ("ip", "version", "prefix", "country", "country_source", "asn", "as_org", "kind", "kind_source")
_DEVICE_PROPERTIES = ("device_id", "user_agent_family", "app_version", "os_family", "device_family")

# Traffic Light Protocol, least to most restrictive (TLP 2.0 names; WHITE is 1.0's CLEAR).
TLP_LEVELS = ("TLP:CLEAR", "TLP:GREEN", "TLP:AMBER", "TLP:AMBER+STRICT", "TLP:RED")
DEFAULT_TLP = "TLP:AMBER"
_TLP_ALIASES = {"TLP:WHITE": "TLP:CLEAR"}


def _normal_tlp(tag: str) -> str | None:
    name = tag.strip().upper().replace(" ", "")
    if not name.startswith("TLP:"):
        return None
    name = _TLP_ALIASES.get(name, name)
    return name if name in TLP_LEVELS else None


def cluster_tlp(tags: Iterable[str]) -> str | None:
    """The most restrictive TLP marking among a cluster's tags, ``None`` when it has none."""
    found = [t for t in (_normal_tlp(tag) for tag in tags) if t]
    return most_restrictive_tlp(found) if found else None


def most_restrictive_tlp(markings: Iterable[str | None], default: str = DEFAULT_TLP) -> str:
    """The most restrictive of ``markings`` (unknown or empty ones ignored), else ``default``."""
    levels = [TLP_LEVELS.index(t) for t in (_normal_tlp(m or "") for m in markings) if t]
    return TLP_LEVELS[max(levels)] if levels else default


@dataclass
class ExportContent:
    """The tables of one export and the facts that make it reproducible."""

    selection: Selection
    tables: dict[str, list[dict]]
    redacted: bool
    workspace: str
    backend: str
    created_at: datetime = field(default_factory=lambda: datetime.now(UTC))
    #: what a writer did to values so they survive its format (CSV formulas, XML characters), by rule
    value_encoding: dict[str, dict] = field(default_factory=dict)
    #: options of one format (MISP's ``per`` and ``phone_hashes``), recorded in the manifest when given
    options: dict = field(default_factory=dict)
    #: each cluster's exposed numbers as their keyed hashes, read only when an export asks for them
    exposed_number_hashes: dict[str, list[str]] = field(default_factory=dict)

    def manifest(self, fmt: str, files: Sequence[str]) -> dict:
        """What the export is: run, data fingerprint, parameters, filters, counts, files."""
        run = self.selection.run
        return {
            "sybilscope_version": __version__,
            "format": fmt,
            "created_at": self.created_at.isoformat(),
            "workspace": self.workspace,
            "store": self.backend,
            "redacted": self.redacted,
            "detection_run": {
                "run_id": run.get("run_id"),
                "started_at": _iso(run.get("started_at")),
                "finished_at": _iso(run.get("finished_at")),
                "params": run.get("params"),
                "data_fingerprint": run.get("data_fingerprint"),
                "code_version": run.get("code_version"),
            },
            "filters": self.selection.filters.describe(),
            "counts": {name: len(rows) for name, rows in self.tables.items()},
            "value_encoding": self.value_encoding,
            "files": list(files),
            **({"options": self.options} if self.options else {}),
        }


def _iso(value: object) -> object:
    return value.isoformat() if isinstance(value, datetime) else value


def _chunks(items: Sequence[str], size: int = 5_000) -> Iterable[Sequence[str]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _nodes(store: GraphStore, label: str, keys: Iterable[str]) -> dict[str, dict]:
    keys = sorted(set(keys))
    found: dict[str, dict] = {}
    key_name = {ACCOUNT: "account_id", IP: "ip", DEVICE: "device_id"}[label]
    for chunk in _chunks(keys):
        for node in store.get_nodes(label, list(chunk)):
            found[node[key_name]] = node
    return found


def _account_activity(
    events: duckdb.DuckDBPyConnection | None,
    account_ids: Sequence[str],
    since: datetime | None,
    until: datetime | None,
) -> dict[str, dict]:
    """Requests, lookups and numbers looked up and matched, per account, from the events."""
    if events is None or not account_ids:
        return {}
    conditions = ["TRUE"]
    params: dict[str, object] = {}
    if since is not None:
        conditions.append("ts >= $since")
        params["since"] = since
    if until is not None:
        conditions.append("ts <= $until")
        params["until"] = until
    rows = EventReader(events).for_accounts(account_ids).rows(
        f"""
        SELECT account_id,
               count(*) AS requests,
               count(phone_hash) AS lookups,
               count(DISTINCT phone_hash) AS numbers_looked_up,
               count(DISTINCT CASE WHEN matched_account_id IS NOT NULL AND matched_account_id <> ''
                                   THEN phone_hash END) AS numbers_matched
        FROM {{events}}
        WHERE {' AND '.join(conditions)}
        GROUP BY account_id
        """,
        params,
    )
    return {row.pop("account_id"): row for row in rows}


def exposed_number_hashes(events: duckdb.DuckDBPyConnection | None, member_of: dict[str, str],
                          since: datetime | None, until: datetime | None) -> dict[str, list[str]]:
    """The keyed hashes of the numbers each cluster's lookups matched to an account, sorted.

    Only the keyed hash (HMAC-SHA256 with the workspace's secret) is read:
    the raw number never reached the warehouse (CONTRACT section 4).
    """
    if events is None or not member_of:
        return {}
    conditions = ["phone_hash IS NOT NULL", "matched_account_id IS NOT NULL", "matched_account_id <> ''"]
    params: dict[str, object] = {}
    for name, value, op in (("since", since, ">="), ("until", until, "<=")):
        if value is not None:
            conditions.append(f"ts {op} ${name}")
            params[name] = value
    rows = EventReader(events).for_accounts(sorted(member_of)).rows(
        f"SELECT DISTINCT account_id, phone_hash FROM {{events}} WHERE {' AND '.join(conditions)}", params)
    found: dict[str, set[str]] = defaultdict(set)
    for row in rows:
        found[member_of[row["account_id"]]].add(row["phone_hash"])
    return {cid: sorted(hashes) for cid, hashes in found.items()}


def _judgement_rows(cluster_id: str, labels: list[dict]) -> list[dict]:
    return [
        {
            "cluster_id": cluster_id,
            "kind": label.get("kind"),
            "value": label.get("value"),
            "actor": label.get("actor"),
            "note": label.get("note"),
            "details": label.get("details"),
            "created_at": label.get("created_at"),
            "created_by": label.get("created_by"),
        }
        for label in sorted(labels, key=lambda r: (r["created_at"], r["label_id"]))
    ]


def build_content(
    store: GraphStore,
    selection: Selection,
    *,
    events: duckdb.DuckDBPyConnection | None = None,
    redactor: Redactor | None = None,
    workspace: str = "",
) -> ExportContent:
    """Read everything the selected clusters touch into the export tables.

    Parameters
    ----------
    store : GraphStore
        The workspace's graph store.
    selection : Selection
        The clusters to export (:func:`app.export.select.select_clusters`).
    events : DuckDB cursor, optional
        The workspace's event warehouse, for per-account request and lookup
        counts; without it those columns stay empty.
    redactor : Redactor, optional
        When given, every account id is replaced by its pseudonym and handles
        are dropped (see :mod:`app.export.redact`).
    workspace : str
        The workspace's name (its folder's name, never its path), recorded in the manifest.
    """
    run_id = selection.run["run_id"]
    since, until = selection.filters.since, selection.filters.until
    tables: dict[str, list[dict]] = {name: [] for name in TABLES}
    member_of: dict[str, tuple[str, dict]] = {}

    for cluster in selection.clusters:
        cid = cluster["cluster_id"]
        tables["clusters"].append(
            {
                "cluster_id": cid,
                "score": cluster.get("score"),
                "size": cluster.get("size"),
                "top_ip_country": cluster.get("top_ip_country"),
                "status": cluster["status"],
            }
        )
        judged = judgement(store, "cluster", cid)
        attribution = judged.attribution or {}
        tables["cluster_details"].append(
            {
                "cluster_id": cid,
                "run_id": run_id,
                "kind": cluster.get("kind"),
                "first_seen": cluster.get("first_seen"),
                "last_seen": cluster.get("last_seen"),
                "reasons": cluster.get("reasons"),
                "evidence": cluster.get("evidence"),
                "attribution_hints": cluster.get("attribution"),
                "exposure": cluster.get("exposure"),
                "actor": attribution.get("actor"),
                "actor_country": attribution.get("country"),
                "attribution_confidence": attribution.get("confidence"),
                "attribution_rationale": attribution.get("note"),
                "status_reason": judged.status_reason,
                "tags": list(judged.tags),
                "tlp": most_restrictive_tlp([cluster_tlp(judged.tags)]),
                **cluster_tradecraft(cluster),
            }
        )
        tables["judgements"].extend(_judgement_rows(cid, store.labels("cluster", cid)))
        for member in store.members(cid, run_id):
            tables["members"].append(
                {"cluster_id": cid, "account_id": member["account_id"], "member_score": member.get("member_score"),
                 "sub_group": member.get("sub_group")}
            )
            member_of[member["account_id"]] = (cid, member)

    account_nodes = _nodes(store, ACCOUNT, member_of)
    activity = _account_activity(events, sorted(member_of), since, until)
    for account_id, (cid, member) in sorted(member_of.items(), key=lambda kv: (kv[1][0], kv[0])):
        node = account_nodes.get(account_id, {})
        seen = activity.get(account_id, {})
        tables["accounts"].append(
            {
                "account_id": account_id,
                "cluster_id": cid,
                "member_score": member.get("member_score"),
                "member_reasons": member.get("reasons"),
                "sub_group": member.get("sub_group"),
                **{name: node.get(name) for name in _ACCOUNT_PROPERTIES},
                **{name: seen.get(name) for name in ("requests", "lookups", "numbers_looked_up", "numbers_matched")},
            }
        )

    # Each entity's clusters and the members' traffic through it.
    ip_clusters: dict[str, set[str]] = defaultdict(set)
    device_clusters: dict[str, set[str]] = defaultdict(set)
    traffic: dict[tuple[str, str], dict] = {}
    for rel_type, dst_type, owners in ((USED_IP, "ip", ip_clusters), (USED_DEVICE, "device", device_clusters)):
        for batch in store.iter_edges(rel_type, since=since, until=until):
            for edge in batch:
                if edge["src"] not in member_of:
                    continue
                owners[edge["dst"]].add(member_of[edge["src"]][0])
                tables["edges"].append(_edge_row(rel_type, "account", edge, dst_type))
                _add_traffic(traffic, (dst_type, edge["dst"]), edge)
    for batch in store.iter_edges(DEVICE_ON_IP, since=since, until=until):
        for edge in batch:
            if edge["src"] in device_clusters and edge["dst"] in ip_clusters:
                tables["edges"].append(_edge_row(DEVICE_ON_IP, "device", edge, "ip"))
    tables["edges"].sort(key=lambda e: (e["type"], e["src"], e["dst"]))

    ip_nodes = _nodes(store, IP, ip_clusters)
    for ip in sorted(ip_clusters):
        node = ip_nodes.get(ip, {"ip": ip})
        tables["ips"].append(
            {
                **{name: node.get(name) for name in _IP_PROPERTIES},
                "cluster_ids": sorted(ip_clusters[ip]),
                **traffic[("ip", ip)],
            }
        )
    device_nodes = _nodes(store, DEVICE, device_clusters)
    for device in sorted(device_clusters):
        node = device_nodes.get(device, {"device_id": device})
        tables["devices"].append(
            {
                **{name: node.get(name) for name in _DEVICE_PROPERTIES},
                "cluster_ids": sorted(device_clusters[device]),
                **traffic[("device", device)],
            }
        )

    _scrub_free_text(tables)
    if redactor is not None:
        tables = _redact(tables, redactor)
    return ExportContent(
        selection=selection,
        tables=tables,
        redacted=redactor is not None,
        workspace=workspace,
        backend=getattr(store, "backend", ""),
    )


def _edge_row(rel_type: str, src_type: str, edge: dict, dst_type: str) -> dict:
    return {
        "type": rel_type,
        "src_type": src_type,
        "src": edge["src"],
        "dst_type": dst_type,
        "dst": edge["dst"],
        "count": edge.get("count"),
        "first_seen": edge.get("first_seen"),
        "last_seen": edge.get("last_seen"),
    }


def _add_traffic(traffic: dict, key: tuple[str, str], edge: dict) -> None:
    seen = traffic.setdefault(key, {"requests": 0, "first_seen": None, "last_seen": None})
    seen["requests"] += edge.get("count") or 0
    first, last = edge.get("first_seen"), edge.get("last_seen")
    if first is not None and (seen["first_seen"] is None or first < seen["first_seen"]):
        seen["first_seen"] = first
    if last is not None and (seen["last_seen"] is None or last > seen["last_seen"]):
        seen["last_seen"] = last


# Columns people or detectors write prose into: a phone number typed there must not leave.
FREE_TEXT = {
    "cluster_details": ("reasons", "evidence", "attribution_hints", "attribution_rationale", "status_reason", "tags"),
    "judgements": ("value", "note", "details"),
    "accounts": ("member_reasons",),
}


def _scrub_free_text(tables: dict[str, list[dict]]) -> None:
    for name, columns in FREE_TEXT.items():
        for row in tables[name]:
            for column in columns:
                row[column] = scrub_phone_numbers(row.get(column))


# Columns that hold an account id outright; everything else textual is scanned.
_ACCOUNT_COLUMNS = {("members", "account_id"), ("accounts", "account_id")}


def _redact(tables: dict[str, list[dict]], redactor: Redactor) -> dict[str, list[dict]]:
    redacted: dict[str, list[dict]] = {}
    for name, rows in tables.items():
        columns = TABLES[name]
        out = []
        for row in rows:
            clean = {}
            for column in columns:
                value = row.get(column.name)
                if (name, column.name) in _ACCOUNT_COLUMNS:
                    clean[column.name] = redactor.account(value)
                elif name == "accounts" and column.name == "handle":
                    clean[column.name] = None
                elif name == "edges" and column.name == "src" and row["src_type"] == "account":
                    clean[column.name] = redactor.account(value)
                else:
                    clean[column.name] = redactor.value(value)
            out.append(clean)
        redacted[name] = out
    return redacted
