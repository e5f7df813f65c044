"""One SQL source: every statement detection and the graph sync send, on DuckDB and on Spark, compared.

The sample case is ingested once (DuckDB) and its events written as the
day-partitioned Parquet a Spark workspace reads. :class:`Replay` is an
:class:`~graph.detect.frames.Events` that sends each call to both engines,
compares the answers (exact for integers and strings, 1e-9 for floats) and
hands detection DuckDB's, so one difference cannot hide the next.

``hash()`` keys differ by design (DuckDB's hash, Spark's ``xxhash64``):
they are compared through the map between the two of every value hashed.
"""

from __future__ import annotations

import math
import shutil
from pathlib import Path

import duckdb
import pandas as pd
import pytest

from graph import warehouse
from graph.detect.frames import Events
from graph.detect.networks import find_networks
from graph.detect.projection import accounts_frame, cluster_history
from graph.detect.run import cluster_rows, detect, member_rows
from graph.schema import DEVICE, PHONE
from graph.store import open_store
from graph.workspace import Workspace
from ingest import aggregate
from ingest.pipeline import ingest
from ingest.readers import discover

SAMPLE = Path(__file__).resolve().parent.parent / "sample_data" / "case"


def write_lake(db_path: Path, events_dir: Path) -> None:
    """The workspace's events as day-partitioned Parquet, the layout the Spark engine reads."""
    con = duckdb.connect(str(db_path), read_only=True)
    try:
        con.execute(f"COPY (SELECT *, strftime(ts, '%Y-%m-%d') AS day FROM {warehouse.EVENTS_TABLE}) "
                    f"TO '{events_dir}' (FORMAT parquet, PARTITION_BY (day))")
    finally:
        con.close()


@pytest.fixture(scope="module")
def sample_engines(tmp_path_factory, spark):
    """The sample case ingested once: its workspace, DuckDB Events and Spark Events on the same rows."""
    from graph.spark.events import SparkEvents

    root = tmp_path_factory.mktemp("replay")
    ws = Workspace.open(root / "ws")
    store = open_store(ws)
    sources, _ = discover(SAMPLE)
    ingest(ws, store, sources)
    store.close()
    warehouse.close_all()
    shutil.copytree(ws.root, root / "ws-spark")
    shutil.copy(ws.db_path, root / "events.duckdb")
    write_lake(ws.db_path, root / "lake")
    duck = Events(duckdb.connect(str(root / "events.duckdb"), read_only=True))
    lake = SparkEvents.from_parquet(spark, root / "lake")
    yield ws, root, duck, lake, hash_keys(duck, lake)
    duck.connection.close()


class Replay(Events):
    """Each call on both engines; answers compared; DuckDB's returned."""

    def __init__(self, duck: Events, spark: Events, keys: dict[int, int], log: list):
        super().__init__(duck.connection, duck.table)
        self.duck, self.spark, self.keys, self.log = duck, spark, keys, log
        self.names: dict[str, str] = {}

    def _spark_sql(self, sql: str) -> str:
        for duck_name, spark_name in self.names.items():
            sql = sql.replace(duck_name, spark_name)
        return sql

    def _spark_frames(self, frames: dict) -> dict:
        return {k: _map_keys(pd.DataFrame(f) if not isinstance(f, pd.DataFrame) else f, self.keys)
                for k, f in frames.items()}

    def register(self, key, frame):
        self.duck.register(key, frame)
        self.spark.register(key, _map_keys(frame, self.keys))

    def unregister(self, key):
        self.duck.unregister(key)
        self.spark.unregister(key)

    def for_accounts(self, accounts):
        ids = list(accounts)
        return self._both(self.duck.for_accounts(ids), self.spark.for_accounts(ids))

    def window(self, since=None, until=None):
        return self._both(self.duck.window(since, until), self.spark.window(since, until))

    def _both(self, duck, spark):
        view = Replay(duck, spark, self.keys, self.log)
        view.names = dict(self.names)
        return view

    def query(self, sql, params=None, **frames):
        expected = self.duck.query(sql, params, **frames)
        got = self.spark.query(self._spark_sql(sql), params, **self._spark_frames(frames))
        self.log.append(sql)
        assert_same(expected, got, self.keys, sql)
        return expected

    def rows(self, sql, params=None, **frames):
        return self.query(sql, params, **frames).to_dict("records")

    def scalar(self, sql, params=None):
        # an unnamed column is named differently by each engine: only its value is compared
        expected = self.duck.scalar(sql, params)
        assert expected == self.spark.scalar(self._spark_sql(sql), params), sql
        self.log.append(sql)
        return expected

    def derived(self, key, sql):
        duck_name = self.duck.derived(key, sql)
        if duck_name not in self.names:
            self.names[duck_name] = self.spark.derived(key, self._spark_sql(sql))
            self.query(f"SELECT * FROM {duck_name}")
        return duck_name

    def release(self):
        self.duck.release()
        self.spark.release()


