"""Cypher text the Neo4j store builds from schema names, and the values it reads back.

Labels, relationship types and property names come only from
:mod:`graph.schema` and are backquoted here; values always travel as
``$`` parameters. Timestamps are read as ISO text (``toString()``) and
parsed here: unpacking temporal values in the Python driver costs about
100 us each, five times more.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime

from graph.schema import NODES, RELATIONSHIPS, NodeKind, RelKind, node_kind
from graph.store import _rows

__all__ = [
    "REL_KEY",
    "ident",
    "index_name",
    "match_where",
    "parse_time",
    "pattern",
    "props_map",
    "read_props",
    "rel_key_constraint",
    "rel_key_name",
    "schema_entries",
    "schema_statements",
    "window",
]

#: the property holding a relationship's own key, ``[src, dst]`` as JSON text, so a write never
#: has to find it among an endpoint's relationships (not a schema property: reads never return it)
REL_KEY = "rel_key"

#: the Cypher condition on ``r`` of each bound of :func:`graph.store._rows.window_bounds`
_WINDOW_CYPHER = {"since": "r.last_seen >= $since", "until": "r.first_seen <= $until"}


def ident(name: str) -> str:
    """A schema name as a Cypher identifier (backquoted; schema names only, never data)."""
    return "`" + name.replace("`", "``") + "`"


def index_name(kind: NodeKind, prop: str) -> str:
    """The name of the index on an ``indexed=True`` property: named, so ``IF NOT EXISTS`` can see it."""
    return f"{kind.label.lower()}_{prop}_index"


def rel_key_name(kind: RelKind) -> str:
    """The name of the uniqueness constraint on a relationship type's :data:`REL_KEY`."""
    return f"{kind.type.lower()}_{REL_KEY}_unique"


def rel_key_constraint(kind: RelKind) -> str:
    """The named uniqueness constraint on a relationship type's :data:`REL_KEY`, ``IF NOT EXISTS``."""
    return (
        f"CREATE CONSTRAINT {ident(rel_key_name(kind))} IF NOT EXISTS "
        f"FOR ()-[r:{ident(kind.type)}]-() REQUIRE r.{ident(REL_KEY)} IS UNIQUE"
    )


def schema_entries(*, relationships: bool = True) -> list[tuple[str, str]]:
    """The constraints and indexes of the graph as ``(name, statement)``, named and ``IF NOT EXISTS``.

    ``relationships=False`` leaves out the relationship key constraints
    (:func:`rel_key_constraint`), which the store creates one type at a time.
    """
    entries = []
    for kind in NODES:
        entries.append((
            kind.constraint_name,
            f"CREATE CONSTRAINT {ident(kind.constraint_name)} IF NOT EXISTS "
            f"FOR (n:{ident(kind.label)}) REQUIRE n.{ident(kind.key)} IS UNIQUE",
        ))
        entries.extend(
            (index_name(kind, prop.name),
             f"CREATE INDEX {ident(index_name(kind, prop.name))} IF NOT EXISTS "
             f"FOR (n:{ident(kind.label)}) ON (n.{ident(prop.name)})")
            for prop in kind.properties
            if prop.indexed
        )
    if relationships:
        entries.extend((rel_key_name(kind), rel_key_constraint(kind)) for kind in RELATIONSHIPS)
    return entries


def schema_statements() -> list[str]:
    """Every statement of :func:`schema_entries` (the constraints a bulk import creates afterwards)."""
    return [statement for _, statement in schema_entries()]


def props_map(var: str, kind: NodeKind | RelKind) -> str:
    """A Cypher map of the kind's properties of ``var``, timestamps as ISO text (see :func:`read_props`)."""
    parts = []
    for prop in kind.properties:
        value = f"{var}.{ident(prop.name)}"
        parts.append(f"{ident(prop.name)}: " + (f"toString({value})" if prop.type == "timestamp" else value))
    return "{" + ", ".join(parts) + "}"


def parse_time(text: str | None) -> datetime | None:
    """ISO text from ``toString(datetime)`` as an aware UTC datetime (no offset means UTC)."""
    if text is None:
        return None
    parsed = datetime.fromisoformat(text.split("[", 1)[0])  # Neo4j may append a zone id: ...Z[UTC]
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


def read_props(kind: NodeKind | RelKind, stored: Mapping) -> dict:
    """A map read with :func:`props_map` as callers expect it: timestamps parsed, ``json`` decoded."""
    out = dict(stored)
    for prop in kind.properties:
        if prop.type == "timestamp":
            out[prop.name] = parse_time(out.get(prop.name))
        elif prop.type == "json":
            out[prop.name] = _rows.decode_json(out.get(prop.name))
    return out


def window(kind: RelKind, since: datetime | None, until: datetime | None) -> tuple[str, dict]:
    """Cypher condition on ``r`` for "``[first_seen, last_seen]`` overlaps the window"."""
    bounds = _rows.window_bounds(kind, since, until)
    return (" AND ".join(_WINDOW_CYPHER[name] for name in bounds) or "true"), bounds


def pattern(rel: RelKind, label: str) -> str:
    """``MATCH`` pattern binding ``a`` (source), ``r``, ``b`` (target), with the node ``$key`` at its end(s)."""
    src, dst = node_kind(rel.src), node_kind(rel.dst)
    if rel.src == label and rel.dst != label:
        return f"(a:{ident(src.label)} {{{ident(src.key)}: $key}})-[r:{ident(rel.type)}]->(b:{ident(dst.label)})"
    if rel.dst == label and rel.src != label:
        return f"(a:{ident(src.label)})-[r:{ident(rel.type)}]->(b:{ident(dst.label)} {{{ident(dst.key)}: $key}})"
    return (
        f"(a:{ident(src.label)})-[r:{ident(rel.type)}]->(b:{ident(dst.label)}) "
        f"WHERE a.{ident(src.key)} = $key OR b.{ident(dst.key)} = $key"
    )


def match_where(pattern: str, condition: str) -> str:
    """``MATCH pattern`` with ``condition`` added to the pattern's own ``WHERE``, if it has one."""
    joiner = " AND " if " WHERE " in pattern else " WHERE "
    return f"MATCH {pattern}{joiner}({condition})"
