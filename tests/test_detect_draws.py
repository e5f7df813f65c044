"""Detection on drawn tradecraft (``simulate --scenario drawn``): cases the hand-made fixtures do not reach.

A drawn case puts several operations and every look-alike in one population,
so the steps that split, prune and regroup clusters meet each other as they
do on real data. Each test names the tradecraft it is about; the draws are
the development ones (21 and up), never the report draws the benchmark
scores.
"""

from __future__ import annotations

import json
from collections import Counter

import pytest

from graph import warehouse
from graph.detect.run import detect
from graph.store import open_store
from graph.workspace import Workspace
from ingest.pipeline import ingest
from ingest.readers import discover
from ingest.simulate import simulate

#: the target-list development draws (``quality.py --only``): leaked lists from hosting or VPN exits, on crons
LISTS_ON_EXITS = {"selection": ["leaked_list"], "infrastructure": ["hosting", "vpn_exits"], "timing": ["cron"]}


def _detected(root, seed: int, *, camouflage: bool = False, tradecraft: dict | None = None) -> tuple[dict, list]:
    """Simulate draw ``seed`` (narrowed to ``tradecraft``), ingest it and detect: the truth and the clusters."""
    simulate(root / "case", scenario="drawn", seed=seed, scale=1.0, fmt="parquet", camouflage=camouflage,
             tradecraft=tradecraft)
    truth = json.loads((root / "case.truth.json").read_text())
    ws = Workspace.open(root / "ws")
    store = open_store(ws)
    try:
        ingest(ws, store, discover(root / "case")[0])
        return truth, detect(ws, store).clusters
    finally:
        store.close()
        warehouse.close_all()


@pytest.fixture(scope="module")
def draw_21(tmp_path_factory):
    return _detected(tmp_path_factory.mktemp("draw21"), 21)


def test_a_small_list_operation_pruned_from_an_enumeration_operation_on_its_exits_stays_a_case(draw_21):
    # twelve aged accounts work slices of a leaked list from the same hosting provider as an
    # enumeration operation; first pruned from its cluster, then judged as a list's workers, they
    # must not be pruned below the size at which finding strangers counts (two of them found too
    # few people to have a rate of their own)
    truth, clusters = draw_21
    campaign = truth["campaigns"]["op1_leaked_list_hosting"]
    assert (campaign["drawn"]["selection"], campaign["drawn"]["infrastructure"]) == ("leaked_list", "hosting")
    workers = set(campaign["accounts"])
    holding = [c for c in clusters if c.flagged and workers & set(c.members)]
    assert len(holding) == 1
    assert set(holding[0].members) <= workers and len(holding[0].members) >= 5
    assert holding[0].kind == "targeted lookups"


@pytest.fixture(scope="module")
def draw_51c(tmp_path_factory):
    """Camouflaged draw 51 detected under two workspace keys: the truth and each key's clusters."""
    root = tmp_path_factory.mktemp("draw51c")
    simulate(root / "case", scenario="drawn", seed=51, scale=1.0, fmt="parquet", camouflage=True)
    found = []
    for key in (b"secretA", b"secretD"):
        ws = Workspace.open(root / key.decode())
        (ws.root / "secret.key").write_text(key.hex() + "\n", encoding="ascii")
        store = open_store(ws)
        try:
            ingest(ws, store, discover(root / "case")[0])
            found.append(detect(ws, store).clusters)
        finally:
            store.close()
            warehouse.close_all()
    return json.loads((root / "case.truth.json").read_text()), found


def test_the_same_logs_give_the_same_networks_whatever_the_workspace_key(draw_51c):
    # phone numbers are stored as hashes keyed with each workspace's own secret, so their order is
    # arbitrary; one camouflaged operation's shared-list blocks were split by the order the hashes
    # sorted in, and under one key it came out as one network, under another as many (draw 51)
    _, by_key = draw_51c
    found = [sorted(sorted(c.members) for c in clusters if c.flagged) for clusters in by_key]
    assert found[0] == found[1]
    assert len(found[0]) >= 2