def hash_keys(duck: Events, spark: Events) -> dict[int, int]:
    """DuckDB's ``hash`` of every number and block hashed, to Spark's ``xxhash64`` of the same value."""
    sql = ("SELECT DISTINCT v, hash(v) AS h FROM (SELECT phone_hash AS v FROM {events} "
           "UNION ALL SELECT block_hash FROM {events}) WHERE v IS NOT NULL")
    ours, theirs = duck.query(sql), spark.query(sql)
    merged = ours.merge(theirs, on="v", suffixes=("_duck", "_spark"))
    assert len(merged) == len(ours) == len(theirs)
    return dict(zip(merged["h_duck"].astype("uint64").tolist(), merged["h_spark"].tolist(), strict=True))


def _map_keys(frame, keys: dict[int, int]):
    """``frame`` with every column of DuckDB hash keys turned into Spark's keys for the same values."""
    frame = frame if isinstance(frame, pd.DataFrame) else frame.to_pandas()
    out = frame.copy()
    for name in frame.columns:
        column = frame[name].dropna()
        if len(column) and pd.api.types.is_integer_dtype(column) and column.astype("uint64").isin(keys).all():
            out[name] = column.astype("uint64").map(keys).astype("int64").reindex(frame.index)
    return out


def _cell(value):
    if value is None or (isinstance(value, float) and math.isnan(value)) or value is pd.NA or value is pd.NaT:
        return None
    if hasattr(value, "tolist") and not isinstance(value, str):
        value = value.tolist()
    if isinstance(value, list):
        return tuple(_cell(v) for v in value)
    if isinstance(value, dict):
        return tuple(sorted((k, _cell(v)) for k, v in value.items()))
    return value


def assert_same(expected: pd.DataFrame, got: pd.DataFrame, keys: dict[int, int], sql: str) -> None:
    """Same columns and the same rows (in any order): integers and strings exactly, floats to 1e-9."""
    assert list(expected.columns) == list(got.columns), sql
    assert len(expected) == len(got), sql
    mapped = _map_keys(expected, keys)
    rows = sorted(([_cell(v) for v in row] for row in mapped.itertuples(index=False)), key=repr)
    other = sorted(([_cell(v) for v in row] for row in got.itertuples(index=False)), key=repr)
    for ours, theirs in zip(rows, other, strict=True):
        for a, b in zip(ours, theirs, strict=True):
            if isinstance(a, float) or isinstance(b, float):
                assert a is not None and b is not None and math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-9), (a, b, sql)
            else:
                assert a == b, (a, b, sql)


def test_every_detection_statement_gives_duckdbs_answer_on_spark(sample_engines):
    ws, _, duck, spark, keys = sample_engines
    log: list[str] = []
    replay = Replay(duck, spark, keys, log)
    store = open_store(Workspace.open(ws.root))
    try:
        detection = find_networks(replay, accounts=accounts_frame(store, ws), labels=store.labels(),
                                  history=cluster_history(store))
    finally:
        replay.release()
        store.close()
    assert detection.clusters
    assert len(log) >= 30
    assert any("first(" in sql for sql in log) and any("min_by(" in sql for sql in log)


@pytest.mark.parametrize("name", [*aggregate.EDGES, DEVICE, PHONE])
def test_every_graph_sync_aggregate_gives_duckdbs_answer_on_spark(sample_engines, name):
    _, _, duck, spark, keys = sample_engines
    sql = aggregate.node_sql(name, False) if name in (DEVICE, PHONE) else aggregate.edge_sql(name, False)
    sql = sql.replace(f"FROM {warehouse.EVENTS_TABLE} ", "FROM {events} ")
    assert "{events}" in sql
    Replay(duck, spark, keys, []).query(sql)


def _close(a, b) -> bool:
    """Equal, floats to 1e-9, inside dicts and lists too."""
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_close(a[k], b[k]) for k in a)
    if isinstance(a, list | tuple) and isinstance(b, list | tuple):
        return len(a) == len(b) and all(_close(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, float) and isinstance(b, float):
        return math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-9)
    return a == b


def test_detection_on_spark_gives_the_same_clusters_ids_and_scores(sample_engines):
    ws, root, *_ = sample_engines
    results = []
    for workspace in (Workspace.open(ws.root),
                      Workspace.open(root / "ws-spark", engine="spark", events_dir=str(root / "lake"))):
        store = open_store(workspace)
        try:
            results.append(detect(workspace, store).clusters)
        finally:
            store.close()
            warehouse.close_all()
    on_duckdb, on_spark = results
    assert on_duckdb
    assert [c["cluster_id"] for c in cluster_rows(on_spark)] == [c["cluster_id"] for c in cluster_rows(on_duckdb)]
    for ours, theirs in zip(cluster_rows(on_duckdb), cluster_rows(on_spark), strict=True):
        assert _close(ours, theirs), ours["cluster_id"]
    assert _close(member_rows(on_duckdb), member_rows(on_spark))
