"""Operators dividing a leaked list find strangers; address books find friends who know each other."""

from __future__ import annotations

import numpy as np
import pandas as pd

from graph.detect import find_networks
from graph.detect.acquaintance import closure_baseline, entity_closure, target_closure
from graph.detect.frames import events_frame
from graph.detect.results import DetectionParams

DAY = 86_400_000
START = 1_576_627_200_000  # 2019-12-18T00:00:00Z


def _row(account: str, target: str, *, ip: str, kind: str, ts: int, matched: bool) -> dict:
    return {
        "ts": ts, "ip": ip, "ip_kind": kind, "ip_prefix": ip.rsplit(".", 1)[0] + ".0/24",
        "endpoint": "contacts/upload", "account_id": account, "device_id": f"d-{account}",
        "phone_hash": f"tel-{target}", "block_hash": f"blk-{target}", "block_ordinal": 7,
        "matched_account_id": target if matched else None, "phone_region": "IR", "ip_country": "IR",
    }


def _circles(n: int, size: int, seed: int, *, ip_of=None) -> list[dict]:
    """``n`` circles of friends: each syncs a book holding the rest of the circle and some non-users."""
    rng = np.random.default_rng(seed)
    rows = []
    for c in range(n):
        circle = [f"c{c:02d}-{k}" for k in range(size)]
        for k, me in enumerate(circle):
            ip = ip_of(c, k) if ip_of else f"85.{c}.{k}.1"
            ts = START + int(rng.integers(0, 10 * DAY))
            rows += [_row(me, friend, ip=ip, kind="residential", ts=ts, matched=True) for friend in circle if friend != me]
            rows += [_row(me, f"nobody-{c}-{k}-{j}", ip=ip, kind="residential", ts=ts, matched=False) for j in range(12)]
    return rows


def _list_workers(n: int, per: int, seed: int, *, ip: str) -> list[dict]:
    """``n`` aged accounts behind one VPN exit, each working its own slice of a leaked list of people.

    The list holds one member of each of many circles: none of its people knows another, and the
    slices share no number, so no two workers share a target.
    """
    rng = np.random.default_rng(seed)
    people = [f"c{c:02d}-0" for c in range(40)]
    rows = []
    for k in range(n):
        account = f"op{k:02d}"
        ts = START + int(rng.integers(0, 10 * DAY))
        mine = people[(k * per) % 40:(k * per) % 40 + per]
        rows += [_row(account, t, ip=ip, kind="vpn", ts=ts, matched=True) for t in mine]
        rows += [_row(account, f"unlisted-{k}-{j}", ip=ip, kind="vpn", ts=ts, matched=False) for j in range(3 * per)]
    return rows


def test_closure_counts_found_people_who_know_the_looker_or_each_other():
    rows = _circles(2, 4, seed=1) + _list_workers(2, 4, seed=2, ip="45.9.9.9")
    closure = target_closure(events_frame(rows))
    assert closure.loc["c00-1"].tolist() == [3, 3]  # three friends, each of whom found the others
    assert closure.loc["op00"].tolist() == [4, 0] and closure.loc["op01"].tolist() == [4, 0]


def test_pooled_closure_separates_a_list_workers_exit_from_a_shared_office_address():
    office = _circles(3, 5, seed=3, ip_of=lambda c, k: "203.0.113.10")  # three circles behind one corporate NAT
    rows = _circles(30, 5, seed=4) + office + _list_workers(8, 5, seed=5, ip="45.9.9.9")
    source = events_frame(rows)
    closure = target_closure(source)
    pooled = entity_closure(source, closure, closure_baseline(closure)).set_index("entity")
    assert pooled.loc["45.9.9.9", "accounts"] == 8 and pooled.loc["45.9.9.9", "z"] > 4.0
    assert pooled.loc["203.0.113.10", "accounts"] == 15 and pooled.loc["203.0.113.10", "z"] < 1.0


