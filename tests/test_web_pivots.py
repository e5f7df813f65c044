"""Readable graphs, pivots both ways and the requests behind evidence (issue 15, items 1, 3 and 10), as queries.

The small hand-made case of ``tests/webcase.py`` for the reads; synthetic
member links for the drawing of a big cluster, whose numbers are chosen so
that each grouping level is the answer once.
"""

from __future__ import annotations

import doctest

import pandas as pd
import pytest
import webcase
from test_web_queries import case  # noqa: F401 - the hand-made case, written once

from app.web import cytoscape, evidence, queries
from app.web.queries import evidence as evidence_queries
from graph.schema import ACCOUNT, IP

LINK_COLUMNS = ["kind", "key", "account_id", "requests", "country", "asn", "ip_kind"]


def _proxy_cluster(ips: int = 300, asns: int = 3) -> tuple[list[dict], pd.DataFrame]:
    """15 members on 3 shared devices and ``ips`` residential IPs spread over ``asns`` ASNs and a /24 for every 8 of them."""
    members = [{"account_id": f"m{i:02d}", "member_score": 1 - i / 100} for i in range(15)]
    rows = [("device", f"dev{i % 3}", m["account_id"], 50, None, None, None) for i, m in enumerate(members)]
    for n in range(ips):
        rows.append(("ip", f"10.{n % asns}.{n // 8}.{n % 250}", f"m{n % 15:02d}", 3, ["IR", "TR", "AE"][n % asns],
                     64500 + n % asns, "residential"))
    rows += [("ip", "10.0.250.1", m["account_id"], 9, "IR", 64500, "residential") for m in members]  # a hub
    rows.append(("ip", "192.0.2.1", "m00", 1, "IR", 64500, "residential"))  # the only IP m00 and m01 share
    rows.append(("ip", "192.0.2.1", "m01", 1, "IR", 64500, "residential"))
    return members, pd.DataFrame(rows, columns=LINK_COLUMNS)


def _check_edges(elements: list[dict]) -> None:
    nodes = {el["data"]["id"] for el in elements if "source" not in el["data"]}
    assert len(nodes) == len([el for el in elements if "source" not in el["data"]]), "node ids repeat"
    for el in elements:
        if "source" in el["data"]:
            assert el["data"]["source"] in nodes and el["data"]["target"] in nodes
        elif el["data"].get("parent"):
            assert el["data"]["parent"] in nodes


def test_a_big_cluster_groups_its_ips_by_the_finest_level_that_fits():
    members, links = _proxy_cluster()
    elements, stats = queries.cluster_graph_elements(members, links, as_orgs={64500: "Proxy Org"})
    _check_edges(elements)
    # 300 IPs over 3 ASNs and ~110 /24s: prefixes would still be too many, ASNs fit
    assert stats["grouped_by"] == "asn" and stats["groups"] == 3
    groups = [el for el in elements if el["data"].get("kind") == "group"]
    assert sorted(g["data"]["id"] for g in groups) == ["grp:asn:64500", "grp:asn:64501", "grp:asn:64502"]
    first = next(g for g in groups if g["data"]["id"] == "grp:asn:64500")
    ips_in_first = links[(links["kind"] == "ip") & (links["asn"] == 64500)]["key"].nunique()
    assert first["data"]["ips"] == ips_in_first and first["data"]["label"] == f"AS64500 Proxy Org · {ips_in_first} IPs"
    assert first["data"]["href"] == "/entity/asn/64500"
    assert "open" not in first["classes"]
    assert not [el for el in elements if el["data"]["id"].startswith("ip:")], "closed groups draw no IPs"
    assert len([el for el in elements if "source" not in el["data"]]) <= 60
    # the devices stay drawn one by one, every node with a page carries it
    assert {el["data"]["href"] for el in elements if el["data"].get("kind") == "device"} == {
        "/entity/device/dev0", "/entity/device/dev1", "/entity/device/dev2"}


def test_one_group_opens_at_a_time():
    members, links = _proxy_cluster()
    elements, stats = queries.cluster_graph_elements(members, links, expanded="grp:asn:64501")
    _check_edges(elements)
    opened = [el for el in elements if el["data"]["id"] == "grp:asn:64501"][0]
    assert "open" in opened["classes"]
    inside = [el for el in elements if el["data"].get("parent") == "grp:asn:64501"]
    assert len(inside) == links[(links["kind"] == "ip") & (links["asn"] == 64501)]["key"].nunique()
    assert all(el["data"]["kind"] == "ip" for el in inside)
    others = [el for el in elements if el["data"].get("parent") in ("grp:asn:64500", "grp:asn:64502")]
    assert others == []
    # the open group's IPs are tied to their members, the closed ones by one edge a member
    assert not [el for el in elements if el["data"].get("target") == "grp:asn:64501"]
    assert len([el for el in elements if el["data"].get("target") == "grp:asn:64500"]) == 15
    assert stats["hubs"] == 0, "the hub is in a closed group"
    # a hub inside the open group: drawn in it, one edge to the members' box
    _, with_hub = queries.cluster_graph_elements(members, links, expanded="grp:asn:64500")
    hub = [el for el in _ if el["data"]["id"] == "ip:10.0.250.1"][0]
    assert "hub" in hub["classes"] and hub["data"]["parent"] == "grp:asn:64500" and with_hub["hubs"] == 1
    assert [el["data"]["target"] for el in _ if el["data"].get("source") == "ip:10.0.250.1"] == ["members"]


