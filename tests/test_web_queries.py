"""The web UI's query functions, on a small hand-made case (see ``tests/webcase.py``).

Expected numbers are derived from the case's own event rows with pandas, not
copied from the functions' output.
"""

from __future__ import annotations

import json
from datetime import timedelta

import duckdb
import pandas as pd
import pytest
import webcase

from app.present.countries import country_name
from app.web import queries
from app.web.geo import alpha3, plotly_world_topology
from app.web.taxonomy import TAXONOMY, is_tlp, tag_family, taxonomy_options
from graph import triage, warehouse
from graph.schema import IP, USED_IP
from graph.store import open_store


@pytest.fixture
def case(workspace):
    store = open_store(workspace)
    built = webcase.build_case(workspace, store)
    yield built, store, warehouse.connect(workspace.db_path)
    store.close()


def test_totals_match_the_events(case):
    built, _, con = case
    events = built.events
    totals = queries.overview_totals(con)
    assert totals["requests"] == len(events)
    assert totals["accounts"] == events["account_id"].nunique()
    assert totals["ips"] == events["ip"].nunique()
    assert totals["lookups"] == events["phone_hash"].notna().sum()
    assert totals["matched"] == events["matched_account_id"].notna().sum()


def test_window_limits_every_aggregate(case):
    built, _, con = case
    start = webcase.T0 + timedelta(days=1)
    window = queries.Window(since=start)
    expected = built.events[built.events["ts"] >= start]
    assert queries.overview_totals(con, window)["requests"] == len(expected)
    by_country = queries.requests_by_country(con, window).set_index("country")["requests"].to_dict()
    assert by_country == expected.groupby("ip_country").size().to_dict()


def test_window_last_days_is_anchored_on_the_data_end(case):
    _, _, con = case
    _, end = queries.data_window(con)
    window = queries.Window.last(1, end)
    assert window.until > end and window.since == end - timedelta(days=1)
    assert queries.Window.last(None, end) == queries.Window()


def test_requests_over_time_adds_up_and_keeps_endpoints(case):
    built, _, con = case
    frame = queries.requests_over_time(con)
    assert frame["requests"].sum() == len(built.events)
    assert set(frame["endpoint"]) == set(built.events["endpoint"])
    folded = queries.requests_over_time(con, top_endpoints=1)
    assert set(folded["endpoint"]) == {"contacts/lookup", "other"}
    assert folded["requests"].sum() == len(built.events)


def test_bucket_width_is_readable_and_bounded():
    assert queries.bucket_seconds(timedelta(hours=2), 120) == 60
    assert queries.bucket_seconds(timedelta(days=14), 120) == 3 * 3600
    assert timedelta(days=14).total_seconds() / queries.bucket_seconds(timedelta(days=14), 120) <= 120


def test_top_ips_and_asns(case):
    built, store, con = case
    ips = queries.top_ips(con, limit=3)
    busiest = built.events.groupby("ip").size().sort_values(ascending=False)
    assert ips["requests"].tolist() == busiest.head(3).tolist()
    asns = queries.top_asns(con)
    hosting = built.events[built.events["ip_kind"] == "hosting"]["ip_asn"].unique()
    assert asns.set_index("asn").loc[int(hosting[0]), "hosting_share"] == 1.0
    names = queries.as_names(store, asns["sample_ip"].tolist())
    assert names[58224] == "TCI"


def test_run_members_and_countries(case):
    built, store, con = case
    members = queries.run_members(store, webcase.RUN_ID)
    assert sorted(members.groupby("cluster_id")["account_id"].apply(sorted).to_dict().items()) == sorted(
        (cid, sorted(accts)) for cid, accts in built.clusters.items())
    countries = queries.cluster_countries(con, members)
    iran = built.events[built.events["account_id"].isin(built.clusters["C-iran"])]
    assert countries["C-iran"] == [("IR", len(iran))]


