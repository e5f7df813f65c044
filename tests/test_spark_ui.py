"""The UI on a ``spark`` workspace: its pages read the events the Spark ingest wrote to the lake.

The sample is ingested once a session on DuckDB and with ``--engine spark``
(``spark_sample``, :mod:`tests.sparkcase`, both with the same pseudonym
key). The Spark workspace's database holds no events; its cursors read the
lake (:func:`app.events.read_lake`), so the overview's precomputed summary
and the entity and cluster pages' queries answer as on the DuckDB workspace.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
from sparkcase import copy_case

from app.investigation import Investigation
from app.web import traffic_summary
from app.web.queries import cluster, entity, evidence, overview
from app.web.state import data_version
from graph import warehouse
from graph.workspace import Workspace


def _investigations(root: Path) -> dict[str, Investigation]:
    """Each copy's workspace as the UI opens it (the Spark one with its lake moved along with the copy)."""
    return {"duckdb": Investigation(Workspace.open(root / "ws")),
            "spark": Investigation(Workspace.open(root / "ws-spark", events_dir=str(root / "lake")))}


def test_the_overview_summary_of_a_spark_workspace_is_the_duckdb_workspaces(tmp_path, spark_sample):
    copy_case(spark_sample, tmp_path)
    opened = _investigations(tmp_path)
    try:
        kept = {}
        for name, investigation in opened.items():
            traffic_summary.precompute(investigation)
            version = data_version(investigation.store, investigation.reader())
            kept[name] = traffic_summary.load(investigation.workspace, version)
            assert kept[name] is not None, name
        assert kept["spark"]["totals"]["requests"] > 100_000
        assert kept["spark"]["totals"] == kept["duckdb"]["totals"]
        for part in overview.TRAFFIC_PARTS:
            if part != "totals":
                pd.testing.assert_frame_equal(kept["spark"][part], kept["duckdb"][part], obj=part)
        windows = {name: overview.data_window(i.reader()) for name, i in opened.items()}
        assert windows["spark"] == windows["duckdb"] and windows["spark"][0].utcoffset().total_seconds() == 0
    finally:
        for investigation in opened.values():
            investigation.close()
        warehouse.close_all()


def test_entity_and_cluster_evidence_of_a_spark_workspace_are_the_duckdb_workspaces(tmp_path, spark_sample):
    copy_case(spark_sample, tmp_path)
    opened = _investigations(tmp_path)
    try:
        busiest = opened["duckdb"].reader().execute(
            "SELECT ip FROM events GROUP BY ip HAVING count(DISTINCT account_id) > 2 "
            "ORDER BY count(*) DESC, ip LIMIT 1").fetchone()[0]
        members = sorted(r[0] for r in opened["duckdb"].reader().execute(
            "SELECT DISTINCT account_id FROM events WHERE ip = ? AND account_id IS NOT NULL", [busiest]).fetchall())
        prefix = opened["duckdb"].reader().execute("SELECT any_value(ip_prefix) FROM events WHERE ip = ?",
                                                   [busiest]).fetchone()[0]
        answers = {}
        for name, investigation in opened.items():
            con = investigation.reader()
            page, total = evidence.evidence_requests(con, members, evidence.evidence_selector("ips", {"id": busiest}))
            answers[name] = {
                "activity": entity.entity_activity(con, "ip", busiest),
                "users": entity.entity_users(con, "ip", busiest, None),
                "ips": entity.entity_ips(con, "prefix", prefix),
                "links": cluster.member_links(con, members).sort_values(["kind", "key", "account_id"],
                                                                         ignore_index=True),
                "timeline": cluster.member_activity(con, members),
                "requests": cluster.member_requests(con, members),
                "evidence": (page, total),
            }
        ours, theirs = answers["duckdb"], answers["spark"]
        assert theirs["activity"]["requests"] > 0 and theirs["evidence"][1] > 0 and len(members) > 2
        for key in ("activity", "users", "ips", "timeline"):
            assert theirs[key] == ours[key], key
        for key in ("links", "requests"):
            pd.testing.assert_frame_equal(theirs[key], ours[key], obj=key)
        pd.testing.assert_frame_equal(theirs["evidence"][0], ours["evidence"][0], obj="evidence")
        assert theirs["evidence"][1] == ours["evidence"][1]
    finally:
        for investigation in opened.values():
            investigation.close()
        warehouse.close_all()


def test_a_spark_workspace_before_its_first_ingest_reads_as_empty(tmp_path):
    investigation = Investigation(Workspace.open(tmp_path / "ws", engine="spark", events_dir=str(tmp_path / "lake")))
    try:
        assert overview.overview_totals(investigation.reader())["requests"] == 0
        assert overview.data_window(investigation.reader()) == (None, None)
    finally:
        investigation.close()
        warehouse.close_all()
