"""What the one-submit judgement form writes (app/web/judgement.py): only the parts that changed."""

from __future__ import annotations

import pytest

from app.web.judgement import Change, form_changes, form_values
from graph.triage import EntityJudgement

JUDGED = EntityJudgement(status="in_review", status_reason="looking",
                         attribution={"actor": "IS-1", "country": "IR", "confidence": "moderate", "note": "clock"},
                         tags=["TLP:AMBER", "abuse:account-farm"])


def _form(**changed) -> dict:
    return {**form_values(JUDGED), **changed}


def test_the_form_as_shown_changes_nothing_and_says_so():
    assert form_values(JUDGED)["tlp"] == "TLP:AMBER" and form_values(JUDGED)["country"] == "IR"
    with pytest.raises(ValueError, match="nothing to save"):
        form_changes(JUDGED, _form())
    with pytest.raises(ValueError, match="nothing to save"):  # a tag already on the cluster is no change
        form_changes(JUDGED, _form(tags=["abuse:account-farm"], country="ir"))


def test_each_changed_part_is_one_change_in_the_order_of_the_form():
    changes = form_changes(JUDGED, _form(status="confirmed", reason="lockstep", rationale="clock and hosting",
                                         tlp="TLP:RED", tags=["infra:hosting"], free_tag=" mine ", comment="ok"))
    assert changes == [
        Change("status", "status", {"status": "confirmed", "reason": "lockstep"}),
        Change("attribution", "attribution", {"actor": "IS-1", "country": "IR", "confidence": "moderate",
                                              "rationale": "clock and hosting"}),
        Change("tlp", "tag", {"tag": "TLP:RED"}),
        Change("tlp", "untag", {"remove": "TLP:AMBER"}),
        Change("tags", "tag", {"tag": "infra:hosting"}),
        Change("tags", "tag", {"tag": "mine"}),
        Change("comment", "comment", {"comment": "ok"}),
    ]
    assert form_changes(JUDGED, _form(tlp="")) == [Change("tlp", "untag", {"remove": "TLP:AMBER"})]


def test_a_reason_without_a_new_status_and_a_cleared_attribution_are_refused():
    with pytest.raises(ValueError, match="status is In review already"):
        form_changes(JUDGED, _form(reason="still looking"))
    with pytest.raises(ValueError, match="replaced, never taken back"):
        form_changes(JUDGED, _form(actor="", country="", rationale=""))
    # a first attribution goes through to be checked where every label is (an actor and a rationale needed)
    fresh = EntityJudgement()
    assert form_changes(fresh, {**form_values(fresh), "confidence": "high"}) == [
        Change("attribution", "attribution", {"actor": "", "country": None, "confidence": "high", "rationale": ""})]


def test_grades_go_with_the_status_and_the_attribution_they_grade():
    changes = form_changes(JUDGED, _form(status="confirmed", reason="lockstep", status_reliability="B",
                                         status_credibility="2"))
    assert changes == [Change("status", "status", {"status": "confirmed", "reason": "lockstep",
                                                   "reliability": "B", "credibility": "2"})]
    # grading the attribution as it stands re-states it, graded (a new label; the old one stays)
    assert form_changes(JUDGED, _form(credibility="3")) == [
        Change("attribution", "attribution", {"actor": "IS-1", "country": "IR", "confidence": "moderate",
                                              "rationale": "clock", "credibility": "3"})]
    graded = EntityJudgement(attribution={**JUDGED.attribution, "reliability": "C", "credibility": "3"})
    assert (form_values(graded)["reliability"], form_values(graded)["credibility"]) == ("C", "3")
    with pytest.raises(ValueError, match="reason or grading"):
        form_changes(JUDGED, _form(status_reliability="A"))
