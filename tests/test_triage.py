"""Analyst judgements: append-only, folded to the newest, audited, on both backends."""

from __future__ import annotations

import threading
from datetime import UTC, datetime

import pytest

from graph import triage
from graph.store import open_store
from graph.workspace import Workspace


@pytest.fixture(autouse=True)
def clusters(store):
    """A detection run that found the clusters these tests label (labels need a real cluster)."""
    run = {"run_id": "run-1", "started_at": datetime(2024, 1, 1, tzinfo=UTC), "params": {}}
    store.save_run(run, [{"cluster_id": c, "score": 0.9, "size": 1} for c in ("C-1", "C-2", "C-9")],
                   [{"account_id": f"a-{c}", "cluster_id": c, "member_score": 1.0} for c in ("C-1", "C-2", "C-9")])


def test_status_changes_are_appended_and_audited(store):
    assert triage.current_statuses(store) == {}
    triage.set_status(store, "C-1", "in_review", "shares hosting IPs", "alice")
    triage.set_status(store, "C-1", "confirmed", "same device fingerprints", "bob")
    triage.set_status(store, "C-2", "dismissed", "carrier CGNAT", "alice")

    assert triage.current_statuses(store) == {"C-1": "confirmed", "C-2": "dismissed"}
    status_labels = [lbl for lbl in store.labels("cluster", "C-1") if lbl["kind"] == "status"]
    assert [lbl["value"] for lbl in status_labels] == ["in_review", "confirmed"]
    assert triage.judgement(store, "cluster", "C-1").status_reason == "same device fingerprints"

    audit = store.audit_events(target="cluster:C-1")
    assert [event["after"]["status"] for event in audit] == ["confirmed", "in_review"]
    assert audit[0]["before"] == {"status": "in_review"}
    assert audit[0]["user"] == "bob"


def test_status_needs_a_known_value_and_a_reason(store):
    with pytest.raises(ValueError, match="status must be one of"):
        triage.set_status(store, "C-1", "done", "why", "alice")
    with pytest.raises(ValueError, match="reason"):
        triage.set_status(store, "C-1", "confirmed", "  ", "alice")
    assert store.labels("cluster", "C-1") == []
    assert store.audit_events() == []


def test_attribution_tags_and_comments_fold_to_the_current_view(store):
    triage.set_attribution(
        store, "cluster", "C-9", actor="IS-EXAMPLE", country="ir", confidence="moderate",
        rationale="Iranian hosting and a Friday weekend", user="alice",
    )
    triage.add_tag(store, "cluster", "C-9", "TLP:AMBER", "alice")
    triage.add_tag(store, "cluster", "C-9", "enumeration", "alice")
    triage.remove_tag(store, "cluster", "C-9", "enumeration", "bob")
    triage.add_comment(store, "cluster", "C-9", "Check the Malaysian IPs too.", "bob")

    view = triage.judgement(store, "cluster", "C-9")
    assert view.attribution["actor"] == "IS-EXAMPLE"
    assert view.attribution["country"] == "IR"
    assert view.attribution["confidence"] == "moderate"
    assert view.tags == ["TLP:AMBER"]
    assert [c["text"] for c in view.comments] == ["Check the Malaysian IPs too."]
    # the removal is recorded, not applied by deleting: history keeps both
    assert len([lbl for lbl in store.labels("cluster", "C-9") if lbl["kind"] == "tag"]) == 3
    assert len(store.audit_events(target="cluster:C-9")) == 5

    with pytest.raises(ValueError, match="confidence"):
        triage.set_attribution(store, "cluster", "C-9", actor="X", country=None,
                               confidence="certain", rationale="r", user="alice")
    with pytest.raises(ValueError, match="entity must be one of"):
        triage.add_comment(store, "planet", "earth", "hi", "alice")


