"""A case ingested in parts as its logs arrive is the case ingested at once: same events, graph and clusters.

Analysts load a platform's logs day by day, and run detection between
loads; what the last run finds must not depend on how the rows were cut.
"""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from ingestcase import graph_snapshot, ingest_json

from graph import warehouse
from graph.detect.run import detect
from graph.store import open_store
from graph.workspace import Workspace
from ingest.simulate import simulate

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def case(tmp_path_factory) -> Path:
    """A small drawn case (draw 3): several operations among every look-alike."""
    out = tmp_path_factory.mktemp("draw") / "case"
    simulate(out, scenario="drawn", seed=3, scale=0.3, fmt="parquet")
    return out


def _parts(case: Path, out: Path, parts: int) -> list[Path]:
    """The case's request rows in ``parts`` consecutive slices; the other tables come with the first."""
    requests = pa.concat_tables(pq.read_table(p) for p in sorted(case.glob("requests*.parquet")))
    cuts = [round(requests.num_rows * i / parts) for i in range(parts + 1)]
    folders = []
    for number, (start, stop) in enumerate(zip(cuts, cuts[1:], strict=False)):
        folder = out / f"part{number}"
        folder.mkdir(parents=True)
        pq.write_table(requests.slice(start, stop - start), folder / "requests-0001.parquet")
        if number == 0:
            for other in case.iterdir():
                if other.is_file() and not other.name.startswith("requests"):
                    (folder / other.name).write_bytes(other.read_bytes())
        folders.append(folder)
    return folders


def _state(workspace: Path) -> tuple[dict, list, list]:
    """The workspace's graph, events (without where each row came from) and clusters after a detection run."""
    ws = Workspace.open(workspace)
    store = open_store(ws)
    try:
        result = detect(ws, store)
        clusters = sorted((sorted(c.members), round(c.score, 9), c.kind, sorted(c.sub_groups.items()))
                          for c in result.clusters)
        events = warehouse.connect(ws.db_path).execute(
            "SELECT * EXCLUDE (batch_id, source_row) FROM events ORDER BY event_id"
        ).fetchall()
        return graph_snapshot(store), events, clusters
    finally:
        store.close()
        warehouse.close_all()


def test_a_case_ingested_in_parts_with_runs_between_matches_it_ingested_at_once(case, tmp_path):
    ingest_json(tmp_path / "at-once", str(case))
    folders = _parts(case, tmp_path / "parts", 3)
    for folder in folders:
        ingest_json(tmp_path / "in-parts", str(folder))
        ws = Workspace.open(tmp_path / "in-parts")
        store = open_store(ws)
        try:
            detect(ws, store)  # a run between loads, as an analyst's day goes
        finally:
            store.close()
            warehouse.close_all()
    graph_once, events_once, clusters_once = _state(tmp_path / "at-once")
    graph_parts, events_parts, clusters_parts = _state(tmp_path / "in-parts")
    assert events_once and events_parts == events_once
    assert graph_parts == graph_once
    # the case's operations are found, and found the same way
    assert any(score >= 0.5 for _, score, _, _ in clusters_once)
    assert clusters_parts == clusters_once
