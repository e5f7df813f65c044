"""The graph store contract, run against every backend (``store`` is parametrized in conftest).

Each test writes through the public interface and reads back through it, so
a backend passes only if it behaves the way :mod:`graph.store.base` says.
"""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta, timezone

import pyarrow as pa
import pytest

from graph.schema import (
    ACCOUNT,
    CLUSTER,
    DEVICE,
    IP,
    LOOKED_UP,
    MATCHED,
    MEMBER_OF,
    NODES,
    PHONE,
    RELATIONSHIPS,
    RUN,
    USED_DEVICE,
    USED_IP,
)
from graph.workspace import Workspace

T0 = datetime(2019, 12, 20, 6, 1, 2, 123000, tzinfo=UTC)


def at(hours: float) -> datetime:
    return T0 + timedelta(hours=hours)


def all_edges(store, rel_type, **kwargs) -> list[dict]:
    return [edge for batch in store.iter_edges(rel_type, **kwargs) for edge in batch]


# -- upserts ------------------------------------------------------------------------------------


def test_upsert_is_idempotent(store):
    accounts = [{"account_id": f"u{i}", "handle": f"h{i}", "followers": i} for i in range(5)]
    edges = [{"src": f"u{i}", "dst": "5.160.10.1", "count": i + 1, "first_seen": at(0), "last_seen": at(i)}
             for i in range(5)]
    for _ in range(2):
        assert store.upsert_nodes(ACCOUNT, accounts) == 5
        assert store.upsert_edges(USED_IP, edges) == 5
    counts = store.counts()
    assert counts[ACCOUNT] == 5
    assert counts[IP] == 1
    assert counts[USED_IP] == 5
    stored = {row["account_id"]: row for row in store.get_nodes(ACCOUNT, [f"u{i}" for i in range(5)])}
    assert {k: v["followers"] for k, v in stored.items()} == {f"u{i}": i for i in range(5)}
    assert sorted(e["count"] for e in all_edges(store, USED_IP)) == [1, 2, 3, 4, 5]


def test_none_and_absent_properties_do_not_overwrite(store):
    store.upsert_nodes(ACCOUNT, [{"account_id": "u1", "handle": "nightowl", "lang": "fa", "followers": 7}])
    store.upsert_nodes(ACCOUNT, [{"account_id": "u1", "handle": None, "lang": "en"}])
    node = store.get_node(ACCOUNT, "u1")
    assert node["handle"] == "nightowl"
    assert node["lang"] == "en"
    assert node["followers"] == 7
    assert node["created_at"] is None  # every schema property is present, unset ones as None

    store.upsert_edges(USED_IP, [{"src": "u1", "dst": "1.1.1.1", "count": 3, "first_seen": at(0), "last_seen": at(1)}])
    store.upsert_edges(USED_IP, [{"src": "u1", "dst": "1.1.1.1", "count": 4, "last_seen": None}])
    (edge,) = all_edges(store, USED_IP)
    assert (edge["count"], edge["first_seen"], edge["last_seen"]) == (4, at(0), at(1))


def test_a_time_one_row_of_a_batch_lacks_keeps_its_stored_value_while_the_others_change(store):
    first = [{"src": f"u{i}", "dst": "1.1.1.1", "count": 1, "first_seen": at(0), "last_seen": at(1)} for i in range(2)]
    store.upsert_edges(USED_IP, first)
    store.upsert_changed_edges(USED_IP, [{"src": "u0", "dst": "1.1.1.1", "count": 2, "last_seen": at(5)},
                                         {"src": "u1", "dst": "1.1.1.1", "count": 2}], new=False)
    stored = {e["src"]: (e["count"], e["first_seen"], e["last_seen"]) for e in all_edges(store, USED_IP)}
    assert stored == {"u0": (2, at(0), at(5)), "u1": (2, at(0), at(1))}


