"""Row checks and value conversions that both store backends share.

Keeping them in one place is what makes the two backends agree on the
contract: the same rows are refused for the same reasons, the same ids are
filled in, and ``json`` properties are encoded the same way.
"""

from __future__ import annotations

import itertools
import json
import secrets
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import UTC, date, datetime

import pyarrow as pa

from graph.phone_text import mask_phone_numbers_in
from graph.schema import (
    ENTITY_KINDS,
    LABEL_KINDS,
    RELATIONSHIPS,
    NodeKind,
    RelKind,
    node_kind,
    rel_kind,
)

__all__ = [
    "AUDIT_TEXT",
    "EDGE_KEYS",
    "LABEL_TEXT",
    "Rows",
    "as_utc",
    "check_key",
    "check_start",
    "check_label_rows",
    "check_unique",
    "cluster_key",
    "cluster_rows",
    "columns_of",
    "decode_json",
    "encode_json",
    "fill_audit",
    "fill_labels",
    "kind_name",
    "label_conditions",
    "member_out",
    "member_rows",
    "masked_text",
    "merge_by_key",
    "neighbour_nodes",
    "new_id",
    "node_row",
    "rel_row",
    "row_columns",
    "row_dicts",
    "row_keys",
    "touching",
    "weight",
    "window_bounds",
]

#: the two endpoint columns of every relationship row
EDGE_KEYS = ("src", "dst")

#: what the write methods accept: dict rows, or a pyarrow table with the same columns
Rows = Sequence[Mapping] | pa.Table

_SEQUENCE = itertools.count()
_SEQUENCE_LOCK = threading.Lock()


def kind_name(kind: NodeKind | RelKind) -> str:
    """What messages call the kind's rows: its node label or relationship type."""
    return kind.label if isinstance(kind, NodeKind) else kind.type


def row_keys(kind: NodeKind | RelKind) -> tuple[str, ...]:
    """The columns that identify a row of the kind: a node's key, a relationship's ``src`` and ``dst``."""
    return (kind.key,) if isinstance(kind, NodeKind) else EDGE_KEYS


def row_columns(kind: NodeKind | RelKind) -> list[str]:
    """Every column a stored row of the kind has: its keys, then its properties, each once."""
    return [*[key for key in row_keys(kind) if key not in kind.names], *kind.names]


def row_dicts(rows: Rows) -> list[Mapping]:
    """The rows as a list of mappings, whatever form they came in."""
    if isinstance(rows, pa.Table):
        return rows.to_pylist()
    return list(rows)


def columns_of(what: str, allowed: Sequence[str], rows: Rows, keys: Sequence[str] = ()) -> list[str]:
    """The property names the rows use, in schema order; ``ValueError`` for unknown ones.

    Unknown names are refused rather than dropped: a typo in a column name
    would otherwise lose data without a word. So is a missing one of ``keys``.
    """
    if isinstance(rows, pa.Table):
        present = set(rows.column_names)
    else:
        present = set().union(*rows) if rows else set()
    unknown = present.difference(allowed)
    if unknown:
        raise ValueError(
            f"{what} has no property {', '.join(map(repr, sorted(unknown)))}; known: {', '.join(allowed)}"
        )
    for key in keys:
        if key not in present:
            raise ValueError(f"{what} rows need {key!r}")
    return [name for name in allowed if name in present]


def _json_default(value: object) -> object:
    if hasattr(value, "item") and callable(value.item):  # numpy scalars
        return value.item()
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, set | frozenset):
        return sorted(value, key=str)
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


def encode_json(value: object) -> str | None:
    """A ``json`` property as stored: JSON text (``None`` stays ``None``)."""
    if value is None:
        return None
    return json.dumps(value, sort_keys=True, ensure_ascii=False, default=_json_default)


def decode_json(text: str | None) -> object:
    """A stored ``json`` property back to Python values."""
    return None if text is None else json.loads(text)


def as_utc(value: object, what: str) -> datetime | None:
    """A timestamp as a timezone-aware UTC datetime; naive datetimes are taken as UTC."""
    if value is None:
        return None
    if not isinstance(value, datetime):
        raise ValueError(f"{what} must be a datetime, not {type(value).__name__} {value!r}")
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


def new_id(prefix: str) -> str:
    """A unique id that sorts in creation order within a process (time, then a sequence)."""
    with _SEQUENCE_LOCK:
        seq = next(_SEQUENCE)
    return f"{prefix}-{time.time_ns():016x}-{seq % 0xFFFFFF:06x}-{secrets.token_hex(3)}"