def test_operators_dividing_a_list_behind_a_vpn_exit_are_one_cluster_and_an_office_is_not():
    office = _circles(3, 5, seed=6, ip_of=lambda c, k: "203.0.113.10")
    # three people use the same VPN exit for their own address books
    vpn_users = _circles(1, 3, seed=7, ip_of=lambda c, k: "45.9.9.9")
    rows = _circles(40, 5, seed=8) + office + vpn_users + _list_workers(12, 4, seed=9, ip="45.9.9.9")
    accounts = pd.DataFrame({"account_id": sorted({r["account_id"] for r in rows}),
                             "created_at": START - 400 * DAY})
    found = find_networks(events_frame(rows), accounts=accounts)
    flagged = [c for c in found.clusters if c.flagged]
    assert [c.members for c in flagged] == [[f"op{k:02d}" for k in range(12)]]
    cluster = flagged[0]
    assert cluster.contributions["strangers"] > 3.0 and cluster.kind == "targeted lookups"
    assert cluster.features["target_closure"] == 0.0 and cluster.features["usual_closure"] > 0.5
    assert any("do not know each other" in reason for reason in cluster.reasons)


def _proxy_workers(n: int, per: int, seed: int) -> list[dict]:
    """``n`` list workers on their own handsets behind residential proxy exits, two exits each.

    Worker ``k`` leaves through exits ``k`` and ``k + 1``, so each exit carries one or two
    accounts: no address pools enough of them, but they chain into one group.
    """
    rng = np.random.default_rng(seed)
    people = [f"c{c:02d}-0" for c in range(40)]
    rows = []
    for k in range(n):
        account = f"op{k:02d}"
        mine = people[(k * per) % 40:(k * per) % 40 + per]
        for j, exit_ in enumerate((k, k + 1)):
            ip, ts = f"81.2.{exit_}.1", START + int(rng.integers(0, 10 * DAY))
            half = mine[j::2]
            rows += [_row(account, t, ip=ip, kind="residential", ts=ts, matched=True) for t in half]
            rows += [_row(account, f"unlisted-{k}-{j}-{i}", ip=ip, kind="residential", ts=ts, matched=False)
                     for i in range(2 * per)]
    return rows


def test_rare_links_pair_the_few_accounts_behind_an_address_or_device_and_ignore_a_shared_nat():
    from graph.detect.acquaintance import rare_links

    rows = _circles(2, 6, seed=10, ip_of=lambda c, k: "100.64.0.1")  # a carrier NAT: everyone's address
    rows += [_row("x", "p1", ip="85.1.1.1", kind="residential", ts=START, matched=False),
             {**_row("y", "p2", ip="85.1.1.1", kind="residential", ts=START, matched=False),
              "phone_hash": None, "endpoint": "timeline"}]  # side traffic counts too
    accounts = pd.Index(sorted({r["account_id"] for r in rows}))
    links = rare_links(events_frame(rows), accounts, max_accounts=5)
    assert links.values.tolist() == [["x", "y"]]
    assert rare_links(events_frame(rows), pd.Index(["x"]), max_accounts=5).empty


def test_list_workers_chained_through_residential_proxies_are_one_cluster_and_households_are_not():
    # families: two members of each circle share their home router
    rows = _circles(40, 5, seed=11, ip_of=lambda c, k: f"85.{c}.{k // 2}.1") + _proxy_workers(12, 4, seed=12)
    accounts = pd.DataFrame({"account_id": sorted({r["account_id"] for r in rows}),
                             "created_at": START - 400 * DAY})
    found = find_networks(events_frame(rows), accounts=accounts)
    flagged = [c for c in found.clusters if c.flagged]
    assert [c.members for c in flagged] == [[f"op{k:02d}" for k in range(12)]]
    assert flagged[0].contributions["strangers"] > 3.0 and flagged[0].features["target_closure"] == 0.0


def _five_abroad(kind: str) -> list[dict]:
    """Five list workers sharing three rare addresses of ``kind`` in the US, finding Iranian strangers.

    Around them, circles of friends and 300 people whose five found contacts do not know each other
    (closure is noisy one account at a time): five accounts finding strangers pool under two standard
    errors below the usual.
    """
    rng = np.random.default_rng(20)
    rows = _circles(40, 5, seed=18)
    for k in range(300):
        ip, ts = f"86.{k // 200}.{k % 200}.1", START + int(rng.integers(0, 10 * DAY))
        rows += [_row(f"s{k:03d}", f"x{k:03d}-{i}", ip=ip, kind="residential", ts=ts, matched=True) for i in range(5)]
    for k in range(5):
        account = f"op{k:02d}"
        for j, exit_ in enumerate((k % 3, (k + 1) % 3)):
            ip, ts = f"45.77.{exit_}.9", START + int(rng.integers(0, 10 * DAY))
            rows += [{**_row(account, f"c{(4 * k + 2 * j + i) % 40:02d}-0", ip=ip, kind=kind, ts=ts, matched=True),
                      "ip_country": "US"} for i in range(2)]
            rows += [{**_row(account, f"unlisted-{k}-{j}-{i}", ip=ip, kind=kind, ts=ts, matched=False), "ip_country": "US"}
                     for i in range(6)]
    return rows