def test_two_operations_renting_the_same_vpn_exits_stay_two_clusters(draw_51c):
    # two list-working operations behind the same commercial VPN exits, one on its own four emulators,
    # the other rotating devices and working other countries' numbers; seventeen of the first ended
    # up among the second's accounts, and their emulators counted as a device both groups share
    truth, by_key = draw_51c
    emulators, rotating = (truth["campaigns"][op] for op in ("op3_leaked_list_vpn_exits", "op2_leaked_list_vpn_exits"))
    assert (emulators["drawn"]["devices"], rotating["drawn"]["devices"]) == ("shared_emulators", "rotation")
    big, small = set(emulators["accounts"]), set(rotating["accounts"])
    for clusters in by_key:
        for cluster in _holding(clusters, big | small):
            members = set(cluster.members)
            assert min(len(members & big), len(members & small)) <= 0.1 * len(members)
        assert max(len(big & set(c.members)) for c in clusters if c.flagged) >= 0.8 * len(big)
        assert max(len(small & set(c.members)) for c in clusters if c.flagged) >= 0.5 * len(small)


def test_a_staff_directory_meeting_an_operations_list_through_a_few_phones_stays_out_of_it(draw_51c):
    # an office's managed phones look up its staff directory (a list everyone there shares), and a few
    # of its numbers are on a list an operation works; the two groups, each working a list, were joined
    # through seven of the office's 26 accounts, and the operation's cluster kept a dozen of them
    truth, by_key = draw_51c
    office = {a for a, v in truth["accounts"].items() if v.get("group") == "corporate_nat"}
    assert len(office) >= 10
    for clusters in by_key:
        assert not office & {m for c in clusters if c.flagged for m in c.members}


def _holding(clusters: list, accounts: set) -> list:
    return [c for c in clusters if c.flagged and accounts & set(c.members)]


def test_an_operation_whose_squads_divide_its_countries_is_one_cluster(tmp_path):
    # 271 aged accounts behind residential proxies, on one cron, sweep dense blocks of two countries
    # (IL and IR); its communities each work mostly one country, so the check that keeps renters of one
    # exit apart (other countries' numbers) cut it in two (165 and 105 accounts) though the same
    # schedule's spikes and sweeps tie the squads
    truth, clusters = _detected(tmp_path, 31)
    campaign = truth["campaigns"]["op1_dense_blocks_residential_proxies"]
    assert (campaign["drawn"]["timing"], campaign["drawn"]["target_countries"]) == ("cron", ["IL", "IR"])
    accounts = set(campaign["accounts"])
    holding = _holding(clusters, accounts)
    assert len(holding) == 1
    assert len(accounts & set(holding[0].members)) >= 0.95 * len(accounts)
    assert set(holding[0].members) <= accounts


def test_a_squad_pruned_for_other_work_than_its_operation_rejoins_it_as_a_sub_group(tmp_path):
    # 169 accounts made in one burst on the operation's own proxies and devices sweep dense blocks; 29
    # of them mostly work a list (strangers' numbers) instead, so pruning cut them from the
    # enumerators, and flagged on their own they were a second cluster of the same operation
    truth, clusters = _detected(tmp_path, 44)
    campaign = truth["campaigns"]["op2_dense_blocks_residential_proxies"]
    assert campaign["drawn"]["selection"] == "dense_blocks"
    accounts = set(campaign["accounts"])
    holding = _holding(clusters, accounts)
    assert len(holding) == 1
    assert len(accounts & set(holding[0].members)) >= 0.95 * len(accounts)
    assert set(holding[0].members) <= accounts
    squads = sorted(Counter(holding[0].sub_groups.values()).values())
    assert len(squads) >= 2 and squads[0] >= 10


@pytest.fixture(scope="module")
def draw_50c(tmp_path_factory):
    """Camouflaged draw 50 detected: the truth and the clusters."""
    return _detected(tmp_path_factory.mktemp("draw50c"), 50, camouflage=True)


def test_people_on_an_operations_vpn_exits_pruned_with_its_camouflaged_enumerators_stay_out(draw_50c):
    # 174 aged accounts sweep dense blocks from commercial VPN exits, their lookups diluted by cover
    # traffic; those pruned for too little evidence of their own were regrouped with the exits' other
    # users pruned beside them, and the group, enumerating as a whole, was flagged with them in it
    truth, clusters = draw_50c
    campaign = truth["campaigns"]["op3_dense_blocks_vpn_exits"]
    assert (campaign["drawn"]["selection"], campaign["drawn"]["infrastructure"]) == ("dense_blocks", "vpn_exits")
    flagged = {m for c in clusters if c.flagged for m in c.members}
    exit_users = {a for a, v in truth["accounts"].items() if v.get("group") == "vpn_users"}
    # since a second operation sweeping the same blocks joins this one, its blocks hold more books: of the
    # eleven exit users (of 38) pruned with its enumerators, three with one to eight numbers there (a
    # number or two a block) that found nobody (as a book's do by chance at this draw's hit ratio of .15)
    # are not told from enumerators
    assert exit_users and len(exit_users & flagged) <= 3
    assert len(set(campaign["accounts"]) & flagged) >= 0.8 * len(campaign["accounts"])