def check_start(start: str) -> str:
    """The endpoint an edge is found from (one of :data:`EDGE_KEYS`), or ``ValueError``."""
    if start not in EDGE_KEYS:
        raise ValueError(f"start must be one of {', '.join(EDGE_KEYS)}, not {start!r}")
    return start


def check_key(what: str, value: object) -> str:
    """A key value: a non-empty string."""
    if not isinstance(value, str) or not value:
        raise ValueError(f"{what} needs a non-empty string key, got {value!r}")
    return value


def merge_by_key(rows: Iterable[Mapping], key: str | tuple[str, ...]) -> dict[object, dict]:
    """Rows with the same key merged, later non-``None`` values winning (insertion-ordered)."""
    merged: dict[object, dict] = {}
    keys = (key,) if isinstance(key, str) else key
    for row in rows:
        ident = tuple(row.get(k) for k in keys) if len(keys) > 1 else row.get(keys[0])
        target = merged.get(ident)
        if target is None:
            merged[ident] = {k: v for k, v in row.items() if v is not None}
        else:
            target.update((k, v) for k, v in row.items() if v is not None)
    return merged


def _properties(kind: NodeKind | RelKind, stored: Mapping) -> dict:
    """Every schema property of the kind from a stored row (``None`` where absent), ``json`` decoded."""
    return {
        prop.name: decode_json(stored.get(prop.name)) if prop.type == "json" else stored.get(prop.name)
        for prop in kind.properties
    }


def node_row(kind: NodeKind, stored: Mapping) -> dict:
    """A node as callers see it: every schema property present, ``json`` decoded."""
    return _properties(kind, stored)


def rel_row(kind: RelKind, stored: Mapping) -> dict:
    """A relationship as callers see it: ``src``, ``dst`` and every schema property."""
    return {"src": stored.get("src"), "dst": stored.get("dst"), **_properties(kind, stored)}


def weight(edge: Mapping) -> int:
    """How busy a relationship is, for "busiest first": its request count (0 when it has none)."""
    return edge.get("count") or 0


def check_label_rows(rows: Sequence[Mapping]) -> None:
    """Labels need an entity kind, an entity id, a label kind and a value."""
    for number, row in enumerate(rows, 1):
        for name in ("entity", "entity_id", "kind", "value"):
            if row.get(name) in (None, ""):
                raise ValueError(f"label row {number} has no {name}")
        if row["entity"] not in ENTITY_KINDS:
            raise ValueError(
                f"label row {number}: entity must be one of {', '.join(ENTITY_KINDS)}, not {row['entity']!r}"
            )
        if row["kind"] not in LABEL_KINDS:
            raise ValueError(
                f"label row {number}: kind must be one of {', '.join(LABEL_KINDS)}, not {row['kind']!r}"
            )


#: the fields of a label and of an audit event that hold text people typed (phone numbers masked)
LABEL_TEXT = ("value", "note", "actor", "source", "details")
AUDIT_TEXT = ("before", "after")


def masked_text(row: Mapping, names: Sequence[str]) -> dict:
    """The row's free-text fields with phone numbers masked (:mod:`graph.phone_text`)."""
    return {name: mask_phone_numbers_in(row[name]) for name in names if row.get(name) is not None}


def fill_labels(rows: Sequence[Mapping]) -> list[dict]:
    """Label rows checked, phone numbers in their text masked, ``label_id`` and ``created_at`` filled in."""
    check_label_rows(rows)
    now = datetime.now(UTC)
    return [
        {**row, **masked_text(row, LABEL_TEXT), "label_id": row.get("label_id") or new_id("lbl"),
         "created_at": row.get("created_at") or now}
        for row in rows
    ]


def fill_audit(rows: Sequence[Mapping]) -> list[dict]:
    """Audit rows checked, phone numbers in ``before``/``after`` masked, ``event_id`` and ``at`` filled in."""
    now = datetime.now(UTC)
    filled = []
    for number, row in enumerate(rows, 1):
        if not row.get("action"):
            raise ValueError(f"audit row {number} has no action")
        filled.append({**row, **masked_text(row, AUDIT_TEXT), "event_id": row.get("event_id") or new_id("aud"),
                       "at": row.get("at") or now})
    return filled


def check_unique(what: str, ids: Sequence[str]) -> None:
    """Append-only ids must not repeat inside one call."""
    seen: set[str] = set()
    for ident in ids:
        if ident in seen:
            raise ValueError(f"{what} {ident!r} appears twice in one append")
        seen.add(ident)


