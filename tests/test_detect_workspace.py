"""Detection on ingested workspaces: the sample case, stored runs, stable ids, both backends.

These tests go through the real path: the simulator's case, ``ingest``, the
graph store and ``detect``. The truth file says which account belongs to
which campaign; nothing from it reaches detection.
"""

from __future__ import annotations

import json
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

import pyarrow.compute as pc
import pyarrow.csv as pcsv
import pytest

from graph import __version__, warehouse
from graph.detect.evidence import why_together
from graph.detect.metrics import adjusted_rand_index, precision_recall_f1
from graph.detect.projection import workspace_events
from graph.detect.results import DetectionParams
from graph.detect.run import detect
from graph.detect.scoring import FLAG_THRESHOLD
from graph.schema import CLUSTER, node_kind
from graph.store import open_store
from graph.workspace import Workspace
from ingest.pipeline import ingest
from ingest.readers import discover
from ingest.simulate import simulate

ROOT = Path(__file__).resolve().parent.parent
SAMPLE = ROOT / "sample_data" / "case"
TRUTH = json.loads((ROOT / "sample_data" / "truth.json").read_text())


def _ingest(workspace: Workspace, store, case: Path) -> None:
    sources, _ = discover(case)
    ingest(workspace, store, sources)


def _campaign_of(truth: dict) -> dict[str, str]:
    return {a: name for name, c in truth["campaigns"].items() for a in c["accounts"]}


def _flagged(clusters) -> dict[str, str]:
    return {m: c.cluster_id for c in clusters if c.score >= FLAG_THRESHOLD for m in c.members}


@pytest.fixture(scope="module")
def sample_run(tmp_path_factory):
    """The sample case ingested into an embedded workspace and detected once."""
    ws = Workspace.open(tmp_path_factory.mktemp("sample") / "ws")
    store = open_store(ws)
    _ingest(ws, store, SAMPLE)
    result = detect(ws, store)
    yield ws, store, result
    store.close()
    warehouse.close_all()


def test_every_campaign_on_the_sample_is_found_and_kept_apart(sample_run):
    _, _, result = sample_run
    campaign = _campaign_of(TRUTH)
    flagged = _flagged(result.clusters)
    precision, recall, f1 = precision_recall_f1(set(flagged), set(campaign))
    assert f1 >= 0.95, (precision, recall)
    for name, spec in TRUTH["campaigns"].items():
        found = sum(a in flagged for a in spec["accounts"])
        assert found >= 0.9 * len(spec["accounts"]), name
    ari = adjusted_rand_index(campaign, {a: flagged.get(a, f"none:{a}") for a in campaign})
    assert ari >= 0.9


def test_no_hard_negative_is_flagged_on_the_sample(sample_run):
    _, _, result = sample_run
    hard = {a: v["hard_negative"] for a, v in TRUTH["accounts"].items() if v["hard_negative"]}
    flagged = _flagged(result.clusters)
    assert not [a for a in flagged if a in hard], Counter(hard[a] for a in flagged if a in hard)
    for cluster in result.clusters:
        if cluster.score >= FLAG_THRESHOLD:
            benign = sum(TRUTH["accounts"].get(m, {}).get("kind") != "campaign" for m in cluster.members)
            assert benign <= cluster.size / 2, cluster.cluster_id


def test_attribution_hints_point_at_each_campaign_origin(sample_run):
    _, _, result = sample_run
    campaign = _campaign_of(TRUTH)
    for cluster in result.clusters:
        names = Counter(campaign.get(m) for m in cluster.members)
        name, count = names.most_common(1)[0]
        if name is None or cluster.score < FLAG_THRESHOLD:
            continue
        truth = TRUTH["campaigns"][name]
        assert cluster.top_ip_country == truth["origin_country"], name
        assert cluster.attribution["countries"][0]["country"] == truth["origin_country"]
    hosting = next(c for c in result.clusters if campaign.get(c.members[0]) == "hosting_network")
    clock = hosting.attribution["utc_offset"]
    assert abs(clock["offset_hours"] - TRUTH["campaigns"]["hosting_network"]["utc_offset_hours"]) <= 1.0
    assert hosting.attribution["weekly_rhythm"]["quiet_days"] == ["Fri"]
    assert any("suspended" in row["text"] for row in hosting.attribution["labels"])


def test_run_is_stored_whole_with_its_provenance(sample_run):
    ws, store, result = sample_run
    run = store.latest_run()
    assert run["run_id"] == result.run_id
    assert run["params"] == DetectionParams().to_dict()
    assert run["data_fingerprint"].startswith("sha256:") and run["code_version"] == __version__
    stored = store.clusters(result.run_id)
    assert {c["cluster_id"] for c in stored} == {c.cluster_id for c in result.clusters}
    seen: Counter = Counter()
    for row in stored:
        assert set(row) >= set(node_kind(CLUSTER).names) - {"cluster_key"}
        members = store.members(row["cluster_id"], result.run_id)
        assert len(members) == row["size"]
        seen.update(m["account_id"] for m in members)
        assert all(0 <= m["member_score"] <= 1 for m in members)
        assert len(json.dumps(row["evidence"], default=str)) < 64_000  # bounded whatever the cluster size
        assert row["reasons"]
    assert max(seen.values()) == 1  # every account in at most one cluster
    assert any(e["action"] == "detect" for e in store.audit_events(f"run:{result.run_id}"))


