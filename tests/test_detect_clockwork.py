"""A cron firing one account a tick crowds no slot, but keeps one minute of the hour behind its addresses."""

from __future__ import annotations

import networkx as nx
import numpy as np
import pandas as pd
from test_detect_slots import DAY, HOUR, START, _circles  # circles of friends on home lines

from graph.detect import find_networks, synchrony
from graph.detect.frames import events_frame
from graph.detect.infrastructure import looking_through
from graph.detect.synchrony import activity_onsets, clockwork, hour_clock
from graph.detect.tradecraft import evident_tradecrafts

MINUTE = 60_000
EXITS = ("45.77.7.1", "45.77.7.2")


def _row(account: str, target: str, *, ip: str, ts: int, matched: bool, kind: str, region: str = "DE") -> dict:
    return {
        "ts": ts, "ip": ip, "ip_kind": kind, "ip_prefix": ip.rsplit(".", 1)[0] + ".0/24",
        "endpoint": "contacts/lookup", "account_id": account, "device_id": f"d-{account}",
        "phone_hash": f"tel-{target}", "block_hash": f"blk-{target}", "block_ordinal": 7,
        "matched_account_id": target if matched else None, "phone_region": region, "ip_country": "DE",
    }


def _vpn_users(rng: np.random.Generator) -> list[dict]:
    """Thirty people in six circles behind the two VPN exits, each syncing its book twice at moments of its own."""
    rows = []
    for c in range(6):
        circle = [f"v{c}-{k}" for k in range(5)]
        for k, me in enumerate(circle):
            for _ in range(2):
                ts = START + int(rng.integers(0, 6 * DAY))
                rows += [_row(me, friend, ip=EXITS[(c + k) % 2], ts=ts + i * 5_000, matched=True, kind="vpn")
                         for i, friend in enumerate(f for f in circle if f != me)]
    return rows


def _cron_operation(n: int, rng: np.random.Generator, *, cron: bool = True) -> list[dict]:
    """``n`` aged accounts working a leaked list of another country's numbers through two VPN exits, once each.

    A cron fires at minute 41 of every hour for six days and sends one account a tick
    (or, without the cron, each account starts at a moment of its own); each looks up
    three numbers of the list, a different three each, one of whom it finds. Nothing
    stands out per account (three lookups, an ordinary hit ratio, too few people found
    to say whether they know each other), no two accounts share a number, no slot is
    ever crowded, and the exits are shared with people who sync their books there.
    """
    ticks = rng.choice(6 * 24, size=n, replace=False)
    rows = []
    for k in range(n):
        account, ip = f"op{k:02d}", EXITS[k % 2]
        start = (START + int(ticks[k]) * HOUR + 41 * MINUTE) if cron else START + int(rng.integers(0, 6 * DAY))
        rows += [_row(account, f"list-{k}-{i}", ip=ip, ts=start + i * 7_000, matched=i == 0, kind="vpn", region="IR")
                 for i in range(3)]
    return rows


def _staff_push(rng: np.random.Generator) -> list[dict]:
    """A staff directory pushed to forty managed phones behind the office's address at nine, one morning."""
    staff = [f"s{k:02d}" for k in range(40)]
    rows = []
    for k, me in enumerate(staff):
        ts = START + 2 * DAY + 9 * HOUR + int(rng.integers(0, 90_000))
        rows += [_row(me, colleague, ip="62.1.1.1", ts=ts + i * 2_000, matched=True, kind="business")
                 for i, colleague in enumerate(staff[(k + 1) % 40:][:10])]
    return rows


def _case(*, cron: bool = True) -> tuple[pd.DataFrame, pd.DataFrame]:
    rng = np.random.default_rng(11)
    rows = _circles(60, 5, rng) + _vpn_users(rng) + _cron_operation(40, rng, cron=cron) + _staff_push(rng)
    accounts = pd.DataFrame({"account_id": sorted({r["account_id"] for r in rows}), "created_at": START - 400 * DAY})
    return events_frame(rows), accounts


def test_the_accounts_keeping_a_minute_of_the_hour_behind_an_address_are_paired_and_nobody_else():
    events, _ = _case()
    onsets = activity_onsets(events, gap_seconds=900, lookups_only=True)
    pairs = clockwork(onsets, looking_through(events))
    paired = set(pairs["a"]) | set(pairs["b"])
    assert len(paired) >= 36 and all(a.startswith("op") for a in paired)
    # each exit ties the accounts behind it, and only those
    assert all(int(a[2:]) % 2 == int(b[2:]) % 2 for a, b in zip(pairs["a"], pairs["b"], strict=True))
    # the staff's push crowds one minute on one morning, which no cron is
    assert not any(a.startswith("s") for a in paired)


def test_without_the_cron_the_same_accounts_keep_no_minute():
    events, _ = _case(cron=False)
    onsets = activity_onsets(events, gap_seconds=900, lookups_only=True)
    assert clockwork(onsets, looking_through(events)).empty


def test_a_group_is_clockwork_only_as_far_as_its_members_keep_the_minute():
    events, _ = _case()
    onsets = activity_onsets(events, gap_seconds=900, lookups_only=True)
    ours = [f"op{k:02d}" for k in range(40)]
    vpn = [f"v{c}-{k}" for c in range(6) for k in range(5)]
    clock = hour_clock(onsets, {0: ours, 1: ours[:10] + vpn, 2: vpn})
    assert clock[0]["clock_log10_p"] < -20 and clock[0]["clock_share"] == 1.0
    # a third of a group keeping the cron's minute makes the pooled window improbable, not its members a cron's
    assert clock[1]["clock_share"] < 0.3
    assert clock[2]["clock_log10_p"] > -3