def test_a_cluster_no_run_found_cannot_be_labelled(store):
    for label in (lambda: triage.set_status(store, "C-nowhere", "confirmed", "why", "alice"),
                  lambda: triage.add_tag(store, "cluster", "C-nowhere", "TLP:RED", "alice"),
                  lambda: triage.add_comment(store, "cluster", "C-nowhere", "hello", "alice"),
                  lambda: triage.set_attribution(store, "cluster", "C-nowhere", actor="X", country=None,
                                                 confidence="low", rationale="r", user="alice")):
        with pytest.raises(ValueError, match="no cluster 'C-nowhere'.*detect"):
            label()
    assert store.labels("cluster", "C-nowhere") == [] and store.audit_events() == []


def test_concurrent_changes_each_record_the_state_they_changed(store, tmp_path):
    """50 analysts tag one cluster at once: every event's ``before`` is the previous event's ``after``."""
    tags = [f"tag-{i:02d}" for i in range(50)]
    # one store a thread on Neo4j (separate connections, as separate web servers would be);
    # the embedded store is shared, as the web app shares it between its threads
    stores = [store] * len(tags) if store.backend == "embedded" else [
        open_store(Workspace.open(tmp_path / "store-workspace")) for _ in tags]
    start = threading.Barrier(len(tags))
    failures = []

    def tag(index: int) -> None:
        start.wait()
        try:
            triage.add_tag(stores[index], "cluster", "C-1", tags[index], f"analyst-{index}")
        except Exception as exc:  # noqa: BLE001 - collected and shown below
            failures.append(exc)

    threads = [threading.Thread(target=tag, args=(i,)) for i in range(len(tags))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if store.backend != "embedded":
        for opened in stores:
            opened.close()
    assert failures == []
    events = sorted(store.audit_events(target="cluster:C-1"), key=lambda e: e["at"])
    assert len(events) == len(tags)
    state: list[str] = []
    for event in events:
        assert sorted(event["before"]["tags"]) == sorted(state)
        state = event["after"]["tags"]
    assert sorted(state) == tags == sorted(triage.judgement(store, "cluster", "C-1").tags)


def test_a_label_and_its_event_land_together_or_not_at_all(store):
    label = {"entity": "cluster", "entity_id": "C-1", "kind": "comment", "value": "hello"}
    # the event is refused after the label was written in the same transaction: neither stays
    with pytest.raises(ValueError, match="user"):
        store.append_judgement(label, lambda labels: {"action": "label.comment", "user": 42})
    assert store.labels("cluster", "C-1") == [] and store.audit_events() == []
    seen = []
    store.append_judgement(label, lambda labels: seen.append(labels) or {"action": "label.comment"})
    store.append_judgement({**label, "value": "again"}, lambda labels: seen.append(labels) or {"action": "x"})
    assert [len(labels) for labels in seen[-2:]] == [0, 1] and seen[-1][0]["value"] == "hello"
    assert len(store.labels("cluster", "C-1")) == 2 and len(store.audit_events()) == 2


def test_an_assignment_is_a_label_folded_to_the_newest_and_read_in_one_pass(store):
    triage.assign(store, "C-1", "bob", "alice")
    triage.set_status(store, "C-1", "in_review", "bob looks", "alice")
    triage.assign(store, "C-2", "carol", "alice")
    triage.assign(store, "C-2", "", "carol")
    assert [lbl["kind"] for lbl in store.labels("cluster", "C-1")].count("assignment") == 1
    judged = triage.cluster_judgements(store)
    assert judged["C-1"].assignee == "bob" and judged["C-1"].status == "in_review"
    assert judged["C-2"].assignee is None
    assert "C-9" not in judged
    newest = max(lbl["created_at"] for lbl in store.labels("cluster", "C-1"))
    assert judged["C-1"].updated_at == newest
    assert judged["C-1"] == triage.judgement(store, "cluster", "C-1")
    with pytest.raises(ValueError, match="no cluster"):
        triage.assign(store, "C-404", "bob", "alice")
