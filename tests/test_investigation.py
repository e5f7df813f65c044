"""The investigation object under the CLI and the web UI: its access policy and its operations.

Runs on the hand-made case of ``tests/webcase.py`` (clusters ``C-iran``,
``C-israel`` and ``C-lone`` in one detection run), against a real workspace.
"""

from __future__ import annotations

import os

import pytest
import webcase

from app import access
from app.access import LockedStore
from app.export import Filters
from app.investigation import Investigation
from app.web.auth import User
from graph.detect.results import DetectionParams
from graph.errors import StoreError, SybilscopeError
from graph.store import open_store
from graph.workspace import Workspace

ANA = User("ana", "analyst")


@pytest.fixture
def investigation(workspace):
    """The web test case in ``workspace``, opened as a CLI command opens it (its own store)."""
    store = open_store(workspace)
    webcase.build_case(workspace, store)
    store.close()
    opened = Investigation(workspace)
    yield opened
    opened.close()


@pytest.fixture
def read_only(investigation, monkeypatch):
    """The same workspace as a process that may not write it sees it (the database opened read-only)."""
    root = str(investigation.workspace.root)
    investigation.close()
    real_access = os.access
    monkeypatch.setattr(os, "access", lambda path, mode, **kw: False if mode & os.W_OK and str(path).startswith(
        root) else real_access(path, mode, **kw))
    opened = Investigation(Workspace.open(root))
    yield opened
    opened.close()


def test_the_queue_is_the_run_s_clusters_highest_score_first(investigation):
    selection = investigation.queue()
    assert selection.run["run_id"] == webcase.RUN_ID
    assert set(selection.cluster_ids) == {"C-iran", "C-israel", "C-lone"}
    scores = [c["score"] for c in selection.clusters]
    assert scores == sorted(scores, reverse=True)
    assert {c["status"] for c in selection.clusters} == {"new"}


def test_a_label_shows_in_the_cluster_and_the_queue_and_is_audited(investigation):
    investigation.label("C-iran", "status", {"status": "confirmed", "reason": "shared hosting"}, ANA)
    investigation.label("C-iran", "tag", {"tag": "TLP:AMBER", "free_tag": " "}, ANA)
    investigation.label("C-iran", "attribution", {"actor": "Charming Kitten", "country": "ir",
                                                  "confidence": "moderate", "rationale": "IR hosting"}, ANA)
    case = investigation.cluster("C-iran")
    assert case.cluster["status"] == "confirmed" and case.judgement.tags == ["TLP:AMBER"]
    assert case.judgement.attribution["country"] == "IR"
    assert investigation.queue(Filters(statuses=("confirmed",))).cluster_ids == ["C-iran"]
    events = investigation.store.audit_events(target="cluster:C-iran")
    assert [e["action"] for e in events] == ["label.attribution", "label.tag", "label.status"]
    assert {e["user"] for e in events} == {"ana"}


def test_an_attribution_to_a_code_no_country_has_is_refused(investigation):
    for country in ("ZZ", "XX", "Iran"):  # ZZ and XX are ISO's user-assigned codes: no country has them
        with pytest.raises(ValueError, match="not an ISO alpha-2 code"):
            investigation.label("C-iran", "attribution", {"actor": "X", "country": country, "confidence": "low",
                                                          "rationale": "r"}, ANA)
    assert investigation.store.labels("cluster") == []
    investigation.label("C-iran", "attribution", {"actor": "X", "country": " ", "confidence": "low",
                                                  "rationale": "country not known"}, ANA)
    assert investigation.cluster("C-iran").judgement.attribution["country"] is None


def test_labels_are_appended_never_changed(investigation):
    for status, reason in (("in_review", "looking"), ("confirmed", "lockstep"), ("dismissed", "a test rig")):
        investigation.label("C-lone", "status", {"status": status, "reason": reason}, ANA)
    labels = investigation.store.labels("cluster", "C-lone")
    assert [(label["value"], label["note"]) for label in labels] == [
        ("in_review", "looking"), ("confirmed", "lockstep"), ("dismissed", "a test rig")]
    assert investigation.cluster("C-lone").judgement.status == "dismissed"


