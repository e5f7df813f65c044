"""Ingest on Spark: the sample case into a Parquet lake, checked on executors by the embedded path's own loader.

The lake is built once a session (``spark_sample``: ``tests/sparkcase.py``
ingests the sample on DuckDB and with the Spark ingest); tests that change
it work on a copy.
"""

from __future__ import annotations

import gzip
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from ingestcase import graph_snapshot, write_table
from sparkcase import SAMPLE, copy_case, ingest_embedded, ingest_on_spark

from graph import warehouse
from graph.detect.projection import workspace_events
from graph.detect.results import DetectionParams
from graph.detect.run import detect
from graph.errors import SybilscopeError
from graph.schema import LOOKED_UP
from graph.store import open_store
from graph.warehouse_schema import (
    EVENTS_TABLE,
    LAKE_FIXES_TABLE,
    LAKE_REWRITES_TABLE,
    QUARANTINE_TABLE,
)
from graph.workspace import SECRET_FILE, Workspace
from ingest import aggregate, batches, lake_fixes
from ingest.lake import QUARANTINE_FOLDER, EventLake, _side_outputs, _streamed
from ingest.lake_checks import _ipc
from ingest.readers import discover

SYBILSCOPE = Path(sys.executable).parent / "sybilscope"


def _cli(root: Path, *args: str) -> None:
    environment = {k: v for k, v in os.environ.items() if not k.startswith("SYBILSCOPE_")}
    result = subprocess.run([str(SYBILSCOPE), "--workspace", str(root), *args], capture_output=True, text=True,
                            timeout=600, env=environment)
    assert result.returncode == 0, result.stdout + result.stderr[-3000:]


def _lake_files(lake: Path) -> list[str]:
    return sorted(str(p.relative_to(lake)) for p in lake.rglob("*") if p.is_file())


def _rows(db_path: Path, sql: str, batches: list[str] | None = None) -> list[tuple]:
    con = duckdb.connect(str(db_path), read_only=True)
    try:
        return con.execute(sql, None if batches is None else {"batches": batches}).fetchall()
    finally:
        con.close()


def test_spark_ingest_writes_the_embedded_paths_events_by_day(spark_sample):
    root = spark_sample
    columns = ("event_id, epoch_us(ts), ip, ip_country, ip_asn, ip_kind, account_id, device_id, user_agent_family, "
               "status, phone_hash, block_hash, block_ordinal, phone_region, matched_account_id, source_row")
    embedded = _rows(root / "ws" / "sybilscope.duckdb", f"SELECT {columns} FROM {EVENTS_TABLE} ORDER BY event_id")
    lake = _rows(root / "ws" / "sybilscope.duckdb",  # DuckDB only reads the files here; Spark wrote them
                 f"SELECT {columns} FROM read_parquet('{root / 'lake'}/day=*/*.parquet') ORDER BY event_id")
    assert len(embedded) > 100_000
    assert lake == embedded  # same checks, enrichment and keyed hashes: the secret reached the executors
    days = sorted(p.name for p in (root / "lake").glob("day=*"))
    assert days and all(len(d) == len("day=2019-12-18") for d in days)
    # the Spark workspace's own database holds no events: they live in the lake
    assert _rows(root / "ws-spark" / "sybilscope.duckdb", f"SELECT count(*) FROM {EVENTS_TABLE}") == [(0,)]
    settings = json.loads((root / "ws-spark" / "settings.json").read_text())
    assert settings["engine"] == "spark" and settings["events_dir"] == str(root / "lake")
    # the run's work folder and the graph sync's streamed answers are gone
    assert not [p.name for p in (root / "lake").iterdir() if p.name.startswith(("_run-", "_answer-"))]


def test_an_answer_streams_from_its_executors_files_in_its_order_with_the_types_collecting_gives(tmp_path, spark):
    frame = spark.range(0, 30_000, numPartitions=3).selectExpr(
        "id", "CAST(id % 97 AS STRING) AS text", "timestamp_millis(id * 1000) AS ts",
    ).repartitionByRange(3, "text", "id").sortWithinPartitions("text", "id")  # sorted, in three files
    expected = frame.toArrow()
    folder = tmp_path / "_answer-test"
    answer = _streamed(frame, folder)
    assert len(list(folder.glob("part-*.parquet"))) > 1  # the order holds across the files
    got = answer.read_all()
    assert got.to_pylist() == expected.to_pylist()
    assert got.schema.field("ts").type == pa.timestamp("us", tz="UTC") == expected.schema.field("ts").type
    assert not folder.exists()


