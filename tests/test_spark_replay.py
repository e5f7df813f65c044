"""One SQL source: every statement detection and the graph sync send, on DuckDB and on Spark, compared.

The sample case is ingested on DuckDB and, with the Spark ingest, into
the day-partitioned Parquet a Spark workspace reads: the replay also checks
that both ingests give the same events. :class:`Replay` is an
:class:`~graph.detect.frames.Events` that sends each call to both engines,
compares the answers (exact for integers and strings, 1e-9 for floats) and
hands detection Spark's: one detection run on Spark checks every statement
and gives the clusters compared with DuckDB's (Spark starts once and runs
detection once; the first difference stops the run at its statement).

``hash()`` keys differ by design (DuckDB's hash, Spark's ``xxhash64``):
they are compared through the map between the two of every value hashed.
"""

from __future__ import annotations

import math
import re
import shutil

import duckdb
import pandas as pd
import pytest
from sparkcase import copy_case

from graph import warehouse
from graph.detect import enumeration
from graph.detect.frames import Events
from graph.detect.networks import find_networks
from graph.detect.projection import accounts_frame, cluster_history
from graph.detect.run import cluster_rows, detect, member_rows
from graph.schema import DEVICE, PHONE
from graph.spark.events import lake_events
from graph.store import open_store
from graph.workspace import Workspace
from ingest import aggregate


@pytest.fixture(scope="module")
def sample_engines(tmp_path_factory, spark, spark_sample):
    """The sample case ingested on both engines: its workspace, DuckDB Events and Spark Events on the same rows."""
    from graph.spark.events import SparkEvents

    root = tmp_path_factory.mktemp("replay")
    ws = copy_case(spark_sample, root)
    shutil.copy(ws.db_path, root / "events.duckdb")
    duck = Events(duckdb.connect(str(root / "events.duckdb"), read_only=True))
    lake = SparkEvents.from_parquet(spark, root / "lake")
    yield ws, root, duck, lake, hash_keys(duck, lake)
    duck.connection.close()


class Replay(Events):
    """Each call on both engines, answers compared, Spark's handed on: detection runs on Spark alone.

    Detection goes on with Spark's answers (its keys, its derived tables), so
    the run that checks every statement is also the Spark run whose clusters
    are compared with DuckDB's; frames going to DuckDB get DuckDB's keys
    back. ``connection`` is None, as on :class:`~graph.spark.events.SparkEvents`.
    """

    def __init__(self, duck: Events, spark: Events, keys: dict[int, int], log: list):
        super().__init__(None, spark.table)
        self.duck, self.spark, self.keys, self.log = duck, spark, keys, log
        self.back = {theirs: ours for ours, theirs in keys.items()}
        self.names: dict[str, str] = {}

    def _duck_sql(self, sql: str) -> str:
        """``sql`` naming DuckDB's derived tables where detection named Spark's."""
        if not self.names:
            return sql
        return re.sub(r"\b(" + "|".join(map(re.escape, self.names)) + r")\b", lambda m: self.names[m[1]], sql)

    def _duck_frames(self, frames: dict) -> dict:
        return {k: _map_keys(f, self.back, to_spark=False) for k, f in frames.items()}

    def register(self, key, frame):
        self.spark.register(key, frame)
        self.duck.register(key, _map_keys(frame, self.back, to_spark=False))

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
        got = self.spark.query(sql, params, **frames)
        expected = self.duck.query(self._duck_sql(sql), params, **self._duck_frames(frames))
        self.log.append(sql)
        assert_same(expected, got, self.keys, sql)
        return got

    def rows(self, sql, params=None, **frames):
        got = self.spark.rows(sql, params, **frames)
        expected = self.duck.rows(self._duck_sql(sql), params, **self._duck_frames(frames))
        self.log.append(sql)
        assert [list(row) for row in got] == [list(row) for row in expected], sql
        assert_same(pd.DataFrame(expected), pd.DataFrame(got), self.keys, sql)
        return got

    def scalar(self, sql, params=None):
        # an unnamed column is named differently by each engine: only its value is compared
        got = self.spark.scalar(sql, params)
        assert got == self.duck.scalar(self._duck_sql(sql), params), sql
        self.log.append(sql)
        return got

    def derived(self, key, sql):
        spark_name = self.spark.derived(key, sql)
        if spark_name not in self.names:
            self.names[spark_name] = self.duck.derived(key, self._duck_sql(sql))
            self.query(f"SELECT * FROM {spark_name}")
        return spark_name

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


