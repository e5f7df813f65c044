"""The whole graph as files for ``neo4j-admin database import full``: a bulk first load of a new database.

Loading a large case over Bolt means one transaction a batch; the offline
importer writes a new database from CSV files many times faster. Each node
label becomes ``nodes_<Label>.csv`` whose key column is the ``:ID`` in the
label's own id space (``account_id:ID(Account)``, stored as the property
too); each relationship type becomes ``rels_<TYPE>.csv`` with
``:START_ID(<Label>)``, ``:END_ID(<Label>)`` and ``:TYPE``. Properties carry
their import type (``count:long``, ``first_seen:datetime``); ``json``
properties stay JSON text, as the Bolt store keeps them. Relationships
carry the store's relationship key, so the store's constraints hold after
import: ``constraints.cypher`` creates them, to run once the import is done.

Not a cluster export: every node and relationship of the store, phone
numbers only as the keyed hashes the graph holds.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

from app.export.files import replacing
from graph.schema import NODES, RELATIONSHIPS, NodeKind, RelKind, node_kind
from graph.store.base import GraphStore
from graph.store.neo4j_cypher import REL_KEY, schema_statements
from graph.store.neo4j_writes import rel_key

__all__ = ["CONSTRAINTS", "IMPORT_TYPES", "write"]

#: schema property type -> the importer's column type (no suffix means string)
IMPORT_TYPES = {"str": "", "int": "long", "float": "double", "bool": "boolean", "timestamp": "datetime", "json": ""}
CONSTRAINTS = "constraints.cypher"


def _column(name: str, type_: str) -> str:
    suffix = IMPORT_TYPES[type_]
    return f"{name}:{suffix}" if suffix else name


def _cell(value: object, type_: str) -> object:
    if value is None:
        return ""
    if type_ == "bool":
        return "true" if value else "false"
    if type_ == "timestamp":
        return value.isoformat()
    if type_ == "json":
        return json.dumps(value, ensure_ascii=False, sort_keys=True)
    return value


def _write_nodes(store: GraphStore, kind: NodeKind, path: Path) -> int:
    props = [p for p in kind.properties if p.name != kind.key]
    written = 0
    with replacing(path, "w", encoding="utf-8", newline="") as handle:
        out = csv.writer(handle)
        out.writerow([f"{kind.key}:ID({kind.label})", ":LABEL", *(_column(p.name, p.type) for p in props)])
        for batch in store.iter_nodes(kind.label):
            for node in batch:
                out.writerow([node[kind.key], kind.label, *(_cell(node.get(p.name), p.type) for p in props)])
            written += len(batch)
    return written


def _write_rels(store: GraphStore, kind: RelKind, path: Path) -> int:
    src, dst = node_kind(kind.src), node_kind(kind.dst)
    written = 0
    with replacing(path, "w", encoding="utf-8", newline="") as handle:
        out = csv.writer(handle)
        out.writerow([f":START_ID({src.label})", f":END_ID({dst.label})", ":TYPE", REL_KEY,
                      *(_column(p.name, p.type) for p in kind.properties)])
        for batch in store.iter_edges(kind.type):
            for edge in batch:
                out.writerow([edge["src"], edge["dst"], kind.type, rel_key(edge["src"], edge["dst"]),
                              *(_cell(edge.get(p.name), p.type) for p in kind.properties)])
            written += len(batch)
    return written


def write(store: GraphStore, out: Path) -> tuple[list[Path], dict[str, int]]:
    """Write every label's and type's CSV file and ``constraints.cypher`` into ``out``; returns files and counts."""
    files, counts = [], {}
    for kind in NODES:
        path = out / f"nodes_{kind.label}.csv"
        counts[kind.label] = _write_nodes(store, kind, path)
        files.append(path)
    for kind in RELATIONSHIPS:
        path = out / f"rels_{kind.type}.csv"
        counts[kind.type] = _write_rels(store, kind, path)
        files.append(path)
    with replacing(out / CONSTRAINTS, "w", encoding="utf-8") as handle:
        handle.write("".join(f"{statement};\n" for statement in schema_statements()))
    files.append(out / CONSTRAINTS)
    return files, counts
