"""A cron firing a few aged accounts at a few times of the day keeps those minutes behind its rented network."""

from __future__ import annotations

import numpy as np
import pandas as pd
from test_detect_slots import DAY, START, _circles  # circles of friends on home lines

from graph.detect import find_networks
from graph.detect.frames import events_frame
from graph.detect.infrastructure import looking_through
from graph.detect.synchrony import activity_onsets, clockwork, day_clock, day_windows
from graph.detect.tradecraft import evident_tradecrafts

MINUTE = 60_000
RENTED = ("45.77.0.242", "45.77.9.242", "45.77.11.23", "45.77.13.225")  # one hosting network's addresses
VPN_EXIT = "45.77.6.232"  # a VPN provider's exit on the same network
WINDOWS = (613, 881, 1252)  # 10:13, 14:41 and 20:52: three different minutes of the hour


def _row(account: str, target: str, *, ip: str, ts: int, matched: bool, kind: str, asn: int,
         region: str = "DE") -> dict:
    return {
        "ts": ts, "ip": ip, "ip_kind": kind, "ip_asn": asn, "ip_prefix": ip.rsplit(".", 1)[0] + ".0/24",
        "endpoint": "contacts/lookup", "account_id": account, "device_id": f"d-{account}",
        "phone_hash": f"tel-{target}", "block_hash": f"blk-{target}", "block_ordinal": 7,
        "matched_account_id": target if matched else None, "phone_region": region, "ip_country": "US",
    }


