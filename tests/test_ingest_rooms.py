"""The rooms of ingest agree with each other: staging with the contract, the lookup caches with their tables."""

from __future__ import annotations

import duckdb
import pyarrow as pa

from graph.warehouse_schema import TABLES, UA_LOOKUP_TABLE, ensure_tables
from ingest.lookups import UA_FACTS, CachedFacts
from ingest.staging import STAGING
from ingest.validate import SPECS


def test_every_contract_table_has_a_staging_select_into_a_warehouse_table():
    assert list(STAGING) == list(SPECS)
    warehouse_tables = {table.name: {column.name for column in table.columns} for table in TABLES}
    for staging in STAGING.values():
        assert {staging.key, staging.position, "batch_id"} <= warehouse_tables[staging.target]


def test_cached_facts_compute_each_value_once_and_answer_in_the_order_asked():
    cur = duckdb.connect()
    ensure_tables(cur)
    computed: list[list[str]] = []

    def compute(raws):
        computed.append(sorted(raws))
        return UA_FACTS.compute(raws)

    facts = CachedFacts(UA_LOOKUP_TABLE, UA_FACTS.fields, compute)
    ios = "Twitter-iPhone/8.5 iOS/13.3"
    android = "TwitterAndroid/8.20.0-release.00 (28200000-r-0) SM-G960F/9 (samsung;SM-G960F;samsung;starlte;0;;1;2013)"
    first = facts(cur, pa.array([ios, None], pa.string()))
    again = facts(cur, pa.array([android, ios], pa.string()))
    assert computed == [[ios], [android]]
    assert first.column_names == list(UA_FACTS.fields)
    assert first.column("user_agent_family").to_pylist() == ["Twitter-iPhone", None]
    assert again.column("os_family").to_pylist() == ["Android", "iOS"]
    assert cur.execute(f"SELECT count(*) FROM {UA_LOOKUP_TABLE}").fetchall() == [(2,)]