def test_prefixes_when_they_fit_country_when_nothing_does_and_no_groups_when_small():
    members, links = _proxy_cluster(ips=40, asns=2)
    wanted = links[links["kind"] == "ip"]["key"].map(cytoscape.ip_prefix).nunique()
    # the members' box and its 15 members, 3 devices, and one node a network
    _, by_prefix = queries.cluster_graph_elements(members, links, group_over=1 + 15 + 3 + wanted)
    assert by_prefix["grouped_by"] == "prefix" and by_prefix["groups"] == wanted
    _, by_country = queries.cluster_graph_elements(members, links, group_over=5)
    assert by_country["grouped_by"] == "country"
    _, whole = queries.cluster_graph_elements(members, links, group_over=1000)
    assert whole["grouped_by"] is None and whole["groups"] == 0


def test_ip_prefix_is_the_warehouse_network():
    assert cytoscape.ip_prefix("5.160.10.1") == "5.160.10.0/24"
    assert cytoscape.ip_prefix("2a02:4780:10:5::1") == "2a02:4780:10::/48"
    assert cytoscape.ip_prefix("not an ip") == "unknown"


def test_entity_users_lead_back_to_the_clusters(case):  # noqa: F811
    built, store, con = case
    members = queries.run_members(store, webcase.RUN_ID)
    events = built.events
    for kind, key, column in (("ip", "5.160.10.1", "ip"), ("device", "d_shared_ir", "device_id"),
                              ("prefix", "5.160.10.0/24", "ip_prefix"), ("asn", "58224", "ip_asn")):
        used = events[events[column].astype(str) == key]
        users = queries.entity_users(con, kind, key, members)
        assert users["clusters"] == [{"cluster_id": "C-iran", "accounts": used["account_id"].nunique(),
                                      "requests": len(used)}], kind
        assert users["total_accounts"] == used["account_id"].nunique()
        assert {a["account_id"] for a in users["accounts"]} == set(used["account_id"])
        assert all(a["cluster_id"] == "C-iran" for a in users["accounts"])
    benign = queries.entity_users(con, "ip", "24.0.0.1", members)
    assert benign["clusters"] == [] and [a["cluster_id"] for a in benign["accounts"]] == [None]
    # clustered accounts come first, and the list is bounded
    mixed = queries.entity_users(con, "asn", "AS7922", members, limit=2)
    assert mixed["total_accounts"] == 6 and len(mixed["accounts"]) == 2
    with pytest.raises(ValueError):
        queries.entity_users(con, "asn", "TCI", members)


def test_a_network_and_an_asn_have_activity_and_ips(case):  # noqa: F811
    built, _, con = case
    events = built.events
    activity = queries.entity_activity(con, "asn", "8551")
    assert activity["requests"] == (events["ip_asn"] == 8551).sum()
    assert activity["ips"] == events.loc[events["ip_asn"] == 8551, "ip"].nunique()
    assert queries.entity_activity(con, "prefix", "79.176.0.0/24")["accounts"] == 4
    ips, total = queries.entity_ips(con, "asn", "8551", limit=2)
    assert total == 5 and len(ips) == 2 and ips[0]["ip"] == "79.176.0.99"  # the shared one is busiest
    with pytest.raises(ValueError):
        queries.entity_ips(con, "ip", "5.160.10.1")


def test_search_finds_asns_by_number_and_organisation_and_shows_clusters(case):  # noqa: F811
    _, store, con = case
    members = queries.run_members(store, webcase.RUN_ID)
    asns = queries.asn_index(store)
    assert asns == {58224: "TCI", 8551: "Bezeq", 4788: "TM Net", 7922: "Comcast"}
    for text in ("58224", "AS58224", "as582", "tci"):
        hits = queries.search(con, store, text, members=members, asns=asns)
        assert hits[0]["kind"] == "asn" and hits[0]["key"] == "58224", text
        assert hits[0]["clusters"] == ["C-iran"]
    assert queries.search(con, store, "bezeq", members=members, asns=asns)[0]["clusters"] == ["C-israel"]
    shared = queries.search(con, store, "79.176.0.99", members=members)
    assert shared[0]["clusters"] == ["C-israel"]
    assert queries.search(con, store, "24.0.0.1", members=members)[0]["clusters"] == []
    assert queries.search(con, store, "d_lone", members=members)[0]["clusters"] == ["C-lone"]