def test_nodes_said_new_are_written_like_upserts_even_when_a_resumed_run_wrote_them(store):
    store.upsert_new_nodes(ACCOUNT, [{"account_id": "u1", "handle": "nightowl", "created_at": at(0), "followers": 7}])
    rows = [{"account_id": "u1", "handle": None, "lang": "fa"}, {"account_id": "u2", "handle": "other"},
            {"account_id": "u2", "followers": 3}]
    assert store.upsert_new_nodes(ACCOUNT, rows) == 2  # u1 exists: no error, nothing doubled
    stored = {row["account_id"]: row for row in store.get_nodes(ACCOUNT, ["u1", "u2"])}
    assert (stored["u1"]["handle"], stored["u1"]["lang"], stored["u1"]["followers"]) == ("nightowl", "fa", 7)
    assert stored["u1"]["created_at"] == at(0)
    assert (stored["u2"]["handle"], stored["u2"]["followers"], stored["u2"]["created_at"]) == ("other", 3, None)
    assert store.counts()[ACCOUNT] == 2


def test_duplicate_keys_in_one_batch_merge_later_rows_winning(store):
    written = store.upsert_nodes(
        ACCOUNT,
        [
            {"account_id": "u1", "handle": "first", "lang": "fa"},
            {"account_id": "u2", "handle": "other"},
            {"account_id": "u1", "handle": "second", "lang": None, "followers": 3},
        ],
    )
    assert written == 2
    node = store.get_node(ACCOUNT, "u1")
    assert (node["handle"], node["lang"], node["followers"]) == ("second", "fa", 3)
    store.upsert_edges(USED_IP, [{"src": "u1", "dst": "1.1.1.1", "count": 1}, {"src": "u1", "dst": "1.1.1.1", "count": 2}])
    assert [e["count"] for e in all_edges(store, USED_IP)] == [2]


@pytest.mark.parametrize(
    "bad_row",
    [
        {"account_id": None, "handle": "nokey"},
        {"account_id": "", "handle": "emptykey"},
        {"account_id": "u9", "followers": "many"},
        {"account_id": "u9", "no_such_property": 1},
        {"account_id": "u9", "created_at": "yesterday"},
    ],
    ids=["missing-key", "empty-key", "wrong-type", "unknown-property", "timestamp-as-text"],
)
def test_a_batch_with_a_bad_row_writes_nothing(store, bad_row):
    store.upsert_nodes(ACCOUNT, [{"account_id": "u1", "handle": "before"}])
    rows = [{"account_id": "u1", "handle": "after"}, {"account_id": "u2"}, bad_row]
    with pytest.raises(ValueError):
        store.upsert_nodes(ACCOUNT, rows)
    assert store.counts()[ACCOUNT] == 1
    assert store.get_node(ACCOUNT, "u1")["handle"] == "before"


def test_an_edge_batch_with_a_bad_row_writes_nothing(store):
    rows = [{"src": "u1", "dst": "1.1.1.1", "count": 1}, {"src": "u2", "dst": None, "count": 1}]
    with pytest.raises(ValueError):
        store.upsert_edges(USED_IP, rows)
    counts = store.counts()
    assert (counts[ACCOUNT], counts[IP], counts[USED_IP]) == (0, 0, 0)


def test_edge_upsert_creates_missing_endpoints_and_keeps_existing_ones(store):
    store.upsert_nodes(IP, [{"ip": "5.160.10.1", "country": "IR", "asn": 58224}])
    store.upsert_edges(USED_IP, [{"src": "u1", "dst": "5.160.10.1", "count": 2},
                                 {"src": "u2", "dst": "5.160.10.2", "count": 1}])
    counts = store.counts()
    assert (counts[ACCOUNT], counts[IP], counts[USED_IP]) == (2, 2, 2)
    assert store.get_node(ACCOUNT, "u1")["account_id"] == "u1"
    assert store.get_node(ACCOUNT, "u1")["handle"] is None
    kept = store.get_node(IP, "5.160.10.1")
    assert (kept["country"], kept["asn"]) == ("IR", 58224)
    created = store.get_node(IP, "5.160.10.2")
    assert created["ip"] == "5.160.10.2"
    assert created["country"] is None


