"""Two operations behind one set of exits stay two when they work different countries' numbers."""

from __future__ import annotations

import networkx as nx
import numpy as np
import pandas as pd
from test_detect_networks import DAY, START, _people

from graph.detect import find_networks
from graph.detect.frames import events_frame
from graph.detect.resemblance import region_resemblance, region_split, target_regions


def _operation(name: str, region: str, *, exits: list[str], seed: int) -> list[dict]:
    """Twelve accounts on the shared exits and their own emulators, missing random numbers of ``region``."""
    rng = np.random.default_rng(seed)
    rows = []
    for k in range(12):
        for j in range(200):
            ip = exits[int(rng.integers(len(exits)))]
            rows.append({
                "ts": START + int(rng.integers(0, 10 * DAY)), "ip": ip, "ip_kind": "vpn",
                "ip_prefix": ip.rsplit(".", 1)[0] + ".0/24", "endpoint": "contacts/lookup",
                "account_id": f"{name}{k:02d}", "device_id": f"{name}-emu{k % 3}", "phone_hash": f"{name}{k}-{j}",
                "block_hash": f"{name}blk{int(rng.integers(10**6))}", "block_ordinal": int(rng.integers(1000)),
                "matched_account_id": f"v{name}{k}-{j}" if rng.random() < 0.02 else None,
                "phone_region": region, "ip_country": "NL",
            })
    return rows


def test_two_operations_sharing_exits_but_not_targets_are_two_clusters():
    exits = [f"185.220.1.{i}" for i in range(4)]
    rows = _people(150, seed=1) + _operation("iran", "IR", exits=exits, seed=2) + _operation("brz", "BR", exits=exits, seed=3)
    found = find_networks(events_frame(rows))
    flagged = sorted(sorted(c.members) for c in found.clusters if c.flagged)
    assert flagged == [[f"brz{k:02d}" for k in range(12)], [f"iran{k:02d}" for k in range(12)]]


def test_one_operation_splitting_a_few_numbers_each_over_four_countries_resembles_itself():
    # seven lookups each over four countries differ by chance only: no evidence of two jobs
    rng = np.random.default_rng(4)
    regions = rng.choice(["IR", "US", "DE", "GB"], size=(40, 7), p=[0.55, 0.15, 0.15, 0.15])
    rows = [{"ts": START + j, "account_id": f"op{k:02d}", "phone_hash": f"n{k}-{j}", "phone_region": str(r)}
            for k in range(40) for j, r in enumerate(regions[k])]
    counts = target_regions(events_frame(rows), [f"op{k:02d}" for k in range(40)])
    pairs = [(f"op{i:02d}", f"op{j:02d}") for i in range(40) for j in range(i + 1, 40)]
    same = region_resemblance(counts, [a for a, _ in pairs], [b for _, b in pairs])
    assert (same == 1.0).mean() > 0.99


def test_hundreds_of_lookups_on_other_countries_are_another_job():
    counts = pd.DataFrame({"account_id": ["a", "a", "b", "b", "c"], "region": ["IR", "US", "IR", "US", "BR"],
                           "lookups": [300, 30, 280, 35, 310]})
    alike = region_resemblance(counts, ["a", "a", "b"], ["b", "c", "c"])
    assert alike[0] == 1.0  # the same mix, at any volume
    assert alike[1] < 0.01 and alike[2] < 0.01


def test_an_operation_dividing_blocks_of_two_countries_stays_one():
    # each account walks one block of a thousand numbers, half of them in Iran and half in Turkey, from the
    # operation's three emulators: one job divided by blocks and countries, held together by its devices
    # (two operations renting one exit, each on its own countries, have nothing of the kind)
    rng = np.random.default_rng(5)
    rows = _people(150, seed=5)
    for k in range(12):
        region = "IR" if k % 2 else "TR"
        for ordinal in rng.permutation(1000)[:500]:
            ip = f"185.220.1.{k % 4}"
            rows.append({
                "ts": START + int(rng.integers(0, 5 * DAY)), "ip": ip, "ip_kind": "vpn", "ip_prefix": "185.220.1.0/24",
                "endpoint": "contacts/lookup", "account_id": f"walk{k:02d}", "device_id": f"emu{k % 3}",
                "phone_hash": f"w{k}-{ordinal}", "block_hash": f"wblk{k}", "block_ordinal": int(ordinal),
                "matched_account_id": f"v{k}-{ordinal}" if ordinal % 97 == 0 else None,
                "phone_region": region, "ip_country": "NL",
            })
    found = find_networks(events_frame(rows))
    assert [sorted(c.members) for c in found.clusters if c.flagged] == [[f"walk{k:02d}" for k in range(12)]]


def _carrier_people(n: int, addresses: list[str], seed: int) -> list[dict]:
    """Subscribers behind a German carrier's NAT addresses: address books of local numbers that often match."""
    rng = np.random.default_rng(seed)
    return [{
        "ts": START + int(rng.integers(0, 10 * DAY)), "ip": addresses[i % len(addresses)], "ip_kind": "mobile",
        "ip_prefix": "100.64.0.0/24", "endpoint": "contacts/upload", "account_id": f"sub{i:03d}", "device_id": f"phone{i}",
        "phone_hash": f"s{i}-{j}", "block_hash": f"sblk{int(rng.integers(5000))}", "block_ordinal": int(rng.integers(1000)),
        "matched_account_id": f"sfriend{i}-{j}" if rng.random() < 0.4 else None, "phone_region": "DE", "ip_country": "DE",
    } for i in range(n) for j in range(int(rng.integers(15, 40)))]


