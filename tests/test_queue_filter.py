"""One queue filter: the web queue, "Export queue", ``sybilscope export`` and ``sybilscope queue`` agree.

On the hand-made case of ``tests/webcase.py``, re-saved as a run whose
clusters carry the country mix detection records: ``C-iran`` works 80% from
IR and 20% from IL. Each filter set below (a country that is not the top one,
a window ending exactly on a cluster's first request, a window starting
exactly on its last one, a tradecraft, an analyst's tag) must select the same
clusters on all four paths. ``C-lone``'s features name it a lone enumerator
while its detection kind is ``enumeration``; ``C-iran`` and ``C-lone`` carry
the tag ``campaign-x``, ``C-iran`` also ``TLP:AMBER``.
"""

from __future__ import annotations

import csv
import json
from datetime import timedelta

import pandas as pd
import pytest
import webcase
from ingestcase import run_cli

from app.export import export
from app.export.select import select_clusters
from app.web import queries
from app.web.downloads import queue_filters
from graph import triage, warehouse
from graph.errors import FilterError
from graph.store import open_store

#: features that name a cluster of one enumerating account a lone enumerator (graph.detect.tradecraft)
LONE_FEATURES = {"size": 1, "enumerated_share": 0.9, "numbers": 30, "hit_ratio": 0.0}
MIX = {
    "C-iran": [{"country": "IR", "requests": 80, "share": 0.8}, {"country": "IL", "requests": 20, "share": 0.2}],
    "C-israel": [{"country": "IL", "requests": 40, "share": 1.0}],
    "C-lone": [{"country": "MY", "requests": 9, "share": 1.0}],
}


@pytest.fixture
def case(workspace):
    store = open_store(workspace)
    built = webcase.build_case(workspace, store)
    rows = [{**c, "run_id": "run-mixed", "attribution": {**(c.get("attribution") or {}), "countries": MIX[c["cluster_id"]]}}
            for c in store.clusters(webcase.RUN_ID)]
    lone = next(c for c in rows if c["cluster_id"] == "C-lone")
    lone["evidence"] = {**lone["evidence"], "statistics": LONE_FEATURES}
    members = [{**m, "run_id": "run-mixed"} for c in rows for m in store.members(c["cluster_id"], webcase.RUN_ID)]
    latest = {**store.runs()[0], "run_id": "run-mixed", "started_at": webcase.T0 + timedelta(days=7)}
    store.save_run(latest, rows, members)
    triage.set_status(store, "C-israel", "in_review", "looking", "alice")
    for cluster_id, tag in (("C-iran", "campaign-x"), ("C-iran", "TLP:AMBER"), ("C-lone", "campaign-x"),
                            ("C-israel", "campaign-x")):
        triage.add_tag(store, "cluster", cluster_id, tag, "alice")
    triage.remove_tag(store, "cluster", "C-israel", "campaign-x", "alice")  # a removed tag no longer selects
    store.close()
    yield built, workspace
    warehouse.close_all()


def _bounds(workspace) -> dict:
    store = open_store(workspace)
    try:
        return {c["cluster_id"]: (c["first_seen"], c["last_seen"]) for c in store.clusters()}
    finally:
        store.close()


def _four_ways(workspace, tmp_path, *, statuses=(), min_score=None, country=None, since=None, until=None,
               kinds=(), tags=()):
    """The cluster ids the page, Export queue, `export` and `queue` keep for one set of filters."""
    store = open_store(workspace)
    try:
        con = warehouse.connect(workspace.db_path)
        members = pd.DataFrame([{"account_id": m["account_id"], "cluster_id": c["cluster_id"]}
                                for c in store.clusters() for m in store.members(c["cluster_id"])])
        countries = queries.cluster_countries(con, members)
        window = queries.Window(since=since, until=until)
        page = [r["cluster_id"] for r in queries.triage_queue(
            store, countries=countries, statuses=list(statuses) or None, min_score=min_score or 0.0,
            country=country, window=window, kinds=list(kinds), tags=list(tags))]
        filters = queue_filters(list(statuses) or None, min_score, country, window, list(kinds), list(tags))
        download = select_clusters(store, filters).cluster_ids
        out = tmp_path / f"web-{len(list(tmp_path.iterdir()))}"
        export(workspace, store, "csv", out, filters)
        with open(out / "clusters.csv", newline="", encoding="utf-8") as f:
            downloaded = [r["cluster_id"] for r in csv.DictReader(f)]
    finally:
        store.close()
        warehouse.close_all()
    flags = [f for s in statuses for f in ("--status", s)]
    if min_score is not None:
        flags += ["--min-score", str(min_score)]
    if country:
        flags += ["--country", country]
    if since:
        flags += ["--since", since.isoformat()]
    if until:
        flags += ["--until", until.isoformat()]
    flags += [f for kind in kinds for f in ("--kind", kind)] + [f for tag in tags for f in ("--tag", tag)]
    code, stdout, err = run_cli("--workspace", str(workspace.root), "queue", "--json", *flags)
    assert code == 0, err
    cli_queue = [c["cluster_id"] for c in json.loads(stdout)["clusters"]]
    cli_out = tmp_path / f"cli-{len(list(tmp_path.iterdir()))}"
    code, _, err = run_cli("--workspace", str(workspace.root), "export", "--format", "csv", "--out", str(cli_out),
                           *flags)
    assert code == 0, err
    with open(cli_out / "clusters.csv", newline="", encoding="utf-8") as f:
        cli_export = [r["cluster_id"] for r in csv.DictReader(f)]
    assert page == download == downloaded == cli_queue == cli_export, (page, download, downloaded, cli_queue,
                                                                        cli_export)
    return page