def test_side_outputs_keep_each_files_counters_and_an_addresss_enrichment_once(spark):
    def enrichment(*addresses: str) -> bytes:
        return _ipc(pa.table({"raw": list(addresses), "country": ["NL"] * len(addresses)}))

    rows = [(0, "file", json.dumps({"read": 5}).encode()), (0, "ip_lookup", enrichment("1.1.1.1", "2.2.2.2")),
            (1, "file", json.dumps({"read": 7}).encode()), (1, "ip_lookup", enrichment("2.2.2.2", "3.3.3.3")),
            (1, "quarantine", _ipc(pa.table({"reason": ["bad_ip"]})))]
    frame = spark.createDataFrame(rows, "_file_no INT, _kind STRING, _side BINARY").repartition(3)
    sides = _side_outputs(frame)
    assert {n: side["file"] for n, side in sides.items()} == {0: {"read": 5}, 1: {"read": 7}}
    addresses = sorted(a for side in sides.values() for a in side["ip_lookup"].column("raw").to_pylist())
    assert addresses == ["1.1.1.1", "2.2.2.2", "3.3.3.3"]
    assert sides[1]["quarantine"].column("reason").to_pylist() == ["bad_ip"]


def test_spark_ingest_quarantines_as_the_embedded_path_and_beside_the_events(spark_sample):
    root = spark_sample
    sql = f"SELECT table_name, file, position, column_name, reason, record FROM {QUARANTINE_TABLE} ORDER BY ALL"
    embedded = _rows(root / "ws" / "sybilscope.duckdb", sql)
    assert embedded  # the sample repeats a few rows
    assert _rows(root / "ws-spark" / "sybilscope.duckdb", sql) == embedded
    assert (root / "ws-spark" / "quarantine" / "quarantine.jsonl").read_text() == \
        (root / "ws" / "quarantine" / "quarantine.jsonl").read_text()
    beside = pq.read_table(root / "lake" / QUARANTINE_FOLDER).to_pylist()
    assert sorted((r["table_name"], r["file"], r["position"], r["column_name"], r["reason"], r["record"])
                  for r in beside) == sorted(embedded)


def test_spark_ingest_then_spark_detection_gives_duckdbs_clusters_and_members(tmp_path, spark_sample, spark):
    copy_case(spark_sample, tmp_path)
    _cli(tmp_path / "ws", "detect")
    # the workspace recorded its engine and events folder at ingest: detection finds them without flags
    spark_ws = Workspace.open(tmp_path / "ws-spark", events_dir=str(tmp_path / "lake"))
    assert spark_ws.settings.engine == "spark"
    store = open_store(spark_ws)
    try:
        detect(spark_ws, store, DetectionParams())
    finally:
        store.close()
        warehouse.close_all()
    for name in ("ws", "ws-spark"):
        _cli(tmp_path / name, "export", "--format", "csv", "--out", str(tmp_path / f"out-{name}"))
    for exported in ("clusters.csv", "members.csv"):
        ours = (tmp_path / "out-ws" / exported).read_text()
        assert ours.count("\n") > 1
        assert (tmp_path / "out-ws-spark" / exported).read_text() == ours, exported


def test_reingesting_changes_nothing_and_a_killed_runs_leftovers_are_removed(tmp_path, spark_sample, spark):
    copy_case(spark_sample, tmp_path)
    lake = tmp_path / "lake"
    before = _lake_files(lake)
    rows = spark.read.parquet(str(lake)).count()
    # what a run killed while publishing leaves: its work folder, and a part in a day the ledger never got
    day = next(lake.glob("day=*"))
    (day / "ingest-killed--part-00000.snappy.parquet").write_bytes((next(day.glob("*.parquet"))).read_bytes())
    (lake / "_run-ingest-killed").mkdir()
    (lake / "_run-ingest-killed" / "part.parquet").write_bytes(b"half")

    summary = ingest_on_spark(tmp_path / "ws-spark", lake)

    assert summary.tables["requests"].files_skipped == 1 and summary.tables["requests"].loaded == 0
    assert _lake_files(lake) == before
    assert spark.read.parquet(str(lake)).count() == rows
    ledger = _rows(tmp_path / "ws-spark" / "sybilscope.duckdb",
                   "SELECT count(*), sum(rows_loaded) FROM ingest_batches WHERE table_name = 'requests'")
    assert ledger == [(1, rows)]


