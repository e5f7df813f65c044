"""The embedded store's set-based upsert (``upsert_query``) against its row upserts.

Ingest writes the aggregated graph with :meth:`EmbeddedStore.upsert_query`
when the store lives in the workspace's DuckDB file; everything else (and
the Neo4j store) goes through ``upsert_nodes``/``upsert_edges``. Both must
leave the same graph behind, on an empty store and when merging.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from graph import warehouse
from graph.schema import ACCOUNT, IP, MEMBER_OF, PHONE, USED_IP, rel_kind
from graph.store.embedded import EmbeddedStore

T0 = datetime(2019, 12, 20, 6, 0, tzinfo=UTC)


def _edges(store: EmbeddedStore, rel_type: str) -> list[dict]:
    return sorted((e for batch in store.iter_edges(rel_type) for e in batch), key=lambda e: (e["src"], e["dst"]))


def _nodes(store: EmbeddedStore, label: str) -> list[dict]:
    return sorted((n for batch in store.iter_nodes(label) for n in batch), key=str)


def _source(store: EmbeddedStore, rows: list[tuple]) -> str:
    """The rows as a table in the store's database; returns SQL selecting them as edges."""
    cur = warehouse.connect(store.db_path)
    cur.execute("CREATE OR REPLACE TABLE src_rows (src VARCHAR, dst VARCHAR, n BIGINT, f TIMESTAMPTZ, l TIMESTAMPTZ)")
    cur.executemany("INSERT INTO src_rows VALUES (?, ?, ?, ?, ?)", rows)
    return 'SELECT src, dst, n AS "count", f AS first_seen, l AS last_seen FROM src_rows'


@pytest.fixture
def stores(tmp_path):
    pair = []
    for name in ("by-query", "by-rows"):
        store = EmbeddedStore(tmp_path / f"{name}.duckdb")
        store.ensure_schema()
        pair.append(store)
    yield pair
    for store in pair:
        store.close()
    warehouse.close_all()


def test_upsert_query_matches_row_upserts_when_empty_and_when_merging(stores):
    by_query, by_rows = stores
    # an existing account with properties: its endpoint must not be overwritten key-only
    for store in stores:
        store.upsert_nodes(ACCOUNT, [{"account_id": "a1", "handle": "first"}])
    first = [("a1", "1.1.1.1", 3, T0, T0 + timedelta(hours=1)), ("a2", "2.2.2.2", 1, T0, T0)]
    assert by_query.upsert_query(USED_IP, _source(by_query, first)) == 2
    by_rows.upsert_edges(USED_IP, [dict(zip(("src", "dst", "count", "first_seen", "last_seen"), r, strict=True))
                                   for r in first])
    assert _edges(by_query, USED_IP) == _edges(by_rows, USED_IP)
    assert {n["account_id"] for n in _nodes(by_query, ACCOUNT)} == {"a1", "a2"}

    # merge: one edge moves forward, a NULL keeps the stored value, one edge and one IP are new
    second = [("a1", "1.1.1.1", 5, None, T0 + timedelta(hours=2)), ("a3", "3.3.3.3", 2, T0, T0)]
    assert by_query.upsert_query(USED_IP, _source(by_query, second)) == 2
    by_rows.upsert_edges(USED_IP, [dict(zip(("src", "dst", "count", "first_seen", "last_seen"), r, strict=True))
                                   for r in second])
    got = _edges(by_query, USED_IP)
    assert got == _edges(by_rows, USED_IP)
    assert [(e["src"], e["count"], e["first_seen"]) for e in got] == [("a1", 5, T0), ("a2", 1, T0), ("a3", 2, T0)]
    for label in (ACCOUNT, IP):
        assert _nodes(by_query, label) == _nodes(by_rows, label)
    assert by_query.get_node(ACCOUNT, "a1")["handle"] == "first"


def test_upsert_query_writes_node_properties_and_refuses_unknown_columns(stores):
    store = stores[0]
    sql = "SELECT 'h1' AS phone_hash, 'b1' AS block_hash, 7 AS block_ordinal"
    assert store.upsert_query(PHONE, sql) == 1
    assert store.upsert_query(PHONE, "SELECT 'h1' AS phone_hash, NULL AS block_hash, 8 AS block_ordinal") == 1
    node = store.get_node(PHONE, "h1")
    assert (node["block_hash"], node["block_ordinal"]) == ("b1", 8)
    with pytest.raises(ValueError, match="no property 'number'"):
        store.upsert_query(PHONE, "SELECT 'h2' AS phone_hash, '+98912' AS number")
    with pytest.raises(ValueError, match="need 'phone_hash'"):
        store.upsert_query(PHONE, "SELECT 'b2' AS block_hash")


def test_upsert_query_trusts_present_endpoints(stores):
    store = stores[0]
    sql = _source(store, [("a9", "9.9.9.9", 1, T0, T0)])
    assert store.upsert_query(USED_IP, sql, present_endpoints=(IP,)) == 1
    assert store.get_node(ACCOUNT, "a9") is not None  # still checked
    assert store.get_node(IP, "9.9.9.9") is None  # the caller said it exists: not looked for


def test_a_workspace_from_before_sub_groups_opens_reads_and_takes_them(tmp_path):
    path = tmp_path / "old.duckdb"
    store = EmbeddedStore(path)
    store.ensure_schema()
    run = {"run_id": "r-old", "started_at": T0}
    store.save_run(run, [{"cluster_id": "C-a", "score": 0.9}],
                   [{"account_id": "u1", "cluster_id": "C-a", "member_score": 0.9}])
    table = rel_kind(MEMBER_OF).table
    warehouse.connect(path).execute(f"ALTER TABLE {table} DROP COLUMN sub_group")  # as older versions made it
    store.close()
    warehouse.close_all()

    store = EmbeddedStore(path)
    try:
        store.ensure_schema()
        assert [(m["account_id"], m["sub_group"]) for m in store.members("C-a")] == [("u1", None)]
        store.save_run({"run_id": "r-new", "started_at": T0 + timedelta(days=1)}, [{"cluster_id": "C-a", "score": 0.9}],
                       [{"account_id": "u1", "cluster_id": "C-a", "member_score": 0.9, "sub_group": "S1"}])
        assert [m["sub_group"] for m in store.members("C-a")] == ["S1"]
        assert [m["sub_group"] for m in store.members("C-a", "r-old")] == [None]
    finally:
        store.close()
        warehouse.close_all()