def test_arrow_table_rows_behave_like_dict_rows(store):
    table = pa.table(
        {
            "src": ["u1", "u2"],
            "dst": ["d1", "d2"],
            "count": pa.array([3, None], pa.int64()),
            "first_seen": pa.array([at(0), at(1)], pa.timestamp("us", tz="UTC")),
            "last_seen": pa.array([at(2), at(3)], pa.timestamp("us", tz="UTC")),
        }
    )
    assert store.upsert_edges(USED_DEVICE, table) == 2
    edges = sorted(all_edges(store, USED_DEVICE), key=lambda e: e["src"])
    assert [(e["src"], e["dst"], e["count"], e["last_seen"]) for e in edges] == [
        ("u1", "d1", 3, at(2)),
        ("u2", "d2", None, at(3)),
    ]
    assert store.counts()[DEVICE] == 2


def test_unknown_names_are_value_errors(store):
    with pytest.raises(ValueError, match="unknown node label"):
        store.upsert_nodes("Acount", [{"account_id": "u1"}])
    with pytest.raises(ValueError, match="unknown node label"):
        store.get_nodes("Acount", ["u1"])
    with pytest.raises(ValueError, match="unknown relationship type"):
        store.upsert_edges("USES_IP", [{"src": "u1", "dst": "1.1.1.1"}])
    with pytest.raises(ValueError, match="unknown relationship type"):
        list(store.iter_edges("USES_IP"))
    with pytest.raises(ValueError, match="unknown relationship type"):
        store.neighbourhood(ACCOUNT, "u1", rel_types=["USES_IP"])
    assert sum(store.counts().values()) == 0


# -- values ---------------------------------------------------------------------------------------


def test_timestamps_round_trip_as_timezone_aware_utc(store):
    tehran = timezone(timedelta(hours=3, minutes=30))
    local = datetime(2019, 12, 24, 9, 31, 2, 250000, tzinfo=tehran)
    naive = datetime(2019, 12, 24, 6, 1, 2, 500000)  # naive means UTC
    store.upsert_nodes(ACCOUNT, [{"account_id": "u1", "created_at": local}, {"account_id": "u2", "created_at": naive}])
    first = store.get_node(ACCOUNT, "u1")["created_at"]
    second = store.get_node(ACCOUNT, "u2")["created_at"]
    assert first == local
    assert first.utcoffset() == timedelta(0)
    assert (first.hour, first.minute, first.microsecond) == (6, 1, 250000)
    assert second == naive.replace(tzinfo=UTC)
    assert second.utcoffset() == timedelta(0)


def test_json_properties_round_trip(store):
    extra = {"tier": "free", "scores": [0.5, 1, None], "nested": {"ok": True}, "name": "نوید"}
    store.upsert_nodes(ACCOUNT, [{"account_id": "u1", "extra": extra}])
    assert store.get_node(ACCOUNT, "u1")["extra"] == extra
    store.upsert_nodes(ACCOUNT, [{"account_id": "u1", "extra": None, "lang": "fa"}])
    assert store.get_node(ACCOUNT, "u1")["extra"] == extra


def test_iter_nodes_yields_every_node_in_batches(store):
    store.upsert_nodes(PHONE, [{"phone_hash": f"p{i}", "block_ordinal": i} for i in range(7)])
    batches = list(store.iter_nodes(PHONE, batch_size=3))
    assert [len(b) for b in batches] == [3, 3, 1]
    assert sorted(row["block_ordinal"] for b in batches for row in b) == list(range(7))


# -- streaming edges ---------------------------------------------------------------------------------