def test_five_list_workers_on_rented_datacenter_addresses_are_flagged_and_on_residential_exits_are_not():
    # too few to pool two standard errors below the usual, and neither alone nor with looking abroad a
    # case; leaving through datacenter addresses only they use is the second family (tuning draw 9: eight
    # aged accounts working one list from five Vultr addresses were no cluster at all)
    found = {}
    for kind in ("hosting", "residential"):
        rows = _five_abroad(kind)
        accounts = pd.DataFrame({"account_id": sorted({r["account_id"] for r in rows}), "created_at": START - 400 * DAY})
        source = events_frame(rows)
        closure = target_closure(source)
        usual = closure_baseline(closure)
        assert (usual.mean - 0.0) / (usual.spread / np.sqrt(5)) < 2.0
        found[kind] = [c for c in find_networks(source, accounts=accounts).clusters if c.flagged]
    assert [c.members for c in found["hosting"]] == [[f"op{k:02d}" for k in range(5)]]
    assert found["hosting"][0].contributions["strangers"] > 0
    assert found["residential"] == []


def test_list_workers_too_quiet_to_judge_still_chain_their_exits_and_a_household_on_one_does_not_join():
    # every other worker finds a single person, too few to tell friends from strangers; the
    # judged ones share no exit with each other, only with those quiet ones in between
    rows = _circles(40, 5, seed=11, ip_of=lambda c, k: f"85.{c}.{k // 2}.1")
    for row in _proxy_workers(14, 4, seed=12):
        k = int(row["account_id"][2:])
        if k % 2 == 0 or row["phone_hash"] in {f"tel-c{(k * 4) % 40:02d}-0"} or not row["matched_account_id"]:
            rows.append(row)
    # a household whose router an exit borrows: it also uses its carrier's NAT, like the subscribers there
    rows += [_row("home-a", "home-b", ip=ip, kind=kind, ts=START + DAY, matched=True)
             for ip, kind in (("81.2.5.1", "residential"), ("100.64.0.1", "mobile"))]
    for row in _circles(6, 5, seed=13, ip_of=lambda c, k: "100.64.0.1"):  # its subscribers, circles of their own
        rows.append({**row, **{key: row[key] and row[key].replace("c", "n", 1) for key in ("account_id", "matched_account_id")},
                     "phone_hash": row["phone_hash"].replace("-c", "-n", 1), "block_hash": row["block_hash"] + "-n"})
    accounts = pd.DataFrame({"account_id": sorted({r["account_id"] for r in rows}), "created_at": START - 400 * DAY})
    source = events_frame(rows)
    closure = target_closure(source)
    assert closure.loc["op01", "targets"] == 1 and closure.loc["op02", "targets"] == 4
    flagged = [c for c in find_networks(source, accounts=accounts).clusters if c.flagged]
    assert [c.members for c in flagged] == [[f"op{k:02d}" for k in range(14)]]
    assert flagged[0].contributions["strangers"] > 3.0


