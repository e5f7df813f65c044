"""The same ingest into a Neo4j-compatible server (the Bolt test server) builds the same graph."""

from __future__ import annotations

import json

import pytest
from ingestcase import PHONES, TEST_SECRET, graph_snapshot, request_rows, seed_secret, write_table

from graph import warehouse
from graph.schema import LOOKED_UP, USED_IP
from graph.store import open_store
from graph.workspace import Workspace
from ingest import pipeline
from ingest.readers import discover

pytestmark = pytest.mark.bolt

def _case(folder):
    later = [dict(r, ts="2019-12-26T10:00:00Z", request_id="later") for r in request_rows()[:5]]
    write_table(folder / "day1", "requests", request_rows(), "csv")
    write_table(folder / "day1", "accounts", [
        {"account_id": "acc_a", "handle": "a_one", "followers": "3", "discoverable_by_phone": "true", "tier": "x"},
    ], "jsonl")
    write_table(folder / "day1", "labels", [
        {"entity": "phone", "id": PHONES[0], "label": "exposed", "actor": "", "source": "platform", "note": ""},
        {"entity": "account", "id": "acc_b", "label": "suspended", "actor": "", "source": "platform", "note": ""},
    ], "csv")
    write_table(folder / "day2", "requests", later, "parquet")


def _ingest_both_days(workspace: Workspace, store, folder) -> None:
    for day in ("day1", "day2", "day1"):  # the repeat must change nothing
        found, _ = discover(folder / day)
        pipeline.ingest(workspace, store, found)


def test_bolt_graph_equals_embedded_graph(tmp_path, neo4j_workspace):
    _case(tmp_path)
    embedded_ws = Workspace.open(tmp_path / "embedded", store="embedded")
    seed_secret(embedded_ws.root)
    seed_secret(neo4j_workspace.root)
    assert embedded_ws.secret().hex() == neo4j_workspace.secret().hex() == TEST_SECRET

    embedded = open_store(embedded_ws)
    try:
        _ingest_both_days(embedded_ws, embedded, tmp_path)
        expected = graph_snapshot(embedded)
    finally:
        embedded.close()
        warehouse.close_all()

    assert neo4j_workspace.settings.store == "neo4j"
    bolt = open_store(neo4j_workspace)
    try:
        _ingest_both_days(neo4j_workspace, bolt, tmp_path)
        got = graph_snapshot(bolt)
        # no raw number in any property the server holds
        text = json.dumps(got)
        for number in PHONES:
            assert number.lstrip("+") not in text
    finally:
        bolt.close()
        warehouse.close_all()
    assert got == expected
    assert len(got[LOOKED_UP]) == 6 and len(got["labels"]) == 2
    used = {(e["src"], e["dst"]): e for e in map(json.loads, got[USED_IP])}
    assert used[("acc_a", "5.160.10.1")]["count"] == 7