def test_iter_edges_windows_and_batches(store):
    # edge i is active during hours [i, i + 1]
    store.upsert_edges(
        LOOKED_UP,
        [{"src": "u1", "dst": f"p{i}", "count": 1, "first_seen": at(i), "last_seen": at(i + 1)} for i in range(5)],
    )
    batches = list(store.iter_edges(LOOKED_UP, batch_size=2))
    assert [len(b) for b in batches] == [2, 2, 1]
    assert sorted(e["dst"] for b in batches for e in b) == [f"p{i}" for i in range(5)]

    def window(**kwargs):
        return sorted(e["dst"] for e in all_edges(store, LOOKED_UP, **kwargs))

    assert window(since=at(3.5)) == ["p3", "p4"]
    assert window(until=at(0.5)) == ["p0"]
    assert window(since=at(1.5), until=at(2.5)) == ["p1", "p2"]
    assert window(since=at(2), until=at(2)) == ["p1", "p2"]  # touching ends count as overlap
    assert window(since=at(10)) == []


def test_iter_edges_window_ignored_for_types_without_times(store):
    store.save_run({"run_id": "r1", "started_at": at(0)}, [{"cluster_id": "C1", "score": 0.9}],
                   [{"account_id": "u1", "cluster_id": "C1", "member_score": 0.8}])
    assert len(all_edges(store, MEMBER_OF, since=at(100))) == 1


# -- neighbourhoods -------------------------------------------------------------------------------


@pytest.fixture
def hub(store):
    """An account with 5 IPs (counts 1..5), 2 devices and one looked-up phone that matched another account."""
    store.upsert_nodes(ACCOUNT, [{"account_id": "hub", "handle": "the_hub"}])
    store.upsert_nodes(IP, [{"ip": "10.0.0.5", "country": "MY"}])
    store.upsert_edges(USED_IP, [
        {"src": "hub", "dst": f"10.0.0.{i}", "count": i, "first_seen": at(i), "last_seen": at(i + 1)} for i in range(1, 6)
    ])
    store.upsert_edges(USED_DEVICE, [
        {"src": "hub", "dst": f"d{i}", "count": 10 + i, "first_seen": at(0), "last_seen": at(1)} for i in range(2)
    ])
    store.upsert_edges(LOOKED_UP, [{"src": "hub", "dst": "ph1", "count": 6, "first_seen": at(20), "last_seen": at(21)}])
    store.upsert_edges(MATCHED, [{"src": "ph1", "dst": "victim", "count": 6, "first_seen": at(20), "last_seen": at(21)}])
    return store


def test_neighbourhood_busiest_first_with_limit_and_total(hub):
    found = hub.neighbourhood(ACCOUNT, "hub", limit=4)
    assert found.center["_label"] == ACCOUNT
    assert found.center["_key"] == "hub"
    assert found.center["handle"] == "the_hub"
    assert found.total == 8
    assert found.truncated is True
    assert [(e["type"], e["dst"], e["count"]) for e in found.edges] == [
        (USED_DEVICE, "d1", 11),
        (USED_DEVICE, "d0", 10),
        (LOOKED_UP, "ph1", 6),
        (USED_IP, "10.0.0.5", 5),
    ]
    edge = found.edges[-1]
    assert (edge["src"], edge["src_label"], edge["dst_label"]) == ("hub", ACCOUNT, IP)
    assert edge["first_seen"] == at(5)
    nodes = {(n["_label"], n["_key"]): n for n in found.nodes}
    assert set(nodes) == {(DEVICE, "d1"), (DEVICE, "d0"), (PHONE, "ph1"), (IP, "10.0.0.5")}
    assert nodes[(IP, "10.0.0.5")]["country"] == "MY"


