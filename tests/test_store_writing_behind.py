"""Writes one call behind: a block of upserts lands whole and in call order, and its errors surface (issue 18).

Over Bolt the ingest's graph sync prepares the next call's rows while the
server writes the last call's (``GraphStore.writing_behind``). What a caller
must still be able to count on: every write of the block is stored when it
ends, later writes win over earlier ones as when they wait in turn, a read
sees what was written before it, and a failed write is never lost in the
writer thread.
"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from graph.errors import StoreError
from graph.schema import ACCOUNT, LOOKED_UP, PHONE
from graph.store.neo4j import Neo4jStore

AT = datetime(2019, 12, 24, 6, 0, tzinfo=UTC)


def _looked_up(store) -> dict[str, int]:
    return {edge["dst"]: edge["count"] for batch in store.iter_edges(LOOKED_UP) for edge in batch}


def test_every_write_of_the_block_lands_and_the_later_one_wins(store):
    phones = [{"phone_hash": f"p{i:04d}", "block_ordinal": i % 1000} for i in range(1_200)]
    with store.writing_behind():
        for start in range(0, len(phones), 300):
            store.upsert_new_nodes(PHONE, phones[start : start + 300])
        store.upsert_changed_edges(
            LOOKED_UP, [{"src": "a1", "dst": p["phone_hash"], "count": 1, "first_seen": AT, "last_seen": AT}
                        for p in phones], new=True)
        store.upsert_changed_edges(LOOKED_UP, [{"src": "a1", "dst": "p0007", "count": 9, "last_seen": AT}],
                                   new=False, start="dst")
        store.upsert_nodes(ACCOUNT, [{"account_id": "a1", "handle": "first"}])
        store.upsert_nodes(ACCOUNT, [{"account_id": "a1", "handle": "second"}])
    assert store.counts()[PHONE] == 1_200
    counts = _looked_up(store)
    assert len(counts) == 1_200
    assert counts["p0007"] == 9 and counts["p0008"] == 1
    assert store.get_node(ACCOUNT, "a1")["handle"] == "second"


def test_a_read_inside_the_block_sees_the_writes_before_it(store):
    with store.writing_behind():
        store.upsert_nodes(ACCOUNT, [{"account_id": f"a{i}", "handle": f"h{i}"} for i in range(500)])
        assert store.get_node(ACCOUNT, "a499")["handle"] == "h499"
        assert store.counts()[ACCOUNT] == 500


def test_a_failing_block_still_finishes_the_write_in_flight_and_raises_its_own_error(store):
    with pytest.raises(ValueError, match="the caller's own"), store.writing_behind():
        store.upsert_nodes(ACCOUNT, [{"account_id": "kept", "handle": "k"}])
        raise ValueError("the caller's own error")
    assert store.get_node(ACCOUNT, "kept")["handle"] == "k"
    store.upsert_nodes(ACCOUNT, [{"account_id": "after", "handle": "a"}])  # writes at once again
    assert store.get_node(ACCOUNT, "after")["handle"] == "a"


@pytest.mark.bolt
def test_a_write_the_server_refuses_fails_the_block_and_is_not_lost_in_the_writer_thread(bolt_server):
    refused = Neo4jStore(bolt_server.uri, bolt_server.user, "not-" + bolt_server.password, bolt_server.database)
    reached = []
    try:
        with pytest.raises(StoreError, match="refused the credentials"), refused.writing_behind():
            refused.upsert_nodes(ACCOUNT, [{"account_id": "last", "handle": "n"}])  # the block's last write
        with pytest.raises(StoreError, match="refused the credentials"), refused.writing_behind():
            refused.upsert_nodes(ACCOUNT, [{"account_id": "first", "handle": "n"}])
            refused.upsert_nodes(ACCOUNT, [{"account_id": "next", "handle": "n"}])  # raises the first one's error
            reached.append("after the next call")
        assert reached == []
    finally:
        refused.close()