def test_triage_queue_orders_filters_and_follows_labels(case):
    built, store, con = case
    countries = queries.cluster_countries(con, queries.run_members(store, webcase.RUN_ID))
    queue = queries.triage_queue(store, countries=countries)
    assert [item["cluster_id"] for item in queue] == ["C-iran", "C-israel", "C-lone"]
    assert {item["status"] for item in queue} == {"new"}
    assert [i["cluster_id"] for i in queries.triage_queue(store, min_score=0.6)] == ["C-iran", "C-israel"]
    assert [i["cluster_id"] for i in queries.triage_queue(store, countries=countries, country="il")] == ["C-israel"]

    triage.set_status(store, "C-israel", "dismissed", "benign carrier NAT", "tester")
    queue = queries.triage_queue(store, countries=countries)
    israel = next(item for item in queue if item["cluster_id"] == "C-israel")
    assert israel["status"] == "dismissed"
    # analyst time (the label) is kept apart from data time (the requests): neither stands for the other
    assert israel["updated_at"] is not None and israel["updated_at"] > israel["last_seen"]
    assert israel["last_seen"] == max(built.events[built.events["account_id"].isin(built.clusters["C-israel"])]["ts"])
    assert next(item for item in queue if item["cluster_id"] == "C-iran")["updated_at"] is None
    assert [i["cluster_id"] for i in queries.triage_queue(store, statuses=["new"])] == ["C-iran", "C-lone"]
    assert queries.status_counts(queue) == {"new": 2, "in_review": 0, "confirmed": 0, "dismissed": 1}
    with pytest.raises(ValueError, match="statuses"):
        queries.triage_queue(store, statuses=["closed"])


def test_triage_queue_time_window(case):
    _, store, _ = case
    later = queries.Window(since=webcase.T0 + timedelta(days=1))
    assert [i["cluster_id"] for i in queries.triage_queue(store, window=later)] == ["C-lone"]


def test_search_finds_each_kind(case):
    built, store, con = case
    members = queries.run_members(store, webcase.RUN_ID)
    handles = queries.handle_index(store)
    by_ip = queries.search(con, store, "5.160.10", members=members, handles=handles)
    assert {(h["kind"], h["key"]) for h in by_ip} == {("ip", "5.160.10.1"), ("ip", "5.160.10.2")}
    by_handle = queries.search(con, store, "@h_ir_3", members=members, handles=handles)
    assert by_handle[0] == {"kind": "account", "key": "ir_3", "detail": "@h_ir_3", "cluster_id": "C-iran",
                            "clusters": ["C-iran"]}
    assert queries.search(con, store, "d_lone", members=members)[0]["kind"] == "device"
    assert queries.search(con, store, "C-is")[0]["key"] == "C-israel"
    assert queries.search(con, store, "   ") == []
    # LIKE wildcards in the text are literal
    assert queries.search(con, store, "%") == []


def test_member_links_and_infrastructure(case):
    built, _, con = case
    accounts = built.clusters["C-iran"]
    links = queries.member_links(con, accounts)
    mine = built.events[built.events["account_id"].isin(accounts)]
    assert links[links["kind"] == "ip"]["requests"].sum() == len(mine)
    infra = queries.infrastructure_table(links)
    top = infra.iloc[0]
    assert (top["kind"], top["key"], top["members"]) == ("device", "d_shared_ir", len(accounts))


def test_graph_elements_collapse_hubs_and_respect_the_cap():
    members = [{"account_id": f"a{i}", "member_score": 1 - i / 1000} for i in range(300)]
    rows = [("ip", "hub", f"a{i}", 5, "IR", 1, "hosting") for i in range(300)]
    rows += [("ip", f"own{i}", f"a{i}", 1, "IR", 1, "residential") for i in range(300)]
    rows += [("device", f"pair{i // 2}", f"a{i}", 2, None, None, None) for i in range(300)]
    links = pd.DataFrame(rows, columns=["kind", "key", "account_id", "requests", "country", "asn", "ip_kind"])
    elements, stats = queries.cluster_graph_elements(members, links, cap=700, group_over=None)
    assert len(elements) <= 700 and stats["elements"] == len(elements)
    ids = {el["data"]["id"] for el in elements}
    assert "ip:hub" in ids and stats["hubs"] == 1
    hub_edges = [el for el in elements if el["data"].get("source") == "ip:hub"]
    assert len(hub_edges) == 1 and hub_edges[0]["data"]["target"] == "members"
    # shared devices (2 members each) come before single-member IPs
    assert any(i.startswith("dev:pair") for i in ids)
    assert stats["members"] + stats["members_hidden"] == 300
    assert stats["infra_hidden"] > 0
    node_ids = {el["data"]["id"] for el in elements if "source" not in el["data"]}
    assert all(el["data"]["source"] in node_ids and el["data"]["target"] in node_ids
               for el in elements if "source" in el["data"])
    with pytest.raises(ValueError):
        queries.cluster_graph_elements(members, links, cap=5)