def _carrier_operation(name: str, mix: dict[str, float], addresses: list[str], seed: int, *, accounts: int = 15,
                       lookups: int = 120, hit: float = 0.02) -> list[dict]:
    """Accounts on their own handsets behind the carrier's addresses, finding ``hit`` of ``mix``'s countries' numbers."""
    rng = np.random.default_rng(seed)
    regions, weights = list(mix), list(mix.values())
    return [{
        "ts": START + int(rng.integers(0, 10 * DAY)), "ip": addresses[int(rng.integers(len(addresses)))],
        "ip_kind": "mobile", "ip_prefix": "100.64.0.0/24", "endpoint": "contacts/lookup", "account_id": f"{name}{k:02d}",
        "device_id": f"{name}-phone{k}", "phone_hash": f"{name}{k}-{j}", "block_hash": f"{name}blk{int(rng.integers(10**6))}",
        "block_ordinal": int(rng.integers(1000)), "matched_account_id": f"v{name}{k}-{j}" if rng.random() < hit else None,
        "phone_region": str(rng.choice(regions, p=weights)), "ip_country": "DE",
    } for k in range(accounts) for j in range(lookups)]


def test_bystanders_who_miss_behind_an_operations_carrier_addresses_stay_out_when_they_work_other_numbers():
    # the operation works German and Iranian numbers from four carrier addresses with a hundred subscribers
    # each; two heavy users behind them find few of the German numbers they look up. The country profiles
    # have a cosine above 0.8 (both lean on Germany) but only 0.65 in common: they are not on one job, and
    # missing behind one address ties nobody here
    addresses = [f"100.64.0.{i}" for i in range(4)]
    rows = (_carrier_people(400, addresses, seed=6)
            + _carrier_operation("fox", {"DE": 0.65, "IR": 0.35}, addresses, seed=7)
            + _carrier_operation("heavy", {"DE": 1.0}, addresses, seed=8, accounts=2, lookups=300, hit=0.2))
    counts = target_regions(events_frame(rows), ["fox00", "heavy00"])
    assert region_resemblance(counts, ["fox00"], ["heavy00"])[0] > 0.8
    assert region_resemblance(counts, ["fox00"], ["heavy00"], shared=True)[0] < 0.7
    found = find_networks(events_frame(rows))
    assert [sorted(c.members) for c in found.clusters if c.flagged] == [[f"fox{k:02d}" for k in range(15)]]


def _list_workers(name: str, home: str, accounts: int, *, seed: int, lookups: int = 16) -> list[tuple]:
    """``(account, region, lookups)`` of list workers on a list of ``home``'s dissidents and three big countries'."""
    rng = np.random.default_rng(seed)
    rows = []
    for k in range(accounts):
        drawn = rng.choice([home, "US", "GB", "DE"], size=lookups, p=[0.4, 0.2, 0.2, 0.2])
        rows += [(f"{name}{k:02d}", region, int((drawn == region).sum())) for region in sorted(set(drawn))]
    return rows


def test_a_community_of_two_list_operations_renting_one_exit_pool_splits_by_the_country_each_works():
    rows = _list_workers("il", "IL", 20, seed=1) + _list_workers("ir", "IR", 12, seed=2)
    regions = pd.DataFrame(rows, columns=["account_id", "region", "lookups"])
    members = sorted(regions["account_id"].unique().tolist() + ["quiet"])
    # an account with no lookups (side traffic only) goes where its ties go
    G = nx.Graph([("quiet", "ir00"), ("quiet", "ir01"), ("quiet", "il00")])
    parts = region_split(G, [members], regions)
    assert parts == [[f"il{k:02d}" for k in range(20)], [f"ir{k:02d}" for k in range(12)] + ["quiet"]]


def test_one_list_operation_whose_accounts_lean_to_different_big_countries_stays_whole():
    # a list of India's dissidents and of three big countries' numbers; six of its accounts happened to
    # draw none of India's, and lean to the United States (their pooled lookups share 0.43 with the rest)
    rows = [(f"in{k:02d}", region, n) for k in range(20) for region, n in (("IN", 4), ("US", 1), ("GB", 1), ("DE", 1))]
    rows += [(f"us{k}", region, n) for k in range(6) for region, n in (("US", 4), ("GB", 2), ("DE", 1))]
    regions = pd.DataFrame(rows, columns=["account_id", "region", "lookups"])
    members = sorted(regions["account_id"].unique())
    assert region_split(nx.Graph(), [members], regions) == [members]
    # the same six next to a list of Iran's: two jobs
    rows += [(f"ir{k:02d}", region, n) for k in range(20) for region, n in (("IR", 4), ("US", 1), ("GB", 1), ("DE", 1))]
    regions = pd.DataFrame(rows, columns=["account_id", "region", "lookups"])
    iran_india = sorted(m for m in regions["account_id"].unique() if not m.startswith("us"))
    parts = region_split(nx.Graph(), [iran_india], regions)
    assert [p[0][:2] for p in parts] == ["in", "ir"] and all(len(p) == 20 for p in parts)
    # a group with fewer than min_members accounts in each set is left alone
    few = [m for m in members if m < "in05"] + ["us0", "us1"]
    assert region_split(nx.Graph(), [few], regions) == [few]