def test_the_pseudonym_secret_is_in_no_plan(tmp_path, spark_sample, spark, capsys):
    copy_case(spark_sample, tmp_path)
    spark_ws = Workspace.open(tmp_path / "ws-spark", events_dir=str(tmp_path / "lake"))
    secret = spark_ws.secret()
    sources, _ = discover(SAMPLE)
    todo = [(source, *batches.batch_of(source)) for source in sources["requests"]]
    lake = EventLake.of(spark_ws)
    cur = warehouse.connect(spark_ws.db_path)
    try:
        frame = lake.checked_frame(cur, todo, tmp_path / "work")
        capsys.readouterr()
        frame.explain(mode="extended")
        plans = [frame._jdf.queryExecution().toString(), capsys.readouterr().out]
        assert frame.where("_kind = 'file'").count() == len(todo)  # the plan runs: the executors read the key
    finally:
        warehouse.close_all()
    assert "MapInArrow" in plans[0]
    for plan in plans:
        for shown in (secret.hex(), secret.hex().upper(), repr(secret), secret.decode("latin-1")):
            assert shown not in plan


def test_ingest_on_spark_without_an_events_folder_says_what_to_give(tmp_path):
    environment = {k: v for k, v in os.environ.items() if not k.startswith("SYBILSCOPE_")}
    result = subprocess.run([str(SYBILSCOPE), "--workspace", str(tmp_path / "ws"), "ingest", "--engine", "spark",
                             str(SAMPLE)], capture_output=True, text=True, timeout=120, env=environment)
    assert result.returncode == 2
    assert "give --events-dir DIR" in result.stderr


def _write_case(folder: Path, files: dict[str, list[str]], header: str) -> Path:
    folder.mkdir(parents=True)
    for name, lines in files.items():
        (folder / name).write_text("\n".join([header, *lines]) + "\n", encoding="utf-8")
    return folder


def test_copies_across_files_and_runs_are_found_as_the_embedded_path_finds_them(tmp_path, spark):
    with gzip.open(SAMPLE / "requests.csv.gz", "rt", encoding="utf-8") as handle:
        header, *body = [next(handle).rstrip("\n") for _ in range(3001)]
    # the run's second file repeats 500 of the first's rows; the next run brings 500 rows loaded before
    first_run = _write_case(tmp_path / "run1", {"requests-0001.csv": body[:1500],
                                                 "requests-0002.csv": body[1000:2500]}, header)
    second_run = _write_case(tmp_path / "run2", {"requests.csv": body[2000:3000]}, header)
    embedded = Workspace.open(tmp_path / "ws")
    embedded.secret()  # made on first use: made here, to be shared
    (tmp_path / "ws-spark").mkdir(mode=0o700)
    shutil.copy(embedded.root / SECRET_FILE, tmp_path / "ws-spark" / SECRET_FILE)
    for case in (first_run, second_run):
        ingest_embedded(embedded, case)
        ingest_on_spark(tmp_path / "ws-spark", tmp_path / "lake", case)

    quarantined = (f"SELECT file, position, reason, record FROM {QUARANTINE_TABLE} ORDER BY ALL")
    ledger = ("SELECT file, rows_read, rows_loaded, rows_quarantined, rows_existing FROM ingest_batches "
              "ORDER BY file")
    for sql in (quarantined, ledger):
        assert _rows(tmp_path / "ws-spark" / "sybilscope.duckdb", sql) == _rows(embedded.db_path, sql), sql
    assert any("same_as_row_of" in record for *_, record in _rows(embedded.db_path, quarantined))
    assert [row[-1] for row in _rows(embedded.db_path, ledger)] == [0, 0, 500]
    assert spark.read.parquet(str(tmp_path / "lake")).count() == _rows(
        embedded.db_path, f"SELECT count(*) FROM {EVENTS_TABLE}")[0][0]
    # the second run's sync from the lake is incremental: it leaves the graph the embedded path leaves
    graphs = []
    for workspace in (embedded, Workspace.open(tmp_path / "ws-spark")):
        store = open_store(workspace)
        try:
            graphs.append(graph_snapshot(store))
        finally:
            store.close()
            warehouse.close_all()
    assert graphs[0][LOOKED_UP] and graphs[1] == graphs[0]
    # and sends a store that plans its writes (Neo4j) the same rows, new or existing, found from the same end
    second = {"batches": [b for (b,) in _rows(embedded.db_path, "SELECT batch_id FROM ingest_batches "
                                                           "WHERE rows_existing > 0")]}
    cur = warehouse.connect(tmp_path / "ws-spark" / "sybilscope.duckdb")
    try:
        on_spark = EventLake.of(Workspace.open(tmp_path / "ws-spark")).aggregates(cur)
        plans = set()
        for name in aggregate.EDGES:
            sql = aggregate.edge_sql(name, True, planned=True)
            expected = _rows(embedded.db_path, sql, second["batches"])
            got = [tuple(row.values()) for row in on_spark(sql, second).read_all().to_pylist()]
            assert got == expected, name
            plans |= {row[-2:] for row in expected}
        assert plans == {(new, from_dst) for new in (True, False) for from_dst in (True, False)}
    finally:
        warehouse.close_all()