def test_neighbourhood_without_truncation_and_with_filters(hub):
    everything = hub.neighbourhood(ACCOUNT, "hub", limit=100)
    assert (everything.total, len(everything.edges), everything.truncated) == (8, 8, False)

    only_ips = hub.neighbourhood(ACCOUNT, "hub", rel_types=[USED_IP], limit=2)
    assert [e["dst"] for e in only_ips.edges] == ["10.0.0.5", "10.0.0.4"]
    assert (only_ips.total, only_ips.truncated) == (5, True)

    windowed = hub.neighbourhood(ACCOUNT, "hub", rel_types=[USED_IP, LOOKED_UP], since=at(4.5), until=at(20.5))
    assert sorted(e["dst"] for e in windowed.edges) == ["10.0.0.4", "10.0.0.5", "ph1"]

    # the phone sees the relationship in both directions: looked up by hub, matched victim
    phone = hub.neighbourhood(PHONE, "ph1")
    assert sorted((e["type"], e["src"], e["dst"]) for e in phone.edges) == [
        (LOOKED_UP, "hub", "ph1"),
        (MATCHED, "ph1", "victim"),
    ]
    assert {n["_key"] for n in phone.nodes} == {"hub", "victim"}


def test_neighbourhood_of_a_missing_node_is_empty(hub):
    found = hub.neighbourhood(ACCOUNT, "nobody")
    assert (found.center, found.nodes, found.edges, found.total, found.truncated) == (None, [], [], 0, False)


def test_neighbour_counts(hub):
    counts = hub.neighbour_counts(ACCOUNT, "hub")
    assert counts[USED_IP] == 5
    assert counts[USED_DEVICE] == 2
    assert counts[LOOKED_UP] == 1
    assert counts[MATCHED] == 0
    assert hub.neighbour_counts(ACCOUNT, "hub", since=at(4.5), until=at(19))[USED_IP] == 2
    assert hub.neighbour_counts(PHONE, "ph1") == {LOOKED_UP: 1, MATCHED: 1}


# -- detection runs ----------------------------------------------------------------------------------


def _run(run_id: str, hours: float) -> dict:
    return {"run_id": run_id, "started_at": at(hours), "finished_at": at(hours + 0.1), "params": {"seed": 7}}


def test_save_run_and_read_clusters_and_members(store):
    store.save_run(
        _run("r1", 0),
        [
            {"cluster_id": "C-a", "score": 0.4, "size": 1, "reasons": ["one account"], "first_seen": at(1)},
            {"cluster_id": "C-b", "score": 0.9, "size": 2, "evidence": {"shared_ips": ["5.160.10.1"]}},
        ],
        [
            {"account_id": "u1", "cluster_id": "C-b", "member_score": 0.7, "reasons": ["shares an IP"]},
            {"account_id": "u2", "cluster_id": "C-b", "member_score": 0.95},
            {"account_id": "u3", "cluster_id": "C-a", "member_score": 1.0},
        ],
    )
    assert [c["cluster_id"] for c in store.clusters()] == ["C-b", "C-a"]
    best = store.clusters("r1")[0]
    assert best["run_id"] == "r1"
    assert best["evidence"] == {"shared_ips": ["5.160.10.1"]}
    assert store.clusters("r1")[1]["first_seen"] == at(1)
    members = store.members("C-b")
    assert [(m["account_id"], m["member_score"]) for m in members] == [("u2", 0.95), ("u1", 0.7)]
    assert members[1]["reasons"] == ["shares an IP"]
    assert members[0]["run_id"] == "r1"
    assert store.runs()[0]["params"] == {"seed": 7}
    counts = store.counts()
    assert (counts[RUN], counts[CLUSTER], counts[MEMBER_OF], counts[ACCOUNT]) == (1, 2, 3, 3)


