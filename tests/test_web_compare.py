"""Comparing clusters ("one operator?") and the cluster page sent in parts, on the hand-made web case.

With ``shared_operator=True`` (``tests/webcase.py``), C-israel's ``il_0``
also works through C-iran's hosting IP and device and looks up 3 of the
numbers ``ir_0`` did; C-lone shares nothing with either.
"""

from __future__ import annotations

import json
import re

import plotly.utils
import pytest
import webcase

from app.web import ids
from app.web.pages import cluster, compare
from app.web.queries.compare import MAX_CLUSTERS, compare_clusters, hour_of_week_label
from graph import warehouse
from graph.store import open_store


@pytest.fixture
def case(workspace):
    store = open_store(workspace)
    built = webcase.build_case(workspace, store, shared_operator=True)
    yield built, store, warehouse.connect(workspace.db_path)
    store.close()
    warehouse.close_all()


def test_shared_infrastructure_and_numbers_are_counted_pair_by_pair(case):
    built, store, con = case
    comparison = compare_clusters(con, store, ["C-iran", "C-israel", "C-lone", "C-nowhere"])
    assert [c["cluster_id"] for c in comparison.clusters] == ["C-iran", "C-israel", "C-lone"]
    assert comparison.missing == ["C-nowhere"]
    shared = {(row["kind"], row["key"]): row["clusters"] for row in comparison.shared_infrastructure}
    assert shared == {("ip", "5.160.10.1"): ["C-iran", "C-israel"], ("prefix", "5.160.10.0/24"): ["C-iran", "C-israel"],
                      ("asn", "58224"): ["C-iran", "C-israel"], ("device", "d_shared_ir"): ["C-iran", "C-israel"]}
    pairs = {(p["a"], p["b"]): p for p in comparison.pairs}
    assert set(pairs) == {("C-iran", "C-israel"), ("C-iran", "C-lone"), ("C-israel", "C-lone")}
    one = pairs[("C-iran", "C-israel")]
    assert (one["ip"], one["prefix"], one["asn"], one["device"], one["numbers_shared"]) == (1, 1, 1, 1, 3)
    events = built.events
    looked = {cid: set(events[events["account_id"].isin(accounts)]["phone_hash"].dropna())
              for cid, accounts in built.clusters.items()}
    assert comparison.numbers == {cid: len(hashes) for cid, hashes in looked.items()}
    union = looked["C-iran"] | looked["C-israel"]
    assert one["jaccard"] == round(3 / len(union), 3)
    apart = pairs[("C-iran", "C-lone")]
    assert (apart["ip"], apart["device"], apart["numbers_shared"], apart["jaccard"]) == (0, 0, 0, 0.0)
    assert comparison.shared_numbers[0]["clusters"] == ["C-iran", "C-israel"]
    assert comparison.shared_numbers[0]["numbers"] == 3
    assert all(re.fullmatch(r"[0-9a-f]{12}", h) for h in comparison.shared_numbers[0]["hashes"])


def test_weekly_rhythms_count_every_request_in_its_utc_hour(case):
    built, store, con = case
    comparison = compare_clusters(con, store, ["C-iran", "C-israel"])
    events = built.events
    for cluster_id, accounts in built.clusters.items():
        if cluster_id not in comparison.rhythms:
            continue
        mine = events[events["account_id"].isin(accounts)]
        expected = [0] * 168
        for ts in mine["ts"]:
            expected[24 * ts.weekday() + ts.hour] += 1
        assert comparison.rhythms[cluster_id] == expected
    similarity = comparison.pairs[0]["rhythm_similarity"]
    assert 0 <= similarity <= 1
    assert hour_of_week_label(0) == "Mon 00h" and hour_of_week_label(167) == "Sun 23h"
    with pytest.raises(ValueError, match="at most"):
        compare_clusters(con, store, [f"C-{n}" for n in range(MAX_CLUSTERS + 1)])


@pytest.fixture
def app_context(case):
    built, store, _ = case
    store.close()
    warehouse.close_all()
    with webcase.signed_in(built.workspace) as app:
        yield app


def _sent(value) -> str:
    return json.dumps(value, cls=plotly.utils.PlotlyJSONEncoder)


def test_the_cluster_page_sends_header_and_judgement_first_and_the_graph_later(app_context):
    first = _sent(cluster.layout(cluster_id="C-iran"))
    assert f'"id": "{ids.CLUSTER_HEADER}"' in first and f'"id": "{ids.LABEL_SUBMIT}"' in first
    for later in (ids.CLUSTER_GRAPH, ids.CLUSTER_EVIDENCE, ids.CLUSTER_REQUESTS, ids.CLUSTER_HEATMAP):
        assert f'"id": "{later}"' not in first
    assert f'"id": "{cluster.GRAPH_PART}"' in first and f'"id": "{cluster.EVIDENCE_PART}"' in first
    graph = _sent(cluster.graph_part("C-iran"))
    assert f'"id": "{ids.CLUSTER_GRAPH}"' in graph and "5.160.10.1" in graph
    evidence = _sent(cluster.evidence_part("C-iran"))
    assert f'"id": "{ids.CLUSTER_EVIDENCE}"' in evidence and f'"id": "{ids.CLUSTER_GRAPH}"' not in evidence
    # each part is its own callback, fed by the page's cluster id
    wiring = {key: [i["id"] for i in spec["inputs"]] for key, spec in app_context.callback_map.items()}
    assert wiring[f"{cluster.GRAPH_PART}.children"] == [ids.CLUSTER_ID]
    assert wiring[f"{cluster.EVIDENCE_PART}.children"] == [ids.CLUSTER_ID]


def test_the_compare_page_reads_its_clusters_from_the_address(app_context):
    assert compare.cluster_ids({"c": ["C-iran", "C-israel"]}) == ["C-iran", "C-israel"]
    assert compare.cluster_ids({"c": "C-iran,C-lone"}) == ["C-iran", "C-lone"]
    assert "Pick two or more" in _sent(compare.layout(c="C-iran"))
    page = _sent(compare.layout(c=["C-iran", "C-israel"]))
    assert compare.COMPARE_PAIRS in page and "d_shared_ir" in page
    assert "+98" not in page  # numbers only as keyed hashes
