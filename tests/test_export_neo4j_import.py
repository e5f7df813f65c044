"""``export --format neo4j-import``: files ``neo4j-admin database import full`` reads (issue 18).

The reader below follows the importer's documented header format (``name:type``
columns, ``:ID(space)``, ``:LABEL``, ``:START_ID(space)``/``:END_ID(space)``,
``:TYPE``), so a round trip shows the files load: every id is unique in its
id space, every relationship's ends resolve, and the counts and keys come back.
"""

from __future__ import annotations

import csv
import re
from datetime import datetime

from ingestcase import request_rows, run_cli, seed_secret, write_table

from graph import warehouse
from graph.schema import NODES, RELATIONSHIPS
from graph.store import open_store
from graph.workspace import Workspace

_HEADER = re.compile(r"^(?P<name>[^:]*)(?::(?P<type>[A-Z_]+|[a-z]+)(?:\((?P<space>[^)]+)\))?)?$")
_TYPES = {None: str, "long": int, "double": float, "boolean": lambda v: v == "true",
          "datetime": datetime.fromisoformat}


def _parse_header(row: list[str]) -> list[tuple[str, str | None, str | None]]:
    columns = []
    for cell in row:
        match = _HEADER.match(cell)
        assert match, f"not an import header: {cell!r}"
        kind = match["type"]
        assert kind in (*_TYPES, "ID", "LABEL", "START_ID", "END_ID", "TYPE"), cell
        assert (match["space"] is not None) == (kind in ("ID", "START_ID", "END_ID")), cell
        columns.append((match["name"], kind, match["space"]))
    return columns


def _load(folder):
    """Nodes by id space and relationships, as the importer would build them."""
    nodes: dict[str, dict[str, dict]] = {}
    rels: list[tuple[str, str, str, dict]] = []
    for path in sorted(folder.glob("*.csv")):
        with path.open(encoding="utf-8", newline="") as handle:
            reader = csv.reader(handle)
            columns = _parse_header(next(reader))
            kinds = [kind for _, kind, _ in columns]
            for row in reader:
                props, ids = {}, {}
                for (name, kind, space), cell in zip(columns, row, strict=True):
                    if kind in ("ID", "START_ID", "END_ID"):
                        ids[kind] = (space, cell)
                        if name:
                            props[name] = cell
                    elif kind in ("LABEL", "TYPE"):
                        props[f":{kind}"] = cell
                    elif cell != "":
                        props[name] = _TYPES[kind](cell)
                if "ID" in kinds:
                    space, key = ids["ID"]
                    assert key not in nodes.setdefault(space, {}), f"duplicate id {key} in {space}"
                    nodes[space][key] = props
                else:
                    (s_space, src), (d_space, dst) = ids["START_ID"], ids["END_ID"]
                    assert src in nodes.get(s_space, {}) and dst in nodes.get(d_space, {}), (path.name, src, dst)
                    rels.append((src, props[":TYPE"], dst, props))
    return nodes, rels


def test_the_graph_exports_as_neo4j_admin_import_files_that_round_trip(tmp_path):
    case = tmp_path / "case"
    write_table(case, "requests", request_rows(), "csv")
    ws = tmp_path / "ws"
    seed_secret(ws)
    assert run_cli("--workspace", str(ws), "ingest", str(case))[0] == 0
    out = tmp_path / "bulk"
    code, stdout, stderr = run_cli("--workspace", str(ws), "export", "--format", "neo4j-import", "--out", str(out))
    assert code == 0, stdout + stderr

    with open_store(Workspace.open(ws)) as store:
        audited = {e["event_id"] for e in store.audit_events() if e["action"] == "export"}
        # the export's own audit event is recorded after its files are written
        expected_nodes = {k.label: {n[k.key] for b in store.iter_nodes(k.label) for n in b if n[k.key] not in audited}
                          for k in NODES}
        expected_rels = {k.type: {(e["src"], e["dst"]) for b in store.iter_edges(k.type) for e in b}
                         for k in RELATIONSHIPS}
        looked_up = next(store.iter_edges("LOOKED_UP"))[0]
    warehouse.close_all()

    nodes, rels = _load(out)
    assert {label: set(nodes.get(label, {})) for label in expected_nodes} == expected_nodes
    assert set(nodes) <= set(expected_nodes) and expected_nodes["Device"]
    got_rels = {k.type: {(s, d) for s, t, d, _ in rels if t == k.type} for k in RELATIONSHIPS}
    assert got_rels == expected_rels and sum(map(len, expected_rels.values())) == len(rels) > 0
    again = next(p for s, t, d, p in rels if (s, t, d) == (looked_up["src"], "LOOKED_UP", looked_up["dst"]))
    assert again["count"] == looked_up["count"] and again["last_seen"] == looked_up["last_seen"]
    assert again["rel_key"] == f'["{looked_up["src"]}", "{looked_up["dst"]}"]'
    header = (out / "rels_LOOKED_UP.csv").read_text(encoding="utf-8").splitlines()[0]
    assert header.startswith(":START_ID(Account),:END_ID(Phone),:TYPE,rel_key,count:long,first_seen:datetime")
    assert (out / "nodes_Account.csv").read_text(encoding="utf-8").startswith("account_id:ID(Account),:LABEL")
    statements = (out / "constraints.cypher").read_text(encoding="utf-8").splitlines()
    assert "FOR (n:`Account`) REQUIRE n.`account_id` IS UNIQUE;" in statements[0]
    assert all(s.startswith("CREATE ") and " IF NOT EXISTS " in s and s.endswith(";") for s in statements)
    assert (out / "manifest.json").exists()
