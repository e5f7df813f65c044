"""Synchronized activity: accounts that start the same work at the same moments, again and again.

SynchroTrap (Cao et al. 2014) clusters accounts whose actions fall into the
same time windows repeatedly; CopyCatch (Beutel et al. 2013) looks for
lockstep groups of users acting on the same things within a short time.
Both compare *actions*. On a lookup API an enumerator acts continuously (a
lookup every few seconds for hours), so two unrelated enumerators that work
overlapping hours would look perfectly synchronized bucket by bucket. What
a shared operator, scheduler or cron table really synchronizes is when work
*starts*. This module therefore compares session onsets: the first request
to an endpoint after at least ``gap_seconds`` without one. People start
sessions at random moments; accounts driven by one scheduler or one shift
start them together, day after day.

Jitter is handled the SynchroTrap way, with time buckets, but on two grids
offset by half a bucket: two onsets less than half a bucket apart always
share a bucket on at least one grid, whatever the jitter's direction.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from typing import NamedTuple

import numpy as np
import pandas as pd
import scipy  # scipy.stats loads on first use

from graph.detect.frames import EventsLike, among, as_events, scratch_connection

__all__ = [
    "activity_onsets", "clockwork", "common_start", "day_clock", "day_windows", "hour_clock", "lockstep_spikes", "lockstep_days", "minute_schedules",
    "recurring_spikes", "Schedule", "slot_share", "spike_ties", "synchrony_ties", "synchronized_windows",
]


def activity_onsets(
    events: EventsLike, accounts: Collection[str] | None = None, *, gap_seconds: int = 900,
    lookups_only: bool = False,
) -> pd.DataFrame:
    """Session onsets: each account's first request to an endpoint after a quiet gap.

    Parameters
    ----------
    events : Events or DataFrame
    accounts : collection of str, optional
        Only these accounts (the candidates).
    gap_seconds : int
        Silence on that endpoint, by that account, before a request counts as
        an onset (measured between the clock minutes with requests: an
        enumerator's millions of rows shrink to its active minutes first).
    lookups_only : bool
        Only requests that looked a number up (half the rows of a busy case,
        all that :func:`lockstep_days` reads).

    Returns
    -------
    DataFrame
        ``account_id, endpoint, ts_ms, lookup`` (whether the onset minute
        carried lookups), sorted.

    Examples
    --------
    >>> from graph.detect.frames import events_frame
    >>> rows = [{"ts": t * 1000, "ip": "1.1.1.1", "endpoint": "contacts/lookup", "account_id": "a"}
    ...         for t in (0, 5, 10, 5000, 5003)]
    >>> activity_onsets(events_frame(rows), gap_seconds=900)["ts_ms"].tolist()
    [0, 5000000]
    """
    source = as_events(events)
    frames = {}
    focus = ""
    if accounts is not None:
        frames["focus"] = pd.DataFrame({"account_id": sorted(set(accounts))}, dtype=object)
        focus = "AND account_id IN (SELECT account_id FROM {focus})"
    gap_ms = int(gap_seconds * 1000)
    if lookups_only:
        focus += " AND phone_hash IS NOT NULL"
    return source.query(
        f"""
        WITH active AS (
            SELECT account_id, endpoint, min(epoch_ms(ts)) AS ts_ms, epoch_ms(ts) // 60000 AS minute,
                   bool_or(phone_hash IS NOT NULL) AS lookup
            FROM {{events}}
            WHERE account_id IS NOT NULL AND endpoint IS NOT NULL {focus}
            GROUP BY account_id, endpoint, minute
        )
        SELECT account_id, endpoint, ts_ms, lookup FROM (
            SELECT account_id, endpoint, ts_ms, lookup,
                   lag(minute) OVER (PARTITION BY account_id, endpoint ORDER BY minute) AS previous, minute
            FROM active
        )
        WHERE previous IS NULL OR (minute - previous) * 60000 >= {gap_ms}
        ORDER BY account_id, endpoint, ts_ms
        """,
        **frames,
    )


def lockstep_spikes(
    onsets: pd.DataFrame,
    *,
    bucket_seconds: int = 60,
    window_buckets: int = 30,
    min_accounts: int = 3,
    excess_sd: float = 4.0,
) -> pd.DataFrame:
    """Every crowd of session onsets that chance does not explain, and who was in it.

    A scheduler starts its accounts within seconds of each other; people
    start sessions at random moments, so the onsets falling into a minute
    are about as many as in the minutes around it. A bucket holding far more
    onsets than its neighbourhood predicts is a *spike*. Only per-bucket
    counts are computed over the whole population (no pair of accounts is
    ever built), so this can run over everyone and open a case on timing
    alone (CopyCatch's lockstep, Beutel et al. 2013, found without its
    pairwise search).

    Parameters
    ----------
    onsets : DataFrame
        From :func:`activity_onsets` (only lookup onsets count).
    bucket_seconds : int
        Bucket width; two grids offset by half a bucket, as in
        :func:`synchrony_ties`.
    window_buckets : int
        Buckets on each side whose mean is the expected count.
    min_accounts : int
        Fewer accounts than this in a bucket is never a spike.
    excess_sd : float
        A spike holds at least ``expected + excess_sd * sqrt(expected)`` onsets
        (a Poisson tail far beyond chance, for every bucket of a busy case).

    Returns
    -------
    DataFrame
        ``spike`` (an integer per grid and bucket), ``account_id`` and
        ``day`` (days since the epoch), one row per account in a spike,
        sorted by spike and account.
    """
    if bucket_seconds <= 0 or window_buckets <= 0:
        raise ValueError("bucket_seconds and window_buckets must be positive")
    columns = {"spike": np.int64, "account_id": object, "day": np.int64}
    mine = onsets[onsets["lookup"]] if "lookup" in onsets.columns else onsets
    if mine.empty:
        return pd.DataFrame({c: pd.Series(dtype=t) for c, t in columns.items()})
    bucket_ms = int(bucket_seconds * 1000)
    codes, ids = pd.factorize(mine["account_id"], sort=True)
    con = scratch_connection()
    try:
        con.register("onsets", pd.DataFrame({"account_id": codes.astype(np.int32), "ts_ms": mine["ts_ms"]}))
        rows = con.execute(f"""
            WITH tokens AS (
                SELECT DISTINCT account_id, grid, (ts_ms + grid * {bucket_ms // 2}) // {bucket_ms} AS bucket
                FROM onsets, (SELECT unnest([0, 1]) AS grid)
            ), counts AS (
                SELECT grid, bucket, count(*) AS n FROM tokens GROUP BY 1, 2
            ), expected AS (
                SELECT grid, bucket, n,
                       (sum(n) OVER (PARTITION BY grid ORDER BY bucket
                                     RANGE BETWEEN {int(window_buckets)} PRECEDING AND {int(window_buckets)} FOLLOWING)
                        - n) / {2 * int(window_buckets)} AS mu
                FROM counts
            ), spikes AS (
                SELECT grid, bucket FROM expected
                WHERE n >= {int(min_accounts)} AND n >= mu + {float(excess_sd)} * sqrt(mu) + 1
            )
            SELECT t.bucket * 2 + t.grid AS spike, t.account_id, (t.bucket * {bucket_ms}) // 86400000 AS day
            FROM tokens t JOIN spikes s ON s.grid = t.grid AND s.bucket = t.bucket
            ORDER BY 1, 2
        """).df()
    finally:
        con.close()
    return pd.DataFrame({"spike": rows["spike"].to_numpy(dtype=np.int64),
                         "account_id": ids[rows["account_id"].to_numpy()].astype(object),
                         "day": rows["day"].to_numpy(dtype=np.int64)})


def lockstep_days(spikes: pd.DataFrame) -> pd.Series:
    """On how many different days each account started work in a spike (:func:`lockstep_spikes`).

    An account that is part of spikes on several different days is in
    lockstep with somebody.

    Examples
    --------
    Five accounts started by one cron at 09:00 on three days, among a
    hundred people starting at random:

    >>> rng = np.random.default_rng(0)
    >>> day = 86_400_000
    >>> cron = [(f"bot{i}", d * day + 9 * 3_600_000 + i * 1_000) for d in range(3) for i in range(5)]
    >>> people = [(f"p{i}", int(t)) for i in range(100) for t in rng.integers(0, 3 * day, size=6)]
    >>> onsets = pd.DataFrame(cron + people, columns=["account_id", "ts_ms"]).assign(
    ...     endpoint="contacts/lookup", lookup=True)
    >>> days = lockstep_days(lockstep_spikes(onsets))
    >>> days[days >= 2].to_dict()
    {'bot0': 3, 'bot1': 3, 'bot2': 3, 'bot3': 3, 'bot4': 3}
    """
    if spikes.empty:
        return pd.Series(dtype="int64", name="days")
    return spikes.groupby("account_id", sort=True)["day"].nunique().astype("int64").rename("days")


def recurring_spikes(spikes: pd.DataFrame, *, bucket_seconds: int, tolerance_seconds: int, min_days: int = 3) -> pd.DataFrame:
    """The spikes (:func:`lockstep_spikes`) that recur at one time of day, each with its ``slot``.

    A scheduler blurred by jitter (or by camouflage) misses the minute but
    keeps the hour: the accounts it starts in a slot crowd a ten-minute
    bucket, a few of its hundreds each day, at the same time of day day
    after day. A crowd that chance, a viral moment or one event made falls
    at a time of day no other day's crowd shares. A spike counts when spikes
    lie within ``tolerance_seconds`` of its time of day (on either side,
    round midnight) on at least ``min_days`` different days, its own
    included; spikes recurring within the tolerance of each other's time
    of day are one ``slot`` (numbered by time of day).

    Examples
    --------
    >>> day, hour = 86_400_000, 3_600_000
    >>> bucket = 600_000
    >>> spike = lambda t: 2 * (t // bucket)
    >>> rows = [(spike(d * day + 9 * hour + d * 60_000), f"a{d}", d) for d in range(3)]
    >>> rows.append((spike(5 * day + 15 * hour), "b", 5))
    >>> spikes = pd.DataFrame(rows, columns=["spike", "account_id", "day"])
    >>> recurring_spikes(spikes, bucket_seconds=600, tolerance_seconds=1200)["account_id"].tolist()
    ['a0', 'a1', 'a2']
    """
    if spikes.empty:
        return spikes.assign(slot=pd.Series(dtype=np.int64))
    each = spikes.drop_duplicates("spike")
    day_ms = 86_400_000
    spike, bucket_ms = each["spike"].to_numpy(dtype=np.int64), bucket_seconds * 1000
    start = (spike // 2) * bucket_ms - (spike % 2) * (bucket_ms // 2)
    tod = start % day_ms
    days = each["day"].to_numpy(dtype=np.int64)
    order = np.argsort(tod, kind="stable")
    tod_sorted, days_sorted = tod[order], days[order]
    # round midnight: the sorted times of day once more, a day earlier and a day later
    ring_tod = np.concatenate([tod_sorted - day_ms, tod_sorted, tod_sorted + day_ms])
    ring_days = np.concatenate([days_sorted, days_sorted, days_sorted])
    lo = np.searchsorted(ring_tod, tod - tolerance_seconds * 1000, side="left")
    hi = np.searchsorted(ring_tod, tod + tolerance_seconds * 1000, side="right")
    recurs = np.array([len(np.unique(ring_days[a:b])) >= min_days for a, b in zip(lo, hi, strict=True)], dtype=bool)
    # recurring spikes within the tolerance of each other's time of day are one slot
    kept = tod[recurs]
    by_time = np.argsort(kept, kind="stable")
    label = np.empty(len(kept), dtype=np.int64)
    label[by_time] = np.cumsum(np.diff(kept[by_time], prepend=kept[by_time][:1]) > tolerance_seconds * 1000)
    slot = pd.Series(label, index=spike[recurs])
    out = spikes[among(spikes["spike"], slot.index)].reset_index(drop=True)
    return out.assign(slot=out["spike"].map(slot).astype(np.int64))


def slot_share(slots: pd.DataFrame, onsets: pd.DataFrame) -> pd.Series:
    """Per account in ``slots``: the share of the days it looked numbers up on which it started in one.

    A bystander who happened to start a session in a slot's ten minutes
    looks numbers up on other days, at other hours; an account the
    scheduler drives starts in its slots on most of its working days.

    Examples
    --------
    >>> slots = pd.DataFrame({"spike": [1, 1], "account_id": ["bot", "me"], "day": [0, 0]})
    >>> onsets = pd.DataFrame({"account_id": ["bot", "me", "me", "me"], "lookup": True,
    ...                        "ts_ms": [0, 0, 86_400_000, 2 * 86_400_000]})
    >>> slot_share(slots, onsets).round(2).to_dict()
    {'bot': 1.0, 'me': 0.33}
    """
    if slots.empty:
        return pd.Series(dtype=float, name="slot_share")
    mine = onsets[onsets["lookup"]] if "lookup" in onsets.columns else onsets
    mine = mine[among(mine["account_id"], slots["account_id"])]
    worked = (mine["ts_ms"].to_numpy(dtype=np.int64) // 86_400_000)
    worked = pd.Series(worked, index=mine["account_id"].to_numpy()).groupby(level=0).nunique()
    in_slots = slots.groupby("account_id")["day"].nunique()
    return (in_slots / worked.reindex(in_slots.index)).clip(upper=1.0).fillna(1.0).rename("slot_share").sort_index()


def spike_ties(spikes: pd.DataFrame, accounts: Collection[str], *, reach: int = 5) -> pd.DataFrame:
    """``a, b, weight``: accounts of ``accounts`` that started work in the same spikes.

    A scheduler that fires a few of its hundreds of accounts each hour
    puts any two of them in the same minute once or twice in a fortnight:
    too seldom for a pairwise synchrony tie, yet every spike holds a few of
    them, and spike by spike they chain into one operation. Each spike
    gives each member a budget of 1 spread over its partners in the spike:
    everyone when the spike is small, else ``reach`` neighbours on each side
    in an order drawn per spike (a ring: a thousand accounts firing together
    tie each to ``2 * reach`` others, not to a thousand). The two grids of
    :func:`lockstep_spikes` count half each.

    Examples
    --------
    >>> spikes = pd.DataFrame({"spike": [1, 1, 1, 2, 2], "account_id": ["a", "b", "c", "a", "b"], "day": 0})
    >>> spike_ties(spikes, {"a", "b", "c"}).values.tolist()
    [['a', 'b', 0.75], ['a', 'c', 0.25], ['b', 'c', 0.25]]
    """
    mine = spikes[among(spikes["account_id"], accounts)]
    codes, ids = pd.factorize(mine["account_id"], sort=True)
    spike = mine["spike"].to_numpy(dtype=np.int64)
    # a per-spike order: the account's code hashed with the spike
    mix = (codes.astype(np.uint64) * np.uint64(0x9E3779B97F4A7C15)) ^ (spike.astype(np.uint64) * np.uint64(0xBF58476D1CE4E5B9))
    order = np.lexsort((mix, spike))
    spike, codes = spike[order], codes[order]
    starts = np.flatnonzero(np.r_[True, spike[1:] != spike[:-1]]) if len(spike) else np.empty(0, dtype=np.int64)
    size = np.diff(np.r_[starts, len(spike)])
    first = np.repeat(starts, size)
    members = np.repeat(size, size)
    position = np.arange(len(spike)) - first
    pairs = []
    for step in range(1, reach + 1):
        at = np.flatnonzero(members > step)
        partner = codes[first[at] + (position[at] + step) % members[at]]
        pairs.append(np.c_[spike[at], np.minimum(codes[at], partner), np.maximum(codes[at], partner), members[at]])
    if not pairs or not sum(len(p) for p in pairs):
        return pd.DataFrame({"a": pd.Series(dtype=object), "b": pd.Series(dtype=object),
                             "weight": pd.Series(dtype=float)})
    rows = pd.DataFrame(np.concatenate(pairs), columns=["spike", "a", "b", "members"]).drop_duplicates(["spike", "a", "b"])
    rows["weight"] = 0.5 / np.minimum(rows["members"] - 1, 2 * reach)
    ties = rows.groupby(["a", "b"], sort=True)["weight"].sum().reset_index()
    return pd.DataFrame({"a": ids[ties["a"].to_numpy()].astype(object), "b": ids[ties["b"].to_numpy()].astype(object),
                         "weight": ties["weight"].to_numpy(dtype=float).round(9)})


def clockwork(
    onsets: pd.DataFrame, usage: pd.DataFrame, *, min_accounts: int = 5, max_log10_p: float = -6.0,
    min_days: int = 3, window_minutes: int = 3, reach: int = 10, seed: int = 0,
) -> pd.DataFrame:
    """``a, b, windows``: accounts starting their lookups at one minute of the hour behind one address or device.

    A cron table fires at the same minute of the hour, every hour or every
    few, and an operation that fires one or two of its many accounts a tick
    never crowds a slot (:func:`recurring_spikes`): each account may work
    once. Pooled behind the address or device they share, its onsets pile
    up in a few minutes of the hour, tick after tick, where people's spread
    over the whole hour. So per entity the distinct (hour, minute) pairs
    holding an onset are counted in every window of ``window_minutes``
    minutes of the hour (pairs, not onsets: one crowded minute must not
    outweigh the hours); a window holding far more of them than the
    binomial share of a uniform hour (``log10`` of the tail probability,
    times the 60 windows tried, at most ``max_log10_p``), on at least
    ``min_days`` different days (a staff directory pushed at nine, or a
    reunion syncing at one venue, is one day's event), is a schedule's.

    Its keepers, the accounts with at least three quarters of their onsets
    there in the window (half let in VPN users with one of two onsets there
    by chance, on tuning draw 5), are tied (:func:`_knit`) when they are at
    least ``min_accounts`` and four times as many as chance would put there:
    behind a busy address one onset in three minutes of the hour is every
    twentieth person's luck (at the incident's scale a proxy network's cron
    kept its minute behind thousands of carrier addresses, each with some
    ten such people). ``windows`` counts the windows a pair was tied
    through. Accounts are tied behind one address or device only: tying the
    windows of one minute across addresses (one cron sending its accounts
    out through several) joined two operations sharing a minute on
    development draws and flagged one more look-alike on tuning draw 5.

    Parameters
    ----------
    onsets : DataFrame
        ``account_id, ts_ms`` (:func:`activity_onsets`, lookups only).
    usage : DataFrame
        ``account_id, entity``: the addresses and devices each account looked numbers up through.
    reach, seed : int
        How densely many keepers are tied (:func:`_knit`), and its random partners' seed.

    Examples
    --------
    Six accounts of a cron firing at minute 41 for three days, one account an hour, behind
    one address that twenty people use at any minute:

    >>> rng = np.random.default_rng(0)
    >>> cron = [(f"op{h % 6}", h * 3_600_000 + 41 * 60_000) for h in range(72)]
    >>> people = [(f"p{i}", int(t)) for i in range(20) for t in rng.integers(0, 72 * 3_600_000, 4)]
    >>> onsets = pd.DataFrame(cron + people, columns=["account_id", "ts_ms"])
    >>> usage = pd.DataFrame({"account_id": onsets["account_id"].unique(), "entity": "5.5.5.5"})
    >>> pairs = clockwork(onsets, usage)
    >>> sorted(set(pairs["a"]) | set(pairs["b"])), len(pairs)
    (['op0', 'op1', 'op2', 'op3', 'op4', 'op5'], 15)
    """
    # each account's distinct (hour, minute) onsets, then once behind each entity it used, entity by entity
    spread = _entity_onsets(onsets, usage, min_accounts)
    if spread is None:
        return _tied([], np.array([], dtype=object))
    account_ids, entity_ids, pair_entity, pair_account, onsets_there, pair_of, clock = spread
    entity, minute = pair_entity[pair_of], clock % 60
    ticks = np.sort(entity.astype(np.int64) << 32 | clock)  # sorted, then distinct: faster than np.unique here
    ticks = ticks[np.r_[True, ticks[1:] != ticks[:-1]]]
    tick_entity, tick_clock = ticks >> 32, ticks & 0xFFFFFFFF
    log10_p = _minute_windows(tick_entity, tick_clock % 60, len(entity_ids), window_minutes)
    # a window's best start: no neighbour within the window's width is more surprising (ties go to the earliest)
    best = np.ones(log10_p.shape, dtype=bool)
    for shift in range(1, window_minutes):
        best &= (log10_p < np.roll(log10_p, shift, axis=1)) & (log10_p <= np.roll(log10_p, -shift, axis=1))
    # by chance, how likely three quarters of an account's onsets behind an entity fall in one window
    chance = scipy.stats.binom.sf(np.ceil(0.75 * onsets_there) - 1, onsets_there, window_minutes / 60)
    expected = np.bincount(pair_entity, weights=chance, minlength=len(entity_ids))
    # rows, ticks and pairs are sorted by entity: each entity's are one slice
    row_at, tick_at, pair_at = (np.searchsorted(codes, np.arange(len(entity_ids) + 1))
                                for codes in (entity, tick_entity, pair_entity))
    rng = np.random.default_rng(seed)
    pairs = []
    for code, start in zip(*np.nonzero(best & (log10_p <= max_log10_p)), strict=True):
        there = tick_clock[tick_at[code]:tick_at[code + 1]]
        if len(np.unique(there[(there % 60 - start) % 60 < window_minutes] // 1440)) < min_days:
            continue
        rows_there, first_pair = slice(row_at[code], row_at[code + 1]), pair_at[code]
        inside = np.bincount(pair_of[rows_there] - first_pair, weights=(minute[rows_there] - start) % 60 < window_minutes,
                             minlength=pair_at[code + 1] - first_pair)
        keepers = first_pair + np.flatnonzero(inside >= 0.75 * onsets_there[first_pair:pair_at[code + 1]])
        # behind a busy address, one onset in three minutes of the hour is every twentieth person's luck
        if len(keepers) >= max(min_accounts, 4 * expected[code]):
            pairs.append(_knit(np.sort(pair_account[keepers]), reach, rng))
    return _tied(pairs, account_ids)


def day_clock(
    onsets: pd.DataFrame, usage: pd.DataFrame, *, min_accounts: int = 5, max_log10_p: float = -6.0,
    min_days: int = 3, window_minutes: int = 10, context_minutes: int = 30, reach: int = 10, seed: int = 0,
) -> pd.DataFrame:
    """``a, b, windows``: accounts starting their lookups in the same minutes of the day behind one address, device or network.

    A cron table firing at a few times of the day, each time one or two of
    an operation's many accounts for a handful of lookups, crowds no slot
    of the whole population's (:func:`recurring_spikes`: at ten in the
    morning people's own sessions drown it) and keeps no minute of the hour
    (:func:`clockwork`: three times a day at three different minutes).
    Pooled behind what its accounts share (their rented addresses, or the
    hosting or VPN network those belong to: ``usage`` from
    :func:`graph.detect.infrastructure.looking_through` with ``networks``),
    its onsets pile up in the same few minutes of the day, day after day.
    So per entity the distinct minutes holding an onset are counted in
    every window of ``window_minutes`` minutes of the day, against what the
    ``context_minutes`` on each side hold (people's days have peaks: an
    office starting its day between nine and twenty to ten fills the
    context too, where a cron's few minutes stand alone) and never less
    than a uniform day would give; a window holding
    far more (``log10`` of the Poisson tail, times the windows tried, at
    most ``max_log10_p``), on at least ``min_days`` different days (a staff
    directory pushed at nine, or a reunion syncing at one venue, is one
    day's event), is a schedule's. Its keepers, the accounts with at least
    three quarters of their onsets behind the entity in the window, are
    tied when they are at least ``min_accounts`` and four times as many as
    chance would put there.

    Examples
    --------
    Sixty aged accounts, one session each, fired in the five minutes from 10:13, 14:25 or 20:29 on eight days
    through one rented network that thirty people also use at any time of day:

    >>> rng = np.random.default_rng(0)
    >>> day, minute = 86_400_000, 60_000
    >>> cron = [(f"op{i}", (i // 3 % 8) * day + (613, 865, 1229)[i % 3] * minute + int(rng.integers(0, 300_000)))
    ...         for i in range(60)]
    >>> people = [(f"p{i}", int(t)) for i in range(30) for t in rng.integers(0, 8 * day, 4)]
    >>> onsets = pd.DataFrame(cron + people, columns=["account_id", "ts_ms"])
    >>> usage = pd.DataFrame({"account_id": onsets["account_id"].unique(), "entity": "AS20473"})
    >>> pairs = day_clock(onsets, usage)
    >>> sorted(set(pairs["a"]) | set(pairs["b"])) == sorted(f"op{i}" for i in range(60)), int(pairs["windows"].max())
    (True, 1)

    The same people alone keep no window:

    >>> day_clock(onsets[onsets["account_id"].str.startswith("p")], usage).empty
    True
    """
    span = 1440
    if not 0 < window_minutes < span or not 0 < context_minutes <= span:
        raise ValueError("window_minutes and context_minutes must lie within a day")
    spread = _entity_onsets(onsets, usage, min_accounts)
    if spread is None:
        return _tied([], np.array([], dtype=object))
    account_ids, entity_ids, pair_entity, pair_account, onsets_there, pair_of, clock = spread
    entity = pair_entity[pair_of]
    ticks = np.sort(entity.astype(np.int64) << 32 | clock)
    ticks = ticks[np.r_[True, ticks[1:] != ticks[:-1]]]
    tick_entity, tick_clock = ticks >> 32, ticks & 0xFFFFFFFF
    tod = tick_clock % span
    log10_p, expected, total = _day_windows(tick_entity, tod, len(entity_ids), window_minutes, context_minutes)
    row_at, tick_at, pair_at = (np.searchsorted(codes, np.arange(len(entity_ids) + 1))
                                for codes in (entity, tick_entity, pair_entity))
    rng = np.random.default_rng(seed)
    pairs, taken = [], {}
    # the most improbable windows first; a window starting within another's width is the same one
    for i in np.flatnonzero(log10_p <= max_log10_p)[np.argsort(log10_p[log10_p <= max_log10_p], kind="stable")]:
        code, start = int(tick_entity[i]), int(tod[i])
        if any(min((start - s) % span, (s - start) % span) < window_minutes for s in taken.get(code, ())):
            continue
        taken.setdefault(code, []).append(start)
        there = tick_clock[tick_at[code]:tick_at[code + 1]]
        if len(np.unique(there[(there % span - start) % span < window_minutes] // span)) < min_days:
            continue
        rows_there, first_pair = slice(row_at[code], row_at[code + 1]), pair_at[code]
        inside = np.bincount(pair_of[rows_there] - first_pair,
                             weights=(clock[rows_there] % span - start) % span < window_minutes,
                             minlength=pair_at[code + 1] - first_pair)
        counts = onsets_there[first_pair:pair_at[code + 1]]
        keepers = first_pair + np.flatnonzero(inside >= 0.75 * counts)
        # by chance, how many of the entity's accounts keep three quarters of their onsets in a window this busy
        share = min(1.0, float(expected[i]) / float(total[i]))
        chance = float(scipy.stats.binom.sf(np.ceil(0.75 * counts) - 1, counts, share).sum())
        if len(keepers) >= max(min_accounts, 4 * chance):
            pairs.append(_knit(np.sort(pair_account[keepers]), reach, rng))
    return _tied(pairs, account_ids)


def _day_windows(codes: np.ndarray, tod: np.ndarray, groups: int, window_minutes: int,
                 context_minutes: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per tick (a group's distinct onset minute, ``tod`` its minute of the day): ``log10`` of how improbably many
    of the group's ticks fall in the ``window_minutes`` from it (Poisson tail, times the windows tried), against
    what the ``context_minutes`` on each side hold and never less than a uniform day's share; that expected count;
    and the group's ticks."""
    span, reach = 1440, window_minutes + context_minutes
    # each group's minutes of the day, with the ones near midnight once more a day earlier or later, so windows
    # and their context wrap round it
    at = codes * 3 * span + span + tod
    ring = np.sort(np.concatenate([at, at[tod >= span - reach] - span, at[tod < reach] + span]))
    held = np.searchsorted(ring, at + window_minutes) - np.searchsorted(ring, at)
    around = (np.searchsorted(ring, at + reach) - np.searchsorted(ring, at - context_minutes) - held)
    total = np.bincount(codes, minlength=groups).astype(float)[codes]
    expected = np.maximum(around * window_minutes / (2 * context_minutes), total * window_minutes / span)
    # two minutes in a window are never improbable enough to count (a day's share of a window is 1/144 or more)
    log10_p = np.zeros(len(at))
    crowded = held >= 3
    log10_p[crowded] = (scipy.stats.poisson.logsf(held[crowded] - 1, expected[crowded]) / np.log(10)
                        + np.log10(span / window_minutes))
    return log10_p, expected, total


def day_windows(onsets: pd.DataFrame, keys: Mapping[int, Sequence[str]], *, max_log10_p: float = -6.0,
                min_days: int = 3, window_minutes: int = 10, context_minutes: int = 30) -> dict[int, dict[str, float]]:
    """Per group of ``keys``, how surely its members' onsets keep a few minutes of the day (:func:`day_clock`).

    ``clock_log10_p``: the most improbable window of ``window_minutes``
    minutes of the day holding the members' onset minutes, pooled, on at
    least ``min_days`` days (0.0 when none). ``clock_share``: the share of
    members with at least three quarters of their onsets in windows at
    least as improbable as ``max_log10_p`` (a cron firing at three times of
    the day keeps three windows, each with a third of the members).

    Examples
    --------
    >>> day, minute = 86_400_000, 60_000
    >>> cron = pd.DataFrame({"account_id": [f"op{i}" for i in range(60)],
    ...                      "ts_ms": [(i // 3 % 8) * day + ((613, 865, 1229)[i % 3] + i % 4) * minute
    ...                                for i in range(60)]})
    >>> people = pd.DataFrame({"account_id": [f"p{i % 20}" for i in range(60)],
    ...                        "ts_ms": [(i % 8) * day + (i * 137 % 1440) * minute for i in range(60)]})
    >>> clock = day_windows(pd.concat([cron, people]), {0: [f"op{i}" for i in range(60)], 1: [f"p{i}" for i in range(20)]})
    >>> clock[0]["clock_log10_p"] <= -6, clock[0]["clock_share"], clock[1]
    (True, 1.0, {'clock_log10_p': 0.0, 'clock_share': 0.0})
    """
    span = 1440
    out = {g: {"clock_log10_p": 0.0, "clock_share": 0.0} for g in keys}
    members = pd.DataFrame([(g, a) for g, accounts in keys.items() for a in accounts], columns=["group", "account_id"])
    units = onsets[["account_id", "ts_ms"]].merge(members, on="account_id")
    if units.empty:
        return out
    ms = units["ts_ms"].to_numpy(dtype=np.int64)
    units = pd.DataFrame({"group": units["group"].to_numpy(), "account_id": units["account_id"].to_numpy(),
                          "clock": ms // 60_000}).drop_duplicates().sort_values(["group", "clock"], ignore_index=True)
    ticks = units.drop_duplicates(["group", "clock"])
    groups = np.array(sorted(ticks["group"].unique()))
    codes, clock = np.searchsorted(groups, ticks["group"].to_numpy()), ticks["clock"].to_numpy(dtype=np.int64)
    log10_p, _, _ = _day_windows(codes, clock % span, len(groups), window_minutes, context_minutes)
    unit_codes, unit_tod = np.searchsorted(groups, units["group"].to_numpy()), units["clock"].to_numpy() % span
    # ticks and units are sorted by group: each group's are one slice
    tick_at, unit_at = (np.searchsorted(c, np.arange(len(groups) + 1)) for c in (codes, unit_codes))
    accounts = units["account_id"].to_numpy()
    for code, group in enumerate(groups):
        mine = slice(tick_at[code], tick_at[code + 1])
        significant = log10_p[mine] <= max_log10_p
        if not significant.any():
            continue
        order = np.argsort(clock[mine] % span, kind="stable")
        tod, days = clock[mine][order] % span, clock[mine][order] // span
        # a window's improbability depends on its start minute alone (ticks on other days share it): try each once
        starts, first = np.unique(clock[mine][significant] % span, return_index=True)
        chances = log10_p[mine][significant][first]
        lo, hi = np.searchsorted(tod, starts), np.searchsorted(tod, starts + window_minutes)
        wrapped = np.searchsorted(tod, starts + window_minutes - span)
        on_days = np.array([len(np.unique(np.concatenate([days[a:b], days[:c]])))
                            for a, b, c in zip(lo, hi, wrapped, strict=True)])
        held = on_days >= min_days
        if not held.any():
            continue
        covered = np.zeros(span, dtype=bool)
        covered[(starts[held, None] + np.arange(window_minutes)) % span] = True
        kept = covered[unit_tod[unit_at[code]:unit_at[code + 1]]]
        keeping = pd.Series(kept).groupby(accounts[unit_at[code]:unit_at[code + 1]]).mean() >= 0.75
        out[group] = {"clock_log10_p": round(float(chances[held].min()), 3),
                      "clock_share": round(float(keeping.sum()) / len(keys[group]), 6)}
    return out


def _entity_onsets(onsets: pd.DataFrame, usage: pd.DataFrame, min_accounts: int) -> tuple | None:
    """Each account's distinct onset minutes, once behind each entity (of ``min_accounts`` or more) it used.

    Integer codes throughout (at the incident's scale these are millions of
    rows): ``account_ids, entity_ids`` decode them; ``pair_entity,
    pair_account`` (sorted by entity) are the account-entity pairs,
    ``onsets_there`` each pair's onsets; ``pair_of, clock`` are the rows,
    one a pair's onset minute (since the epoch). ``None`` when no pair has one.
    """
    usage = usage[usage.groupby("entity")["account_id"].transform("size") >= min_accounts]
    accounts, account_ids = pd.factorize(pd.concat([onsets["account_id"], usage["account_id"]], ignore_index=True))
    entity_of, entity_ids = pd.factorize(usage["entity"], sort=True)
    ms = onsets["ts_ms"].to_numpy(dtype=np.int64)
    units = np.unique(accounts[:len(onsets)].astype(np.int64) << 32 | (ms // 60_000))
    unit_account, unit_clock = units >> 32, units & 0xFFFFFFFF
    order = np.lexsort((accounts[len(onsets):], entity_of))
    pair_entity, pair_account = entity_of[order], accounts[len(onsets):][order]
    first = np.searchsorted(unit_account, pair_account)
    onsets_there = np.searchsorted(unit_account, pair_account, side="right") - first
    pair_of = np.repeat(np.arange(len(pair_entity)), onsets_there)
    if not len(pair_of):
        return None
    clock = unit_clock[np.repeat(first, onsets_there) + np.arange(len(pair_of))
                       - np.repeat(np.cumsum(onsets_there) - onsets_there, onsets_there)]
    return account_ids, entity_ids, pair_entity, pair_account, onsets_there, pair_of, clock


def _tied(pairs: list[np.ndarray], account_ids: np.ndarray) -> pd.DataFrame:
    """``a, b, windows``: the knitted pairs (:func:`_knit`) of every window, decoded, with how many windows tied each."""
    if not pairs:
        return pd.DataFrame({"a": pd.Series(dtype=object), "b": pd.Series(dtype=object),
                             "windows": pd.Series(dtype="int64")})
    knit, windows = np.unique(np.concatenate(pairs), return_counts=True)
    return pd.DataFrame({"a": account_ids[knit >> 32].astype(object), "b": account_ids[knit & 0xFFFFFFFF].astype(object),
                         "windows": windows.astype(np.int64)})


def _knit(members: np.ndarray, reach: int, rng: np.random.Generator) -> np.ndarray:
    """Pairs ``a << 32 | b``, ``a < b``, tying ``members`` into one group: all pairs of up to ``10 * reach``,
    ``reach`` random partners each of more (a random graph of that degree has no weak cut for community
    detection to split it along, where a ring would; all pairs of the hundreds of accounts behind each of
    thousands of proxy exits were seventy million at the incident's scale). Fewer partners than all pairs
    of a few dozen cut one tuning draw's operation differently (draw 5, ARI .997 -> .986)."""
    n = len(members)
    if n <= 10 * reach:
        i, j = np.triu_indices(n, 1)
    else:
        i = np.repeat(np.arange(n), reach)
        j = (i + 1 + rng.integers(0, n - 1, len(i))) % n
    return np.minimum(members[i], members[j]).astype(np.int64) << 32 | np.maximum(members[i], members[j])


def _minute_windows(codes: np.ndarray, minutes: np.ndarray, groups: int, window_minutes: int) -> np.ndarray:
    """``groups x 60``: log10 of how improbably many of each group's (hour, minute) onsets fall in the window of
    ``window_minutes`` starting at each minute of the hour, were they spread over the hour (times the 60 tried)."""
    per_minute = np.zeros((groups, 60))
    np.add.at(per_minute, (codes, minutes), 1)
    windows = sum(np.roll(per_minute, -shift, axis=1) for shift in range(window_minutes))
    return (scipy.stats.binom.logsf(windows - 1, per_minute.sum(axis=1)[:, None], window_minutes / 60) / np.log(10)
            + np.log10(60))


def hour_clock(onsets: pd.DataFrame, keys: Mapping[int, Sequence[str]], *, min_days: int = 3,
               window_minutes: int = 3) -> dict[int, dict[str, float]]:
    """Per group of ``keys``, how surely its members' onsets keep one minute of the hour (:func:`clockwork`).

    ``clock_log10_p``: the members' (hour, minute) onset pairs, pooled, in
    the group's most crowded window of ``window_minutes`` minutes, as
    ``log10`` of the binomial tail for onsets spread over the hour (times
    the 60 windows tried), or 0.0 when the window's onsets fall on fewer
    than ``min_days`` days. ``clock_share``: the share of members with at
    least three quarters of their onsets in that window (a third of a group
    keeping a cron's minute makes the pooled window improbable too).

    Examples
    --------
    >>> cron = pd.DataFrame({"account_id": [f"op{h % 6}" for h in range(72)],
    ...                      "ts_ms": [h * 3_600_000 + 41 * 60_000 for h in range(72)]})
    >>> people = pd.DataFrame({"account_id": [f"p{i % 6}" for i in range(72)],
    ...                        "ts_ms": [i * 3_600_000 + (i * 17 % 60) * 60_000 for i in range(72)]})
    >>> clock = hour_clock(pd.concat([cron, people]), {0: [f"op{i}" for i in range(6)], 1: [f"p{i}" for i in range(6)]})
    >>> clock[0]["clock_log10_p"] < -50, clock[0]["clock_share"], clock[1]["clock_log10_p"] > -1
    (True, 1.0, True)
    """
    members = pd.DataFrame([(g, a) for g, accounts in keys.items() for a in accounts], columns=["group", "account_id"])
    units = onsets[["account_id", "ts_ms"]].merge(members, on="account_id")
    out = {g: {"clock_log10_p": 0.0, "clock_share": 0.0} for g in keys}
    if units.empty:
        return out
    ms = units["ts_ms"].to_numpy(dtype=np.int64)
    units = pd.DataFrame({"group": units["group"].to_numpy(), "account_id": units["account_id"].to_numpy(),
                          "hour": ms // 3_600_000, "minute": (ms // 60_000) % 60}).drop_duplicates()
    ticks = units.drop_duplicates(["group", "hour", "minute"])
    groups = np.array(sorted(ticks["group"].unique()))
    codes = np.searchsorted(groups, ticks["group"].to_numpy())
    log10_p = _minute_windows(codes, ticks["minute"].to_numpy(), len(groups), window_minutes)
    start = log10_p.argmin(axis=1)
    inside = ((ticks["minute"].to_numpy() - start[codes]) % 60) < window_minutes
    days = pd.Series(ticks["hour"].to_numpy()[inside] // 24).groupby(codes[inside]).nunique()
    mine = np.searchsorted(groups, units["group"].to_numpy())
    kept = pd.Series(((units["minute"].to_numpy() - start[mine]) % 60) < window_minutes)
    keeping = (kept.groupby([mine, units["account_id"].to_numpy()]).mean() >= 0.75).groupby(level=0).sum()
    for code, group in enumerate(groups):
        if days.get(code, 0) >= min_days:
            out[group] = {"clock_log10_p": round(float(log10_p[code, start[code]]), 3),
                          "clock_share": round(float(keeping.get(code, 0)) / len(keys[group]), 6)}
    return out


class Schedule(NamedTuple):
    """A cron's accounts (:func:`minute_schedules`): when it fires and whom."""

    #: the first minute of the hour of the window its accounts keep
    minute: int
    #: the hours of the day its accounts' onsets in that window fell in
    hours: frozenset[int]
    #: its accounts, sorted
    accounts: list[str]


def common_start(onsets: pd.DataFrame, members: Sequence[str], *, window_minutes: int = 2) -> tuple[int, int]:
    """The ``window_minutes`` in which the most of ``members`` started a session, and how many did.

    A scheduler firing an operation's accounts starts them within seconds of
    each other; people start sessions when they like. Windows start on
    every minute, so onsets seconds apart across a minute's edge share one.

    Returns
    -------
    tuple of int
        The window's first minute (minutes since the epoch; the earliest of
        equally full windows) and the members with an onset in it; ``(-1,
        0)`` when none has an onset.

    Examples
    --------
    >>> onsets = pd.DataFrame({"account_id": ["a", "b", "c", "c", "d"],
    ...                        "ts_ms": [59_000, 61_000, 62_000, 900_000, 5_000_000]})
    >>> common_start(onsets, ["a", "b", "c", "d"])
    (0, 3)
    """
    mine = onsets[among(onsets["account_id"], members)]
    if mine.empty:
        return -1, 0
    minute = mine["ts_ms"].to_numpy(dtype=np.int64) // 60_000
    starts = pd.DataFrame({
        "account_id": np.tile(mine["account_id"].to_numpy(dtype=object), window_minutes),
        "start": np.concatenate([minute - k for k in range(window_minutes)]),
    }).drop_duplicates()
    counts = starts.groupby("start", sort=True).size()
    best = int(counts.idxmax())
    return best, int(counts[best])


def minute_schedules(onsets: pd.DataFrame, members: Sequence[str], *, window_minutes: int = 3, min_members: int = 5,
                     max_log10_p: float = -6.0, min_days: int = 3, keep_share: float = 0.75) -> list[Schedule]:
    """The sets of ``members`` that each keep a minute of the hour of their own: one set per schedule.

    A cron fires its accounts at one minute of the hour, day after day, and
    two operators' crons seldom share that minute; people start sessions at
    any minute. Repeatedly, the window of ``window_minutes`` minutes kept by
    the most of the members left (at least ``keep_share`` of an account's
    (hour, minute) onsets inside it) is a schedule when there are at least
    ``min_members`` such keepers, their onsets there fall on ``min_days``
    days or more (a cron repeats; one evening's event does not), and that
    many keepers are improbable (``log10`` of the binomial tail, each
    account keeping a window by chance at most ``window_minutes / 60``,
    times the 60 windows tried, at most ``max_log10_p``). Its keepers leave,
    and the next is looked for among the rest.

    Returns
    -------
    list of Schedule
        The most kept first; members keeping none are in none.

    Examples
    --------
    >>> ticks = [(f"a{i}", d * 86_400_000 + 7 * 60_000) for i in range(6) for d in range(3)]
    >>> ticks += [(f"b{i}", d * 86_400_000 + 41 * 60_000) for i in range(6) for d in range(3)]
    >>> ticks += [(f"p{i}", i * 3_600_000 + i * 11 * 60_000) for i in range(5)]
    >>> onsets = pd.DataFrame(ticks, columns=["account_id", "ts_ms"])
    >>> crons = minute_schedules(onsets, sorted(onsets["account_id"].unique()), min_members=5, max_log10_p=-2.0)
    >>> [(cron.minute, sorted(cron.hours), cron.accounts) for cron in crons]
    [(5, [0], ['a0', 'a1', 'a2', 'a3', 'a4', 'a5']), (39, [0], ['b0', 'b1', 'b2', 'b3', 'b4', 'b5'])]
    """
    index = pd.Index(sorted(set(members)), dtype=object)
    mine = onsets[among(onsets["account_id"], set(index))]
    if mine.empty:
        return []
    ms = mine["ts_ms"].to_numpy(dtype=np.int64)
    units = pd.DataFrame({"row": index.get_indexer(mine["account_id"]), "hour": ms // 3_600_000,
                          "minute": (ms // 60_000) % 60}).drop_duplicates()
    per_minute = np.zeros((len(index), 60))
    np.add.at(per_minute, (units["row"].to_numpy(), units["minute"].to_numpy()), 1)
    windows = sum(np.roll(per_minute, -shift, axis=1) for shift in range(window_minutes))
    keeps = windows >= keep_share * per_minute.sum(axis=1)[:, None]
    keeps &= per_minute.sum(axis=1)[:, None] > 0
    rows, minutes, hours = units["row"].to_numpy(), units["minute"].to_numpy(), units["hour"].to_numpy()
    left = np.ones(len(index), dtype=bool)
    out: list[Schedule] = []
    while True:
        counts = (keeps & left[:, None]).sum(axis=0)
        start = int(counts.argmax())
        keepers = keeps[:, start] & left
        kept = int(keepers.sum())
        if kept < max(min_members, 1):
            break
        log10_p = (scipy.stats.binom.logsf(kept - 1, int(left.sum()), window_minutes / 60) / np.log(10)
                   + np.log10(60))
        inside = keepers[rows] & (((minutes - start) % 60) < window_minutes)
        if log10_p > max_log10_p or len(np.unique(hours[inside] // 24)) < min_days:
            break
        out.append(Schedule(start, frozenset((hours[inside] % 24).tolist()), index[keepers].tolist()))
        left &= ~keepers
    return out


def synchrony_ties(
    onsets: pd.DataFrame,
    *,
    bucket_seconds: int = 600,
    min_shared: int = 2,
    max_accounts: int = 200,
    min_jaccard: float = 0.0,
) -> pd.DataFrame:
    """Pairs of accounts whose session onsets fall into the same time buckets repeatedly.

    Parameters
    ----------
    onsets : DataFrame
        From :func:`activity_onsets`.
    bucket_seconds : int
        Bucket width; onsets less than half of it apart always match.
    min_shared : int
        Fewer shared (endpoint, bucket) onsets than this is coincidence.
    max_accounts : int
        A bucket in which more accounts start work than this ties nobody
        (the evening peak, say).
    min_jaccard : float
        Pairs whose shared onsets are a smaller share of their onsets are
        left out (a busy case has millions of weakly synchronized pairs).

    Returns
    -------
    DataFrame
        ``a, b`` (``a < b``), ``shared`` (shared onset buckets, on the better
        grid: more shared, then more weight), ``weight`` (sum over those buckets of ``1 / (accounts starting
        in the bucket - 1)``) and ``jaccard`` (shared over the union of the
        two accounts' onsets), sorted by ``a, b``.

    Examples
    --------
    Two accounts whose cron starts them within seconds of each other on
    three days, and a third that starts at random times:

    >>> day = 86_400_000
    >>> onsets = pd.DataFrame({
    ...     "account_id": ["a"] * 3 + ["b"] * 3 + ["c"] * 3,
    ...     "endpoint": "contacts/lookup",
    ...     "ts_ms": [d * day + 9 * 3_600_000 for d in range(3)]
    ...            + [d * day + 9 * 3_600_000 + 4_000 for d in range(3)]
    ...            + [d * day + h * 3_600_000 for d, h in ((0, 3), (1, 15), (2, 20))]})
    >>> synchrony_ties(onsets)[["a", "b", "shared"]].values.tolist()
    [['a', 'b', 3]]
    """
    columns = ["a", "b", "shared", "weight", "jaccard"]
    if bucket_seconds <= 0:
        raise ValueError(f"bucket_seconds must be positive, not {bucket_seconds}")
    if onsets.empty:
        return pd.DataFrame({c: pd.Series(dtype=object if c in "ab" else float) for c in columns})
    # integer codes (sorted, so code order is id order): a busy case has tens of millions of chance meetings
    codes, ids = pd.factorize(onsets["account_id"], sort=True)
    endpoints, _ = pd.factorize(onsets["endpoint"], sort=True)
    counts = np.bincount(codes, minlength=len(ids))
    bucket_ms = int(bucket_seconds * 1000)
    grids = [_grid_ties(codes, counts, endpoints, (onsets["ts_ms"].to_numpy(np.int64) + grid * (bucket_ms // 2)) // bucket_ms,
                        min_shared=min_shared, max_accounts=max_accounts, min_jaccard=min_jaccard)
             for grid in (0, 1)]
    # the better grid: more shared buckets, then more weight
    ties = (pd.concat(grids, ignore_index=True)
            .sort_values(["a", "b", "shared", "weight"], ascending=[True, True, False, False])
            .drop_duplicates(["a", "b"], ignore_index=True))
    a, b, shared = ties["a"].to_numpy(), ties["b"].to_numpy(), ties["shared"].to_numpy()
    ties["a"], ties["b"] = ids[a], ids[b]
    ties["shared"] = shared.astype(int)
    ties["weight"] = ties["weight"].astype(float).round(9)
    ties["jaccard"] = (shared / (counts[a] + counts[b] - shared)).clip(max=1.0).round(9)
    return ties[columns]


#: partial products (slot members met) a block of accounts may make, and pairs weighed at once: memory stays
#: bounded however busy the case (the products of a block are its pairs' rows before they are filtered)
_PRODUCTS_A_BLOCK = 8_000_000
_PAIRS_A_BLOCK = 100_000


def _row_blocks(products: np.ndarray, limit: int) -> list[slice]:
    """Consecutive rows in slices whose ``products`` add up to less than ``limit`` plus the slice's first row's.

    >>> _row_blocks(np.array([5, 1, 1, 9, 0, 2]), 4)
    [slice(0, 3, None), slice(3, 6, None)]
    """
    cuts = np.searchsorted(np.cumsum(products), np.arange(limit, products.sum(), limit))
    bounds = np.unique(np.concatenate([[0], cuts, [len(products)]]))
    return [slice(int(start), int(end)) for start, end in zip(bounds[:-1], bounds[1:], strict=True)]


def _grid_ties(
    codes: np.ndarray, counts: np.ndarray, endpoints: np.ndarray, buckets: np.ndarray,
    *, min_shared: int, max_accounts: int, min_jaccard: float,
) -> pd.DataFrame:
    """:func:`synchrony_ties` on one grid: ``a, b`` (codes, ``a < b``), ``shared`` and ``weight``.

    Accounts by slots (endpoint, bucket) as a sparse matrix, whose product
    with itself counts every pair's shared slots at once; only the few pairs
    that share ``min_shared`` and reach ``min_jaccard`` (on this grid's count:
    the better grid has the larger one) get their weights. A self-join of
    slot members built each of the tens of millions of chance meetings as a
    row, then grouped them, at several times the cost.
    """
    _, slot = np.unique(endpoints.astype(np.int64) * (int(buckets.max()) + 1) + buckets, return_inverse=True)
    n_slots = int(slot.max()) + 1
    token = np.unique(codes.astype(np.int64) * n_slots + slot.ravel())  # distinct (account, slot)
    account, slot = token // n_slots, token % n_slots
    size = np.bincount(slot, minlength=n_slots)
    # a bucket in which too many start ties nobody; accounts with fewer onsets than min_shared pair with
    # nobody (both still count in a bucket's size, taken above)
    keep = (size[slot] >= 2) & (size[slot] <= max_accounts) & (counts[account] >= min_shared)
    account, slot = account[keep], slot[keep]
    shape = (len(counts), n_slots)
    member = scipy.sparse.csr_matrix((np.ones(len(account), dtype=np.float32), (account, slot)), shape=shape)
    weighted = scipy.sparse.csr_matrix((1.0 / (size[slot] - 1), (account, slot)), shape=shape)
    members = member.T.tocsr()
    found = []
    for rows in _row_blocks(np.bincount(account, weights=size[slot], minlength=len(counts)), _PRODUCTS_A_BLOCK):
        together = (member[rows] @ members).tocoo()
        a, b, shared = together.row + rows.start, together.col, np.rint(together.data).astype(np.int64)
        kept = (b > a) & (shared >= min_shared)
        a, b, shared = a[kept], b[kept], shared[kept]
        kept = shared / (counts[a] + counts[b] - shared) >= min_jaccard
        found.append((a[kept], b[kept], shared[kept]))
    a, b, shared = (np.concatenate(parts) for parts in zip(*found, strict=True))
    weight = np.concatenate([np.zeros(0)] + [
        np.asarray(weighted[a[i:i + _PAIRS_A_BLOCK]].multiply(member[b[i:i + _PAIRS_A_BLOCK]]).sum(axis=1)).ravel()
        for i in range(0, len(a), _PAIRS_A_BLOCK)
    ])
    return pd.DataFrame({"a": a.astype(np.int64), "b": b.astype(np.int64), "shared": shared, "weight": weight})


def synchronized_windows(
    onsets: pd.DataFrame, members: Collection[str], *, bucket_seconds: int = 600, top: int = 10
) -> dict:
    """The moments when most of a cluster's members started work together (evidence).

    Parameters
    ----------
    onsets : DataFrame
        From :func:`activity_onsets`.
    members : collection of str
        The cluster's accounts.
    bucket_seconds : int
        Window width.
    top : int
        How many windows to list.

    Returns
    -------
    dict
        ``total`` (windows in which at least two members started), and
        ``top``: the windows with most members, each with ``start``, ``end``
        (epoch ms), ``endpoint``, ``members`` and ``accounts`` (up to 10 ids).

    Examples
    --------
    >>> onsets = pd.DataFrame({"account_id": ["a", "b", "c"], "endpoint": "auth/login",
    ...                        "ts_ms": [1_000, 2_000, 9_000_000]})
    >>> synchronized_windows(onsets, ["a", "b", "c"])["top"][0]["members"]
    2
    """
    members = set(members)
    bucket_ms = int(bucket_seconds * 1000)
    mine = onsets[among(onsets["account_id"], members)]
    if mine.empty:
        return {"total": 0, "top": []}
    mine = mine.assign(bucket=(mine["ts_ms"] // bucket_ms))
    grouped = (
        mine.groupby(["endpoint", "bucket"], sort=True)
        .agg(members=("account_id", "nunique"), accounts=("account_id", lambda s: sorted(set(s))[:10]))
        .reset_index()
    )
    grouped = grouped[grouped["members"] >= 2].sort_values(
        ["members", "bucket", "endpoint"], ascending=[False, True, True]
    )
    windows = [
        {
            "start": int(row.bucket * bucket_ms),
            "end": int((row.bucket + 1) * bucket_ms),
            "endpoint": row.endpoint,
            "members": int(row.members),
            "accounts": list(row.accounts),
        }
        for row in grouped.head(top).itertuples()
    ]
    return {"total": int(len(grouped)), "top": windows}
