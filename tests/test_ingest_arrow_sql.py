"""Ingest's SQL over Arrow tables: tables read by the name they are handed in under, and not kept."""

import gc

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pytest

from ingest.arrow_sql import arrow_sql


def test_tables_are_read_by_their_keyword_and_other_braces_stay():
    cur = duckdb.connect()
    cur.execute("CREATE TABLE t (a INTEGER, b VARCHAR)")
    rows = pa.table({"a": [1, 2, 3], "b": ["x" * 64, "y", "z"]})
    inserted = arrow_sql(cur, "INSERT INTO t SELECT a, b FROM {rows} WHERE a >= $least", {"least": 2}, rows=rows)
    assert inserted.column(0).to_pylist() == [2]
    found = arrow_sql(cur, "SELECT t.a FROM t JOIN {wanted} w USING (a) WHERE regexp_full_match(t.b, '[a-z]{1}')",
                      wanted=pa.table({"a": [2, 3]}))
    assert sorted(found.column("a").to_pylist()) == [2, 3]
    with pytest.raises(duckdb.CatalogException):  # no variable is read by its name
        arrow_sql(cur, "SELECT * FROM rows")


def test_a_table_the_sql_does_not_name_is_refused():
    with pytest.raises(ValueError, match="reads no {rows}"):
        arrow_sql(duckdb.connect(), "SELECT 1", rows=pa.table({"a": [1]}))


def test_inside_a_transaction_each_table_is_freed_after_its_statement():
    """A registered table stayed until the transaction ended: every chunk of a file in memory."""
    cur = duckdb.connect()
    cur.execute("CREATE TABLE t (a BIGINT, s VARCHAR)")
    cur.execute("BEGIN")
    held = []
    for part in range(4):
        numbers = pc.add(pa.array(np.arange(part * 500_000, (part + 1) * 500_000)), 1)
        chunk = pa.table({"a": numbers, "s": pc.cast(numbers, pa.string())})
        arrow_sql(cur, "INSERT INTO t SELECT * FROM {chunk}", chunk=chunk)
        del numbers, chunk
        gc.collect()
        held.append(pa.total_allocated_bytes())
    cur.execute("COMMIT")
    assert cur.execute("SELECT count(*) FROM t").fetchall() == [(2_000_000,)]
    assert held[-1] - held[0] < 1_000_000  # memory does not grow with the chunks
    assert cur.execute("SELECT count(*) FROM duckdb_views() WHERE NOT internal").fetchall() == [(0,)]
