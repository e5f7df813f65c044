"""The CLI's tables name what a cluster is in the analyst's words, while --json keeps detection's ``kind``.

The queue page and the cluster page already say "residential-proxy
network" or "hosting farm" (:mod:`graph.detect.tradecraft`); ``sybilscope
queue`` and ``sybilscope detect`` said "enumeration" for five of the
sample's six clusters. Scripts read ``kind`` from --json (the contract's
scripted outputs), so it stays there, with ``tradecraft`` beside it.
"""

from __future__ import annotations

import json
import shutil

import pytest
from ingestcase import run_cli

from app.present.tradecraft import cluster_tradecraft
from graph import warehouse
from graph.store import open_store
from graph.workspace import Workspace


@pytest.fixture
def wide(monkeypatch):
    """A terminal wide enough that rich prints each cell on one line."""
    monkeypatch.setenv("COLUMNS", "220")


def _rows(table: str, cluster_ids: list[str]) -> dict[str, str]:
    return {cid: next(line for line in table.splitlines() if cid in line) for cid in cluster_ids}


def _stored(root) -> list[dict]:
    store = open_store(Workspace.open(root))
    try:
        return store.clusters()
    finally:
        store.close()
        warehouse.close_all()


def test_the_queue_table_names_the_tradecraft_and_json_keeps_the_kind(sample_case, wide):
    clusters = _stored(sample_case.root)
    words = {c["cluster_id"]: cluster_tradecraft(c)["tradecraft"] for c in clusters}
    assert "residential-proxy network" in words.values()
    assert any(words[c["cluster_id"]] != c["kind"] for c in clusters)
    code, table, err = run_cli("--workspace", str(sample_case.root), "queue")
    assert code == 0, err
    assert "tradecraft" in table and " kind " not in table
    for cluster_id, row in _rows(table, list(words)).items():
        assert words[cluster_id] in row, row
    code, out, err = run_cli("--workspace", str(sample_case.root), "queue", "--json")
    assert code == 0, err
    listed = {c["cluster_id"]: c for c in json.loads(out)["clusters"]}
    assert {cid: (c["kind"], c["tradecraft"]) for cid, c in listed.items()} == {
        c["cluster_id"]: (c["kind"], words[c["cluster_id"]]) for c in clusters}


def test_the_detect_table_names_the_tradecraft_and_json_keeps_the_kind(sample_case, tmp_path, wide):
    root = tmp_path / "again"
    shutil.copytree(sample_case.root, root)
    code, table, err = run_cli("--workspace", str(root), "detect", "--top", "50")
    assert code == 0, err
    clusters = _stored(root)
    words = {c["cluster_id"]: cluster_tradecraft(c)["tradecraft"] for c in clusters}
    assert "residential-proxy network" in words.values()
    assert "tradecraft" in table and " kind " not in table
    for cluster_id, row in _rows(table, list(words)).items():
        assert words[cluster_id] in row, row
    code, out, err = run_cli("--workspace", str(root), "detect", "--json")
    assert code == 0, err
    found = json.loads(out)["clusters"]
    assert {c["cluster_id"]: (c["kind"], c["tradecraft"]) for c in found} == {
        c["cluster_id"]: (c["kind"], words[c["cluster_id"]]) for c in _stored(root)}
