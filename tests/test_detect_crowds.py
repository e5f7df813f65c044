"""A farm's new accounts behind the addresses it rents for them, however little each looks up."""

from __future__ import annotations

import numpy as np
import pandas as pd

from graph.detect import find_networks
from graph.detect.acquaintance import crowd_pairs
from graph.detect.frames import events_frame
from graph.detect.infrastructure import burst_crowds

DAY = 86_400_000
MINUTE = 60_000
START = 1_576_627_200_000  # 2019-12-18T00:00:00Z


def _row(account: str, number: str, *, ip: str, kind: str, asn: int, ts: int, matched: bool,
         region: str = "IR") -> dict:
    return {
        "ts": ts, "ip": ip, "ip_kind": kind, "ip_asn": asn, "ip_prefix": ip.rsplit(".", 1)[0] + ".0/24",
        "ip_country": "IR", "endpoint": "contacts/upload", "account_id": account, "device_id": f"d-{account}",
        "phone_hash": f"tel-{number}", "block_hash": f"blk-{number}", "block_ordinal": 7,
        "matched_account_id": number if matched else None, "phone_region": region,
    }


def _population(rng: np.random.Generator, created: dict) -> list[dict]:
    """Forty circles of five friends, aged accounts on their own home addresses, syncing books that hold each other."""
    rows = []
    for c in range(40):
        circle = [f"c{c:02d}-{k}" for k in range(5)]
        for k, me in enumerate(circle):
            created[me] = START - int(rng.integers(60, 420)) * DAY
            ip, ts = f"85.{c}.{k}.1", START + int(rng.integers(0, 10 * DAY))
            rows += [_row(me, friend, ip=ip, kind="residential", asn=3320, ts=ts, matched=True)
                     for friend in circle if friend != me]
            rows += [_row(me, f"book-{c}-{k}-{j}", ip=ip, kind="residential", asn=3320, ts=ts, matched=False)
                     for j in range(12)]
    return rows


def _newcomers(rng: np.random.Generator, created: dict, prefix: str, n: int, *, born: int, ips: list[str],
               kind: str, asn: int, lookups, region: str = "IR", hours: tuple[int, int] = (0, 24),
               first: int = 0) -> list[dict]:
    """Accounts ``first`` to ``first + n - 1`` made a few minutes apart from ``born``, each behind one of
    ``ips``, looking up ``lookups(k)`` on ten days between ``hours``."""
    rows = []
    for k in range(first, first + n):
        account = f"{prefix}{k:02d}"
        created[account] = born + k * 3 * MINUTE
        ip = ips[k % len(ips)]
        for number, matched in lookups(k):
            ts = START + int(rng.integers(0, 10)) * DAY + int(rng.integers(hours[0] * 60, hours[1] * 60)) * MINUTE
            rows.append(_row(account, number, ip=ip, kind=kind, asn=asn, ts=ts, matched=matched, region=region))
    return rows


def _farm(rng: np.random.Generator, created: dict, *, n: int = 30) -> list[dict]:
    """A farm: ``n`` accounts made in one evening behind hosting addresses rented from two providers,
    each looking up three numbers of a divided leaked list abroad (one of them a user) in office hours."""
    def divided(k: int) -> list[tuple[str, bool]]:
        return [(f"listed-{3 * k + i}", i == 0) for i in range(3)]

    half = n // 2
    return (_newcomers(rng, created, "farm", half, born=START - 4 * DAY, ips=["45.77.12.94"], kind="hosting",
                       asn=20473, lookups=divided, region="US", hours=(9, 17))
            + _newcomers(rng, created, "farm", n - half, born=START - 4 * DAY, ips=["89.32.248.49"], kind="hosting",
                         asn=60068, lookups=divided, region="US", hours=(9, 17), first=half))


def _find(rows: list[dict], created: dict):
    accounts = pd.DataFrame({"account_id": list(created), "created_at": list(created.values())})
    return find_networks(events_frame(rows), accounts=accounts)


