"""GraphML and GEXF: the selected clusters as one graph, for Gephi, yEd or networkx.

Nodes are the clusters, their member accounts, and the IP addresses and
devices those accounts used, each with a ``type`` and a ``label``; edges have a ``relationship``
(not ``type``, which GEXF reserves for directed/undirected): ``MEMBER_OF`` (with ``member_score``
and, in an operation of several squads, ``sub_group``), ``USED_IP``, ``USED_DEVICE`` and
``DEVICE_ON_IP`` (with request ``count``, ``first_seen``, ``last_seen``). Account nodes carry their
``sub_group`` too, so Gephi can colour an operation by squad.
Node ids are ``<type>:<id>`` so an account and a device with the same text
never collide. Both formats hold only scalar attributes: lists and JSON
values become JSON text, timestamps ISO 8601 strings, and missing values are
left out (GraphML has no null). Characters XML 1.0 forbids (NUL and other
control characters) cannot be written even escaped, so they are replaced
(:func:`xml_text`); the manifest's ``value_encoding`` says how and counts them.

The GEXF file also carries Gephi's ``viz`` colours and sizes by node type,
so it opens readable without any styling.
"""

from __future__ import annotations

import json
import re
from datetime import datetime
from itertools import chain
from pathlib import Path

import networkx as nx

from app.export.csv import iso_z
from app.export.files import replacing
from app.export.tables import TABLES, ExportContent
from graph.schema import MEMBER_OF

__all__ = ["to_networkx", "write_graphml", "write_gexf", "node_id", "xml_text"]

# Gephi colours per node type (colour-blind safe, Okabe-Ito).
_COLOURS = {
    "cluster": (213, 94, 0),
    "account": (0, 114, 178),
    "ip": (0, 158, 115),
    "device": (204, 121, 167),
}
_LABEL_COLUMN = {"cluster": "cluster_id", "account": "account_id", "ip": "ip", "device": "device_id"}


# XML 1.0 allows tab, LF, CR, U+0020-U+D7FF, U+E000-U+FFFD and U+10000 up; nothing else may appear.
_XML_FORBIDDEN = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")
XML_RULE = ("characters XML 1.0 forbids are replaced: a C0 control character by its Unicode control "
            "picture (U+0000 by U+2400, U+0001 by U+2401, ... U+001F by U+241F), U+FFFE, U+FFFF and lone "
            "surrogates by U+FFFD")


def _picture(match: re.Match) -> str:
    char = match.group()
    return chr(0x2400 + ord(char)) if char < " " else "\ufffd"


def xml_text(text: str) -> str:
    """``text`` with the characters XML 1.0 forbids replaced (see :data:`XML_RULE`).

    A control character becomes its own control picture rather than a
    common replacement, so two ids that differ only in such a character
    stay two nodes.
    """
    return _XML_FORBIDDEN.sub(_picture, text)


def node_id(kind: str, key: str) -> str:
    """The graph node id of an entity: ``<type>:<id>``."""
    return f"{kind}:{key}"


def _scalar(column_type: str, value: object) -> object:
    if isinstance(value, datetime):
        return iso_z(value)
    if column_type in ("json", "list"):
        return json.dumps(value, sort_keys=True, ensure_ascii=False, default=str)
    return value


def _attributes(table: str, row: dict, skip: tuple[str, ...] = ()) -> dict:
    return {
        c.name: _scalar(c.type, row[c.name])
        for c in TABLES[table]
        if c.name not in skip and row.get(c.name) is not None
    }


def to_networkx(content: ExportContent) -> nx.DiGraph:
    """The export's content as a directed graph (see the module docstring)."""
    run = content.selection.run
    graph = nx.DiGraph(
        run_id=run.get("run_id") or "",
        data_fingerprint=run.get("data_fingerprint") or "",
        redacted=content.redacted,
    )
    details = {row["cluster_id"]: row for row in content.tables["cluster_details"]}
    for row in content.tables["clusters"]:
        extra = details.get(row["cluster_id"], {})
        attrs = _attributes("clusters", row)
        attrs.update(
            {k: v for k, v in _attributes("cluster_details", extra).items() if k in ("kind", "first_seen", "last_seen", "actor", "tlp")}
        )
        graph.add_node(node_id("cluster", row["cluster_id"]), type="cluster", label=row["cluster_id"], **attrs)
    for table, kind in (("accounts", "account"), ("ips", "ip"), ("devices", "device")):
        for row in content.tables[table]:
            key = row[_LABEL_COLUMN[kind]]
            graph.add_node(node_id(kind, key), type=kind, label=key, **_attributes(table, row))
    for row in content.tables["members"]:
        graph.add_edge(
            node_id("account", row["account_id"]),
            node_id("cluster", row["cluster_id"]),
            relationship=MEMBER_OF,
            **_attributes("members", row, skip=("cluster_id", "account_id")),
        )
    for row in content.tables["edges"]:
        graph.add_edge(
            node_id(row["src_type"], row["src"]),
            node_id(row["dst_type"], row["dst"]),
            relationship=row["type"],
            **_attributes("edges", row, skip=("type", "src_type", "src", "dst_type", "dst")),
        )
    return graph


def _xml_graph(content: ExportContent) -> nx.DiGraph:
    """:func:`to_networkx` with every string made XML-safe, the count recorded for the manifest."""
    graph = to_networkx(content)
    changed = 0

    def safe(value: object) -> object:
        nonlocal changed
        if not isinstance(value, str):
            return value
        text = xml_text(value)
        changed += text != value
        return text

    everything = chain([graph.graph], (a for _, a in graph.nodes(data=True)), (a for *_, a in graph.edges(data=True)))
    for attrs in everything:
        for key, value in attrs.items():
            attrs[key] = safe(value)
    renamed = {node: safe(node) for node in graph.nodes}
    nx.relabel_nodes(graph, {old: new for old, new in renamed.items() if old != new}, copy=False)
    content.value_encoding["xml_characters"] = {"rule": XML_RULE, "values": changed}
    return graph


def write_graphml(content: ExportContent, out_dir: Path) -> list[Path]:
    """Write ``OUT_DIR/network.graphml``."""
    path = out_dir / "network.graphml"
    with replacing(path, "wb") as handle:
        nx.write_graphml(_xml_graph(content), handle, encoding="utf-8", named_key_ids=True)
    return [path]


def write_gexf(content: ExportContent, out_dir: Path) -> list[Path]:
    """Write ``OUT_DIR/network.gexf`` (GEXF 1.2, with Gephi colours and sizes)."""
    graph = _xml_graph(content)
    for node, attrs in graph.nodes(data=True):
        r, g, b = _COLOURS[attrs["type"]]
        if attrs["type"] == "cluster":
            size = 20.0 + 20.0 * float(attrs.get("score") or 0.0)
        else:
            size = 4.0 + min(16.0, float(graph.degree(node)))
        attrs["viz"] = {"color": {"r": r, "g": g, "b": b, "a": 1.0}, "size": size}
    path = out_dir / "network.gexf"
    with replacing(path, "wb") as handle:
        nx.write_gexf(graph, handle, encoding="utf-8", version="1.2draft")
    return [path]