def _enrichment(events: list[tuple]) -> list[tuple]:
    return sorted(events, key=lambda row: row[0])


@pytest.mark.parametrize("killed", [False, True], ids=["whole", "killed-after-the-plan"])
def test_a_new_ip_intel_re_enriches_the_lakes_events_as_the_embedded_path_does(tmp_path, spark_sample, spark,
                                                                               monkeypatch, killed):
    embedded = copy_case(spark_sample, tmp_path)
    lake = tmp_path / "lake"
    columns = "event_id, ip, ip_country, ip_asn, ip_kind"
    busiest = _rows(embedded.db_path, f"SELECT ip FROM {EVENTS_TABLE} GROUP BY ip ORDER BY count(*) DESC, ip LIMIT 3")
    intel = tmp_path / "intel"
    intel.mkdir()
    write_table(intel, "ip_intel", [{"network": ip, "country": "NL", "asn": 64500, "as_org": "Fix BV",
                                     "kind": "hosting"} for (ip,) in busiest], "csv")
    before = _enrichment(_rows(embedded.db_path, f"SELECT {columns} FROM {EVENTS_TABLE}"))
    files_before = _lake_files(lake)

    ingest_embedded(embedded, intel)
    if killed:  # the rewrite's plan is committed, then the run dies before a file moves
        real, calls = lake_fixes.finish_rewrites, []

        def dies_after_the_commit(cur, events_dir):
            calls.append(events_dir)
            if len(calls) == 2:
                raise KeyboardInterrupt
            real(cur, events_dir)

        monkeypatch.setattr(lake_fixes, "finish_rewrites", dies_after_the_commit)
        with pytest.raises(KeyboardInterrupt):
            ingest_on_spark(tmp_path / "ws-spark", lake, intel)
        monkeypatch.undo()
        assert _lake_files(lake) != files_before and set(files_before) <= set(_lake_files(lake))
        with pytest.raises(SybilscopeError, match="did not finish"):  # detection will not read a half-fixed lake
            workspace_events(Workspace.open(tmp_path / "ws-spark"))
        warehouse.close_all()
    summary = ingest_on_spark(tmp_path / "ws-spark", lake, intel)

    assert summary.tables["ip_intel"].files_skipped == (1 if killed else 0)
    expected = _enrichment(_rows(embedded.db_path, f"SELECT {columns} FROM {EVENTS_TABLE}"))
    changed = [row for row, old in zip(expected, before, strict=True) if row != old]
    assert changed and {row[1] for row in changed} <= {ip for (ip,) in busiest}
    assert {row[4] for row in changed} == {"hosting"}
    got = _enrichment([tuple(r) for r in spark.read.parquet(str(lake)).select(*columns.split(", ")).collect()])
    assert len(got) == len(expected)
    assert [row for row, want in zip(got, expected, strict=True) if row != want] == []
    pending = _rows(tmp_path / "ws-spark" / "sybilscope.duckdb",
                    f"SELECT (SELECT count(*) FROM {LAKE_FIXES_TABLE}), (SELECT count(*) FROM {LAKE_REWRITES_TABLE})")
    assert pending == [(0, 0)]
    assert not list(lake.glob("_fix-*"))
    # every file of the lake still belongs to a run the ledger knows: the next ingest keeps them all
    kept = _lake_files(lake)
    ingest_on_spark(tmp_path / "ws-spark", lake, intel)
    assert _lake_files(lake) == kept