def test_members_keep_their_sub_group(store):
    squads = {"u1": "S1", "u2": "S1", "u3": "S2"}
    store.save_run(
        _run("r1", 0),
        [{"cluster_id": "C-op", "score": 0.9, "size": 3}, {"cluster_id": "C-one", "score": 0.6, "size": 2}],
        [{"account_id": a, "cluster_id": "C-op", "member_score": 0.9, "sub_group": g} for a, g in squads.items()]
        + [{"account_id": "u4", "cluster_id": "C-one", "member_score": 0.8},
           {"account_id": "u5", "cluster_id": "C-one", "member_score": 0.7, "sub_group": ""}],
    )
    assert {m["account_id"]: m["sub_group"] for m in store.members("C-op")} == squads
    # a cluster that is one group has no sub-groups, whether the row left it out or gave it empty
    assert [m["sub_group"] for m in store.members("C-one")] == [None, None]
    stored = {e["src"]: e["sub_group"] for e in all_edges(store, MEMBER_OF)}
    assert stored == {**squads, "u4": None, "u5": None}
    with pytest.raises(ValueError):
        store.save_run(_run("r1", 0), [{"cluster_id": "C-op", "score": 0.9}],
                       [{"account_id": "u1", "cluster_id": "C-op", "member_score": 0.9, "sub_group": 1}])
    assert {m["account_id"]: m["sub_group"] for m in store.members("C-op")} == squads


def test_save_run_again_replaces_its_clusters_whole(store):
    store.save_run(_run("r1", 0), [{"cluster_id": "C-a", "score": 0.4}, {"cluster_id": "C-b", "score": 0.9}],
                   [{"account_id": "u1", "cluster_id": "C-a", "member_score": 0.5},
                    {"account_id": "u2", "cluster_id": "C-b", "member_score": 0.5}])
    store.save_run(_run("r1", 0), [{"cluster_id": "C-b", "score": 0.8}],
                   [{"account_id": "u3", "cluster_id": "C-b", "member_score": 0.6}])
    assert [(c["cluster_id"], c["score"]) for c in store.clusters("r1")] == [("C-b", 0.8)]
    assert [m["account_id"] for m in store.members("C-b", "r1")] == ["u3"]
    assert store.members("C-a", "r1") == []
    counts = store.counts()
    assert (counts[RUN], counts[CLUSTER], counts[MEMBER_OF]) == (1, 1, 1)


def test_save_run_with_a_bad_member_changes_nothing(store):
    store.save_run(_run("r1", 0), [{"cluster_id": "C-a", "score": 0.4}],
                   [{"account_id": "u1", "cluster_id": "C-a", "member_score": 0.5}])
    with pytest.raises(ValueError):
        store.save_run(_run("r1", 0), [{"cluster_id": "C-b", "score": 0.9}],
                       [{"account_id": "u2", "cluster_id": "C-unknown", "member_score": 0.5}])
    with pytest.raises(ValueError):
        store.save_run(_run("r1", 0), [{"cluster_id": "C-b", "score": "high"}], [])
    with pytest.raises(ValueError):
        store.save_run(_run("r1", 0), [{"cluster_id": "C-b", "score": 0.9}],
                       [{"account_id": "u2", "cluster_id": "C-b", "member_score": "strong"}])
    assert [c["cluster_id"] for c in store.clusters("r1")] == ["C-a"]
    assert [m["account_id"] for m in store.members("C-a")] == ["u1"]


def test_latest_run_history_and_members_per_run(store):
    store.save_run(_run("r-old", 0), [{"cluster_id": "C-a", "score": 0.6, "size": 2}],
                   [{"account_id": "u1", "cluster_id": "C-a", "member_score": 0.9},
                    {"account_id": "u2", "cluster_id": "C-a", "member_score": 0.8}])
    store.save_run(_run("r-new", 48), [{"cluster_id": "C-a", "score": 0.7, "size": 1},
                                       {"cluster_id": "C-z", "score": 0.99, "size": 1}],
                   [{"account_id": "u1", "cluster_id": "C-a", "member_score": 0.9},
                    {"account_id": "u9", "cluster_id": "C-z", "member_score": 0.9}])
    store.save_run(_run("r-only-b", 24), [{"cluster_id": "C-b", "score": 0.5}], [])
    assert [r["run_id"] for r in store.runs()] == ["r-new", "r-only-b", "r-old"]
    assert store.latest_run()["run_id"] == "r-new"
    assert [c["cluster_id"] for c in store.clusters()] == ["C-z", "C-a"]
    history = store.cluster_history("C-a")
    assert [(h["run_id"], h["size"]) for h in history] == [("r-old", 2), ("r-new", 1)]
    assert [m["account_id"] for m in store.members("C-a")] == ["u1"]
    assert [m["account_id"] for m in store.members("C-a", "r-old")] == ["u1", "u2"]
    # a cluster missing from the latest run still shows the members of the last run that found it
    assert store.members("C-b") == []
    assert store.cluster_history("C-b")[0]["run_id"] == "r-only-b"
    assert store.cluster_history("C-nothing") == []


