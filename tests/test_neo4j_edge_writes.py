"""Relationship writes over Bolt create what is new and merge only what exists (issue 18).

A ``MERGE`` between bound nodes looks through an endpoint's relationships,
so its cost grows with the degree of an enumerating account. The store
creates a batch's relationships; when the relationship key's uniqueness
constraint refuses one, it writes them again, finding those that exist from
the endpoint whose key repeats less in the batch.
"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from graph.schema import LOOKED_UP, USED_IP

pytestmark = pytest.mark.bolt

NEO4J = pytest.mark.parametrize("store", ["neo4j"], indirect=True)
AT = datetime(2019, 12, 24, 6, 0, tzinfo=UTC)


def _stored(store, rel_type: str) -> list[dict]:
    return store._read(
        f"MATCH (a)-[r:{rel_type}]->(b) RETURN r.rel_key AS key, r.count AS count ORDER BY key", "reading back"
    )


@NEO4J
def test_a_hub_account_s_relationships_are_created_once_each_with_their_key(store):
    rows = [{"src": "hub", "dst": f"ph{i:05d}", "count": 1, "first_seen": AT, "last_seen": AT} for i in range(3_000)]
    assert store.upsert_edges(LOOKED_UP, rows) == 3_000
    stored = _stored(store, LOOKED_UP)
    assert len(stored) == 3_000
    assert stored[0]["key"] == '["hub", "ph00000"]'
    assert {e["dst"] for batch in store.iter_edges(LOOKED_UP) for e in batch} == {r["dst"] for r in rows}
    assert all("rel_key" not in e for batch in store.iter_edges(LOOKED_UP) for e in batch)


@NEO4J
def test_a_batch_of_new_and_existing_relationships_updates_in_place_and_adds_the_rest(store):
    store.upsert_edges(USED_IP, [{"src": "u1", "dst": "1.1.1.1", "count": 3}, {"src": "u2", "dst": "1.1.1.1", "count": 1}])
    written = store.upsert_edges(USED_IP, [
        {"src": "u1", "dst": "1.1.1.1", "count": 5},  # exists: the constraint refuses a second, so it is updated
        {"src": "u3", "dst": "1.1.1.1", "count": 2},  # new
    ])
    assert written == 2
    assert [(r["key"], r["count"]) for r in _stored(store, USED_IP)] == [
        ('["u1", "1.1.1.1"]', 5), ('["u2", "1.1.1.1"]', 1), ('["u3", "1.1.1.1"]', 2)]
    store.upsert_edges(USED_IP, [{"src": "u3", "dst": "1.1.1.1", "count": 2}])  # a re-run changes nothing
    assert len(_stored(store, USED_IP)) == 3


@NEO4J
def test_keys_that_look_alike_as_text_stay_apart(store):
    store.upsert_edges(USED_IP, [{"src": "a|b", "dst": "c", "count": 1}, {"src": "a", "dst": "b|c", "count": 2}])
    assert [r["count"] for r in _stored(store, USED_IP)] == [2, 1]


@NEO4J
def test_relationships_written_before_keys_existed_are_keyed_and_never_doubled(store):
    # a database written by an earlier version: no relationship key constraint, relationships merged without a key
    store._driver.execute_query("DROP CONSTRAINT used_ip_rel_key_unique", database_=store.database)
    store._write(lambda tx: tx.run(
        "UNWIND $rows AS row MERGE (a:Account {account_id: row.src}) MERGE (b:IPAddress {ip: row.dst}) "
        "MERGE (a)-[r:USED_IP]->(b) SET r.count = 1",
        rows=[{"src": "old", "dst": f"10.0.0.{i}"} for i in range(7)]).consume(), "writing an old graph")
    store.ensure_schema()  # what opening the store does
    assert [r["key"] for r in _stored(store, USED_IP)] == sorted(f'["old", "10.0.0.{i}"]' for i in range(7))
    constraints = store._read("SHOW CONSTRAINTS YIELD name RETURN name", "reading constraints")
    assert "used_ip_rel_key_unique" in {row["name"] for row in constraints}  # created once the keys are in
    store.upsert_edges(USED_IP, [{"src": "old", "dst": "10.0.0.3", "count": 5, "first_seen": AT, "last_seen": AT}])
    stored = _stored(store, USED_IP)
    assert len(stored) == 7 and next(r["count"] for r in stored if r["key"] == '["old", "10.0.0.3"]') == 5


@NEO4J
def test_opening_the_store_creates_only_the_constraints_and_indexes_that_are_missing(store):
    def names(kind: str) -> set[str]:
        return {row["name"] for row in store._read(f"SHOW {kind} YIELD name RETURN name", "reading the schema")}

    before = names("CONSTRAINTS"), names("INDEXES")
    assert {"phone_phone_hash_unique", "account_handle_index"} <= before[0] | before[1]
    store._driver.execute_query("DROP CONSTRAINT phone_phone_hash_unique", database_=store.database)
    store._driver.execute_query("DROP INDEX account_handle_index", database_=store.database)
    assert "account_handle_index" not in names("INDEXES")
    store.ensure_schema()  # what opening the store does: the two dropped come back
    assert (names("CONSTRAINTS"), names("INDEXES")) == before
    store.ensure_schema()  # nothing missing: nothing to create, nothing fails
    assert (names("CONSTRAINTS"), names("INDEXES")) == before
