"""Phone numbers in free text: found, masked, and never stored raw by the graph store (#13.6)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from graph import triage
from graph.phone_text import PHONE_MASK, mask_phone_numbers, mask_phone_numbers_in

NUMBER = "+60191097873"


@pytest.mark.parametrize("text, masked", [
    (f"victim number {NUMBER}", f"victim number {PHONE_MASK}"),
    ("call 60191097873.", f"call {PHONE_MASK}."),
    ("tel:60191097873 or +1 (201) 555-0123", f"tel:{PHONE_MASK} or {PHONE_MASK}"),
    ("app/8.5 (id 989121234567; build 18200000)", f"app/8.5 (id {PHONE_MASK}; build 18200000)"),
])
def test_numbers_in_text_are_masked(text, masked):
    assert mask_phone_numbers(text) == masked


@pytest.mark.parametrize("text", [
    "1.2.3.4 and Chrome/79.0.3945.88", "epoch 1577167265000", "AS15169 on 20191224",
    "550e8400-e29b-41d4-a716-446655440000", "no digits at all",
])
def test_other_numbers_are_left_alone(text):
    assert mask_phone_numbers(text) == text


def test_replacement_gets_the_e164_number_and_nested_values_are_walked():
    seen = []
    out = mask_phone_numbers_in({"a": ["x 60191097873"], "b": 3}, lambda e164: seen.append(e164) or "#")
    assert out == {"a": ["x #"], "b": 3} and seen == [NUMBER]


def test_the_store_never_keeps_a_typed_number(store):
    # the label note, a comment, an attribution's rationale and their audit events all carried it raw
    store.save_run({"run_id": "run-1", "started_at": datetime(2024, 1, 1, tzinfo=UTC), "params": {}},
                   [{"cluster_id": "C-a", "score": 0.9, "size": 1}],
                   [{"account_id": "a-1", "cluster_id": "C-a", "member_score": 1.0}])  # labels need a real cluster
    store.append_labels([{"entity": "account", "entity_id": "u1", "kind": "label", "value": "victim",
                          "note": f"victim number {NUMBER}", "source": "analyst"}])
    triage.add_comment(store, "cluster", "C-a", f"looked up {NUMBER} twice", "bob")
    triage.set_status(store, "C-a", "confirmed", "owner of 60191097873 confirmed", "bob")
    triage.set_attribution(store, "cluster", "C-a", actor="Set 1", country="ir", confidence="high",
                           rationale=f"same as {NUMBER}", user="bob")
    stored = repr(store.labels()) + repr(store.audit_events())
    assert "0191097873" not in stored
    assert stored.count(PHONE_MASK) == 7  # note, comment, reason, rationale; three audit events


def test_ingest_masks_text_and_keys_identifiers():
    import pyarrow as pa

    from ingest.free_text import masked_column
    from ingest.quarantine import mask_record

    ids = pa.array([f"up-{NUMBER}", "up-+60191097874", None, "r1", f"up-{NUMBER}"])
    keyed = masked_column(ids, b"k" * 32).to_pylist()
    assert keyed[0] == keyed[4] and keyed[0] != keyed[1] and keyed[0].startswith("up-phone-")
    assert keyed[2:4] == [None, "r1"]
    assert masked_column(ids).to_pylist()[0] == f"up-{PHONE_MASK}"
    record = mask_record("requests", {"user_agent": f"x {NUMBER}", "request_id": NUMBER, "endpoint": "e"})
    assert record == {"user_agent": f"x {PHONE_MASK}", "request_id": PHONE_MASK, "endpoint": "e"}
