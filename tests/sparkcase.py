"""The sample case for the Spark tests: ingested on DuckDB, and again on Spark into a Parquet lake.

:func:`build_lake` gives a workspace ingested on DuckDB (``ws``), one
ingested with ``--engine spark`` (``ws-spark``, with ``ws``'s pseudonym
key: the reference tables, the ledger and the graph in its database,
nothing detected yet) and ``lake``,
the events that Spark ingest wrote as day-partitioned Parquet.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from graph import warehouse
from graph.store import open_store
from graph.workspace import SECRET_FILE, Workspace
from ingest.lake import EventLake
from ingest.pipeline import IngestSummary, ingest
from ingest.readers import discover

SAMPLE = Path(__file__).resolve().parent.parent / "sample_data" / "case"


def ingest_on_spark(root: Path, lake: Path, case: Path = SAMPLE) -> IngestSummary:
    """``case`` ingested as ``sybilscope ingest --engine spark --events-dir lake`` does, on the process's session."""
    ws = Workspace.open(root, engine="spark", events_dir=str(lake))
    store = open_store(ws)
    try:
        sources, _ = discover(case)
        return ingest(ws, store, sources, lake=EventLake.of(ws))
    finally:
        store.close()
        warehouse.close_all()


def ingest_embedded(ws: Workspace, case: Path = SAMPLE) -> IngestSummary:
    """``case`` ingested into ``ws`` on DuckDB with the embedded store, as ``sybilscope ingest`` does."""
    store = open_store(ws)
    try:
        return ingest(ws, store, discover(case)[0])
    finally:
        store.close()
        warehouse.close_all()


def build_lake(root: Path) -> Workspace:
    """The sample ingested at ``root/ws`` (DuckDB) and at ``root/ws-spark`` (Spark, events at ``root/lake``).

    The Spark ingest runs on the process's Spark session (the ``spark``
    fixture's), started here on ``local[2]`` when there is none.
    """
    ws = Workspace.open(root / "ws")
    ingest_embedded(ws)
    # the same key, so the two ingests' pseudonyms (and the content keys hashed with them) can be compared
    (root / "ws-spark").mkdir(mode=0o700)
    shutil.copy(ws.root / SECRET_FILE, root / "ws-spark" / SECRET_FILE)
    ingest_on_spark(root / "ws-spark", root / "lake")
    return ws


def copy_case(built: Path, root: Path) -> Workspace:
    """A copy at ``root`` of what :func:`build_lake` built at ``built`` (to change it): the DuckDB workspace."""
    shutil.copytree(built, root, dirs_exist_ok=True)
    return Workspace.open(root / "ws")
