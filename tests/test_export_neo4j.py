"""Export and briefing on a Neo4j-backed workspace (the Bolt test server).

The whole sample takes minutes to load over Bolt, so this test feeds a slice
of it: every request of two campaigns and of 200 benign accounts (detection
weighs behaviour against the population, so the slice keeps a population).
"""

from __future__ import annotations

import csv
import gzip
import json
import shutil

import pytest
from exportcase import SAMPLE_CASE, SAMPLE_TRUTH
from ingestcase import run_cli, seed_secret
from stix2validator import ValidationOptions, validate_string

from graph import triage, warehouse
from graph.store import open_store

pytestmark = [pytest.mark.bolt, pytest.mark.slow]


def _slice(folder):
    """The sample's requests by two campaigns' accounts and 200 benign ones, with its other tables."""
    truth = json.loads(SAMPLE_TRUTH.read_text(encoding="utf-8"))
    keep = {a for name in ("hosting_network", "sharding_network") for a in truth["campaigns"][name]["accounts"]}
    keep.update(sorted(a for a, facts in truth["accounts"].items() if facts["kind"] == "benign")[:200])
    folder.mkdir()
    with gzip.open(SAMPLE_CASE / "requests.csv.gz", "rt", encoding="utf-8") as source, \
            (folder / "requests.csv").open("w", encoding="utf-8", newline="") as target:
        reader = csv.DictReader(source)
        writer = csv.DictWriter(target, reader.fieldnames)
        writer.writeheader()
        writer.writerows(row for row in reader if row["account_id"] in keep)
    for name in ("accounts", "ip_intel", "labels"):
        shutil.copy(SAMPLE_CASE / f"{name}.csv.gz", folder / f"{name}.csv.gz")
    return folder


def test_export_and_brief_on_neo4j(neo4j_workspace, tmp_path):
    root = str(neo4j_workspace.root)
    seed_secret(neo4j_workspace.root)
    for args in (("ingest", str(_slice(tmp_path / "case"))), ("detect",)):
        code, out, err = run_cli("--workspace", root, *args)
        assert code == 0, f"{args[0]}: {out}\n{err}"
    store = open_store(neo4j_workspace)
    try:
        assert store.backend == "neo4j"
        top = store.clusters()[0]
        triage.set_status(store, top["cluster_id"], "confirmed", "checked on the Bolt backend", "alice")
        want = {(c["cluster_id"], c["size"]) for c in store.clusters()}
        members = {(c["cluster_id"], m["account_id"]) for c in store.clusters() for m in store.members(c["cluster_id"])}
    finally:
        store.close()
        warehouse.close_all()
    for fmt in ("csv", "stix"):
        code, _, err = run_cli("--workspace", root, "export", "--format", fmt, "--out", str(tmp_path / fmt))
        assert code == 0, err
    with (tmp_path / "csv" / "clusters.csv").open(encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    assert {(r["cluster_id"], int(r["size"])) for r in rows} == want
    assert {r["status"] for r in rows if r["cluster_id"] == top["cluster_id"]} == {"confirmed"}
    with (tmp_path / "csv" / "members.csv").open(encoding="utf-8") as handle:
        assert {(r["cluster_id"], r["account_id"]) for r in csv.DictReader(handle)} == members
    text = (tmp_path / "stix" / "bundle.json").read_text(encoding="utf-8")
    result = validate_string(text, ValidationOptions(version="2.1"))
    assert result.is_valid, [str(e) for e in result.errors][:5]
    assert any(o["type"] == "intrusion-set" for o in json.loads(text)["objects"])
    code, _, err = run_cli("--workspace", root, "brief", top["cluster_id"], "--out", str(tmp_path / "b.md"))
    assert code == 0, err
    assert top["cluster_id"] in (tmp_path / "b.md").read_text(encoding="utf-8")
