"""``sybilscope label``: the web form's judgements from the command line, appended and audited the same way."""

from __future__ import annotations

import getpass
import json
import os

import pytest
import webcase
from ingestcase import run_cli

from graph import triage, warehouse
from graph.store import open_store
from graph.workspace import Workspace


@pytest.fixture
def root(workspace):
    """A workspace holding the web test case (clusters C-iran, C-israel, C-lone)."""
    store = open_store(workspace)
    webcase.build_case(workspace, store)
    store.close()
    warehouse.close_all()
    return str(workspace.root)


def _sybilscope(root: str, *args: str) -> tuple[int, str, str]:
    return run_cli("--workspace", root, *args)


def _store_read(root: str, read):
    store = open_store(Workspace.open(root))
    try:
        return read(store)
    finally:
        store.close()
        warehouse.close_all()


def _queue(root: str, *filters: str) -> dict[str, str]:
    code, out, err = _sybilscope(root, "queue", "--json", *filters)
    assert code == 0, err
    return {c["cluster_id"]: c["status"] for c in json.loads(out)["clusters"]}


def test_a_status_shows_in_the_queue_and_is_audited_under_the_os_user(root):
    code, out, err = _sybilscope(root, "label", "C-iran", "--status", "confirmed", "--reason", "shared hosting")
    assert code == 0, err
    assert "C-iran" in out and "confirmed" in out
    assert _queue(root)["C-iran"] == "confirmed"
    assert list(_queue(root, "--status", "confirmed")) == ["C-iran"]
    events = _store_read(root, lambda store: store.audit_events(target="cluster:C-iran"))
    assert [(e["action"], e["user"]) for e in events] == [("label.status", f"cli:{getpass.getuser()}")]
    assert events[0]["before"] == {"status": "new"}
    assert events[0]["after"] == {"status": "confirmed", "reason": "shared hosting"}


def test_every_form_action_and_the_analyst_named(root):
    for args in (["--attribute", "Charming Kitten", "--country", "ir", "--confidence", "moderate",
                  "--rationale", "IR hosting"],
                 ["--tag", "TLP:AMBER"], ["--tag", "lockstep"], ["--untag", "lockstep"],
                 ["--comment", "ask the platform team"]):
        code, _, err = _sybilscope(root, "label", "C-iran", *args, "--analyst", "ana")
        assert code == 0, (args, err)
    code, out, err = _sybilscope(root, "label", "C-israel", "--comment", "same ASN", "--analyst", "ana", "--json")
    assert code == 0, err
    assert json.loads(out)["value"] == "same ASN" and json.loads(out)["created_by"] == "ana"

    judgement = _store_read(root, lambda store: triage.judgement(store, "cluster", "C-iran"))
    assert judgement.tags == ["TLP:AMBER"]
    assert judgement.attribution["actor"] == "Charming Kitten" and judgement.attribution["country"] == "IR"
    assert judgement.attribution["confidence"] == "moderate"
    assert [c["text"] for c in judgement.comments] == ["ask the platform team"]
    events = _store_read(root, lambda store: store.audit_events(target="cluster:C-iran"))
    assert [e["action"] for e in events][::-1] == ["label.attribution", "label.tag", "label.tag", "label.untag",
                                                   "label.comment"]
    assert {e["user"] for e in events} == {"ana"}


def test_labels_are_appended_never_changed(root):
    for status, reason in (("in_review", "looking"), ("dismissed", "a test rig")):
        code, _, err = _sybilscope(root, "label", "C-lone", "--status", status, "--reason", reason)
        assert code == 0, err
    labels = _store_read(root, lambda store: store.labels("cluster", "C-lone"))
    assert [(label["value"], label["note"]) for label in labels] == [("in_review", "looking"),
                                                                     ("dismissed", "a test rig")]
    events = _store_read(root, lambda store: store.audit_events(target="cluster:C-lone"))
    assert [(e["before"]["status"], e["after"]["status"]) for e in events[::-1]] == [
        ("new", "in_review"), ("in_review", "dismissed")]
    assert _queue(root)["C-lone"] == "dismissed"


