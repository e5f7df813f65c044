"""Technique tags (app/present/techniques.py) and Admiralty grades (graph/admiralty.py): pinned data, pure rules."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from app.present.techniques import (
    TECHNIQUES_OF_TRADECRAFT,
    frameworks,
    suggest_techniques,
    technique_of_tag,
    techniques,
)
from app.web.taxonomy import TAXONOMY, tag_family
from graph import admiralty
from graph.detect.tradecraft import TRADECRAFTS

DATA = Path(__file__).resolve().parents[1] / "app" / "present" / "techniques.json"


def test_the_data_file_pins_each_framework_with_its_version_source_and_licence():
    data = json.loads(DATA.read_text(encoding="utf-8"))["frameworks"]
    assert set(data) == {"DISARM", "FT3"}
    assert data["DISARM"]["version"] == "1.6" and "CC-BY-SA-4.0" in data["DISARM"]["licence"]
    assert data["FT3"]["version"] == "V.1" and data["FT3"]["licence"].startswith("MIT")
    for framework in data.values():
        assert framework["url"].startswith("https://github.com/") and "commit" in framework["source"]
        ids = [t["id"] for t in framework["techniques"]]
        assert len(ids) == len(set(ids)) > 100
    # the ids the issue names, as DISARM v1.6 and FT3 publish them
    names = {tag: t.name for tag, t in techniques().items()}
    assert names["DISARM:T0146.007"] == "Automated Account Asset"
    assert names["DISARM:T0150.008"] == "Bulk Created Asset"
    assert [names[f"DISARM:T0149.00{n}"] for n in (6, 7, 8)] == ["IP Address Asset", "VPN Asset",
                                                                  "Proxy IP Address Asset"]
    assert names["FT3:FT027"] == "Account Enumeration" and names["FT3:FT010"] == "Establish Accounts"
    assert "FT3:FT053" not in names  # published twice under two names: left out, not guessed
    assert techniques()["DISARM:T0150.008"].url.endswith("/generated_pages/techniques/T0150.008.md")
    assert frameworks()["FT3"]["stix_source_name"] == "FT3"


def test_every_suggested_tag_is_a_published_technique_of_a_known_tradecraft():
    assert set(TECHNIQUES_OF_TRADECRAFT) <= set(TRADECRAFTS)
    for tags in TECHNIQUES_OF_TRADECRAFT.values():
        assert all(tag in techniques() for tag in tags)


def _cluster(**features) -> dict:
    return {"kind": "coordinated accounts", "evidence": {"statistics": features}}


@pytest.mark.parametrize(("features", "expected", "absent"), [
    ({"size": 10, "burst_members": 9}, {"DISARM:T0150.008", "DISARM:T0150.001", "FT3:FT010"}, {"FT3:FT027"}),
    ({"size": 5, "hosting_share": 0.9, "ips": 3}, {"DISARM:T0149.006", "DISARM:T0149.005"}, {"DISARM:T0149.008"}),
    ({"size": 5, "ips": 200, "private_ips": 200, "residential_share": 0.9}, {"DISARM:T0149.008"},
     {"DISARM:T0149.005"}),
    ({"size": 4, "lockstep_days": 5}, {"DISARM:T0146.007"}, {"DISARM:T0150.008"}),
    ({"size": 1, "enumerated_share": 0.95, "numbers": 5000}, {"FT3:FT027"}, {"DISARM:T0149.006"}),
])
def test_each_family_of_evidence_suggests_its_techniques(features, expected, absent):
    found = {s.technique.tag: s for s in suggest_techniques(_cluster(**features))}
    assert expected <= set(found) and not absent & set(found)
    assert all(s.because for s in found.values())


def test_no_evidence_no_suggestion_and_one_suggestion_a_technique():
    assert suggest_techniques({"kind": "x"}) == [] and suggest_techniques(_cluster()) == []
    both = suggest_techniques(_cluster(size=3, ips=2, hosting_share=1.0, lookups=90_000))
    tags = [s.technique.tag for s in both]
    assert len(tags) == len(set(tags)) and "DISARM:T0149.006" in tags


def test_tags_name_techniques_in_any_case_and_join_the_taxonomy():
    assert technique_of_tag("disarm:t0150.008").tag == "DISARM:T0150.008"
    assert technique_of_tag("abuse:account-farm") is None and technique_of_tag("TLP:AMBER") is None
    values = {t.value for t in TAXONOMY}
    assert {"DISARM:T0150.008", "FT3:FT027", "TLP:AMBER", "infra:hosting"} <= values
    assert tag_family("FT3:FT027") == "FT3" and tag_family("DISARM:T0090") == "DISARM"


def test_admiralty_grades_are_checked_and_mapped():
    assert admiralty.grades("b", 2) == {"reliability": "B", "credibility": "2"}
    assert admiralty.grades("", None) == {} and admiralty.grades(None, "6") == {"credibility": "6"}
    with pytest.raises(ValueError, match="source reliability must be one of A, B"):
        admiralty.grades("G", None)
    with pytest.raises(ValueError, match="information credibility must be one of 1, 2"):
        admiralty.grades(None, "7")
    assert [admiralty.stix_confidence({"credibility": str(n)}) for n in range(1, 7)] == [90, 70, 50, 30, 10, None]
    assert admiralty.stix_confidence(None) is None and admiralty.grading({"reliability": "B"}) == "B"
    assert admiralty.misp_tags({"reliability": "B", "credibility": "2"}) == [
        'admiralty-scale:source-reliability="b"', 'admiralty-scale:information-credibility="2"']
    assert admiralty.misp_tags({}) == []
