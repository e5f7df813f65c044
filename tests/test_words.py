"""Tradecraft in words and honest numbers: names from evidence, tie order, clock, weekends, notation, exposure."""

from __future__ import annotations

from datetime import UTC, datetime

import pandas as pd

from app.present.clock import operator_clock, working_week
from app.present.evidence import attribution_summary, exposed_accounts, format_cell
from app.present.quantities import SCORE_UNITS, chance, plain_number
from app.present.tradecraft import cluster_tradecraft
from graph.detect.attribution import clock_confidence
from graph.detect.exposure import cluster_exposure
from graph.detect.features import _infrastructure_counts, membership
from graph.detect.frames import events_frame
from graph.detect.tradecraft import TRADECRAFTS, tradecraft
from graph.triage import queue

DEC = datetime(2019, 12, 24, tzinfo=UTC)


def test_each_sample_tradecraft_is_named_from_its_evidence():
    # the features detection recorded for the sample case's six campaigns (rounded)
    base = {"enumerated_share": 1.0, "enumeration_evidence": 6.0, "hit_ratio": 0.006, "sharding": 1.0}
    cases = {
        "hosting farm": {**base, "size": 12, "ips": 5, "private_ips": 5, "hosting_share": 1.0, "devices": 12},
        "residential-proxy network": {**base, "size": 15, "ips": 305, "private_ips": 305, "devices": 3,
                                      "private_devices": 3, "device_share": 1.0, "residential_share": 1.0,
                                      "lockstep_days": 12},
        "volume through a few IPs": {**base, "size": 6, "ips": 2, "private_ips": 2, "lookups": 12000.0,
                                     "residential_share": 1.0},
        "lone enumerator": {**base, "size": 2, "ips": 2, "lookups": 16000.0, "numbers": 16000},
        "divided enumeration": {**base, "size": 8, "ips": 8, "private_ips": 8, "lookups": 5000.0,
                                "enumerated_blocks": 5, "sharded_pairs": 28},
        "target-list unmasking": {"size": 10, "shared_target_share": 0.99, "hit_ratio": 0.45, "numbers": 78,
                                  "ips": 3, "lookups": 346.0},
        "emulator farm": {**base, "size": 30, "sharding": 0.0, "ips": 40, "private_ips": 10, "devices": 4,
                          "private_devices": 4, "device_share": 1.0},
        "scheduled operation": {"size": 9, "lockstep_days": 5},
        "sign-up cohort": {"size": 10, "burst_members": 8, "burst_expected": 0.01},
    }
    for name, features in cases.items():
        found = tradecraft(features)
        assert found["tradecraft"] == name, (name, found)
        assert found["headline"] and found["tradecraft"] in TRADECRAFTS
    assert tradecraft(cases["residential-proxy network"])["headline"] == (
        "15 accounts on 3 devices across 305 residential IPs that nobody else uses")
    # an old run without the new features keeps its kind; no headline is made up
    assert cluster_tradecraft({"kind": "coordinated", "evidence": {"statistics": {"size": 3}}}) == {
        "tradecraft": "coordinated", "headline": ""}


def test_group_features_count_infrastructure_without_changing_what_scores_read():
    edges = pd.DataFrame({
        "account_id": ["a", "b", "a", "b", "c"], "entity_type": ["ip", "ip", "ip", "device", "ip"],
        "entity": ["1.1.1.1", "1.1.1.1", "2.2.2.2", "d1", "2.2.2.2"], "requests": [10, 10, 5, 20, 5],
        "lookups": [0] * 5, "kind": ["residential", "residential", "hosting", "device", "hosting"],
        "country": [None] * 5, "asn": [None] * 5, "entity_accounts": [2, 2, 2, 1, 2],
    })
    f = _infrastructure_counts(edges, membership([["a", "b"]])).loc[0]
    assert (f["ips"], f["private_ips"], f["devices"], f["private_devices"]) == (2, 1, 1, 1)
    assert f["residential_share"] == 0.8


def test_queue_breaks_score_ties_by_size_then_recent_activity():
    day = lambda d: datetime(2019, 12, d, tzinfo=UTC)  # noqa: E731
    rows = [{"cluster_id": "C-a", "score": 1.0, "size": 2, "last_seen": day(30)},
            {"cluster_id": "C-b", "score": 1.0, "size": 15, "last_seen": day(20)},
            {"cluster_id": "C-c", "score": 1.0, "size": 15, "last_seen": day(31)},
            {"cluster_id": "C-d", "score": 0.9, "size": 90, "last_seen": day(31)}]
    assert [r["cluster_id"] for r in queue(rows, {})] == ["C-c", "C-b", "C-a", "C-d"]


def test_the_clock_carries_a_confidence_word_and_never_contradicts_the_analyst():
    assert clock_confidence(0.5027, 0.0742) == "weak"  # the sample's round-the-clock Malaysian shifts
    hint = {"offset_hours": 4.5, "shape": "working day", "fit": 0.97, "margin": 0.28}
    alone = operator_clock(hint, None, DEC)
    assert alone["text"].startswith("UTC+4:30") and alone["confidence"] == "strong"
    attributed = operator_clock(hint, "IR", DEC)
    assert attributed["offset_hours"] == 3.5 and "4:30" not in attributed["text"] + attributed["note"]
    agreeing = operator_clock({**hint, "offset_hours": 3.5}, "IR", DEC)
    assert agreeing["source"] == "detection"
    hints = dict(attribution_summary({"utc_offset": {"offset_hours": -2.5, "fit": 0.5, "margin": 0.07}}, "MY", DEC))
    assert hints["Operator clock"].startswith("UTC+8 (Malaysia") and "-2:30" not in hints["Operator clock"]


def test_weekends_are_named_against_the_origins_working_week():
    rhythm = {"by_day": {"Mon": .2, "Tue": .2, "Wed": .2, "Thu": .2, "Fri": 0.0, "Sat": 0.0, "Sun": .2},
              "quiet_days": ["Fri", "Sat"]}
    assert working_week(rhythm, "IL") == "no Fridays and Saturdays (Israel's weekend)"
    assert "not the weekend in United States" in working_week(rhythm, "US")
    hints = dict(attribution_summary({"countries": [{"country": "IL", "share": 1.0}], "weekly_rhythm": rhythm}))
    assert hints["Working week"].startswith("no Fridays and Saturdays (Israel's weekend)")
    assert "Monday to Friday" not in " ".join(hints.values())


def test_no_scientific_notation_and_small_chances_in_words():
    assert "e" not in format_cell("client_population_share_x", 0.0000123) and "e-" not in plain_number(3.2e-7)
    assert format_cell("burst_expected", 0.0000412) == "0.0000412"
    assert chance(3e-9) == "less than 1 in a million"
    assert "log-odds" in SCORE_UNITS and "-5" in SCORE_UNITS and "0.5" in SCORE_UNITS


def test_one_exposure_count_leaves_out_members_found_by_their_own_cluster():
    rows = [{"ts": 0, "ip": "1.1.1.1", "account_id": "op", "phone_hash": f"p{i}", "phone_region": "IR",
             "matched_account_id": matched} for i, matched in enumerate(["v1", "v2", "op2", "v1"])]
    exposure = cluster_exposure(events_frame(rows), {"c": ["op", "op2"]})["c"]
    assert (exposure["exposed_accounts"], exposure["numbers_matched"]) == (2, 3)
    assert exposed_accounts(exposure) == 2
    assert exposed_accounts({"by_country": {"IR": 2, "US": 1}}) == 3  # a run saved without the total
