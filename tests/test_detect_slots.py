"""A scheduler blurred by jitter keeps its slots: the same times of day, a few of its accounts each day."""

from __future__ import annotations

import numpy as np
import pandas as pd

from graph.detect import find_networks
from graph.detect.acquaintance import dedicated_links
from graph.detect.frames import events_frame
from graph.detect.results import DetectionParams
from graph.detect.synchrony import activity_onsets, lockstep_spikes, recurring_spikes, slot_share
from graph.detect.tradecraft import evident_tradecrafts

DAY = 86_400_000
HOUR = 3_600_000
START = 1_576_627_200_000  # 2019-12-18T00:00:00Z
SLOTS = (9 * HOUR, 13 * HOUR, 17 * HOUR + 30 * 60_000)


def _row(account: str, target: str, *, ip: str, ts: int, matched: bool, kind: str = "residential") -> dict:
    return {
        "ts": ts, "ip": ip, "ip_kind": kind, "ip_prefix": ip.rsplit(".", 1)[0] + ".0/24",
        "endpoint": "contacts/lookup", "account_id": account, "device_id": f"d-{account}",
        "phone_hash": f"tel-{target}", "block_hash": f"blk-{target}", "block_ordinal": 7,
        "matched_account_id": target if matched else None, "phone_region": "DE", "ip_country": "DE",
    }


def _circles(n: int, size: int, rng: np.random.Generator) -> list[dict]:
    """Circles of friends syncing books that hold each other, each member at a moment of its own."""
    rows = []
    for c in range(n):
        circle = [f"c{c:02d}-{k}" for k in range(size)]
        for k, me in enumerate(circle):
            ts = START + int(rng.integers(0, 10 * DAY))
            rows += [_row(me, friend, ip=f"85.{c}.{k}.1", ts=ts + i * 5_000, matched=True)
                     for i, friend in enumerate(f for f in circle if f != me)]
            rows += [_row(me, f"nobody-{c}-{k}-{j}", ip=f"85.{c}.{k}.1", ts=ts + 60_000 + j * 5_000, matched=False)
                     for j in range(12)]
    return rows


def _scheduled_operation(n: int, rng: np.random.Generator, *, scheduled: bool = True, per_exit: int = 2,
                         kind: str = "residential") -> list[dict]:
    """``n`` aged accounts working a leaked list from residential proxies, two accounts an exit.

    The exits pair the accounts and chain nothing: no address or chain of addresses pools
    enough of them to tell that the people they find are strangers.

    Each account works two of five days, starting at one of three daily slots blurred
    by two minutes of jitter (or, unscheduled, at a moment of its own), and looks up four
    people of the list (one member of each of many circles: strangers to each other) among
    numbers nobody uses: too few lookups and too ordinary a hit ratio for any account to
    stand out alone. ``per_exit`` accounts share each address (of ``kind``).
    """
    people = [f"c{c:02d}-0" for c in range(60)]
    rows = []
    for k in range(n):
        account, ip = f"op{k:02d}", f"81.2.{k // per_exit}.1"
        mine = [people[(4 * k + i) % len(people)] for i in range(4)]
        days = rng.choice(5, size=2, replace=False)
        for d in days:
            if scheduled:
                ts = START + (2 + int(d)) * DAY + SLOTS[k % 3] + int(rng.normal(0, 120_000))
            else:
                ts = START + (2 + int(d)) * DAY + int(rng.integers(8 * HOUR, 20 * HOUR))
            rows += [_row(account, t, ip=ip, ts=ts + i * 7_000, matched=True, kind=kind) for i, t in enumerate(mine)]
            rows += [_row(account, f"unlisted-{k}-{d}-{j}", ip=ip, ts=ts + 30_000 + j * 7_000, matched=False,
                          kind=kind) for j in range(8)]
    return rows


def _bystanders(rng: np.random.Generator) -> list[dict]:
    """Accounts on home lines of their own that sync a small book once, inside the slots' minutes."""
    rows = []
    for k in range(6):
        ts = START + (2 + k % 5) * DAY + SLOTS[k % 3] + int(rng.normal(0, 60_000))
        rows += [_row(f"by{k}", f"c{40 + k:02d}-{j}", ip=f"92.7.{k}.1", ts=ts + j * 5_000, matched=True)
                 for j in range(2)]
        rows += [_row(f"by{k}", f"mine-{k}-{j}", ip=f"92.7.{k}.1", ts=ts + 20_000 + j * 5_000, matched=False)
                 for j in range(6)]
    return rows


def _case(*, scheduled: bool = True, per_exit: int = 2, kind: str = "residential") -> tuple[pd.DataFrame, pd.DataFrame]:
    rng = np.random.default_rng(7)
    rows = (_circles(60, 5, rng) + _scheduled_operation(40, rng, scheduled=scheduled, per_exit=per_exit, kind=kind)
            + _bystanders(rng))
    accounts = pd.DataFrame({"account_id": sorted({r["account_id"] for r in rows}), "created_at": START - 400 * DAY})
    return events_frame(rows), accounts


