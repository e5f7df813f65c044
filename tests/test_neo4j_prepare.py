"""Rows for the Bolt writes, prepared from an Arrow table a column at a time (issue 18).

Ingest hands the Neo4j store its aggregates as Arrow tables. Converting them
a row and a value at a time cost about 40 us a row, more than the server took
to write many of them, so a table whose columns already have the schema's
types is converted column-wise. It must give exactly what the row path
gives; anything it cannot vouch for goes the row path, which merges repeated
keys and says which value is wrong.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pyarrow as pa
import pytest

from graph.schema import CLUSTER, IP, LOOKED_UP, node_kind, rel_kind
from graph.store.neo4j_writes import _prepare_table, prepare, prepare_nodes

LOOKED = rel_kind(LOOKED_UP)
TYPES = {p.name: p.type for p in LOOKED.properties}
TEHRAN = timezone(timedelta(hours=3, minutes=30))


def _instants(prepared: list[dict]) -> list[dict]:
    """Timestamps as instants: the two paths may spell one moment differently (the server parses both)."""
    return [{**row, "ts": {name: datetime.fromisoformat(text) for name, text in row["ts"].items()}} for row in prepared]


def _lookups() -> pa.Table:
    return pa.table({
        "src": ["acct-1", "acct-2", "acct-3"],
        "dst": ["ph-a", "ph-a", "ph-b"],
        "count": pa.array([4, None, 1], pa.int32()),
        # naive times are UTC; an aware column in another zone is converted
        "first_seen": pa.array([datetime(2019, 12, 20, 6, 1, 2), datetime(2019, 12, 20, 6, 1, 2, 345_000), None],
                               pa.timestamp("ms")),
        "last_seen": pa.array([datetime(2019, 12, 24, 9, 30, tzinfo=TEHRAN), None, datetime(2019, 12, 25, tzinfo=UTC)],
                              pa.timestamp("us", tz="Asia/Tehran")),
        "matched_count": pa.array([0, 2, 1], pa.uint8()),
    })


def test_a_table_with_the_schema_s_types_is_prepared_column_wise_as_the_rows_would_be():
    table = _lookups()
    fast = _prepare_table(table, ("src", "dst"), TYPES)
    assert fast is not None
    assert _instants(fast) == _instants(prepare(LOOKED, table.to_pylist()))
    # NULLs are left out, never sent: on the server they would delete the stored value
    assert fast[1] == {"src": "acct-2", "dst": "ph-a", "props": {"matched_count": 2},
                       "ts": {"first_seen": "2019-12-20T06:01:02.345000+00:00"}}
    assert datetime.fromisoformat(fast[0]["ts"]["last_seen"]) == datetime(2019, 12, 24, 6, 0, tzinfo=UTC)
    assert prepare(LOOKED, table) == fast
    large = table.set_column(0, "src", table.column("src").cast(pa.large_string()))  # as Spark may send them
    assert _prepare_table(large, ("src", "dst"), TYPES) == fast


def test_integer_columns_become_the_schema_s_int_or_float_and_all_null_columns_write_nothing():
    ips = pa.table({"ip": ["1.1.1.1", "2.2.2.2"], "asn": pa.array([7, None], pa.int16()),
                    "country": pa.array([None, None], pa.string()), "kind": ["hosting", "residential"]})
    fast = prepare_nodes(node_kind(IP), ips)
    assert fast == [{"key": "1.1.1.1", "props": {"asn": 7, "kind": "hosting"}, "ts": {}},
                    {"key": "2.2.2.2", "props": {"kind": "residential"}, "ts": {}}]
    assert fast == prepare_nodes(node_kind(IP), ips.to_pylist())
    clusters = pa.table({"cluster_key": ["r1/c1"], "score": pa.array([1], pa.int8()), "size": pa.array([12], pa.uint16())})
    props = prepare_nodes(node_kind(CLUSTER), clusters)[0]["props"]
    assert props == {"score": 1.0, "size": 12} and type(props["score"]) is float and type(props["size"]) is int
    assert _prepare_table(clusters, ("cluster_key",), {p.name: p.type for p in node_kind(CLUSTER).properties})


@pytest.mark.parametrize("change", ["repeated key", "null key", "empty key", "wrong type", "nanoseconds"])
def test_a_table_the_column_path_cannot_vouch_for_goes_the_row_path(change):
    table = _lookups()
    if change == "repeated key":
        table = pa.concat_tables([table, table.slice(0, 1).set_column(2, "count", pa.array([9], pa.int32()))])
    elif change == "null key":
        table = table.set_column(0, "src", pa.array(["acct-1", None, "acct-3"]))
    elif change == "empty key":
        table = table.set_column(0, "src", pa.array(["acct-1", "", "acct-3"]))
    elif change == "wrong type":
        table = table.set_column(2, "count", pa.array(["4", None, "1"]))
    else:
        table = table.set_column(3, "first_seen", pa.array([1, 2, 3], pa.timestamp("ns")))
    assert _prepare_table(table, ("src", "dst"), TYPES) is None
    if change == "repeated key":  # merged, the later row's values winning, as rows are
        merged = prepare(LOOKED, table)
        assert len(merged) == 3 and merged[0]["props"]["count"] == 9
    elif change == "nanoseconds":
        assert len(prepare(LOOKED, table)) == 3
    else:  # the row path names the bad value
        with pytest.raises(ValueError, match="LOOKED_UP"):
            prepare(LOOKED, table)
