"""The sample case for the Spark tests: ingested once on DuckDB, its events also as a Parquet lake.

:func:`build_lake` gives a workspace (``ws``), a copy of it nothing has
detected in yet (``ws-spark``) and ``lake``, the workspace's events as the
day-partitioned Parquet a ``spark`` workspace reads.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import duckdb

from graph import warehouse
from graph.store import open_store
from graph.workspace import Workspace
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


def build_lake(root: Path) -> Workspace:
    """The sample ingested at ``root/ws``, copied to ``root/ws-spark``, its events at ``root/lake``."""
    ws = Workspace.open(root / "ws")
    store = open_store(ws)
    sources, _ = discover(SAMPLE)
    ingest(ws, store, sources)
    store.close()
    warehouse.close_all()
    shutil.copytree(ws.root, root / "ws-spark")
    write_lake(ws.db_path, root / "lake")
    return ws
