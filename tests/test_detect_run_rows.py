"""What a detection run hands the store: clusters and memberships as schema rows, squads included."""

from __future__ import annotations

from graph.detect.results import Cluster
from graph.detect.run import member_rows


def _cluster(cluster_id: str, members: list[str], sub_groups: dict[str, str] | None = None) -> Cluster:
    return Cluster(
        cluster_id=cluster_id, members=members, score=0.9, kind="coordinated", reasons=[], features={},
        contributions={}, member_scores={a: 0.8 for a in members}, member_reasons={a: ["shares an IP"] for a in members},
        sub_groups=sub_groups or {},
    )


def test_member_rows_carry_each_account_s_sub_group_and_none_when_undivided():
    squads = {"a1": "S1", "a2": "S1", "a3": "S2"}
    operation = _cluster("C-op", list(squads), squads)
    single = _cluster("C-one", ["b1", "b2"])
    rows = member_rows([operation, single])
    assert {r["account_id"]: r["sub_group"] for r in rows if r["cluster_id"] == "C-op"} == squads
    assert [r["sub_group"] for r in rows if r["cluster_id"] == "C-one"] == [None, None]


def test_member_rows_round_trip_through_the_store(store):
    squads = {"a1": "S1", "a2": "S2"}
    store.save_run({"run_id": "r1"}, [{"cluster_id": "C-op", "score": 0.9, "size": 2}],
                   member_rows([_cluster("C-op", list(squads), squads)]))
    assert {m["account_id"]: m["sub_group"] for m in store.members("C-op")} == squads
