"""Pages cache what they draw per version of the data, and a new ingest or a new run shows at once.

The cluster page's graph and evidence parts and the overview's traffic are
cached under :meth:`app.web.state.WebState.data_version` (latest run, event
count); the overview's whole-case traffic is also kept by ``ingest`` and
``detect`` for the version they leave (:mod:`app.web.traffic_summary`), and so are the
search box's keys. Under ``serve`` the commands write while the server runs, so the
cache must never outlive the data it was drawn from: more requests (an
ingest) or a new detection run must show on the next request.
"""

from __future__ import annotations

import json
import shutil
from datetime import timedelta

import ingestcase
import pandas as pd
import plotly.utils
import pytest
import webcase

from app.web import cache, queries, search, traffic_summary
from app.web.pages import cluster, overview
from graph import warehouse
from graph.store import open_store
from graph.workspace import Workspace

NEW_IP = "5.160.99.7"
EXTRA = 60  # more requests than any IP of the case, so the new one tops the overview's IPs


@pytest.fixture
def served(workspace):
    store = open_store(workspace)
    built = webcase.build_case(workspace, store)
    store.close()
    warehouse.close_all()
    with webcase.signed_in(built.workspace):
        yield built


def _sent(value) -> str:
    return json.dumps(value, cls=plotly.utils.PlotlyJSONEncoder)


def _more_requests(built) -> None:
    """An ingest of ``EXTRA`` requests by ir_0 through an IP the case never used."""
    rows = [webcase._event(webcase.T0 + timedelta(days=3, minutes=n), NEW_IP, "IR", 58224, "hosting", "ir_0",
                           "d_shared_ir", ordinal=n) for n in range(EXTRA)]
    extra = pd.DataFrame(rows)
    extra["event_id"] = [f"extra-{n}" for n in range(EXTRA)]
    for column in built.events.columns:
        if column not in extra:
            extra[column] = None
    webcase.write_events(built.workspace, extra[list(built.events.columns)])


def _new_run_without(built, dropped: str) -> None:
    """A detection run in which ``dropped`` no longer belongs to C-iran."""
    store = open_store(built.workspace)
    try:
        run = store.runs()[0]
        clusters = [{k: v for k, v in c.items() if k not in ("run_id", "cluster_key")}
                    for c in store.clusters(run["run_id"])]
        members = [{k: v for k, v in m.items() if k != "run_id"} for c in clusters
                   for m in store.members(c["cluster_id"], run["run_id"]) if m["account_id"] != dropped]
        store.save_run({**run, "run_id": "run-next", "started_at": run["started_at"] + timedelta(days=1)},
                       clusters, members)
    finally:
        store.close()


def test_parts_are_cached_until_an_ingest_and_a_new_run_change_the_data(served):
    requests = len(served.events)
    graph = cluster.graph_part("C-iran")
    assert cluster.graph_part("C-iran") is graph  # drawn once a version of the data
    assert cluster.evidence_part("C-iran")[0] is cluster.evidence_part("C-iran")[0]
    traffic = overview.traffic_view(None)
    assert overview.traffic_view(None) is traffic
    assert NEW_IP not in _sent(graph) + _sent(cluster.evidence_part("C-iran")) + _sent(traffic)
    assert f'"{requests:,}"' in _sent(traffic[0])

    _more_requests(served)
    assert NEW_IP in _sent(cluster.graph_part("C-iran"))
    assert NEW_IP in _sent(cluster.evidence_part("C-iran"))  # the underlying requests, newest first
    traffic = _sent(overview.traffic_view(None))
    assert f'"{requests + EXTRA:,}"' in traffic and NEW_IP in traffic

    assert "ir_7" in _sent(cluster.graph_part("C-iran"))
    _new_run_without(served, "ir_7")
    assert "ir_7" not in _sent(cluster.graph_part("C-iran"))
    assert "run-next" in _sent(cluster.evidence_part("C-iran"))  # the history across runs