def test_burst_crowds_are_addresses_nearly_all_of_whose_users_are_new():
    rng = np.random.default_rng(1)
    created: dict = {}
    rows = _population(rng, created) + _farm(rng, created)
    # a viral evening on a carrier address: twelve newcomers among eight who signed up long ago
    rows += _newcomers(rng, created, "viral", 12, born=START - 2 * DAY, ips=["100.64.0.1"], kind="mobile", asn=44244,
                       lookups=lambda k: [(f"own-{k}-{i}", False) for i in range(3)])
    for k in range(8):
        created[f"old{k}"] = START - 300 * DAY
        rows.append(_row(f"old{k}", f"x{k}", ip="100.64.0.1", kind="mobile", asn=44244, ts=START, matched=False))
    new = {a for a in created if a.startswith(("farm", "viral"))}
    crowds = burst_crowds(events_frame(rows), new, min_share=0.9)
    assert sorted(set(crowds["ip"])) == ["45.77.12.94", "89.32.248.49"]
    assert sorted(crowds["account_id"]) == [f"farm{k:02d}" for k in range(30)]
    # the carrier address counts at a lower bar: 12 of its 20 users are new
    assert "100.64.0.1" in set(burst_crowds(events_frame(rows), new, min_share=0.5)["ip"])


def test_crowd_pairs_leave_no_cheap_cut_through_a_crowd():
    members = [f"a{k:03d}" for k in range(100)]
    pairs = crowd_pairs({"ip": members})
    degree = pd.concat([pairs["a"], pairs["b"]]).value_counts()
    assert len(degree) == 100 and degree.max() <= 14
    # any half of the accounts in id order (an arc of the ring) holds ties to the rest from most of its accounts
    first = set(members[:50])
    crossing = pairs[pairs["a"].isin(first) != pairs["b"].isin(first)]
    assert len(set(crossing["a"]) | set(crossing["b"])) >= 90


def test_a_farms_quiet_accounts_on_rented_addresses_are_one_flagged_cluster():
    rng = np.random.default_rng(2)
    created: dict = {}
    rows = _population(rng, created) + _farm(rng, created)
    found = _find(rows, created)
    flagged = [c for c in found.clusters if c.flagged]
    assert [c.members for c in flagged] == [[f"farm{k:02d}" for k in range(30)]]
    assert flagged[0].contributions["creation_burst"] > 1.0 and flagged[0].contributions["hosting"] > 0.0


def test_newcomers_of_a_viral_evening_or_at_one_venue_are_not_a_farm():
    rng = np.random.default_rng(3)
    created: dict = {}
    rows = _population(rng, created)
    # a viral evening: thirty newcomers behind a carrier address that sixteen older users share
    rows += _newcomers(rng, created, "viral", 30, born=START - 4 * DAY, ips=["100.64.0.1"], kind="mobile", asn=44244,
                       lookups=lambda k: [(f"own-{k}-{i}", False) for i in range(3)])
    for k in range(16):
        created[f"old{k}"] = START - int(rng.integers(60, 420)) * DAY
        rows.append(_row(f"old{k}", f"x{k}", ip="100.64.0.1", kind="mobile", asn=44244, ts=START, matched=False))
    # a reunion: twelve classmates sign up at the venue, on its address only, and find each other
    rows += _newcomers(rng, created, "class", 12, born=START - 2 * DAY, ips=["203.0.113.7"], kind="residential",
                       asn=3320, lookups=lambda k: [(f"class{(k + i) % 12:02d}", True) for i in range(1, 4)])
    found = _find(rows, created)
    # not flagged, nor even gathered into a group to judge
    assert [c.members for c in found.clusters if c.flagged] == []
    assert not [c.members for c in found.clusters if any(m.startswith(("viral", "class")) for m in c.members)]
    # the farm among them is found alone
    rows += _farm(rng, created)
    found = _find(rows, created)
    assert [c.members for c in found.clusters if c.flagged] == [[f"farm{k:02d}" for k in range(30)]]
