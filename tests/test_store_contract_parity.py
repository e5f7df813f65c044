"""The store contract, end to end: the same ingest and detection on either store give the same graph and clusters.

:mod:`tests.test_store_contract` holds each store to the interface call by
call; here the sample case goes through the CLI as a user runs it, once into
the embedded store and once into the Bolt test server, in two ingests (most
of the requests, then the rest, so the Bolt store's incremental writes are
exercised), and the two workspaces must hold the same nodes and relationships,
with the same properties, and export the same ``clusters.csv`` and ``members.csv`` (issue 18).
"""

from __future__ import annotations

import csv
import gzip
import os
from pathlib import Path

import pytest
from exportcase import SAMPLE_CASE
from ingestcase import graph_snapshot, run_cli, seed_secret

from graph import warehouse
from graph.schema import LOOKED_UP
from graph.store import open_store
from graph.workspace import Workspace

pytestmark = pytest.mark.bolt

FIRST_SHARE = 0.8


def _split_sample(folder: Path) -> list[Path]:
    """The sample case as two case folders: the first 80% of the requests with every other table, then the rest."""
    with gzip.open(SAMPLE_CASE / "requests.csv.gz", "rt", encoding="utf-8", newline="") as handle:
        lines = handle.readlines()
    header, rows = lines[0], lines[1:]
    cut = int(len(rows) * FIRST_SHARE)
    parts = [folder / "first", folder / "later"]
    for part, chunk in zip(parts, (rows[:cut], rows[cut:]), strict=True):
        part.mkdir(parents=True)
        with gzip.open(part / "requests.csv.gz", "wt", encoding="utf-8", newline="") as handle:
            handle.writelines([header, *chunk])
    for other in SAMPLE_CASE.iterdir():
        if not other.name.startswith("requests"):
            (parts[0] / other.name).write_bytes(other.read_bytes())
    return parts


def _investigate(root: Path, parts: list[Path], out: Path) -> tuple[dict[str, int], dict[str, list[str]]]:
    """Ingest the parts in turn, detect and export as CSV; returns the store's counts and graph."""
    seed_secret(root)
    for args in (*(("ingest", str(part)) for part in parts), ("detect",), ("export", "--format", "csv", "--out", str(out))):
        code, stdout, stderr = run_cli("--workspace", str(root), *args)
        assert code == 0, f"sybilscope {args[0]} failed:\n{stdout}\n{stderr}"
    store = open_store(Workspace.open(root))
    try:
        return store.counts(), graph_snapshot(store)
    finally:
        store.close()
        warehouse.close_all()


def _rows(path: Path) -> list[dict]:
    with path.open(encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle))


def test_the_embedded_and_the_bolt_store_give_the_same_graph_and_clusters(tmp_path, monkeypatch, neo4j_workspace):
    parts = _split_sample(tmp_path / "case")
    bolt_env = {name: value for name, value in os.environ.items() if name.startswith("SYBILSCOPE_NEO4J")}
    with monkeypatch.context() as embedded_env:
        for name in bolt_env:
            embedded_env.delenv(name)
        assert Workspace.open(tmp_path / "embedded").settings.store == "embedded"
        embedded = _investigate(tmp_path / "embedded", parts, tmp_path / "out-embedded")
    assert neo4j_workspace.settings.store == "neo4j"
    bolt = _investigate(neo4j_workspace.root, parts, tmp_path / "out-bolt")
    assert bolt[0] == embedded[0] and embedded[0][LOOKED_UP] > 10_000
    assert bolt[1] == embedded[1]  # the same keys and properties
    clusters = _rows(tmp_path / "out-embedded" / "clusters.csv")
    assert len(clusters) >= 5 and _rows(tmp_path / "out-bolt" / "clusters.csv") == clusters
    for name in ("clusters.csv", "members.csv"):
        assert (tmp_path / "out-bolt" / name).read_bytes() == (tmp_path / "out-embedded" / name).read_bytes(), name
