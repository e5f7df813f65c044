"""An incremental batch over Bolt writes what changed: new edges created, existing ones found from their low-degree end.

A hub (an enumerating account) holds thousands of relationships; finding one
of them from the hub costs the hub's degree, so an update finds it from the
other end. These tests run on the real Bolt server (issue 18).
"""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
from ingestcase import ANDROID_UA, IPHONE_UA, graph_snapshot, seed_secret, write_table

from graph import warehouse
from graph.schema import ACCOUNT, DEVICE, IP, LOOKED_UP, PHONE
from graph.store import open_store
from graph.warehouse_schema import BATCHES_TABLE
from graph.workspace import Workspace
from ingest import aggregate, pipeline
from ingest.readers import discover

pytestmark = pytest.mark.bolt

NEO4J = pytest.mark.parametrize("store", ["neo4j"], indirect=True)
AT = datetime(2019, 12, 24, 6, 0, tzinfo=UTC)
LATER = datetime(2019, 12, 25, 6, 0, tzinfo=UTC)
HUB_EDGES = 3_000


def _stored(store) -> list[tuple[str, int, str | None]]:
    found = store._read(
        f"MATCH (a)-[r:{LOOKED_UP}]->(b) RETURN r.rel_key AS key, r.count AS count, toString(r.last_seen) AS last "
        "ORDER BY key", "reading back")
    return [(row["key"], row["count"], row["last"]) for row in found]


def _edge(dst: str, count: int, at: datetime) -> dict:
    return {"src": "hub", "dst": dst, "count": count, "first_seen": AT, "last_seen": at}


@NEO4J
def test_a_hub_s_changed_edges_are_updated_in_place_and_its_new_ones_added_once(store):
    store.upsert_changed_edges(LOOKED_UP, [_edge(f"ph{i:05d}", 1, AT) for i in range(HUB_EDGES)], new=True)
    changed = [_edge(f"ph{i:05d}", 2, LATER) for i in range(0, HUB_EDGES, 3)]
    added = [_edge(f"ph{i:05d}", 1, LATER) for i in range(HUB_EDGES, HUB_EDGES + 400)]

    def batch() -> None:
        assert store.upsert_changed_edges(LOOKED_UP, changed, new=False, start="dst") == len(changed)
        assert store.upsert_changed_edges(LOOKED_UP, added, new=True, start="dst") == len(added)

    batch()
    stored = _stored(store)
    keys = [key for key, _, _ in stored]
    assert len(keys) == len(set(keys)) == HUB_EDGES + 400
    by_phone = {json.loads(key)[1]: (count, last) for key, count, last in stored}
    assert by_phone["ph00003"][0] == 2 and by_phone["ph00003"][1].startswith("2019-12-25")
    assert by_phone["ph00001"][0] == 1 and by_phone["ph00001"][1].startswith("2019-12-24")
    assert by_phone["ph03399"][0] == 1
    assert sum(count for count, _ in by_phone.values()) == HUB_EDGES + 400 + len(changed)
    batch()  # a re-run (or a run resumed after a kill): the "new" edges exist now, nothing changes
    assert _stored(store) == stored


@NEO4J
def test_rows_said_to_exist_that_do_not_are_created_and_a_bad_start_is_refused(store):
    store.upsert_changed_edges(LOOKED_UP, [_edge("ph1", 1, AT)], new=True)
    store.upsert_changed_edges(LOOKED_UP, [_edge("ph1", 4, AT), _edge("ph2", 1, AT)], new=False, start="src")
    assert [(key, count) for key, count, _ in _stored(store)] == [('["hub", "ph1"]', 4), ('["hub", "ph2"]', 1)]
    with pytest.raises(ValueError, match="start must be one of src, dst"):
        store.upsert_changed_edges(LOOKED_UP, [_edge("ph3", 1, AT)], new=False, start="hub")