def _cron_operation(n: int, rng: np.random.Generator, *, cron: bool = True) -> list[dict]:
    """``n`` aged accounts working a leaked list through four rented addresses of one network, once each.

    A cron fires three times a day for eight days, each time sending a few accounts out
    within four minutes (or, without the cron, each account starts at a moment of its
    own); each looks up three numbers of the list, a different three each, one of whom it
    finds. Nothing stands out per account, no two share a number, no minute of the hour is
    kept (the three windows start at different minutes) and no address holds enough of
    the accounts to pool anything.
    """
    rows = []
    for k in range(n):
        account, ip = f"op{k:02d}", RENTED[k % 4]
        start = (START + (k // 3 % 8) * DAY + WINDOWS[k % 3] * MINUTE + int(rng.integers(0, 4 * MINUTE)) if cron
                 else START + int(rng.integers(0, 8 * DAY)))
        rows += [_row(account, f"list-{k}-{i}", ip=ip, ts=start + i * 9_000, matched=i == 0, kind="hosting",
                      asn=20473, region="IR") for i in range(3)]
    return rows


def _vpn_users(rng: np.random.Generator) -> list[dict]:
    """Thirty people in six circles behind the provider's VPN exit, each syncing its book twice at moments of its own."""
    rows = []
    for c in range(6):
        circle = [f"v{c}-{k}" for k in range(5)]
        for me in circle:
            for _ in range(2):
                ts = START + int(rng.integers(0, 8 * DAY))
                rows += [_row(me, friend, ip=VPN_EXIT, ts=ts + i * 5_000, matched=True, kind="vpn", asn=20473)
                         for i, friend in enumerate(f for f in circle if f != me)]
    return rows


def _office(rng: np.random.Generator) -> list[dict]:
    """Ninety staff behind the office's address, each syncing a few colleagues once, as it starts its day between
    nine and twenty to ten, fifteen of them a day on six days: a peak of the day tens of minutes wide, not a
    cron's few minutes."""
    staff = [f"s{k:02d}" for k in range(90)]
    rows = []
    for k, me in enumerate(staff):
        ts = START + (k % 6) * DAY + 9 * 60 * MINUTE + int(rng.integers(0, 40 * MINUTE))
        rows += [_row(me, colleague, ip="62.1.1.1", ts=ts + i * 4_000, matched=True, kind="business", asn=3320)
                 for i, colleague in enumerate(staff[k + 1:k + 4] or staff[:3])]
    return rows


def _case(*, cron: bool = True) -> tuple[pd.DataFrame, pd.DataFrame]:
    rng = np.random.default_rng(5)
    rows = _circles(60, 5, rng) + _vpn_users(rng) + _cron_operation(60, rng, cron=cron) + _office(rng)
    for row in rows:
        row.setdefault("ip_asn", 3209)
    accounts = pd.DataFrame({"account_id": sorted({r["account_id"] for r in rows}), "created_at": START - 400 * DAY})
    return events_frame(rows), accounts


def test_a_hosting_or_vpn_network_pools_its_addresses_users_and_a_carrier_or_office_does_not():
    events, _ = _case()
    pooled = looking_through(events, networks=True)
    network = set(pooled.loc[pooled["entity"] == "network:AS20473", "account_id"])
    assert network == {f"op{k:02d}" for k in range(60)} | {f"v{c}-{k}" for c in range(6) for k in range(5)}
    assert not pooled["entity"].isin(["network:AS3320", "network:AS3209"]).any()
    assert not looking_through(events)["entity"].str.startswith("network:").any()


def test_the_accounts_keeping_a_few_minutes_of_the_day_behind_their_network_are_paired_and_nobody_else():
    events, _ = _case()
    onsets = activity_onsets(events, gap_seconds=900, lookups_only=True)
    pairs = day_clock(onsets, looking_through(events, networks=True))
    paired = set(pairs["a"]) | set(pairs["b"])
    assert len(paired) >= 54 and all(a.startswith("op") for a in paired)
    # one window's accounts are tied to each other, not across windows (the windows were three)
    assert all(int(a[2:]) % 3 == int(b[2:]) % 3 for a, b in zip(pairs["a"], pairs["b"], strict=True))
    # the cron keeps no minute of the hour, and the office's start of the day is a peak, not a window
    assert not (set(clockwork(onsets, looking_through(events))[["a", "b"]].stack()) & paired)
    assert not any(a.startswith("s") for a in paired)


def test_an_office_starting_its_day_together_would_keep_a_window_against_a_wide_context():
    # the context on each side is what parts the office's peak from a cron's window: against two hours of
    # it, as against a uniform day, the staff's forty minutes would stand out
    events, _ = _case()
    onsets = activity_onsets(events, gap_seconds=900, lookups_only=True)
    wide = day_clock(onsets, looking_through(events, networks=True), context_minutes=120)
    assert any(a.startswith("s") for a in set(wide["a"]) | set(wide["b"]))


def test_without_the_cron_the_same_accounts_keep_no_minutes_of_the_day():
    events, _ = _case(cron=False)
    onsets = activity_onsets(events, gap_seconds=900, lookups_only=True)
    assert day_clock(onsets, looking_through(events, networks=True)).empty


def test_a_group_keeps_the_days_windows_as_far_as_its_members_do():
    events, _ = _case()
    onsets = activity_onsets(events, gap_seconds=900, lookups_only=True)
    ours = [f"op{k:02d}" for k in range(60)]
    vpn = [f"v{c}-{k}" for c in range(6) for k in range(5)]
    staff = [f"s{k:02d}" for k in range(90)]
    clock = day_windows(onsets, {0: ours, 1: ours[:15] + vpn, 2: vpn, 3: staff})
    assert clock[0]["clock_log10_p"] < -6 and clock[0]["clock_share"] == 1.0
    assert clock[1]["clock_share"] < 0.5
    assert clock[2] == {"clock_log10_p": 0.0, "clock_share": 0.0}
    assert clock[3]["clock_share"] < 0.5


def test_the_cron_operation_is_flagged_as_one_keeping_minutes_of_the_day_and_the_people_are_not():
    events, accounts = _case()
    found = find_networks(events, accounts=accounts)
    flagged = [c for c in found.clusters if c.flagged]
    members = {m for c in flagged for m in c.members}
    assert members and all(m.startswith("op") for m in members)
    assert len(members) >= 54
    cluster = max(flagged, key=lambda c: c.size)
    assert cluster.contributions["clockwork"] > 1.0
    assert cluster.features["clock_daily"] == 1.0 and cluster.features["clock_share"] >= 0.8
    assert any("same few minutes of the day" in reason for reason in cluster.reasons)
    assert "minutes of the day" in evident_tradecrafts(cluster.features)["scheduled operation"]


def test_without_the_cron_the_operation_stays_unflagged():
    events, accounts = _case(cron=False)
    found = find_networks(events, accounts=accounts)
    assert not any(m.startswith("op") for c in found.clusters if c.flagged for m in c.members)