def test_small_clusters_draw_everything(case):
    built, store, con = case
    members = store.members("C-lone", webcase.RUN_ID)
    elements, stats = queries.cluster_graph_elements(members, queries.member_links(con, ["lone_1"]))
    assert stats == {"members": 1, "members_hidden": 0, "infra": 2, "infra_hidden": 0, "hubs": 0,
                     "elements": len(elements), "groups": 0, "grouped_by": None}


def test_member_activity_is_the_lockstep_picture(case):
    built, _, con = case
    accounts = built.clusters["C-iran"]
    activity = queries.member_activity(con, accounts, bins=24)
    assert sorted(activity["y"]) == sorted(accounts)
    assert sum(map(sum, activity["z"])) == built.events["account_id"].isin(accounts).sum()
    # every member is active in exactly the same bins
    active = {tuple(i for i, n in enumerate(row) if n) for row in activity["z"]}
    assert len(active) == 1
    capped = queries.member_activity(con, accounts, max_rows=3)
    assert len(capped["y"]) == 3 and capped["rows_hidden"] == len(accounts) - 3
    assert queries.member_activity(con, [])["y"] == []


def test_traffic_mix_and_requests(case):
    built, _, con = case
    accounts = built.clusters["C-israel"]
    mine = built.events[built.events["account_id"].isin(accounts)]
    mix = queries.traffic_mix(con, accounts)
    assert mix["country"].set_index("country")["requests"].to_dict() == {"IL": len(mine)}
    assert mix["ip_kind"]["ips"].sum() == mine["ip"].nunique()
    rows = queries.member_requests(con, accounts, limit=7)
    assert len(rows) == 7 and rows["ts"].is_monotonic_decreasing
    through = queries.member_requests(con, accounts, ip="79.176.0.99")
    assert len(through) == (mine["ip"] == "79.176.0.99").sum()
    assert "phone_hash" not in rows.columns


def test_entity_activity(case):
    built, _, con = case
    activity = queries.entity_activity(con, "device", "d_shared_ir")
    used = built.events[built.events["device_id"] == "d_shared_ir"]
    assert activity["requests"] == len(used) and activity["accounts"] == used["account_id"].nunique()
    assert queries.entity_activity(con, "ip", "203.0.113.9")["requests"] == 0
    with pytest.raises(ValueError):
        queries.entity_activity(con, "phone", "x")


def test_expansion_steps_merge_and_undo(case):
    _, store, _ = case
    center = queries.neighbourhood_elements(queries.Neighbourhood(center={"_label": IP, "_key": "5.160.10.1"}))
    first = queries.neighbourhood_elements(store.neighbourhood(IP, "5.160.10.1", rel_types=[USED_IP], limit=2),
                                           step=1)
    merged = queries.merge_elements(center, first)
    assert len([e for e in merged if e["data"]["id"] == "ip:5.160.10.1"]) == 1
    assert len([e for e in merged if "source" in e["data"]]) == 2
    second = queries.neighbourhood_elements(store.neighbourhood(IP, "5.160.10.1", rel_types=[USED_IP], limit=4),
                                            step=2)
    merged2 = queries.merge_elements(merged, second)
    assert len([e for e in merged2 if "source" in e["data"]]) == 4
    assert queries.undo_last_step(merged2) == merged
    assert queries.undo_last_step(queries.undo_last_step(merged2)) == center
    assert queries.undo_last_step(center) == center


def test_audit_log_filters_and_jsonl(case):
    _, store, _ = case
    triage.set_status(store, "C-iran", "in_review", "looks coordinated", "ana")
    triage.add_tag(store, "cluster", "C-iran", "TLP:AMBER", "ana")
    triage.add_comment(store, "cluster", "C-lone", "enumerates MY blocks", "bob")
    assert [e["action"] for e in queries.audit_log(store, user="ana")] == ["label.tag", "label.status"]
    assert len(queries.audit_log(store, action="label.")) == 3
    assert [e["user"] for e in queries.audit_log(store, target="c-lone")] == ["bob"]
    lines = queries.audit_jsonl(queries.audit_log(store)).splitlines()
    parsed = [json.loads(line) for line in lines]
    assert len(parsed) == 3 and parsed[-1]["after"] == {"status": "in_review", "reason": "looks coordinated"}
    assert parsed[0]["at"].endswith("Z")