@pytest.mark.parametrize(("args", "said"), [
    (["C-iran", "--status", "done", "--reason", "x"], "status must be one of new, in_review, confirmed, dismissed"),
    (["C-iran", "--status", "confirmed"], "a status change needs a reason"),
    (["C-nothere", "--comment", "hi"], "no cluster 'C-nothere'"),
    (["C-iran"], "give one change a call: --status, --attribute, --tag, --untag, --comment"),
    (["C-iran", "--tag", "a", "--comment", "b"], "give one change a call"),
    (["C-iran", "--tag", "a", "--reason", "b"], "--reason does not go with --tag"),
    (["C-iran", "--attribute", "X", "--rationale", "y", "--confidence", "sure"], "confidence must be one of"),
    (["C-iran", "--attribute", "X", "--rationale", "y", "--country", "Iran"], "ISO alpha-2"),
    (["C-iran", "--attribute", "X", "--rationale", "y", "--country", "ZZ"], "'ZZ' is not an ISO alpha-2 code"),
    (["C-iran", "--comment", "  "], "a comment cannot be empty"),
    (["C-iran", "--comment", "hi", "--analyst", " "], "--analyst cannot be empty"),
])
def test_bad_input_is_one_clear_line_and_exit_2(root, args, said):
    code, out, err = _sybilscope(root, "label", *args)
    assert code == 2, (out, err)
    assert err.startswith("Error: ") and said in err and len(err.strip().splitlines()) == 1, err
    assert _store_read(root, lambda store: store.labels("cluster")) == []


def test_a_read_only_workspace_refuses_labels(root, monkeypatch):
    real_access = os.access
    monkeypatch.setattr(os, "access", lambda path, mode, **kw: False if mode & os.W_OK and str(path).startswith(
        root) else real_access(path, mode, **kw))
    code, _, err = _sybilscope(root, "label", "C-iran", "--comment", "noted")
    assert code == 2 and "cannot label" in err and "read-only" in err and "Traceback" not in err
    monkeypatch.undo()
    assert _store_read(root, lambda store: store.labels("cluster")) == []


def test_assign_hands_a_cluster_over_and_back_audited(root):
    code, out, err = _sybilscope(root, "label", "C-iran", "--assign", "bob", "--analyst", "alice")
    assert code == 0, err
    assert "assign" in out and "bob" in out
    code, _, err = _sybilscope(root, "label", "C-iran", "--assign", "carol", "--analyst", "bob")
    assert code == 0, err
    judged = _store_read(root, lambda store: triage.judgement(store, "cluster", "C-iran"))
    assert judged.assignee == "carol"
    code, _, err = _sybilscope(root, "label", "C-iran", "--assign", "", "--analyst", "carol")
    assert code == 0, err
    assert _store_read(root, lambda store: triage.judgement(store, "cluster", "C-iran")).assignee is None
    events = _store_read(root, lambda store: store.audit_events(target="cluster:C-iran"))
    assert [(e["action"], e["user"], e["before"], e["after"]) for e in events[::-1]] == [
        ("label.assign", "alice", {"assignee": None}, {"assignee": "bob"}),
        ("label.assign", "bob", {"assignee": "bob"}, {"assignee": "carol"}),
        ("label.assign", "carol", {"assignee": "carol"}, {"assignee": None}),
    ]
    code, _, err = _sybilscope(root, "label", "C-iran", "--assign", "bob", "--tag", "x")
    assert code == 2 and "one change a call" in err


def test_status_and_attribution_carry_admiralty_grades_and_ungraded_labels_keep_working(root):
    code, _, err = _sybilscope(root, "label", "C-lone", "--status", "in_review", "--reason", "looking")
    assert code == 0, err  # ungraded, as every label written before grading existed
    for args in (["--status", "confirmed", "--reason", "hosting", "--reliability", "b", "--credibility", "2"],
                 ["--attribute", "Charming Kitten", "--rationale", "IR hosting", "--reliability", "C",
                  "--credibility", "3"]):
        code, _, err = _sybilscope(root, "label", "C-iran", *args, "--analyst", "ana")
        assert code == 0, (args, err)
    iran = _store_read(root, lambda store: triage.judgement(store, "cluster", "C-iran"))
    assert iran.status_grades == {"reliability": "B", "credibility": "2"}
    assert (iran.attribution["reliability"], iran.attribution["credibility"]) == ("C", "3")
    lone = _store_read(root, lambda store: triage.judgement(store, "cluster", "C-lone"))
    assert lone.status == "in_review" and lone.status_grades == {}
    events = _store_read(root, lambda store: store.audit_events(target="cluster:C-iran"))
    status = next(e for e in events if e["action"] == "label.status")
    assert status["after"] == {"status": "confirmed", "reason": "hosting", "reliability": "B", "credibility": "2"}


@pytest.mark.parametrize(("args", "said"), [
    (["--status", "confirmed", "--reason", "x", "--reliability", "G"], "source reliability must be one of"),
    (["--attribute", "X", "--rationale", "y", "--credibility", "0"], "information credibility must be one of"),
    (["--tag", "FT3:FT027", "--reliability", "B"], "--reliability does not go with --tag"),
])
def test_bad_grades_are_refused_in_one_line(root, args, said):
    code, _, err = _sybilscope(root, "label", "C-iran", *args)
    assert code == 2 and said in err, err
    assert _store_read(root, lambda store: store.labels("cluster", "C-iran")) == []