def test_evidence_rows_select_all_their_requests_a_page_at_a_time(case):  # noqa: F811
    built, _, con = case
    accounts = built.clusters["C-iran"]
    through = built.events[built.events["account_id"].isin(accounts) & (built.events["ip"] == "5.160.10.1")]
    selector = queries.evidence_selector("ips", {"id": "5.160.10.1", "event_ids": ["only", "three", "samples"]})
    pages, total = [], None
    for page in range(4):
        frame, total = queries.evidence_requests(con, accounts, selector, page=page, page_size=20)
        pages.append(frame)
    assert total == len(through) == 48
    assert [len(p) for p in pages] == [20, 20, 8, 0]
    seen = pd.concat(pages)
    assert len(seen.drop_duplicates()) == 48 and seen["ts"].is_monotonic_decreasing
    pair = queries.evidence_selector("sharding", {"a": "ir_0", "b": "ir_1"})
    assert queries.evidence_requests(con, accounts, pair)[1] == 24
    window = queries.evidence_selector("synchronized_windows", {
        "start": int(webcase.T0.timestamp() * 1000), "end": int(webcase.T0.timestamp() * 1000) + 600_000,
        "endpoint": "contacts/lookup", "accounts": accounts[:3]})
    assert queries.evidence_requests(con, accounts, window)[1] == 3
    assert queries.evidence_selector("accounts", "ir_2") == {"column": "account_id", "values": ["ir_2"]}
    with pytest.raises(ValueError):
        queries.evidence_requests(con, accounts, {"column": "phone_hash", "values": ["x"]})


def test_evidence_columns_read_identifier_counts_then_times():
    assert doctest.testmod(evidence_queries).failed == 0
    assert doctest.testmod(evidence).failed == 0
    columns = ["asn", "country", "event ids", "id", "kind", "lookups", "members", "outside accounts", "requests"]
    assert [columns[i] for i in evidence.ordered_columns(columns)] == [
        "id", "members", "requests", "lookups", "outside accounts", "asn", "country", "event ids", "kind"]
    sync = ["accounts", "end", "endpoint", "members", "start"]
    assert [sync[i] for i in evidence.ordered_columns(sync)] == ["endpoint", "members", "accounts", "start", "end"]
    selectors = evidence.evidence_selectors({"ips": {"total": 1, "top": [{"id": "5.160.10.1"}]},
                                             "lockstep_windows": 12})
    assert selectors == {"ips:0": {"column": "ip", "values": ["5.160.10.1"]}}


def test_entity_drawings_carry_pages_and_the_way_back_to_clusters(case):  # noqa: F811
    _, store, con = case
    members = queries.run_members(store, webcase.RUN_ID)
    nb = store.neighbourhood(IP, "5.160.10.1", limit=10)
    users = queries.entity_users(con, "ip", "5.160.10.1", members)
    drawn = cytoscape.with_pivots(nb, run_id=webcase.RUN_ID, clusters=users["clusters"])
    elements = cytoscape.neighbourhood_elements(drawn)
    _check_edges(elements)
    by_id = {el["data"]["id"]: el["data"] for el in elements}
    cluster = by_id[f"cluster:{webcase.RUN_ID}/C-iran"]
    assert cluster["href"] == "/cluster/C-iran" and cluster["label"] == "C-iran"
    assert by_id[f"USED_BY_CLUSTER:ip:5.160.10.1->cluster:{webcase.RUN_ID}/C-iran"]["weight"] == 4
    assert by_id["ip:5.160.10.1"]["href"] == "/entity/ip/5.160.10.1"
    assert by_id["acct:ir_0"]["href"] == "/entity/account/ir_0"
    # a network's drawing: its IPs, and an account's own cluster is not tied twice
    network = cytoscape.with_pivots(queries.Neighbourhood(center={"_label": cytoscape.NETWORK, "_key": "79.176.0.0/24"}),
                                    run_id=webcase.RUN_ID, ips=queries.entity_ips(con, "prefix", "79.176.0.0/24")[0])
    drawn_network = cytoscape.neighbourhood_elements(network)
    _check_edges(drawn_network)
    assert drawn_network[0]["data"]["href"] == "/entity/prefix/79.176.0.0%2F24"
    assert len([el for el in drawn_network if el["data"].get("rel") == cytoscape.IN_NETWORK]) == 5
    account = store.neighbourhood(ACCOUNT, "ir_0", limit=50)
    tied = cytoscape.with_pivots(account, run_id=webcase.RUN_ID,
                                 clusters=queries.entity_users(con, "account", "ir_0", members)["clusters"])
    assert len([e for e in tied.edges if e["dst"] == f"{webcase.RUN_ID}/C-iran"]) == 1