def test_no_runs_yet(store):
    assert store.runs() == []
    assert store.latest_run() is None
    assert store.clusters() == []
    assert store.members("C-a") == []


# -- labels and audit ----------------------------------------------------------------------------------


def test_labels_are_appended_and_read_oldest_first(store):
    written = store.append_labels([
        {"entity": "cluster", "entity_id": "C-a", "kind": "status", "value": "in_review", "created_by": "ana"},
        {"entity": "cluster", "entity_id": "C-a", "kind": "status", "value": "confirmed", "created_by": "ana"},
        {"entity": "account", "entity_id": "u1", "kind": "label", "value": "suspended", "source": "labels.csv",
         "details": {"confidence": "high"}, "created_at": at(-100)},
    ])
    assert written == 3
    store.append_labels([{"entity": "cluster", "entity_id": "C-a", "kind": "comment", "value": "seen before"}])
    everything = store.labels()
    assert [row["value"] for row in everything] == ["suspended", "in_review", "confirmed", "seen before"]
    assert all(row["label_id"] and row["created_at"].utcoffset() == timedelta(0) for row in everything)
    assert [row["value"] for row in store.labels("cluster", "C-a")] == ["in_review", "confirmed", "seen before"]
    assert [row["details"] for row in store.labels("account")] == [{"confidence": "high"}]
    assert store.labels("account", "u2") == []


def test_labels_are_never_overwritten(store):
    (first,) = [dict(row) for row in [{"label_id": "lbl-1", "entity": "ip", "entity_id": "1.1.1.1",
                                       "kind": "label", "value": "benign"}]]
    store.append_labels([first])
    with pytest.raises(ValueError, match="append-only"):
        store.append_labels([{**first, "value": "malicious"},
                             {"entity": "ip", "entity_id": "2.2.2.2", "kind": "label", "value": "x"}])
    assert [row["value"] for row in store.labels()] == ["benign"]
    with pytest.raises(ValueError):
        store.append_labels([{"entity": "planet", "entity_id": "x", "kind": "label", "value": "y"}])
    with pytest.raises(ValueError):
        store.append_labels([{"entity": "ip", "entity_id": "x", "kind": "mood", "value": "y"}])
    assert len(store.labels()) == 1


def test_audit_events_newest_first_with_target_and_limit(store):
    store.append_audit([{"user": "ana", "action": "label.status", "target": "cluster:C-a",
                         "before": {"status": "new"}, "after": {"status": "in_review"}, "at": at(1)}])
    store.append_audit([{"user": "ana", "action": "export", "target": "workspace", "at": at(2)}])
    store.append_audit([{"user": "bo", "action": "label.status", "target": "cluster:C-a",
                         "before": {"status": "in_review"}, "after": {"status": "confirmed"}}])
    events = store.audit_events()
    assert [e["user"] for e in events] == ["bo", "ana", "ana"]
    assert events[0]["event_id"] and events[0]["at"] > at(2)
    on_cluster = store.audit_events("cluster:C-a")
    assert [e["after"] for e in on_cluster] == [{"status": "confirmed"}, {"status": "in_review"}]
    assert [e["action"] for e in store.audit_events(limit=1)] == ["label.status"]
    with pytest.raises(ValueError):
        store.append_audit([{"user": "ana", "target": "x"}])
    assert len(store.audit_events()) == 3