@NEO4J
def test_a_chunk_whose_rows_all_exist_is_updated_and_one_whose_rows_are_missing_is_created(store):
    store.chunk_size = 2  # the rows below make two chunks: the first all found, the second none
    store.upsert_changed_edges(LOOKED_UP, [_edge("ph1", 1, AT), _edge("ph2", 1, AT)], new=True)
    rows = [_edge("ph1", 3, LATER), _edge("ph2", 3, LATER), _edge("ph3", 1, LATER), _edge("ph4", 1, LATER)]
    assert store.upsert_changed_edges(LOOKED_UP, rows, new=False, start="dst") == 4
    stored = _stored(store)
    assert [(json.loads(key)[1], count, last[:10]) for key, count, last in stored] == [
        ("ph1", 3, "2019-12-25"), ("ph2", 3, "2019-12-25"), ("ph3", 1, "2019-12-25"), ("ph4", 1, "2019-12-25")]
    store.upsert_changed_edges(LOOKED_UP, rows, new=False, start="dst")  # a re-run changes nothing
    assert _stored(store) == stored


@NEO4J
def test_new_nodes_are_created_and_those_a_resumed_run_wrote_already_are_updated_not_doubled(store):
    phone = {"block_hash": "b1", "block_ordinal": 1, "calling_code": 98, "region": "IR", "number_type": "mobile"}
    assert store.upsert_new_nodes(PHONE, [{"phone_hash": f"ph{i}", **phone} for i in range(3)]) == 3
    again = [{"phone_hash": f"ph{i}", **phone, "region": "XX"} for i in range(5)]
    assert store.upsert_new_nodes(PHONE, again) == 5  # ph0..ph2 exist: written all the same, once each
    stored = sorted((row["phone_hash"], row["region"]) for batch in store.iter_nodes(PHONE) for row in batch)
    assert stored == [(f"ph{i}", "XX") for i in range(5)]


def _lookups(phones: range, day: str) -> list[dict]:
    return [
        {"ts": f"2019-12-{day}T06:{i % 60:02d}:00Z", "ip": "5.160.10.1", "endpoint": "contacts/lookup",
         "account_id": "hub", "device_id": "dev_1", "user_agent": IPHONE_UA, "status": "200",
         "phone": f"+98912{1_000_000 + i}", "matched_account_id": "", "request_id": f"{day}-{i}"}
        for i in phones
    ]


def test_an_incremental_ingest_updates_the_hub_s_edges_and_adds_the_new_ones(tmp_path, neo4j_workspace):
    write_table(tmp_path / "day1", "requests", _lookups(range(2_000), "24"), "csv")
    write_table(tmp_path / "day2", "requests", _lookups(range(1_700, 2_300), "25"), "csv")
    seed_secret(neo4j_workspace.root)
    store = open_store(neo4j_workspace)
    try:
        written = [pipeline.ingest(neo4j_workspace, store, discover(tmp_path / day)[0]).graph
                   for day in ("day1", "day2")]
        # the 300 numbers looked up again have their nodes from day 1: only the 300 new ones are written
        assert [graph[PHONE] for graph in written] == [2_000, 300]
        assert sum(len(batch) for batch in store.iter_nodes(PHONE)) == 2_300
        edges = [e for batch in store.iter_edges(LOOKED_UP) for e in batch]
        assert len(edges) == len(_stored(store)) == 2_300  # no relationship twice
        counts = sorted(e["count"] for e in edges)
        assert counts.count(2) == 300 and counts.count(1) == 2_000
        con = warehouse.connect(neo4j_workspace.db_path)
        cur = con.cursor()
        day2 = [cur.execute(f"SELECT batch_id FROM {BATCHES_TABLE} ORDER BY loaded_at").fetchall()[-1][0]]
        plan = cur.execute(aggregate.edge_sql(LOOKED_UP, True, planned=True), {"batches": day2}).fetchall()
        # 300 existing edges, found from the number (degree 1), not the hub (degree 2,300); 300 new
        assert sorted((row[-2], row[-1]) for row in plan) == [(False, True)] * 300 + [(True, True)] * 300
        before = _stored(store)
        phones = sorted(row.items() for batch in store.iter_nodes(PHONE) for row in batch)
        # the day synced again, as a run resumed after a kill does: its "new" numbers exist now
        assert aggregate.sync_graph(cur, store, day2)[PHONE] == 300
        assert _stored(store) == before
        assert sorted(row.items() for batch in store.iter_nodes(PHONE) for row in batch) == phones
    finally:
        store.close()
        warehouse.close_all()


def _requests(day: str, ip: str, device: str, agent: str, country: str = "", rows: int = 2) -> list[dict]:
    return [
        {"ts": f"2019-12-{day}T07:{i:02d}:00Z", "ip": ip, "ip_country": country, "endpoint": "contacts/lookup",
         "account_id": "acc", "device_id": device, "user_agent": agent, "status": "200",
         "phone": f"+98912{2_000_000 + int(day) * 100 + i}", "matched_account_id": "", "request_id": f"{day}-{ip}-{i}"}
        for i in range(rows)
    ]