def _map_keys(frame, keys: dict[int, int], *, to_spark: bool = True):
    """``frame`` with every column of one engine's hash keys turned into the other's keys for the same values.

    ``to_spark``: DuckDB's keys (unsigned 64-bit) to Spark's (signed); else back.
    """
    frame = frame if isinstance(frame, pd.DataFrame) else frame.to_pandas()
    out = frame.copy()
    for name in frame.columns:
        column = frame[name].dropna()
        if not len(column) or not pd.api.types.is_integer_dtype(column):
            continue
        given = column.astype("uint64" if to_spark else "int64")
        if given.isin(keys).all():
            out[name] = given.map(keys).astype("int64" if to_spark else "uint64").reindex(frame.index)
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


@pytest.fixture(scope="module")
def spark_detection(sample_engines):
    """Detection once on Spark, every statement checked against DuckDB on the way: (clusters, statements)."""
    ws, root, duck, _, keys = sample_engines
    lake = lake_events(Workspace.open(root / "ws-spark", engine="spark", events_dir=str(root / "lake")))
    log: list[str] = []
    replay = Replay(duck, lake, keys, log)
    store = open_store(Workspace.open(ws.root))
    try:
        detection = find_networks(replay, accounts=accounts_frame(store, ws), labels=store.labels(),
                                  history=cluster_history(store))
    finally:
        replay.release()
        store.close()
    return detection.clusters, log


def test_every_detection_statement_gives_duckdbs_answer_on_spark(spark_detection):
    clusters, log = spark_detection
    assert clusters
    assert len(log) >= 30
    assert any("first(" in sql for sql in log) and any("min_by(" in sql for sql in log)


@pytest.mark.parametrize("name", [*aggregate.EDGES, DEVICE, PHONE])
def test_every_graph_sync_aggregate_gives_duckdbs_answer_on_spark(sample_engines, name):
    """As the lake's sync sends them: edges planned (new or existing, found from which end), in that order."""
    _, _, duck, spark, keys = sample_engines
    sql = aggregate.node_sql(name, False) if name in (DEVICE, PHONE) else aggregate.edge_sql(name, False, planned=True)
    sql = re.sub(rf"\bFROM {warehouse.EVENTS_TABLE}\b", "FROM {events}", sql)
    assert "{events}" in sql
    Replay(duck, spark, keys, []).query(sql)


def test_sampled_block_coverage_keeps_the_same_blocks_on_both_engines(sample_engines):
    """Past a few million enumerator lookups detection samples blocks: both engines must pick the same ones."""
    _, _, duck, spark, keys = sample_engines
    busiest = duck.query("SELECT account_id, count(*) AS lookups FROM {events} WHERE block_hash IS NOT NULL "
                         "GROUP BY 1 ORDER BY 2 DESC, 1 LIMIT 40")
    # as find_networks sizes the sample, with the sample case's lookups standing in for its 2,000,000
    sample = math.ceil(int(busiest["lookups"].sum()) / (int(busiest["lookups"].sum()) // 5))
    replay = Replay(duck, spark, keys, [])
    whole = enumeration.block_coverage(replay, busiest["account_id"], min_numbers=3)
    sampled = enumeration.block_coverage(replay, busiest["account_id"], min_numbers=3, sample=sample)
    assert sample > 1 and 0 < len(sampled) < len(whole) / 2
    kept = whole[whole["block_hash"].str[-6:] < f"{16**6 // sample:06x}"]
    assert sampled[["account_id", "block_hash", "numbers"]].equals(kept[["account_id", "block_hash", "numbers"]]
                                                                   .reset_index(drop=True))


def _close(a, b) -> bool:
    """Equal, floats to 1e-9, inside dicts and lists too."""
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_close(a[k], b[k]) for k in a)
    if isinstance(a, list | tuple) and isinstance(b, list | tuple):
        return len(a) == len(b) and all(_close(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, float) and isinstance(b, float):
        return math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-9)
    return a == b


def test_detection_on_spark_gives_the_same_clusters_ids_and_scores(sample_engines, spark_detection):
    ws, *_ = sample_engines
    store = open_store(Workspace.open(ws.root))
    try:
        on_duckdb = detect(Workspace.open(ws.root), store).clusters
    finally:
        store.close()
        warehouse.close_all()
    on_spark, _ = spark_detection
    assert on_duckdb
    assert_same_clusters(on_duckdb, on_spark)


def assert_same_clusters(on_duckdb, on_spark) -> None:
    """The same clusters, ids, scores and members (floats to 1e-9)."""
    assert [c["cluster_id"] for c in cluster_rows(on_spark)] == [c["cluster_id"] for c in cluster_rows(on_duckdb)]
    for ours, theirs in zip(cluster_rows(on_duckdb), cluster_rows(on_spark), strict=True):
        assert _close(ours, theirs), ours["cluster_id"]
    assert _close(member_rows(on_duckdb), member_rows(on_spark))