def window_bounds(kind: RelKind, since: datetime | None, until: datetime | None) -> dict[str, datetime]:
    """The bounds of a time window that apply to relationships of ``kind``, in UTC.

    Keys ``"since"`` and ``"until"``, each only when given; nothing for a type
    without ``first_seen``/``last_seen``, which every window keeps whole. A
    relationship is in the window when ``[first_seen, last_seen]`` overlaps
    it: ``last_seen >= since`` and ``first_seen <= until``.
    """
    if "first_seen" not in kind.names:
        return {}
    bounds = {"since": as_utc(since, "since"), "until": as_utc(until, "until")}
    return {name: bound for name, bound in bounds.items() if bound is not None}


def label_conditions(entity: str | None, entity_id: str | None) -> dict[str, str]:
    """The label properties a labels query must match: ``entity`` and ``entity_id``, those given."""
    given = {"entity": entity, "entity_id": entity_id}
    return {name: value for name, value in given.items() if value is not None}


def touching(label: str, rel_types: Sequence[str] | None) -> list[RelKind]:
    """The relationship kinds with ``label`` at one end, optionally only those named."""
    chosen = RELATIONSHIPS if rel_types is None else tuple(rel_kind(t) for t in rel_types)
    return [rel for rel in chosen if label in (rel.src, rel.dst)]


def cluster_key(run_id: str, cluster_id: str) -> str:
    """A cluster node's key: cluster ids repeat across runs, so the run is part of it."""
    return f"{run_id}/{cluster_id}"


def cluster_rows(run_id: str, clusters: Sequence[Mapping]) -> list[dict]:
    """Cluster rows with their run id and per-run key filled in; ``ValueError`` for bad rows."""
    rows = []
    seen = set()
    for number, cluster in enumerate(clusters, 1):
        cluster_id = check_key(f"cluster row {number}", cluster.get("cluster_id"))
        if cluster_id in seen:
            raise ValueError(f"cluster {cluster_id!r} appears twice in run {run_id!r}")
        seen.add(cluster_id)
        if cluster.get("run_id") not in (None, run_id):
            raise ValueError(f"cluster {cluster_id!r} names run {cluster['run_id']!r}, not {run_id!r}")
        rows.append({**cluster, "run_id": run_id, "cluster_key": cluster_key(run_id, cluster_id)})
    return rows


def member_rows(run_id: str, cluster_keys: Mapping[str, str], members: Sequence[Mapping]) -> list[dict]:
    """Membership rows as MEMBER_OF relationships (account -> the run's cluster node)."""
    rows = []
    for number, member in enumerate(members, 1):
        account_id = check_key(f"member row {number}", member.get("account_id"))
        cluster_id = member.get("cluster_id")
        if cluster_id not in cluster_keys:
            raise ValueError(f"member row {number} names cluster {cluster_id!r}, which run {run_id!r} lacks")
        rows.append(
            {
                "src": account_id,
                "dst": cluster_keys[cluster_id],
                "member_score": member.get("member_score"),
                "reasons": member.get("reasons"),
                "sub_group": member.get("sub_group") or None,  # "" is "not divided" too: store nothing
                "run_id": run_id,
            }
        )
    return rows


def member_out(row: Mapping, cluster_id: str, run_id: str) -> dict:
    """A stored MEMBER_OF relationship as a member row for callers."""
    return {
        "account_id": row["src"],
        "cluster_id": cluster_id,
        "run_id": run_id,
        "member_score": row["member_score"],
        "reasons": decode_json(row["reasons"]),
        # None for runs saved before sub-groups existed, and for clusters that are one group
        "sub_group": row.get("sub_group"),
    }


def neighbour_nodes(
    get_nodes: Callable[[str, Sequence[str]], list[dict]], label: str, key: str, edges: Sequence[Mapping]
) -> list[dict]:
    """The nodes at the far end of a neighbourhood's ``edges``, in order of first appearance."""
    wanted: dict[tuple[str, str], None] = {}
    for edge in edges:
        for end_label, end_key in ((edge["src_label"], edge["src"]), (edge["dst_label"], edge["dst"])):
            if (end_label, end_key) != (label, key):
                wanted[(end_label, end_key)] = None
    by_label: dict[str, list[str]] = {}
    for end_label, end_key in wanted:
        by_label.setdefault(end_label, []).append(end_key)
    found: dict[tuple[str, str], dict] = {}
    for end_label, keys in by_label.items():
        end_key_name = node_kind(end_label).key
        for node in get_nodes(end_label, keys):
            found[(end_label, node[end_key_name])] = {"_label": end_label, "_key": node[end_key_name], **node}
    return [found[ident] for ident in wanted if ident in found]