def test_list_workers_sharing_overlapping_parts_of_one_list_behind_a_carrier_nat_open_one_case():
    # everyone, operators included, leaves through the carrier's NAT, each on a handset of their own
    nat = lambda c, k: "100.64.0.1"  # noqa: E731
    rng = np.random.default_rng(13)
    # the leaked list: one member of each of sixty circles (strangers to each other) and 120 numbers
    # that match no account, as most of a real list does
    listed = [f"c{c:02d}-0" for c in range(60)] + [f"unmatched-{i}" for i in range(120)]
    # a circle's books hold the same friends and the same non-users: everyone's lookups are mostly
    # numbers others looked up too, so that alone singles nobody out
    rows = _circles(60, 5, seed=14, ip_of=nat)
    for r in rows:
        if r["phone_hash"].startswith("tel-nobody"):
            c, _, j = r["phone_hash"].removeprefix("tel-nobody-").split("-")
            r["phone_hash"] = r["block_hash"] = f"tel-nobody-{c}-{j}"
    for k in range(15):
        ts = START + int(rng.integers(0, 10 * DAY))
        mine = rng.choice(listed, size=45, replace=False)  # an overlapping part of the list
        rows += [_row(f"op{k:02d}", t, ip="100.64.0.1", kind="mobile", ts=ts, matched=t.startswith("c"))
                 for t in mine]
    ids = sorted({r["account_id"] for r in rows})  # made over the years, no sign-up burst among them
    accounts = pd.DataFrame({"account_id": ids, "created_at": START - rng.integers(100, 3000, len(ids)) * DAY})
    found = find_networks(events_frame(rows), accounts=accounts)
    # one family of evidence (a shared list) opens the case; aged accounts on a carrier's addresses and
    # their own handsets give no second, so it stays below the flag, on the queue
    assert [c.members for c in found.clusters] == [[f"op{k:02d}" for k in range(15)]]
    cluster = found.clusters[0]
    assert max(cluster.contributions, key=cluster.contributions.get) == "shared_targets"
    assert cluster.features["reciprocity"] == 0.0 and cluster.features["shared_target_share"] > 0.9
    off = find_networks(events_frame(rows), accounts=accounts, params=DetectionParams(list_workers=100))
    assert off.clusters == []  # no other door sees them


def test_list_workers_spread_over_one_hosting_providers_addresses_are_pooled_on_its_network():
    # twelve list workers on four addresses rented from one hosting provider, three an address: no
    # address pools enough of them and they chain through none, but the provider's network holds them all;
    # a carrier's network is everyone's and pools nobody
    rows = _circles(40, 5, seed=13, ip_of=lambda c, k: f"100.64.{c % 8}.1")
    for row in rows:
        row.update(ip_kind="mobile", ip_asn=64496)
    workers = _list_workers(12, 4, seed=14, ip="unused")
    for row in workers:
        k = int(row["account_id"][2:])
        row.update(ip=f"185.7.{k % 4}.20", ip_prefix=f"185.7.{k % 4}.0/24", ip_kind="hosting", ip_asn=64500)
    source = events_frame(rows + workers)
    closure = target_closure(source)
    pooled = entity_closure(source, closure, closure_baseline(closure)).set_index(["entity_type", "entity"])
    assert pooled.loc[("network", "AS64500"), "accounts"] == 12 and pooled.loc[("network", "AS64500"), "z"] > 4.0
    assert "AS64496" not in pooled.xs("network").index  # only hosting networks are pooled
    assert (pooled.xs("ip")["accounts"].reindex([f"185.7.{i}.20" for i in range(4)]).fillna(0) < 5).all()
    accounts = pd.DataFrame({"account_id": sorted({r["account_id"] for r in rows + workers}),
                             "created_at": START - 400 * DAY})
    flagged = [c for c in find_networks(source, accounts=accounts).clusters if c.flagged]
    assert [c.members for c in flagged] == [[f"op{k:02d}" for k in range(12)]]
    assert flagged[0].contributions["strangers"] > 3.0