def test_a_cron_operation_on_shared_vpn_exits_is_flagged_and_the_exits_people_and_the_staff_are_not():
    events, accounts = _case()
    found = find_networks(events, accounts=accounts)
    flagged = [c for c in found.clusters if c.flagged]
    members = {m for c in flagged for m in c.members}
    assert members and all(m.startswith("op") for m in members)
    assert len(members) >= 36
    cluster = max(flagged, key=lambda c: c.size)
    assert cluster.contributions["clockwork"] > 2.0 and "slots" not in cluster.contributions
    assert cluster.features["clock_log10_p"] < -6 and cluster.features["clock_share"] >= 0.8
    assert any("one minute of the hour" in reason for reason in cluster.reasons)
    assert "one minute of the hour" in evident_tradecrafts(cluster.features)["scheduled operation"]


def test_without_the_cron_the_operation_stays_unflagged():
    events, accounts = _case(cron=False)
    found = find_networks(events, accounts=accounts)
    assert not any(m.startswith("op") for c in found.clusters if c.flagged for m in c.members)


def test_behind_a_busy_address_people_keeping_the_minute_by_chance_stop_the_pairing():
    rng = np.random.default_rng(3)
    people = [(f"p{i:04d}", START + int(t)) for i, t in enumerate(rng.integers(0, 6 * DAY, 1600))]
    cron = [(f"op{k:02d}", START + int(h) * HOUR + 41 * MINUTE) for k, h in enumerate(rng.choice(144, 80, replace=False))]
    onsets = pd.DataFrame(people + cron, columns=["account_id", "ts_ms"])
    usage = pd.DataFrame({"account_id": onsets["account_id"], "entity": "ip:100.64.0.1"})
    # the minute stands out, but one person in twenty starts within its three minutes: ~80 of them
    # beside the cron's 80 accounts, who cannot be told from them
    assert synchrony._minute_windows(np.zeros(len(onsets), dtype=int), ((onsets["ts_ms"] // MINUTE) % 60).to_numpy(),
                                     1, 3).min() < -6
    assert clockwork(onsets, usage).empty
    # the same cron behind an address of its own is paired
    alone = clockwork(onsets[onsets["account_id"].str.startswith("op")], usage[usage["account_id"].str.startswith("op")])
    assert len(set(alone["a"]) | set(alone["b"])) == 80


def test_hundreds_of_accounts_behind_one_address_are_tied_sparsely_into_one_group():
    cron = [(f"op{k:03d}", START + (k % 144) * HOUR + 41 * MINUTE) for k in range(300)]
    onsets = pd.DataFrame(cron, columns=["account_id", "ts_ms"])
    pairs = clockwork(onsets, pd.DataFrame({"account_id": onsets["account_id"], "entity": "ip:45.77.7.1"}))
    graph = nx.Graph(list(zip(pairs["a"], pairs["b"], strict=True)))
    assert graph.number_of_nodes() == 300 and nx.is_connected(graph)
    assert len(pairs) <= 300 * 10  # ten partners each, not 44,850 pairs
    assert min(dict(graph.degree).values()) >= 10


def _ticks(prefix: str, count: int, minute: int, days: range) -> list[tuple[str, int]]:
    """``count`` accounts a cron fires at ``minute`` past one hour of the day, each on one of ``days``."""
    return [(f"{prefix}{k:02d}", START + days[k % len(days)] * DAY + (9 + k % 3) * HOUR + minute * MINUTE)
            for k in range(count)]


def test_two_crons_keeping_their_own_minutes_are_two_schedules_and_people_are_in_none():
    rng = np.random.default_rng(5)
    people = [(f"p{i:02d}", START + int(t)) for i, t in enumerate(rng.integers(0, 6 * DAY, 30))]
    onsets = pd.DataFrame(_ticks("a", 40, 45, range(4)) + _ticks("b", 14, 27, range(2)) + people,
                          columns=["account_id", "ts_ms"])
    schedules = synchrony.minute_schedules(onsets, onsets["account_id"].unique(), min_days=2)
    assert len(schedules) == 2
    # the windows hold the crons' minutes, and their hours the crons' hours
    for schedule, cron, minute in zip(schedules, ("a", "b"), (45, 27), strict=True):
        assert (minute - schedule.minute) % 60 < 3 and {9, 10, 11} <= schedule.hours
        # each cron's accounts, and the odd person whose one session started in its minutes
        assert {m for m in schedule.accounts if not m.startswith("p")} == {
            m for m in onsets["account_id"] if m.startswith(cron)}
        assert sum(m.startswith("p") for m in schedule.accounts) <= 3
    # a minute kept on fewer days than asked is no schedule (the crons fired on 4 and 2 days)
    assert synchrony.minute_schedules(onsets, onsets["account_id"].unique(), min_days=5) == []
    assert synchrony.minute_schedules(onsets[~onsets["account_id"].str.startswith("a")],
                                      [f"b{k:02d}" for k in range(14)] + [p for p, _ in people], min_days=3) == []


def test_people_starting_at_any_minute_keep_no_schedule_however_many():
    rng = np.random.default_rng(6)
    onsets = pd.DataFrame([(f"p{i % 200:03d}", START + int(t)) for i, t in enumerate(rng.integers(0, 9 * DAY, 600))],
                          columns=["account_id", "ts_ms"])
    assert synchrony.minute_schedules(onsets, onsets["account_id"].unique(), min_days=2) == []