def test_a_small_operation_pruned_off_an_enumerators_sweep_is_judged_as_a_group(draw_50c):
    # six aged accounts on five emulator fingerprints nobody else uses work a leaked list from the same
    # commercial VPN exits as the enumerators: pruned from their cluster with the exits' other users,
    # and again for working outside the blocks it swept, they were then judged one by one, and each
    # alone is only an account on a VPN exit
    truth, clusters = draw_50c
    campaign = truth["campaigns"]["op2_leaked_list_vpn_exits"]
    assert (campaign["drawn"]["selection"], campaign["drawn"]["devices"]) == ("leaked_list", "shared_emulators")
    holding = _holding(clusters, set(campaign["accounts"]))
    assert [sorted(c.members) for c in holding] == [sorted(campaign["accounts"])]


def test_list_workers_chained_through_residential_exits_open_a_case_below_an_addresss_z(tmp_path):
    # ten accounts made in one burst work a leaked list from residential proxies (one or two accounts an
    # exit) on their own handsets: chained through those exits they find strangers (pooled closure a
    # seventh of the usual), yet ten accounts' pool lies only 2.6 standard errors below the usual,
    # short of the four one address needs alone; no other door let them in
    truth, clusters = _detected(tmp_path, 40)
    campaign = truth["campaigns"]["op3_leaked_list_residential_proxies"]
    drawn = campaign["drawn"]
    assert (drawn["selection"], drawn["infrastructure"], drawn["devices"]) == (
        "leaked_list", "residential_proxies", "own_handsets")
    holding = _holding(clusters, set(campaign["accounts"]))
    assert [sorted(c.members) for c in holding] == [sorted(campaign["accounts"])]
    assert holding[0].contributions.get("strangers", 0.0) > 0


def test_list_workers_too_quiet_to_judge_stay_with_their_operation(tmp_path):
    # 103 accounts made in one burst work a leaked list from carrier addresses on a few shared emulator
    # fingerprints, about four lookups each under cover traffic: 38 of the 93 in its cluster were pruned
    # from it as not finding strangers, 35 of them because they found too few people for a closure of
    # their own, though their ties (the emulators, the burst) lie almost all inside it
    truth, clusters = _detected(tmp_path, 43, camouflage=True)
    campaign = truth["campaigns"]["op1_leaked_list_shared_carrier"]
    assert (campaign["drawn"]["selection"], campaign["drawn"]["devices"]) == ("leaked_list", "shared_emulators")
    accounts = set(campaign["accounts"])
    holding = _holding(clusters, accounts)
    assert len(holding) == 1
    assert len(accounts & set(holding[0].members)) >= 0.85 * len(accounts)
    assert len(set(holding[0].members) - accounts) <= 0.05 * len(holding[0].members)


def test_a_pool_operation_cut_along_its_emulators_is_one_cluster(tmp_path):
    # 212 aged accounts on eight emulator fingerprints only they use work one leaked list from VPN
    # exits; the communities were the emulators' accounts, and each emulator's tied to the rest by
    # fewer than half of them (come out as 175 + 21 + 16 accounts)
    truth, clusters = _detected(tmp_path, 107, tradecraft=LISTS_ON_EXITS)
    campaign = truth["campaigns"]["op3_leaked_list_vpn_exits"]
    drawn = campaign["drawn"]
    assert (drawn["division"], drawn["devices"], drawn["device_count"]) == ("pool", "shared_emulators", 8)
    accounts = set(campaign["accounts"])
    holding = _holding(clusters, accounts)
    assert len(holding) == 1
    assert set(holding[0].members) == accounts


def test_an_emulator_farms_accounts_stay_with_it_whatever_their_own_finds(tmp_path):
    # 52 accounts made in one burst take turns on three emulators only they use, six lookups each of
    # one leaked list from two hosting addresses; pooled on two of the emulators their finds are
    # strangers, and four of the third emulator's accounts were then cut from the operation as list
    # workers without strangers of their own
    truth, clusters = _detected(tmp_path, 10)
    campaign = truth["campaigns"]["op3_leaked_list_hosting"]
    assert (campaign["drawn"]["devices"], campaign["drawn"]["device_count"]) == ("shared_emulators", 3)
    holding = _holding(clusters, set(campaign["accounts"]))
    assert [sorted(c.members) for c in holding] == [sorted(campaign["accounts"])]
    assert holding[0].contributions.get("strangers", 0.0) > 0