def test_list_workers_spread_over_carrier_addresses_with_bystanders_are_chained_through_the_warm_ones():
    # 24 list workers on eight carrier addresses, two each; every address also carries an ordinary
    # subscriber syncing a circle, so no address pools enough strangers to decide alone
    rows = _circles(40, 5, seed=15, ip_of=lambda c, k: f"100.70.{c}.1" if c < 8 and k < 1 else f"85.{c}.{k}.1")
    for row in rows:
        row["ip_kind"] = "mobile" if row["ip"].startswith("100.70.") else "residential"
    rng = np.random.default_rng(16)
    for s in range(40):  # salespeople: each finds a handful of people who do not know each other
        people = [f"c{c:02d}-{1 + s % 4}" for c in rng.choice(40, size=6, replace=False)]
        rows += [_row(f"sales{s:02d}", t, ip=f"86.0.{s}.1", kind="residential", ts=START, matched=True)
                 for t in people]
    for i, row in enumerate(_list_workers(24, 4, seed=17, ip="unused")):
        k = int(row["account_id"][2:])
        row.update(ip=f"100.70.{(k + i % 2) % 8}.1", ip_kind="mobile")
        rows.append(row)
    source = events_frame(rows)
    closure = target_closure(source)
    pooled = entity_closure(source, closure, closure_baseline(closure)).set_index("entity")
    carrier = pooled.loc[[f"100.70.{i}.1" for i in range(8)]]
    assert carrier["z"].between(DetectionParams().warm_stranger_z, DetectionParams().seed_stranger_z).all()
    # the workers were made in one sitting three days before
    ids = sorted({r["account_id"] for r in rows})
    made = [START - 3 * DAY + int(a[2:]) * 60_000 if a.startswith("op") else START - 400 * DAY for a in ids]
    accounts = pd.DataFrame({"account_id": ids, "created_at": made})
    flagged = [c for c in find_networks(source, accounts=accounts).clusters if c.flagged]
    assert [sorted(c.members) for c in flagged] == [[f"op{k:02d}" for k in range(24)]]
    assert max(flagged[0].contributions, key=flagged[0].contributions.get) == "strangers"
    cold = DetectionParams(warm_stranger_z=99.0)
    # without the warm chain, their sign-up cohort pools them as one group (another door)
    assert [sorted(c.members) for c in find_networks(source, accounts=accounts, params=cold).clusters if c.flagged] \
        == [[f"op{k:02d}" for k in range(24)]]
    assert find_networks(source, params=cold).clusters == []  # and without sign-up times no other door sees them
    # a shortfall must be large, not only many standard errors: a carrier NAT's hundreds of ordinary
    # accounts find a few strangers more than usual and reach any z; asked for a near-total one, these
    # addresses (a seventh of their accounts keep the usual closure) chain nobody
    strict = DetectionParams(warm_closure=float(carrier["closure"].min()) / closure_baseline(closure).mean / 2)
    assert find_networks(source, params=strict).clusters == []


def test_list_workers_made_in_one_sign_up_burst_are_pooled_as_a_cohort_and_a_viral_evening_is_not():
    """Each worker on its own handset behind a carrier address it shares with a circle of friends:
    no address, device or rare link pools them; being made within hours of each other does."""
    rng = np.random.default_rng(21)
    rows = _circles(40, 5, seed=22, ip_of=lambda c, k: f"100.64.{c}.1")
    created = {r["account_id"]: START - int(rng.integers(60, 420)) * DAY for r in rows}
    people = [f"c{c:02d}-0" for c in range(40)]
    for k in range(14):
        account, ip = f"op{k:02d}", f"100.64.{k}.1"
        created[account] = START - 5 * DAY + k * 12 * 60_000  # fourteen accounts in under three hours
        mine = [people[(k * 3 + i) % 40] for i in range(3)]
        rows += [_row(account, t, ip=ip, kind="mobile", ts=START + int(rng.integers(0, 10 * DAY)), matched=True)
                 for t in mine]
        rows += [_row(account, f"unlisted-{k}-{j}", ip=ip, kind="mobile", ts=START + int(rng.integers(0, 10 * DAY)),
                      matched=False) for j in range(8)]
    # a viral evening: eight friends join within the hour, on carrier addresses, and find each other
    viral = [f"v-{k}" for k in range(8)]
    for k, me in enumerate(viral):
        created[me] = START - 3 * DAY + k * 5 * 60_000
        ts, ip = START + int(rng.integers(0, 10 * DAY)), f"100.64.{k}.1"
        rows += [_row(me, friend, ip=ip, kind="mobile", ts=ts, matched=True) for friend in viral if friend != me]
        rows += [_row(me, f"book-{k}-{j}", ip=ip, kind="mobile", ts=ts, matched=False) for j in range(8)]
    accounts = pd.DataFrame({"account_id": list(created), "created_at": list(created.values())})
    found = find_networks(events_frame(rows), accounts=accounts)
    flagged = [c for c in found.clusters if c.flagged]
    assert [c.members for c in flagged] == [[f"op{k:02d}" for k in range(14)]]
    assert flagged[0].contributions["strangers"] > 3.0 and flagged[0].contributions["creation_burst"] > 1.0