def test_countries_and_topology():
    assert alpha3("ir") == "IRN" and alpha3("XX") is None and alpha3(None) is None
    assert country_name("IR") == "Iran" and country_name("ZZ") == "ZZ"
    atlas = {"type": "Topology", "arcs": [], "objects": {"countries": {"type": "GeometryCollection", "geometries": [
        {"type": "Polygon", "arcs": [], "id": "364", "properties": {"name": "Iran"}},
        {"type": "Polygon", "arcs": [], "properties": {"name": "Kosovo"}},
        {"type": "Polygon", "arcs": [], "properties": {"name": "Somaliland"}}]}, "land": {}}}
    converted = plotly_world_topology(atlas)
    geometries = converted["objects"]["countries"]["geometries"]
    assert [g.get("id") for g in geometries] == ["IRN", "XKX", None]
    assert atlas["objects"]["countries"]["geometries"][0]["id"] == "364"  # input untouched


def test_bundled_map_has_the_countries_plotly_needs():
    from pathlib import Path

    import app.web

    path = Path(app.web.__file__).parent / "assets" / "topojson" / "world_110m.json"
    topology = json.loads(path.read_text())
    ids = {g.get("id") for g in topology["objects"]["countries"]["geometries"]}
    assert {"IRN", "ISR", "MYS", "USA"} <= ids and "land" in topology["objects"]


def test_taxonomy():
    values = [t.value for t in TAXONOMY]
    assert len(values) == len(set(values))
    assert {"TLP:CLEAR", "TLP:GREEN", "TLP:AMBER", "TLP:AMBER+STRICT", "TLP:RED"} <= set(values)
    assert is_tlp("TLP:RED") and not is_tlp("DISARM:T0090")
    assert tag_family("DISARM:T0090") == "DISARM" and tag_family("my-own") == "free"
    assert len(taxonomy_options()) == len(TAXONOMY)


def test_evidence_sections_shape_detection_output():
    from app.present.evidence import (
        attribution_summary,
        evidence_sections,
        exposure_summary,
        format_cell,
    )

    evidence = {
        "ips": {"total": 3, "top": [{"id": "5.160.10.1", "asn": 58224, "share": 0.5, "event_ids": ["e1", "e2"]}]},
        "devices": {"total": 0, "top": []},
        "blocks": {"total": 1, "top": [{"block": "f" * 64, "coverage": 1.0}]},
        "contributions": {"sharding": 1.5},
        "statistics": {"members": 6},
        "novel_signal": 7,
    }
    sections = evidence_sections(evidence)
    assert [s["key"] for s in sections] == ["ips", "blocks", "facts"]
    ips = sections[0]
    assert ips["columns"] == ["id", "asn", "share"] and ips["rows"] == [["5.160.10.1", "AS58224", "50%"]]
    assert ips["event_ids"] == [["e1", "e2"]] and ips["total"] == 3
    assert sections[1]["rows"][0][0] == "f" * 10 + "…"
    assert sections[2]["rows"] == [["novel signal", "7"]]
    assert format_cell("start", 1576708200000) == "2019-12-18 22:30"
    assert format_cell("accounts", ["a", "b", "c", "d"]) == "a, b, c +1"
    hints = dict(attribution_summary({"countries": [{"country": "IR", "share": 0.9}],
                                      "utc_offset": {"offset_hours": 3.5, "shape": "office hours", "fit": 0.8,
                                                     "margin": 0.2}}))
    assert hints["IP countries"] == "IR 90%" and hints["Operator clock"].startswith("UTC+3:30, office hours (moderate")
    by_country, facts = exposure_summary({"by_country": {"IR": 4}, "exposed_accounts": 4})
    assert by_country == {"IR": 4} and facts == [("Exposed accounts", "4")]
    assert exposure_summary({"IR": 120}) == ({"IR": 120}, [])


