"""The graph schema: every node label, relationship type, property, constraint and index.

This module is the single source of names. Code reads labels and relationship
types from here instead of scattering string literals, and both store backends
derive their tables (embedded) or constraints and indexes (Neo4j) from it.
``docs/schema.md`` describes the same schema for people; a test keeps the two
in step.

Property types are the store's portable types:

``str``, ``int``, ``float``, ``bool``
    stored as such.
``timestamp``
    a timezone-aware UTC ``datetime`` for callers; each backend picks its own
    representation.
``json``
    any JSON-serialisable value for callers; stored as a JSON string so that
    Neo4j (which has no map properties) and DuckDB hold the same thing.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pyarrow as pa

__all__ = [
    "SCHEMA_VERSION",
    "PROPERTY_TYPES",
    "ARROW_TYPES",
    "Property",
    "NodeKind",
    "RelKind",
    "NODES",
    "RELATIONSHIPS",
    "node_kind",
    "rel_kind",
    "ACCOUNT",
    "IP",
    "DEVICE",
    "PHONE",
    "RUN",
    "CLUSTER",
    "LABEL",
    "AUDIT",
    "USED_IP",
    "USED_DEVICE",
    "LOOKED_UP",
    "MATCHED",
    "DEVICE_ON_IP",
    "MEMBER_OF",
    "FOUND_IN",
    "CLUSTER_STATUSES",
    "LABEL_KINDS",
    "ENTITY_KINDS",
]

SCHEMA_VERSION = 1

#: How each property type is held in Arrow: the embedded store's batches and the Parquet exports
#: (timestamps in UTC microseconds; JSON as its text, since its shape differs row to row).
ARROW_TYPES = {
    "str": pa.string(),
    "int": pa.int64(),
    "float": pa.float64(),
    "bool": pa.bool_(),
    "timestamp": pa.timestamp("us", tz="UTC"),
    "json": pa.string(),
}

PROPERTY_TYPES = frozenset(ARROW_TYPES)


@dataclass(frozen=True)
class Property:
    """One property of a node or relationship: its portable type and meaning."""

    name: str
    type: str
    doc: str
    example: object = None
    indexed: bool = False

    def __post_init__(self) -> None:
        if self.type not in PROPERTY_TYPES:
            raise ValueError(f"property {self.name}: type must be one of {sorted(PROPERTY_TYPES)}")


@dataclass(frozen=True)
class NodeKind:
    """A node label, its unique key property and its other properties."""

    label: str
    key: str
    doc: str
    properties: tuple[Property, ...]
    table: str = ""

    def prop(self, name: str) -> Property:
        for prop in self.properties:
            if prop.name == name:
                return prop
        raise KeyError(f"{self.label} has no property {name!r}")

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(p.name for p in self.properties)

    @property
    def constraint_name(self) -> str:
        return f"{self.label.lower()}_{self.key}_unique"


@dataclass(frozen=True)
class RelKind:
    """A relationship type between two node labels, with its properties.

    There is at most one relationship of a type between two nodes: request
    edges are aggregates (count, first and last seen), not one edge a request.
    """

    type: str
    src: str
    dst: str
    doc: str
    properties: tuple[Property, ...] = field(default_factory=tuple)
    table: str = ""

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(p.name for p in self.properties)


def _p(name: str, type_: str, doc: str, example: object = None, indexed: bool = False) -> Property:
    return Property(name, type_, doc, example, indexed)


def _seen(what: str) -> tuple[Property, ...]:
    return (
        _p("count", "int", f"number of requests in which {what}", 42),
        _p("first_seen", "timestamp", "earliest such request (UTC)", "2019-12-20T06:01:02Z"),
        _p("last_seen", "timestamp", "latest such request (UTC)", "2019-12-24T23:59:58Z"),
    )


ACCOUNT = "Account"
IP = "IPAddress"
DEVICE = "Device"
PHONE = "Phone"
RUN = "DetectionRun"
CLUSTER = "Cluster"
LABEL = "Label"
AUDIT = "AuditEvent"

USED_IP = "USED_IP"
USED_DEVICE = "USED_DEVICE"
LOOKED_UP = "LOOKED_UP"
MATCHED = "MATCHED"
DEVICE_ON_IP = "DEVICE_ON_IP"
MEMBER_OF = "MEMBER_OF"
FOUND_IN = "FOUND_IN"

CLUSTER_STATUSES = ("new", "in_review", "confirmed", "dismissed")
LABEL_KINDS = ("label", "status", "attribution", "tag", "comment", "assignment")
ENTITY_KINDS = ("account", "ip", "device", "phone", "cluster")

NODES: tuple[NodeKind, ...] = (
    NodeKind(
        ACCOUNT,
        "account_id",
        "A platform account: a caller of the API, an account a lookup matched, or both.",
        (
            _p("account_id", "str", "the platform's account id", "u_48213"),
            _p("handle", "str", "public screen name", "nightowl_88", indexed=True),
            _p("created_at", "timestamp", "when the account was created", "2019-11-30T10:00:00Z"),
            _p("phone_country", "str", "ISO 3166-1 alpha-2 of the verified phone", "IR"),
            _p("discoverable_by_phone", "bool", "findable by phone number", True),
            _p("status", "str", "platform status: active, suspended, locked, ...", "active"),
            _p("signup_ip", "str", "IP address used at sign-up", "5.160.10.1"),
            _p("signup_device_id", "str", "device used at sign-up", "d_9f2c"),
            _p("lang", "str", "BCP 47 language tag", "fa"),
            _p("followers", "int", "follower count", 12),
            _p("extra", "json", "unknown input columns, kept as they came", {"tier": "free"}),
        ),
        table="node_account",
    ),
    NodeKind(
        IP,
        "ip",
        "A client IP address seen in requests, with what enrichment and ip_intel say of it.",
        (
            _p("ip", "str", "textual IPv4 or IPv6 address (compressed form)", "5.160.10.1"),
            _p("version", "int", "4 or 6", 4),
            _p("prefix", "str", "its network: /24 for IPv4, /48 for IPv6", "5.160.10.0/24", indexed=True),
            _p("country", "str", "ISO alpha-2 country (see country_source)", "IR", indexed=True),
            _p("country_source", "str", "who said so: input, ip_intel, iptocc", "iptocc"),
            _p("asn", "int", "autonomous system number", 58224, indexed=True),
            _p("as_org", "str", "autonomous system organisation", "TCI"),
            _p("kind", "str", "residential, mobile, hosting, vpn, tor, proxy, unknown", "hosting"),
            _p("kind_source", "str", "who said so: ip_intel, iporigin", "iporigin"),
        ),
        table="node_ip",
    ),
    NodeKind(
        DEVICE,
        "device_id",
        "An app install id or device fingerprint.",
        (
            _p("device_id", "str", "the platform's device id or fingerprint", "d_9f2c"),
            _p("user_agent_family", "str", "client family from the user agent", "Twitter-iPhone"),
            _p("app_version", "str", "client version from the user agent", "8.5"),
            _p("os_family", "str", "operating system family", "iOS"),
            _p("device_family", "str", "hardware family", "iPhone"),
        ),
        table="node_device",
    ),
    NodeKind(
        PHONE,
        "phone_hash",
        "A pseudonymized phone number: never the number itself (CONTRACT section 4).",
        (
            _p("phone_hash", "str", "HMAC-SHA256 of the E.164 number with the workspace secret", "9c1e...b7"),
            _p("block_hash", "str", "HMAC-SHA256 of the number without its last 3 digits", "51aa...0e", indexed=True),
            _p("block_ordinal", "int", "the last three digits as 0..999: position inside the block", 517),
            _p("calling_code", "int", "country calling code", 98),
            _p("region", "str", "ISO alpha-2 region of the number", "IR"),
            _p("number_type", "str", "mobile, fixed_line, voip, ... (phonenumbers)", "mobile"),
        ),
        table="node_phone",
    ),
    NodeKind(
        RUN,
        "run_id",
        "One detection run: when, with which parameters, on which data, by which code.",
        (
            _p("run_id", "str", "unique id of the run", "run-20191224T235959Z-3f9a"),
            _p("started_at", "timestamp", "when the run started", "2019-12-24T23:59:59Z"),
            _p("finished_at", "timestamp", "when the run finished", "2019-12-25T00:00:42Z"),
            _p("params", "json", "detection parameters", {"resolution": 1.0, "seed": 7}),
            _p("data_fingerprint", "str", "hash of the events and graph the run read", "sha256:..."),
            _p("code_version", "str", "sybilscope version", "0.1.0"),
            _p("stats", "json", "counts and timings of the run", {"accounts": 1200}),
        ),
        table="node_run",
    ),
    NodeKind(
        CLUSTER,
        "cluster_key",
        "A cluster found by one detection run. Its cluster_id is stable across runs.",
        (
            _p("cluster_key", "str", "run_id + '/' + cluster_id: unique per run", "run-.../C-3f9a1c"),
            _p("cluster_id", "str", "stable id, kept across runs by membership overlap", "C-3f9a1c", indexed=True),
            _p("run_id", "str", "the run that found it", "run-...", indexed=True),
            _p("score", "float", "0..1; >= 0.5 means suspected coordinated abuse network", 0.93),
            _p("size", "int", "number of member accounts", 37),
            _p("top_ip_country", "str", "country with most of the cluster's requests", "IR"),
            _p("kind", "str", "what the detection thinks it is (e.g. enumeration, coordinated)", "coordinated"),
            _p("reasons", "json", "plain-language reasons behind the score", ["shares 3 hosting IPs"]),
            _p("evidence", "json", "shared infrastructure, windows, blocks and statistics", {}),
            _p("attribution", "json", "attribution hints: country/ASN mix, UTC offset, label overlap", {}),
            _p("exposure", "json", "matched accounts (exposed numbers) by country", {"IR": 120}),
            _p("first_seen", "timestamp", "earliest member request", "2019-12-20T06:01:02Z"),
            _p("last_seen", "timestamp", "latest member request", "2019-12-24T23:59:58Z"),
        ),
        table="node_cluster",
    ),
    NodeKind(
        LABEL,
        "label_id",
        "Prior knowledge or an analyst's judgement about an entity. Append-only: "
        "the current value is the newest label of its kind.",
        (
            _p("label_id", "str", "unique id", "lbl-7c2e..."),
            _p("entity", "str", "account, ip, device, phone or cluster", "cluster", indexed=True),
            _p("entity_id", "str", "the entity's key (cluster_id for clusters)", "C-3f9a1c", indexed=True),
            _p("kind", "str", "label, status, attribution, tag, comment or assignment", "status"),
            _p("value", "str", "the label, status, tag or comment text, or the assignee", "confirmed"),
            _p("actor", "str", "attributed actor or intrusion set", "APT-EXAMPLE"),
            _p("source", "str", "who said so: input file, analyst, ...", "analyst"),
            _p("note", "str", "reason or rationale", "shares hosting with known network"),
            _p("details", "json", "more fields (country, confidence, ...)", {"confidence": "moderate"}),
            _p("created_at", "timestamp", "when it was recorded", "2019-12-26T09:00:00Z"),
            _p("created_by", "str", "user who recorded it", "admin"),
        ),
        table="node_label",
    ),
    NodeKind(
        AUDIT,
        "event_id",
        "An append-only audit event: who did what, when, with the before and after.",
        (
            _p("event_id", "str", "unique id", "aud-5d1f..."),
            _p("at", "timestamp", "when", "2019-12-26T09:00:00Z"),
            _p("user", "str", "who", "admin"),
            _p("action", "str", "what: label.status, export, ingest, detect, ...", "label.status"),
            _p("target", "str", "the object acted on", "cluster:C-3f9a1c", indexed=True),
            _p("before", "json", "state before", {"status": "new"}),
            _p("after", "json", "state after", {"status": "confirmed"}),
        ),
        table="node_audit",
    ),
)

RELATIONSHIPS: tuple[RelKind, ...] = (
    RelKind(USED_IP, ACCOUNT, IP, "The account sent requests from this IP.", _seen("the account used the IP"), "rel_used_ip"),
    RelKind(
        USED_DEVICE, ACCOUNT, DEVICE, "The account sent requests from this device.",
        _seen("the account used the device"), "rel_used_device",
    ),
    RelKind(
        LOOKED_UP, ACCOUNT, PHONE, "The account submitted this phone number to a lookup endpoint.",
        _seen("the account looked the number up")
        + (_p("matched_count", "int", "how many of those lookups returned an account", 1),),
        "rel_looked_up",
    ),
    RelKind(MATCHED, PHONE, ACCOUNT, "A lookup of this number returned this account: its number was exposed.",
            _seen("a lookup of the number returned the account"), "rel_matched"),
    RelKind(DEVICE_ON_IP, DEVICE, IP, "The device sent requests from this IP (authenticated or not).",
            _seen("the device used the IP"), "rel_device_on_ip"),
    RelKind(
        MEMBER_OF, ACCOUNT, CLUSTER, "The account is a member of the cluster (one run).",
        (_p("member_score", "float", "0..1, how strongly the account belongs", 0.87),
         _p("run_id", "str", "the run", "run-..."),
         _p("reasons", "json", "why this account is in the cluster", ["shares device d_9f2c"]),
         _p("sub_group", "str", "the squad of an operation this account works in; empty when the cluster is one group",
            "S2")),
        "rel_member_of",
    ),
    RelKind(FOUND_IN, CLUSTER, RUN, "The cluster was found by this detection run.", (), "rel_found_in"),
)

_NODES_BY_LABEL = {n.label: n for n in NODES}
_RELS_BY_TYPE = {r.type: r for r in RELATIONSHIPS}


def node_kind(label: str) -> NodeKind:
    """The node kind for ``label``; ``ValueError`` naming the known labels otherwise."""
    try:
        return _NODES_BY_LABEL[label]
    except KeyError:
        raise ValueError(f"unknown node label {label!r}; known: {', '.join(_NODES_BY_LABEL)}") from None


def rel_kind(rel_type: str) -> RelKind:
    """The relationship kind for ``rel_type``; ``ValueError`` naming the known types otherwise."""
    try:
        return _RELS_BY_TYPE[rel_type]
    except KeyError:
        raise ValueError(
            f"unknown relationship type {rel_type!r}; known: {', '.join(_RELS_BY_TYPE)}"
        ) from None