def test_a_jittered_schedule_recurs_at_its_slots_and_its_accounts_start_there_on_the_days_they_work():
    events, _ = _case()
    onsets = activity_onsets(events, gap_seconds=900, lookups_only=True)
    # the minute is blurred: one-minute buckets catch a few of the operation's accounts at once
    minutes = recurring_spikes(lockstep_spikes(onsets, bucket_seconds=60), bucket_seconds=60, tolerance_seconds=1200)
    assert minutes["account_id"].str.startswith("op").sum() < 15
    slots = recurring_spikes(lockstep_spikes(onsets, bucket_seconds=600), bucket_seconds=600, tolerance_seconds=1200)
    assert slots["slot"].nunique() == 3
    share = slot_share(slots, onsets)
    ours = share[share.index.str.startswith("op")]
    assert len(ours) >= 30 and (ours >= 0.5).all()
    # the circles' members start at moments of their own: none is in a slot on most of its days
    assert not share[share.index.str.startswith("c") & (share >= 0.5)].index.difference(
        slots[slots["account_id"].str.startswith("c")]["account_id"]).size


def test_a_scheduled_operation_too_quiet_for_any_account_to_stand_out_is_one_cluster_and_bystanders_stay_out():
    events, accounts = _case()
    found = find_networks(events, accounts=accounts)
    flagged = [c for c in found.clusters if c.flagged]
    assert len(flagged) == 1
    cluster = flagged[0]
    # every member is the operation's; the few whose only day fell outside a slot may be missing
    assert all(m.startswith("op") for m in cluster.members) and len(cluster.members) >= 36
    assert cluster.contributions["slots"] > 1.5 and cluster.features["slotted_share"] >= 0.8
    assert any("daily slots" in reason for reason in cluster.reasons)
    assert "daily slots" in evident_tradecrafts(cluster.features)["scheduled operation"]


def test_the_same_accounts_without_a_schedule_or_without_the_slot_search_are_not_flagged():
    events, accounts = _case(scheduled=False)
    found = find_networks(events, accounts=accounts)
    assert not [c for c in found.clusters if c.flagged and any(m.startswith("op") for m in c.members)]
    # the schedule is what opens the case: asking slots to recur on more days than the case has finds nothing
    events, accounts = _case()
    found = find_networks(events, accounts=accounts, params=DetectionParams(slot_days=30))
    assert not [c for c in found.clusters if c.flagged and any(m.startswith("op") for m in c.members)]


def _shared_with_everyone(events: pd.DataFrame) -> pd.DataFrame:
    """The circles' members reach the service through the operation's addresses too (a VPN exit's crowd)."""
    members = sorted(a for a in events["account_id"].unique() if a.startswith("c"))
    exits = sorted(events.loc[events["account_id"].str.startswith("op"), "ip"].unique())
    home = dict(zip(members, (exits[i % len(exits)] for i in range(len(members))), strict=True))
    moved = events.copy()
    mine = moved["account_id"].isin(home)
    moved.loc[mine, "ip"] = moved.loc[mine, "account_id"].map(home)
    moved.loc[mine, "ip_prefix"] = moved.loc[mine, "ip"].str.rsplit(".", n=1).str[0] + ".0/24"
    moved.loc[mine, "ip_kind"] = moved.loc[events["account_id"].str.startswith("op"), "ip_kind"].iloc[0]
    return moved


def test_a_schedule_on_addresses_only_its_accounts_use_is_one_cluster_however_many_share_each():
    # ten accounts an address: no exit is rare, yet the schedule's accounts are nearly all who use each
    events, accounts = _case(per_exit=10, kind="hosting")
    found = find_networks(events, accounts=accounts)
    flagged = [c for c in found.clusters if c.flagged and any(m.startswith("op") for m in c.members)]
    assert len(flagged) == 1
    cluster = flagged[0]
    assert all(m.startswith("op") for m in cluster.members) and len(cluster.members) >= 36
    assert cluster.contributions["slots"] > 1.5
    assert not [c for c in found.clusters if c.flagged and not any(m.startswith("op") for m in c.members)]


def test_a_schedule_on_addresses_everyone_uses_links_nobody_through_them():
    ops = pd.Index([f"op{k:02d}" for k in range(40)])
    events, _ = _case(per_exit=10, kind="hosting")
    assert len(dedicated_links(events, ops)) == 4 * 45  # each address's ten, every pair
    # the same hosting addresses used by the circles' 300 members too (a VPN exit's crowd)
    assert dedicated_links(_shared_with_everyone(events), ops).empty
    # a VPN exit the operation floods is its own; carrier addresses are people's, however few use them
    events, _ = _case(per_exit=10, kind="vpn")
    assert len(dedicated_links(events, ops)) == 4 * 45
    events, _ = _case(per_exit=10, kind="mobile")
    assert dedicated_links(events, ops).empty