def test_a_country_anywhere_in_the_mix_is_kept_on_every_path(case, tmp_path):
    _, workspace = case
    assert _four_ways(workspace, tmp_path, country="il") == ["C-iran", "C-israel"]
    assert _four_ways(workspace, tmp_path, country="MY") == ["C-lone"]
    assert _four_ways(workspace, tmp_path, country="IL", statuses=("in_review",)) == ["C-israel"]
    assert _four_ways(workspace, tmp_path, country="US") == []


def test_a_window_keeps_clusters_touching_either_end_on_every_path(case, tmp_path):
    _, workspace = case
    bounds = _bounds(workspace)
    first, last = bounds["C-lone"]
    ending_on_its_first = _four_ways(workspace, tmp_path, until=first)
    assert "C-lone" in ending_on_its_first
    starting_on_its_last = _four_ways(workspace, tmp_path, since=last)
    assert "C-lone" in starting_on_its_last
    just_before = _four_ways(workspace, tmp_path, until=first - timedelta(microseconds=1))
    assert "C-lone" not in just_before
    just_after = _four_ways(workspace, tmp_path, since=last + timedelta(microseconds=1))
    assert "C-lone" not in just_after
    both = _four_ways(workspace, tmp_path, country="IL", min_score=0.7, since=bounds["C-israel"][1])
    assert both == sorted((c for c in ("C-iran", "C-israel") if bounds[c][1] >= bounds["C-israel"][1]),
                          key=["C-iran", "C-israel"].index)


def test_tradecraft_and_tags_select_the_same_clusters_on_every_path(case, tmp_path):
    _, workspace = case
    assert _four_ways(workspace, tmp_path, kinds=("lone enumerator",)) == ["C-lone"]
    assert _four_ways(workspace, tmp_path, kinds=("Coordinated", "lone enumerator")) == ["C-iran", "C-israel",
                                                                                          "C-lone"]
    assert _four_ways(workspace, tmp_path, kinds=("hosting farm",)) == []
    assert _four_ways(workspace, tmp_path, tags=("campaign-x",)) == ["C-iran", "C-lone"]
    assert _four_ways(workspace, tmp_path, tags=("tlp:amber",)) == ["C-iran"]
    assert _four_ways(workspace, tmp_path, tags=("campaign-x",), kinds=("coordinated",), country="IR") == ["C-iran"]


def test_a_tag_filter_without_the_tags_is_refused():
    with pytest.raises(ValueError, match="tags"):
        triage.queue([], {}, triage.QueueFilters(tags=("campaign-x",)))


def test_impossible_filters_are_refused_with_what_to_do():
    with pytest.raises(FilterError, match="statuses must be among"):
        triage.QueueFilters(statuses=("closed",))
    with pytest.raises(FilterError, match="window is empty"):
        triage.QueueFilters(since=webcase.T0, until=webcase.T0 - timedelta(days=1))


def test_export_by_cluster_id_keeps_the_named_clusters_within_the_filters(case, tmp_path):
    _, workspace = case

    def exported(*flags: str) -> list[str]:
        out = tmp_path / f"by-id-{len(list(tmp_path.iterdir()))}"
        code, _, err = run_cli("--workspace", str(workspace.root), "export", "--format", "csv", "--out", str(out),
                               *flags)
        assert code == 0, err
        with open(out / "clusters.csv", newline="", encoding="utf-8") as f:
            return [r["cluster_id"] for r in csv.DictReader(f)]

    assert exported("--cluster", "C-lone", "--cluster", "C-israel") == ["C-israel", "C-lone"]
    assert exported("--cluster", "C-lone", "--cluster", "C-israel", "--country", "IL") == ["C-israel"]
