"""Ingest and detection through a Spark Connect server, by the CLI, give what the classic path and DuckDB give.

The server is a separate process (``tests/spark_connect_server.py``), reached
only at ``SYBILSCOPE_SPARK_REMOTE``, and the CLI runs as its own process as a
user runs it (PySpark refuses a Connect session in a process that already
holds a classic one, as the test process may). On Connect the ingest's
executors read the pseudonym key and ``ip_intel`` from files rather than
broadcasts. The classic paths are :mod:`tests.test_spark_ingest` and
:mod:`tests.test_spark_replay`.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import duckdb
from sparkcase import SAMPLE, copy_case

from graph.warehouse_schema import QUARANTINE_TABLE
from graph.workspace import SECRET_FILE

SYBILSCOPE = Path(sys.executable).parent / "sybilscope"


def _cli(root: Path, *args: str, env: dict[str, str] | None = None) -> None:
    environment = {k: v for k, v in os.environ.items() if not k.startswith("SYBILSCOPE_")}
    result = subprocess.run([str(SYBILSCOPE), "--workspace", str(root), *args], capture_output=True, text=True,
                            timeout=1200, env={**environment, **(env or {})})
    assert result.returncode == 0, result.stdout + result.stderr[-3000:]


def test_detect_through_spark_connect_gives_duckdbs_clusters_and_members(tmp_path, spark_sample, spark_connect):
    copy_case(spark_sample, tmp_path)
    _cli(tmp_path / "ws", "detect")
    _cli(tmp_path / "ws-spark", "detect", "--engine", "spark",
         env={"SYBILSCOPE_SPARK_REMOTE": spark_connect, "SYBILSCOPE_EVENTS_DIR": str(tmp_path / "lake")})
    for name in ("ws", "ws-spark"):
        _cli(tmp_path / name, "export", "--format", "csv", "--out", str(tmp_path / f"out-{name}"))
    for exported in ("clusters.csv", "members.csv"):
        ours = (tmp_path / "out-ws" / exported).read_text()
        theirs = (tmp_path / "out-ws-spark" / exported).read_text()
        assert ours.count("\n") > 1
        assert theirs == ours, exported


def _read(sql: str, database: Path | None = None) -> list[tuple]:
    con = duckdb.connect(str(database) if database else ":memory:", read_only=database is not None)
    try:
        return con.execute(sql).fetchall()
    finally:
        con.close()


def test_ingest_through_spark_connect_writes_the_classic_paths_events(tmp_path, spark_sample, spark_connect):
    # the classic ingest's key, so the keyed hashes compare; the executors read it from this file
    (tmp_path / "ws-connect").mkdir(mode=0o700)
    shutil.copy(spark_sample / "ws-spark" / SECRET_FILE, tmp_path / "ws-connect" / SECRET_FILE)
    _cli(tmp_path / "ws-connect", "ingest", "--engine", "spark", "--events-dir", str(tmp_path / "lake"), str(SAMPLE),
         env={"SYBILSCOPE_SPARK_REMOTE": spark_connect})
    columns = ("event_id, epoch_us(ts), ip, ip_country, ip_asn, ip_kind, account_id, device_id, user_agent_family, "
               "status, phone_hash, block_hash, block_ordinal, phone_region, matched_account_id, source_row")
    events = {name: _read(f"SELECT {columns} FROM read_parquet('{lake}/day=*/*.parquet') ORDER BY event_id")
              for name, lake in (("classic", spark_sample / "lake"), ("connect", tmp_path / "lake"))}
    assert len(events["classic"]) > 100_000
    assert events["connect"] == events["classic"]  # ip_intel's enrichment and the key reached the executors
    assert sorted(p.name for p in (tmp_path / "lake").glob("day=*")) == \
        sorted(p.name for p in (spark_sample / "lake").glob("day=*"))
    quarantined = f"SELECT file, position, column_name, reason, record FROM {QUARANTINE_TABLE} ORDER BY ALL"
    assert _read(quarantined, tmp_path / "ws-connect" / "sybilscope.duckdb") == \
        _read(quarantined, spark_sample / "ws-spark" / "sybilscope.duckdb")