def test_search_reads_its_keys_once_a_version_and_finds_what_an_ingest_adds(served):
    assert "Nothing matches" in _sent(search.search_view(NEW_IP))
    assert search.search_keys() is search.search_keys()  # read once a version of the data

    _more_requests(served)
    found = _sent(search.search_view(NEW_IP))
    assert NEW_IP in found and f"{EXTRA} requests" in found and "C-iran" in found


def _page(root) -> tuple[str, str, bool]:
    """The overview's whole-case traffic and a search as sent, the data version, and whether both came from
    what ``ingest``/``detect`` kept."""
    with webcase.signed_in(Workspace.open(root)):
        state = overview.current()
        version = state.data_version()
        kept = (traffic_summary.load(state.workspace, version) is not None
                and traffic_summary.load_search_keys(state.workspace, version) is not None)
        return _sent(overview.traffic_view("all")) + _sent(search.search_view("5.160")), version, kept


def test_ingest_and_detect_keep_the_overview_traffic_for_the_version_they_leave(tmp_path):
    case = tmp_path / "case"
    case.mkdir()
    (case / "requests.csv").write_bytes(ingestcase.csv_bytes(ingestcase.request_rows()))
    root = tmp_path / "workspace"
    ingestcase.seed_secret(root)
    code, _, err = ingestcase.run_cli("--workspace", str(root), "ingest", str(case))
    assert code == 0, err
    kept_page, ingested, kept = _page(root)
    assert kept and ingested == (None, len(ingestcase.request_rows()))
    code, _, err = ingestcase.run_cli("--workspace", str(root), "detect")
    assert code == 0, err
    kept_page, detected, kept = _page(root)
    assert kept and detected[0] is not None and detected[1] == ingested[1]
    assert traffic_summary.load_member_links(Workspace.open(root), detected) is not None
    shutil.rmtree(traffic_summary.summary_dir(Workspace.open(root)))
    shutil.rmtree(traffic_summary.search_keys_dir(Workspace.open(root)))
    live_page, _, kept = _page(root)
    assert not kept and live_page == kept_page  # drawn the same from the summaries as from the events
    assert "5.160.10.1" in live_page and "requests" in live_page


def test_a_summary_of_another_version_is_not_read(served):
    code, _, err = ingestcase.run_cli("--workspace", str(served.workspace.root), "detect")
    assert code == 0, err
    state = overview.current()
    assert traffic_summary.load(state.workspace, state.data_version()) is not None
    assert traffic_summary.load_search_keys(state.workspace, state.data_version()) is not None
    assert traffic_summary.load_member_links(state.workspace, state.data_version()) is not None
    _more_requests(served)  # events written by another hand: the kept summaries are now a version behind
    assert traffic_summary.load(state.workspace, state.data_version()) is None
    assert traffic_summary.load_search_keys(state.workspace, state.data_version()) is None
    assert traffic_summary.load_member_links(state.workspace, state.data_version()) is None
    assert f'"{len(served.events) + EXTRA:,}"' in _sent(overview.traffic_view("all"))
    assert NEW_IP in _sent(search.search_view(NEW_IP))


def test_the_kept_member_links_are_what_the_cluster_pages_read_until_the_data_changes(served):
    state = overview.current()
    traffic_summary.precompute(state.investigation)  # what ingest and detect do after they commit
    kept = traffic_summary.load_member_links(state.workspace, state.data_version())
    clusters = cache.run_clusters(cache.latest_run_id())
    assert kept is not None and clusters
    order = ["kind", "key", "account_id"]
    for row in clusters:
        facts = cache.cluster_facts(row["cluster_id"])
        live = queries.member_links(state.con(), [m["account_id"] for m in facts[1]])
        assert len(facts[2]) and set(facts[2]["account_id"]) <= set(kept["account_id"])
        pd.testing.assert_frame_equal(facts[2].sort_values(order).reset_index(drop=True),
                                      live.sort_values(order).reset_index(drop=True))
    assert NEW_IP not in _sent(cluster.graph_part("C-iran"))

    _more_requests(served)  # the kept links are now a version behind: read live
    assert traffic_summary.load_member_links(state.workspace, state.data_version()) is None
    assert NEW_IP in _sent(cluster.graph_part("C-iran"))