@pytest.fixture(scope="module")
def draw_104(tmp_path_factory):
    return _detected(tmp_path_factory.mktemp("draw104"), 104, tradecraft=LISTS_ON_EXITS)


def test_list_operations_renting_one_vpn_pool_are_split_by_the_country_each_works(draw_104):
    # five list operations on one pool of commercial VPN exits, each working its own country's
    # dissidents besides the same three big countries; the exits' stranger ties made one cluster of
    # four of them (121 accounts: 56 working an Israeli list, 40 an Iranian one, ...)
    truth, clusters = draw_104
    israel, iran = (truth["campaigns"][name] for name in ("op5_leaked_list_vpn_exits", "op4_leaked_list_vpn_exits"))
    assert (israel["drawn"]["target_countries"][0], iran["drawn"]["target_countries"][0]) == ("IL", "IR")
    listed = set(israel["accounts"])
    main = max(_holding(clusters, listed), key=lambda c: len(listed & set(c.members)))
    assert len(listed & set(main.members)) >= 0.9 * len(listed)
    assert not set(iran["accounts"]) & set(main.members)
    # the split keeps the flagged accounts it found: none of the Iranian list's accounts left unflagged
    assert _holding(clusters, set(iran["accounts"]))


def test_list_operations_renting_one_vpn_pool_are_split_by_the_minute_each_cron_keeps(draw_104):
    # split by country, the Iranian list's operation still shared a cluster with a burst-made one
    # (14 of its accounts) and an emulator farm (6): the pool's exits and the list's big countries
    # tie them; their crons fire at 45, 27 and 17 minutes past the hour
    truth, clusters = draw_104
    iran, burst = (set(truth["campaigns"][name]["accounts"])
                   for name in ("op4_leaked_list_vpn_exits", "op3_leaked_list_vpn_exits"))
    assert truth["campaigns"]["op3_leaked_list_vpn_exits"]["drawn"]["account_age"] == "burst"
    held = _holding(clusters, iran)
    assert len(held) == 1 and set(held[0].members) <= iran and len(held[0].members) >= 40
    assert sum(len(burst & set(c.members)) for c in _holding(clusters, burst)) >= 31


def test_fragments_of_a_list_operation_keeping_one_cron_through_its_exits_are_one_cluster_of_squads(draw_104):
    # the splits left the burst-made operation in two clusters (17 and 14 accounts) that nothing
    # tied any more; both keep 27 minutes past the hour, at the same hours, through the same exits
    truth, clusters = draw_104
    burst = set(truth["campaigns"]["op3_leaked_list_vpn_exits"]["accounts"])
    held = _holding(clusters, burst)
    assert len(held) == 1 and set(held[0].members) <= burst and len(held[0].members) >= 31
    assert sorted(Counter(held[0].sub_groups.values()).values()) == [14, 17]
    # the evidence says what joined them: the cron, not the exits' ties (which bystanders share too)
    for row in held[0].evidence["sub_groups"]:
        to_rest = row["ties"].split("; to the rest of the operation by ")[1]
        assert to_rest.startswith("one schedule (lookups starting ") and "minutes past the hour" in to_rest


def test_an_operations_sub_groups_are_numbered_by_the_size_they_show(tmp_path):
    # a list operation of four squads on VPN exits: its squads were named when it was merged, and
    # pruning and rejoining changed what it holds (S2 46 accounts, S3 49 in the cluster kept)
    _, clusters = _detected(tmp_path, 106, tradecraft=LISTS_ON_EXITS)
    operations = [c for c in clusters if c.flagged and len(set(c.sub_groups.values())) >= 3]
    assert operations
    for cluster in operations:
        sizes = Counter(cluster.sub_groups.values())
        assert sorted(sizes, key=lambda label: int(label[1:])) == [f"S{k}" for k in range(1, len(sizes) + 1)]
        assert [sizes[f"S{k}"] for k in range(1, len(sizes) + 1)] == sorted(sizes.values(), reverse=True)
        shown = {row["sub_group"]: row["size"] for row in cluster.evidence["sub_groups"]}
        assert shown == dict(sizes)