def test_evidence_is_traceable_to_requests(sample_run):
    ws, _, result = sample_run
    campaign = _campaign_of(TRUTH)
    hosting = next(c for c in result.clusters if campaign.get(c.members[0]) == "hosting_network")
    top_ip = hosting.evidence["ips"]["top"][0]
    assert top_ip["kind"] == "hosting" and top_ip["members"] >= 2
    cursor = warehouse.connect(ws.db_path)
    rows = cursor.execute(
        "SELECT ip, account_id FROM events WHERE event_id IN (SELECT unnest(?))", [top_ip["event_ids"]]
    ).fetchall()
    assert rows and all(ip == top_ip["id"] and account in hosting.members for ip, account in rows)
    answer = why_together(workspace_events(ws), hosting.members[0], hosting.members[1])
    assert answer["sentences"] and "nothing ties" not in answer["sentences"][0]


def test_same_data_same_ids_and_fingerprint(sample_run):
    ws, store, first = sample_run
    again = detect(ws, store)
    assert again.run["data_fingerprint"] == first.run["data_fingerprint"]
    assert [(c.cluster_id, c.members, c.score) for c in again.clusters] == [
        (c.cluster_id, c.members, c.score) for c in first.clusters
    ]


def _split_case(case: Path, out: Path, cut_ms: int) -> tuple[Path, Path]:
    """The case as two deliveries: requests before ``cut_ms``, then the rest."""
    early, late = out / "early", out / "late"
    table = pcsv.read_csv(str(next(case.glob("requests*"))), convert_options=pcsv.ConvertOptions(
        column_types={c: "string" for c in ("ts", "phone", "status", "request_id")}))
    # the simulator writes one ISO format, so text order is time order
    cut = datetime.fromtimestamp(cut_ms / 1000, tz=UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    before = pc.less(table["ts"], cut)
    for folder, mask in ((early, before), (late, pc.invert(before))):
        folder.mkdir(parents=True)
        pcsv.write_csv(table.filter(mask), folder / "requests.csv")
        for other in case.iterdir():
            if not other.name.startswith("requests"):
                (folder / other.name).write_bytes(other.read_bytes())
    return early, late


@pytest.mark.slow
def test_persisting_clusters_keep_their_ids_after_more_data(tmp_path):
    case = tmp_path / "case"
    simulate(case, scenario="default", seed=11, scale=0.5)
    truth = json.loads((tmp_path / "case.truth.json").read_text())
    early, late = _split_case(case, tmp_path / "parts", truth["params"]["window"]["start_ms"] + 8 * 86_400_000)
    ws = Workspace.open(tmp_path / "ws")
    store = open_store(ws)
    try:
        _ingest(ws, store, early)
        first = detect(ws, store)
        _ingest(ws, store, late)
        second = detect(ws, store)
    finally:
        store.close()
        warehouse.close_all()
    campaign = _campaign_of(truth)

    def by_campaign(result) -> dict[str, str]:
        out = {}
        for c in result.clusters:
            name, count = Counter(campaign.get(m) for m in c.members).most_common(1)[0]
            if name and c.score >= FLAG_THRESHOLD and count > c.size / 2:
                out[name] = c.cluster_id
        return out

    before, after = by_campaign(first), by_campaign(second)
    persisting = set(before) & set(after)
    assert len(persisting) >= 4
    assert {n: before[n] for n in persisting} == {n: after[n] for n in persisting}
    assert second.run["data_fingerprint"] != first.run["data_fingerprint"]


@pytest.fixture(scope="module")
def small_case(tmp_path_factory):
    case = tmp_path_factory.mktemp("small") / "case"
    simulate(case, scenario="state-linked", seed=4, scale=0.3)
    return case


@pytest.mark.slow
def test_same_result_on_both_store_backends(store, tmp_path, small_case):
    ws = Workspace.open(tmp_path / "store-workspace")
    _ingest(ws, store, small_case)
    result = detect(ws, store)
    reference_ws = Workspace.open(tmp_path / "reference", store="embedded")
    reference_store = open_store(reference_ws)
    try:
        _ingest(reference_ws, reference_store, small_case)
        reference = detect(reference_ws, reference_store)
    finally:
        reference_store.close()
    assert [(c.cluster_id, c.members, c.score) for c in result.clusters] == [
        (c.cluster_id, c.members, c.score) for c in reference.clusters
    ]
    assert any(c.score >= FLAG_THRESHOLD for c in result.clusters)
    stored = store.clusters(result.run_id)
    assert sorted(c["cluster_id"] for c in stored) == sorted(c.cluster_id for c in result.clusters)
