"""Analyst judgements: append-only, folded to the newest, audited, on both backends."""

from __future__ import annotations

import pytest

from graph import triage


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