def test_counts_name_every_label_and_type(store):
    counts = store.counts()
    assert set(counts) == {n.label for n in NODES} | {r.type for r in RELATIONSHIPS}
    assert set(counts.values()) == {0}
    store.upsert_edges(USED_IP, [{"src": "u1", "dst": "1.1.1.1"}])
    counts = store.counts()
    assert (counts[ACCOUNT], counts[IP], counts[USED_IP], counts[DEVICE]) == (1, 1, 1, 0)


def test_ensure_schema_is_idempotent_and_keeps_data(store):
    store.upsert_nodes(ACCOUNT, [{"account_id": "u1"}])
    store.ensure_schema()
    store.ensure_schema()
    assert store.counts()[ACCOUNT] == 1


# -- concurrency (embedded: the UI reads while ingest writes) ---------------------------------------------


@pytest.mark.parametrize("store", ["embedded"], indirect=True)
def test_a_reader_thread_reads_while_a_writer_writes(store):
    batches, size = 20, 500
    errors: list[BaseException] = []
    seen: list[int] = []
    done = threading.Event()

    def read() -> None:
        try:
            while not done.is_set():
                seen.append(store.counts()[USED_IP])
                store.neighbourhood(ACCOUNT, "u0", limit=5)
        except BaseException as exc:  # noqa: BLE001 - reported by the assertion below
            errors.append(exc)

    reader = threading.Thread(target=read)
    reader.start()
    try:
        for b in range(batches):
            store.upsert_edges(USED_IP, [{"src": f"u{i % 50}", "dst": f"10.{b}.{i // 250}.{i % 250}", "count": 1}
                                         for i in range(size)])
    finally:
        done.set()
        reader.join(timeout=30)
    assert not errors, errors
    assert seen, "the reader never got an answer"
    assert seen == sorted(seen)  # committed batches only, never going back
    assert all(count % size == 0 for count in seen)  # never a half-written batch
    assert store.counts()[USED_IP] == batches * size


@pytest.mark.parametrize("store", ["neo4j"], indirect=True)
def test_a_failure_late_in_a_chunked_neo4j_write_rolls_back_every_chunk(store):
    store.chunk_size = 2  # several UNWIND statements in one transaction
    store.append_labels([{"label_id": "lbl-taken", "entity": "ip", "entity_id": "1.1.1.1", "kind": "label",
                          "value": "benign"}])
    rows = [{"entity": "ip", "entity_id": f"10.0.0.{i}", "kind": "label", "value": "x"} for i in range(5)]
    rows.append({"label_id": "lbl-taken", "entity": "ip", "entity_id": "1.1.1.1", "kind": "label", "value": "y"})
    with pytest.raises(ValueError, match="append-only"):
        store.append_labels(rows)  # the clash is found by the server only in the third chunk
    assert [row["value"] for row in store.labels()] == ["benign"]


@pytest.mark.parametrize("store", ["embedded"], indirect=True)
def test_the_embedded_store_outlives_closing_the_process_connection(store):
    from graph import warehouse

    store.upsert_nodes(ACCOUNT, [{"account_id": "u1"}])
    warehouse.close_all()  # what the end of an in-process CLI command does
    assert store.get_node(ACCOUNT, "u1")["account_id"] == "u1"
    store.upsert_nodes(ACCOUNT, [{"account_id": "u2"}])
    assert store.counts()[ACCOUNT] == 2


# -- placement ---------------------------------------------------------------------------------


def test_only_the_embedded_store_shares_the_workspace_warehouse(store, tmp_path):
    """Ingest writes the graph with SQL in place only when it lives in the warehouse file itself."""
    warehouse_file = Workspace.open(tmp_path / "store-workspace").db_path
    assert store.shares_warehouse(warehouse_file) == (store.backend == "embedded")
    assert store.shares_warehouse(str(warehouse_file)) == (store.backend == "embedded")
    assert not store.shares_warehouse(tmp_path / "another.duckdb")