def test_a_batch_writes_only_the_addresses_and_devices_it_changes(tmp_path, neo4j_workspace, monkeypatch):
    days = {
        "24": _requests("24", "5.160.10.1", "dev_1", IPHONE_UA, rows=4),
        # the same address and handset again, unchanged; a new address and a new handset
        "25": _requests("25", "5.160.10.1", "dev_1", IPHONE_UA) + _requests("25", "37.98.1.1", "dev_2", ANDROID_UA),
        # the handset's latest user agent changes; the address's requests now say Israel
        "26": _requests("26", "5.160.10.1", "dev_1", ANDROID_UA, country="IL", rows=8),
        # nothing about either changes
        "27": _requests("27", "37.98.1.1", "dev_2", ANDROID_UA),
    }
    for day, rows in days.items():
        write_table(tmp_path / day, "requests", rows, "csv")
        write_table(tmp_path / "once", f"requests-{day}", rows, "csv")
    seed_secret(neo4j_workspace.root)
    bolt = open_store(neo4j_workspace)
    try:
        written = [pipeline.ingest(neo4j_workspace, bolt, discover(tmp_path / day)[0]).graph for day in days]
        stored = graph_snapshot(bolt)
    finally:
        bolt.close()
        warehouse.close_all()
    assert [graph[IP] for graph in written] == [1, 1, 1, 0]
    assert [graph[DEVICE] for graph in written] == [1, 1, 1, 0]
    for name in ("SYBILSCOPE_NEO4J_URI", "SYBILSCOPE_NEO4J_USER", "SYBILSCOPE_NEO4J_PASSWORD",
                 "SYBILSCOPE_NEO4J_DATABASE"):
        monkeypatch.delenv(name, raising=False)
    once = Workspace.open(tmp_path / "once-workspace")
    assert once.settings.store == "embedded"
    seed_secret(once.root)
    embedded = open_store(once)
    try:
        pipeline.ingest(once, embedded, discover(tmp_path / "once")[0])
        expected = graph_snapshot(embedded)
    finally:
        embedded.close()
        warehouse.close_all()
    # what the skipped nodes hold is what all the events give, as one ingest of every day writes it
    assert stored[IP] == expected[IP] and stored[DEVICE] == expected[DEVICE]
    assert '"country": "IL"' in next(node for node in stored[IP] if "5.160.10.1" in node)
    assert '"os_family": "Android"' in next(node for node in stored[DEVICE] if "dev_1" in node)


def test_a_first_load_creates_its_accounts_and_one_listed_twice_or_synced_again_stays_one_node(
        tmp_path, neo4j_workspace):
    write_table(tmp_path / "day1", "requests", _requests("24", "5.160.10.1", "dev_1", IPHONE_UA), "csv")
    write_table(tmp_path / "day1", "accounts", [
        {"account_id": "acc", "handle": "before", "followers": "3"},
        {"account_id": "other", "handle": "o", "followers": "1"},
        {"account_id": "acc", "handle": "after", "followers": ""},  # later, and knows no followers
    ], "csv")
    seed_secret(neo4j_workspace.root)
    store = open_store(neo4j_workspace)

    def accounts() -> dict[str, tuple]:
        return {row["account_id"]: (row.get("handle"), row.get("followers"))
                for batch in store.iter_nodes(ACCOUNT) for row in batch}

    try:
        pipeline.ingest(neo4j_workspace, store, discover(tmp_path / "day1")[0])
        assert accounts() == {"acc": ("after", 3), "other": ("o", 1)}
        cur = warehouse.connect(neo4j_workspace.db_path).cursor()
        batches = [row[0] for row in cur.execute(f"SELECT batch_id FROM {BATCHES_TABLE}").fetchall()]
        # the first load synced again one account a call, as a run resumed after a kill does: every
        # account exists now, and "acc" comes in two calls
        assert aggregate.sync_graph(cur, store, batches, batch_rows=1)[ACCOUNT] == 3
        assert accounts() == {"acc": ("after", 3), "other": ("o", 1)}
    finally:
        store.close()
        warehouse.close_all()