def test_an_address_an_analyst_labelled_benign_counts_against_the_accounts_behind_it():
    rows = _circles(40, 5, seed=8) + _list_workers(12, 4, seed=9, ip="45.9.9.9")
    accounts = pd.DataFrame({"account_id": sorted({r["account_id"] for r in rows}), "created_at": START - 400 * DAY})
    vetted = [{"entity": "ip", "entity_id": "45.9.9.9", "value": "benign", "kind": "label"},
              {"entity": "ip", "entity_id": "85.0.0.1", "value": "benign", "kind": "label"}]  # a friend's, unused here
    plain = find_networks(events_frame(rows), accounts=accounts)
    labelled = find_networks(events_frame(rows), accounts=accounts, labels=vetted)
    workers = [f"op{k:02d}" for k in range(12)]
    before = next(c for c in plain.clusters if c.members == workers)
    after = next(c for c in labelled.clusters if set(c.members) == set(workers))
    assert "benign_labels" not in before.contributions and "benign_label_share" not in before.features
    assert after.features["benign_label_share"] == 1.0 and after.contributions["benign_labels"] == -3.0
    assert after.score < before.score


def test_a_dozen_list_workers_made_in_one_evening_count_though_too_few_for_an_addresss_z():
    """Seven workers, three people found each: their cohort's pooled z is short of what a crowd behind
    one address must reach, but a burst of accounts that find only strangers is two kinds of evidence.
    A third of the population are salespeople finding people who do not know each other, so one
    account's closure varies widely."""
    rng = np.random.default_rng(31)
    rows = _circles(40, 5, seed=32, ip_of=lambda c, k: f"100.64.{c}.1")
    created = {r["account_id"]: START - int(rng.integers(60, 420)) * DAY for r in rows}
    for s in range(100):
        people = [f"c{c:02d}-{1 + s % 4}" for c in rng.choice(40, size=6, replace=False)]
        rows += [_row(f"sales{s:02d}", t, ip=f"86.0.{s}.1", kind="residential", ts=START, matched=True)
                 for t in people]
    people = [f"c{c:02d}-0" for c in range(40)]
    workers = [f"op{k:02d}" for k in range(7)]
    for k, account in enumerate(workers):
        created[account] = START - 5 * DAY + k * 20 * 60_000
        ip = f"100.64.{k}.1"
        rows += [_row(account, people[(k * 3 + i) % 40], ip=ip, kind="mobile",
                      ts=START + int(rng.integers(0, 10 * DAY)), matched=True) for i in range(3)]
        rows += [_row(account, f"unlisted-{k}-{j}", ip=ip, kind="mobile", ts=START + int(rng.integers(0, 10 * DAY)),
                      matched=False) for j in range(8)]
    viral = [f"v-{k}" for k in range(8)]  # eight friends joining within the hour find each other
    for k, me in enumerate(viral):
        created[me] = START - 3 * DAY + k * 5 * 60_000
        ts, ip = START + int(rng.integers(0, 10 * DAY)), f"100.64.{k}.1"
        rows += [_row(me, friend, ip=ip, kind="mobile", ts=ts, matched=True) for friend in viral if friend != me]
        rows += [_row(me, f"book-{k}-{j}", ip=ip, kind="mobile", ts=ts, matched=False) for j in range(8)]
    source = events_frame(rows)
    accounts = pd.DataFrame({"account_id": list(created), "created_at": list(created.values())})
    closure = target_closure(source)
    usual = closure_baseline(closure)
    z = (usual.mean - 0.0) / (usual.spread / np.sqrt(len(workers)))
    params = DetectionParams()
    assert params.warm_stranger_z <= z < params.seed_stranger_z
    flagged = [c for c in find_networks(source, accounts=accounts).clusters if c.flagged]
    assert [c.members for c in flagged] == [workers]
    assert flagged[0].contributions["strangers"] > 1.0
    # asked for an address's z, the cohort opens no case
    strict = DetectionParams(warm_stranger_z=params.seed_stranger_z)
    assert not [c for c in find_networks(source, accounts=accounts, params=strict).clusters if c.flagged]
