"""Findings in threat-intel vocabulary: technique attack patterns, Admiralty grades, TLP on every STIX object,
MISP events read back with pymisp, and manifests that name the workspace, never its path."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from exportcase import ACTOR
from ingestcase import run_cli
from pymisp import MISPEvent
from stix2validator import ValidationOptions, validate_string

from app.export import FORMATS, export
from app.present.techniques import suggest_techniques
from graph import triage, warehouse
from graph.errors import SybilscopeError
from graph.store import open_store
from graph.workspace import Workspace

GRADED = {"reliability": "B", "credibility": "2"}


@pytest.fixture(scope="module")
def graded(sample_case, tmp_path_factory):
    """A copy of the triaged sample whose state-linked cluster is graded and tagged with its suggested techniques."""
    root = tmp_path_factory.mktemp("intel") / "case-2019-12"
    shutil.copytree(sample_case.root, root)
    workspace = Workspace.open(root)
    store = open_store(workspace)
    cid = sample_case.state_cluster
    cluster = next(c for c in store.clusters() if c["cluster_id"] == cid)
    suggested = [s.technique.tag for s in suggest_techniques(cluster)]
    assert suggested, "the sample's state-linked cluster should suggest techniques"
    for tag in [*suggested, "FT3:FT010.003", "abuse:account-farm"]:
        triage.add_tag(store, "cluster", cid, tag, "alice")
    triage.set_status(store, cid, "confirmed", "re-checked with the platform's logs", "alice", **GRADED)
    triage.set_attribution(store, "cluster", cid, actor=ACTOR, country="IR", confidence="moderate",
                           rationale="Iran Standard Time working week", user="alice",
                           reliability="C", credibility="3")
    yield workspace, store, cid, [*suggested, "FT3:FT010.003"]
    store.close()
    warehouse.close_all()


def _bundle(graded, tmp_path) -> dict:
    workspace, store, _, _ = graded
    export(workspace, store, "stix", tmp_path / "stix", user="tester")
    text = (tmp_path / "stix" / "bundle.json").read_text(encoding="utf-8")
    result = validate_string(text, ValidationOptions(version="2.1"))
    assert result.is_valid, [str(e) for e in result.errors][:5]
    return json.loads(text)


def test_stix_carries_techniques_as_attack_patterns_the_intrusion_set_uses(graded, tmp_path):
    _, _, cid, techniques = graded
    objects = _bundle(graded, tmp_path)["objects"]
    by_id = {o["id"]: o for o in objects}
    patterns = {ref["external_id"]: o for o in objects if o["type"] == "attack-pattern"
                for ref in o["external_references"]}
    assert set(patterns) == {tag.split(":", 1)[1] for tag in techniques}
    ref = patterns["FT010.003"]["external_references"][0]
    assert ref == {"source_name": "FT3", "external_id": "FT010.003", "url": "https://github.com/stripe/ft3"}
    intrusion = next(o for o in objects if o["type"] == "intrusion-set" and cid in o.get("aliases", []))
    used = {by_id[r["target_ref"]]["name"] for r in objects if r["type"] == "relationship"
            and r["relationship_type"] == "uses" and r["source_ref"] == intrusion["id"]}
    assert used == {p["name"] for p in patterns.values()}
    grouping = next(o for o in objects if o["type"] == "grouping" and o["name"].endswith(cid))
    assert {p["id"] for p in patterns.values()} <= set(grouping["object_refs"])


def test_stix_grades_become_confidence_and_labels_and_every_object_is_marked(graded, tmp_path):
    _, _, cid, _ = graded
    objects = _bundle(graded, tmp_path)["objects"]
    attributed = [o for o in objects if o.get("relationship_type") == "attributed-to"]
    assert len(attributed) == 1 and attributed[0]["confidence"] == 50  # credibility 3, STIX's Admiralty scale
    assert 'admiralty-scale:source-reliability="c"' in attributed[0]["labels"]
    status = next(o for o in objects if o["type"] == "opinion" and o["explanation"].startswith("Analyst status")
                  and o["object_refs"][0] in {g["id"] for g in objects if g["type"] == "grouping"
                                              and g["name"].endswith(cid)})
    assert status["confidence"] == 70 and 'admiralty-scale:information-credibility="2"' in status["labels"]
    unmarked = [o["type"] for o in objects if o["type"] != "marking-definition" and not o.get("object_marking_refs")]
    assert unmarked == []


def _misp(folder: Path) -> dict[str, MISPEvent]:
    events = {}
    for path in sorted(folder.glob("misp-*.json")):
        event = MISPEvent()
        event.load_file(str(path))
        events[path.stem] = event
    return events


def test_misp_events_load_back_with_their_attributes_comments_and_tags(graded, tmp_path, sample_case):
    workspace, store, cid, techniques = graded
    result = export(workspace, store, "misp", tmp_path / "misp", user="tester")
    events = _misp(tmp_path / "misp")
    assert set(events) == {f"misp-{c['cluster_id']}" for c in store.clusters()}
    assert {p.name for p in result.files} == {*(f"{stem}.json" for stem in events), "manifest.json"}
    event = events[f"misp-{cid}"]
    tags = {t.name for t in event.tags}
    assert {"tlp:amber", *techniques, 'admiralty-scale:source-reliability="b"',
            'admiralty-scale:information-credibility="2"'} <= tags
    assert "abuse:account-farm" not in tags
    types = {a.type for a in event.attributes}
    assert {"ip-src", "AS", "text", "user-agent", "threat-actor", "comment"} <= types
    assert all(a.comment for a in event.attributes)
    actor = next(a for a in event.attributes if a.type == "threat-actor")
    assert actor.value == ACTOR and 'admiralty-scale:source-reliability="c"' in {t.name for t in actor.tags}
    members = {m["account_id"] for m in store.members(cid)}
    assert members <= {a.value for a in event.attributes if a.type == "text"}
    strict = events[f"misp-{sample_case.strict_cluster}"]
    assert "tlp:amber+strict" in {t.name for t in strict.tags}
    assert not any("keyed hash" in a.comment for e in events.values() for a in e.attributes)
    assert json.loads((tmp_path / "misp" / "manifest.json").read_text())["format"] == "misp"


def test_phone_hashes_only_when_asked_and_never_raw(graded, tmp_path, sample_case):
    workspace, store, cid, _ = graded
    export(workspace, store, "misp", tmp_path / "misp", user="tester", options={"phone_hashes": True})
    event = _misp(tmp_path / "misp")[f"misp-{cid}"]
    hashes = [a.value for a in event.attributes if "keyed hash" in a.comment]
    assert hashes and all(len(h) == 64 and int(h, 16) >= 0 for h in hashes)
    text = " ".join((tmp_path / "misp").joinpath(p).read_text() for p in ("manifest.json", f"misp-{cid}.json"))
    assert not any(digits in text for digits in sample_case.raw_digits)
    with pytest.raises(SybilscopeError, match="does not go with --redact"):
        export(workspace, store, "misp", tmp_path / "x", redact=True, options={"phone_hashes": True})
    with pytest.raises(SybilscopeError, match="only go with --format misp"):
        export(workspace, store, "csv", tmp_path / "y", options={"phone_hashes": True})


def test_misp_per_squad_gives_each_squad_of_an_operation_its_event(workspace, tmp_path):
    squads = {f"op_{i}": f"S{1 + i % 2}" for i in range(6)}  # a hand-made run: the sample case has no operation
    store = open_store(workspace)
    try:
        store.save_run(
            {"run_id": "run-squads", "params": {}},
            [{"cluster_id": "C-op", "score": 0.93, "size": 6, "top_ip_country": "IR"},
             {"cluster_id": "C-one", "score": 0.61, "size": 2, "top_ip_country": "IL"}],
            [{"account_id": a, "cluster_id": "C-op", "member_score": 0.9, "sub_group": g} for a, g in squads.items()]
            + [{"account_id": f"one_{i}", "cluster_id": "C-one", "member_score": 0.8} for i in range(2)],
        )
        export(workspace, store, "misp", tmp_path / "squad", options={"per": "squad"})
        export(workspace, store, "misp", tmp_path / "cluster")
    finally:
        store.close()
    by_squad, by_cluster = _misp(tmp_path / "squad"), _misp(tmp_path / "cluster")
    assert set(by_squad) == {"misp-C-op-S1", "misp-C-op-S2", "misp-C-one"}
    assert set(by_cluster) == {"misp-C-op", "misp-C-one"}
    members = {a.value for a in by_squad["misp-C-op-S2"].attributes if a.type == "text"}
    assert members == {a for a, g in squads.items() if g == "S2"}
    assert "squad S2" in by_squad["misp-C-op-S2"].info


def test_cli_exports_misp(graded, tmp_path):
    workspace, _, cid, _ = graded
    code, out, err = run_cli("--workspace", str(workspace.root), "export", "--format", "misp", "--out",
                             str(tmp_path / "out"), "--cluster", cid, "--phone-hashes", "--json")
    assert code == 0, err
    assert json.loads(out)["options"] == {"phone_hashes": True}
    assert [p.name for p in (tmp_path / "out").glob("misp-*.json")] == [f"misp-{cid}.json"]


def test_no_export_names_the_workspace_path(graded, tmp_path):
    workspace, store, _, _ = graded
    root = str(workspace.root)
    for fmt in FORMATS:
        result = export(workspace, store, fmt, tmp_path / fmt, user="tester")
        assert result.manifest["workspace"] == "case-2019-12"
        for path in result.files:
            data = path.read_bytes()
            assert root.encode() not in data and str(tmp_path).encode() not in data, (fmt, path.name)