def test_evidence_requests_by_their_sampled_ids(case):
    built, _, con = case
    wanted = built.events["event_id"].head(3).tolist()
    accounts = built.events["account_id"].unique().tolist()
    found, total = queries.evidence_requests(con, accounts, {"event_ids": wanted})
    assert len(found) == 3 and total == 3
    assert queries.evidence_requests(con, accounts, {"event_ids": []})[1] == 0


def test_sub_groups_of_an_operation_and_of_one_group(case):
    built, store, _ = case
    cluster = queries.find_cluster(store, "C-iran")
    members = store.members("C-iran")
    squads = queries.sub_groups(cluster, members)
    # who uses which hosting IP, straight from the events
    iran = built.events[built.events["account_id"].isin(built.clusters["C-iran"])]
    on_ip = iran.groupby("ip")["account_id"].unique()
    assert [s["sub_group"] for s in squads] == sorted(webcase.SQUADS)
    for squad in squads:
        ip = webcase.SQUADS[squad["sub_group"]]
        assert set(squad["accounts"]) == set(on_ip[ip]) and squad["size"] == len(on_ip[ip])
        assert ip in squad["ties"]
        scores = {m["account_id"]: m["member_score"] for m in members}
        assert [scores[a] for a in squad["accounts"]] == sorted((scores[a] for a in squad["accounts"]), reverse=True)
    assert sum(s["size"] for s in squads) == len(built.clusters["C-iran"])
    assert queries.sub_groups(queries.find_cluster(store, "C-israel"), store.members("C-israel")) == []


def test_sub_groups_read_in_label_order_and_keep_squads_only_evidence_names():
    members = [{"account_id": f"a{i}", "member_score": 0.5, "sub_group": f"S{i}"} for i in (10, 2, 1)]
    cluster = {"evidence": {"sub_groups": [{"sub_group": "S3", "size": 4, "accounts": ["x1"], "ties": "one device"},
                                           {"sub_group": "S2", "size": 99, "ties": "one schedule"}]}}
    squads = queries.sub_groups(cluster, members)
    assert [s["sub_group"] for s in squads] == ["S1", "S2", "S3", "S10"]
    by_label = {s["sub_group"]: s for s in squads}
    assert by_label["S2"]["size"] == 1 and by_label["S2"]["ties"] == "one schedule"  # members count, evidence explains
    assert by_label["S3"] == {"sub_group": "S3", "size": 4, "ties": "one device", "accounts": ["x1"]}
    assert by_label["S1"]["ties"] == ""


def test_evidence_sections_show_squads_whole_or_leave_them_to_their_own_card():
    from app.present.evidence import evidence_sections

    ties = "every member works from hosting IP 5.160.10.1 on one schedule"
    evidence = {"ips": {"total": 1, "top": [{"id": "5.160.10.1"}]},
                "sub_groups": [{"sub_group": "S1", "size": 2, "accounts": ["a1", "a2"], "ties": ties}]}
    (ips, squads) = evidence_sections(evidence)
    assert squads["key"] == "sub_groups" and ties in squads["rows"][0]  # prose is not shortened like an id
    assert [s["key"] for s in evidence_sections(evidence, skip=("sub_groups",))] == ["ips"]


def test_country_table_orders_ties_by_country_so_kept_and_live_overviews_agree():
    """The overview lists the busiest countries first; countries with as many requests come in code order, so
    the overview ``ingest`` keeps and the one a page computes live list the same countries."""
    codes = [a + b for a in "ABCDEFGHIJ" for b in "KLMNOPQRST"]
    rows = [(code, f"{n}.0.0.1", f"acct-{n}") for n, code in enumerate(codes) for _ in range(2)]
    rows += [("ZZ", "9.9.9.9", "acct-z")] * 3 + [(None, "8.8.8.8", "acct-q")] * 2
    con = duckdb.connect()
    con.execute("CREATE TABLE events (ip_country VARCHAR, ip VARCHAR, account_id VARCHAR, ts TIMESTAMPTZ)")
    con.executemany("INSERT INTO events VALUES (?, ?, ?, TIMESTAMPTZ '2019-12-20 06:00Z')", rows[::-1])
    listed = queries.requests_by_country(con)["country"].tolist()
    assert listed == ["ZZ", *sorted([*codes, "??"])]