def test_labeling_is_checked_as_in_the_web_form(investigation):
    with pytest.raises(PermissionError, match="viewers"):
        investigation.label("C-iran", "comment", {"comment": "hi"}, User("vic", "viewer"))
    with pytest.raises(ValueError, match="reason"):
        investigation.label("C-iran", "status", {"status": "confirmed", "reason": " "}, ANA)
    with pytest.raises(ValueError, match="status must be one of"):
        investigation.label("C-iran", "status", {"status": "done", "reason": "x"}, ANA)
    with pytest.raises(ValueError, match="no cluster 'C-nothere'"):
        investigation.label("C-nothere", "comment", {"comment": "hi"}, ANA)
    with pytest.raises(ValueError, match="unknown labeling action"):
        investigation.label("C-iran", "delete", {}, ANA)
    assert investigation.store.labels("cluster") == []


def test_an_unknown_cluster_is_named(investigation):
    with pytest.raises(SybilscopeError, match="no detection run found a cluster 'C-nothere'"):
        investigation.cluster("C-nothere")


def test_exports_and_briefings_go_through_it_and_are_audited(investigation, tmp_path):
    result = investigation.export("jsonl", tmp_path / "out", Filters(cluster_ids=("C-iran",)), user="ana")
    assert result.counts["clusters"] == 1
    path = investigation.brief(["C-iran"], tmp_path / "b.md", user="ana")
    assert "C-iran" in path.read_text(encoding="utf-8")
    assert [(e["action"], e["user"]) for e in investigation.store.audit_events(limit=2)] == [
        ("brief", "ana"), ("export", "ana")]


def test_a_read_only_workspace_is_read_and_every_change_refused(read_only, tmp_path):
    assert read_only.queue().cluster_ids  # reads work
    assert read_only.reader().execute("SELECT current_setting('access_mode')").fetchone()[0] == "read_only"
    expected = rf"cannot label: workspace {read_only.workspace.root} is read-only here .* use a copy you may write to"
    with pytest.raises(StoreError, match=expected):
        read_only.label("C-iran", "comment", {"comment": "noted"}, ANA)
    for refused in (lambda: read_only.writer("add a user"), lambda: read_only.detect(DetectionParams()),
                    lambda: read_only.ingest({})):
        with pytest.raises(StoreError, match="is read-only here"):
            refused()
    result = read_only.export("jsonl", tmp_path / "out", user="ana")
    assert result.manifest["audit"].startswith("not recorded")


def test_the_store_is_opened_on_demand_and_closed_by_its_opener(workspace, monkeypatch):
    opened = []
    monkeypatch.setattr(access, "open_store", lambda ws: opened.append(_BoltLike()) or opened[-1])
    investigation = Investigation(workspace)
    assert opened == []
    assert investigation.store is investigation.store and len(opened) == 1
    investigation.close()
    assert opened[0].closed

    given = _BoltLike()
    borrowed = Investigation(workspace, given)
    assert borrowed.store is given
    borrowed.close()
    assert not given.closed  # its opener closes it


class _BoltLike:
    """Stands in for a store that must not be shared between threads."""

    backend = "neo4j"
    closed = False

    def close(self):
        self.closed = True

    def iter_nodes(self, label):
        yield from ([{"n": 1}], [{"n": 2}])


def test_a_store_served_to_threads_runs_one_call_at_a_time(workspace):
    threaded = Investigation(workspace, _BoltLike(), threaded=True)
    assert isinstance(threaded.store, LockedStore)
    assert list(threaded.store.iter_nodes("Account")) == [[{"n": 1}], [{"n": 2}]]  # drained under the lock
    assert not isinstance(Investigation(workspace, _BoltLike()).store, LockedStore)
