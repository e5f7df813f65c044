"""Behaviour of a group: created together, same client build, same weekly clock.

Operators create their accounts in batches, run them from one tool (an
emulator image, a pinned old app build) and work their own office hours.
Each of these is weak alone (a viral moment also creates accounts in a burst,
an office also keeps office hours), so they support a score but never make
one; what makes them evidence is how unlikely they are given the population:
each test here compares the group with everyone else.
"""

from __future__ import annotations

from collections.abc import Collection

import numpy as np
import pandas as pd
import scipy  # scipy.stats loads on first use (a second): reading events need not pay for it

from graph.detect.frames import EventsLike, among, as_events

__all__ = [
    "HALF_HOURS_PER_WEEK",
    "creation_burst",
    "burst_accounts",
    "cohort_links",
    "cohort_pairs",
    "monoculture",
    "monoculture_counts",
    "weekly_histograms",
    "client_builds",
]

#: bins of the weekly activity histogram: half hours from Monday 00:00 UTC
HALF_HOURS_PER_WEEK = 7 * 48
_HALF_HOUR_MS = 1_800_000
# 1970-01-01, epoch day 0, was a Thursday: three days after a Monday.
_EPOCH_WEEKDAY_SHIFT = 3 * 48


def creation_burst(
    member_created: pd.Series | np.ndarray,
    population_created: pd.Series | np.ndarray,
    *,
    window_hours: float = 2.0,
) -> dict:
    """The tightest sign-up burst among a group's accounts and how unlikely it is.

    Parameters
    ----------
    member_created, population_created : array-like of epoch milliseconds
        Creation times of the group and of every account (NaN ignored).
    window_hours : float
        Width of the sliding window.

    Returns
    -------
    dict
        ``members`` (most members created within one window), ``start``
        (epoch ms of that window's first creation), ``expected`` (members the
        population's creation rate in that window would give), and
        ``log10_p``: log10 of the binomial probability of at least that many,
        a measure of surprise (below -6: no coincidence).

    Examples
    --------
    >>> hour = 3_600_000
    >>> population = np.arange(0, 1000 * 24 * hour, 24 * hour)  # one a day
    >>> burst = creation_burst([5 * hour + i * 60_000 for i in range(10)], population)
    >>> burst["members"], burst["log10_p"] < -10
    (10, True)
    """
    members = np.sort(np.asarray(pd.Series(member_created).dropna(), dtype=np.int64))
    population = np.asarray(pd.Series(population_created).dropna(), dtype=np.int64)
    if len(population) > 1 and not (population[:-1] <= population[1:]).all():
        population = np.sort(population)
    empty = {"members": 0, "start": None, "expected": 0.0, "log10_p": 0.0}
    if len(members) < 2 or len(population) == 0:
        return empty
    window = int(window_hours * 3_600_000)
    ends = np.searchsorted(members, members + window, side="left")
    counts = ends - np.arange(len(members))
    best = int(np.argmax(counts))
    k = int(counts[best])
    if k < 2:
        return empty
    start = int(members[best])
    in_window = np.searchsorted(population, start + window) - np.searchsorted(population, start)
    share = max(in_window - k, 0) / len(population)
    # a floor: the window's rate is estimated from a finite population
    share = max(share, 1.0 / len(population))
    expected = share * len(members)
    log10_p = float(scipy.stats.binom.logsf(k - 1, len(members), share) / np.log(10))
    # scanning every window makes some surprise certain: correct for the windows tried
    log10_p = float(min(0.0, log10_p + np.log10(len(members))))
    return {"members": k, "start": start, "expected": float(expected), "log10_p": log10_p}


def burst_accounts(
    created: pd.Series,
    *,
    window_hours: float = 2.0,
    baseline_days: float = 30.0,
    min_accounts: int = 3,
    max_log10_p: float = -6.0,
) -> set:
    """Accounts created in a sign-up burst: many more in a few hours than the weeks around predict.

    Parameters
    ----------
    created : Series
        Creation time (epoch ms) indexed by account id; every known account.
    window_hours : float
        Width of the sliding window.
    baseline_days : float
        The rate a window is compared with comes from this many days around it.
    min_accounts : int
        Fewer accounts in a window is never a burst.
    max_log10_p : float
        Poisson surprise a window needs, in log10 probability.

    Returns
    -------
    set
        Ids of accounts created inside some burst window.

    Examples
    --------
    >>> hour = 3_600_000
    >>> steady = pd.Series(np.arange(0, 2000 * 12 * hour, 12 * hour), index=[f"u{i}" for i in range(2000)])
    >>> burst = pd.Series([500 * 24 * hour + i * 60_000 for i in range(8)], index=[f"b{i}" for i in range(8)])
    >>> sorted(burst_accounts(pd.concat([steady, burst])))[:3]
    ['b0', 'b1', 'b2']
    """
    created = created.dropna().astype(np.int64).sort_values(kind="stable")
    if len(created) < min_accounts:
        return set()
    times = created.to_numpy()
    window = int(window_hours * 3_600_000)
    half = int(baseline_days * 86_400_000 / 2)
    idx = np.arange(len(times))
    in_window = np.searchsorted(times, times + window, side="left") - idx
    around = np.searchsorted(times, times + half, side="right") - np.searchsorted(times, times - half, side="left")
    rate = np.maximum(around - in_window, 1) / (2 * half / window)
    log10_p = scipy.stats.poisson.logsf(in_window - 1, rate) / np.log(10)
    hits = np.flatnonzero((in_window >= min_accounts) & (log10_p <= max_log10_p))
    # mark every account inside a burst window: +1 where a window opens, -1 after it closes
    marks = np.zeros(len(times) + 1, dtype=np.int64)
    np.add.at(marks, hits, 1)
    np.add.at(marks, hits + in_window[hits], -1)
    inside = np.cumsum(marks[:-1]) > 0
    return set(created.index[inside])


def cohort_links(created: pd.Series, bursts: set, window_hours: float) -> pd.DataFrame:
    """``a, b``: each account made in a sign-up burst linked to the next one made within ``window_hours``.

    The links chain each burst's accounts into one connected group (a
    chain, not every pair: a viral evening's thousands of sign-ups stay a
    few thousand links), for pooling what the group's accounts find
    (:func:`graph.detect.acquaintance.rare_groups`): the accounts an
    operation made at once work one leaked list, whose targets are
    strangers to each other, while a viral moment's newcomers find their
    friends.

    Examples
    --------
    >>> hour = 3_600_000
    >>> created = pd.Series({"a": 0, "b": hour, "c": 2 * hour, "x": 30 * hour, "y": 30 * hour + 1})
    >>> cohort_links(created, {"a", "b", "c", "x", "y"}, 2.0).values.tolist()
    [['a', 'b'], ['b', 'c'], ['x', 'y']]
    """
    mine = created[among(created.index, bursts)].sort_values(kind="stable")
    times, ids = mine.to_numpy(dtype=float), mine.index.to_numpy(dtype=object)
    near = np.flatnonzero(np.diff(times) <= window_hours * 3_600_000)
    pairs = sorted((min(ids[i], ids[i + 1]), max(ids[i], ids[i + 1])) for i in near)
    return pd.DataFrame(pairs, columns=["a", "b"], dtype=object).reindex(columns=["a", "b"])


def cohort_pairs(created: pd.Series, bursts: set, accounts: set, window_hours: float) -> pd.DataFrame:
    """``a, b``: pairs of ``accounts`` made in a sign-up burst within ``window_hours`` of each other.

    ``bursts`` are the accounts :func:`burst_accounts` found; ``accounts`` are
    those the pairs may join (detection passes every account that misses).

    Only where most accounts made around the same time are among ``accounts``
    (those that miss): an operation's burst is its own, while a big
    population has chance clumps of sign-ups in which a few unrelated
    people happen to miss.

    Examples
    --------
    >>> hour = 3_600_000
    >>> created = pd.Series({"a": 0, "b": hour // 2, "c": 5 * hour, "x": hour // 4})
    >>> cohort_pairs(created, {"a", "b", "c", "x"}, {"a", "b", "c"}, 2.0).values.tolist()
    [['a', 'b']]
    """
    window = window_hours * 3_600_000
    everyone = np.sort(created.to_numpy(dtype=float))
    mine = created[among(created.index, bursts & accounts)].sort_values(kind="stable")
    around = np.searchsorted(everyone, mine.to_numpy(dtype=float) + window / 2, side="right") \
        - np.searchsorted(everyone, mine.to_numpy(dtype=float) - window / 2, side="left")
    ours = mine.to_numpy(dtype=float)
    same = np.searchsorted(ours, ours + window / 2, side="right") - np.searchsorted(ours, ours - window / 2, side="left")
    mine = mine[same >= 0.5 * around]
    times, ids = mine.to_numpy(dtype=float), mine.index.to_numpy(dtype=object)
    ends = np.searchsorted(times, times + window, side="right")
    pairs = [(min(ids[i], ids[j]), max(ids[i], ids[j])) for i in range(len(ids)) for j in range(i + 1, ends[i])]
    if not pairs:
        return pd.DataFrame({"a": pd.Series(dtype=object), "b": pd.Series(dtype=object)})
    return pd.DataFrame(sorted(pairs), columns=["a", "b"], dtype=object)

def monoculture(member_values: pd.Series, population_values: pd.Series) -> dict:
    """How much a group's most common value (a client build, say) outweighs the population's.

    Returns
    -------
    dict
        ``value``, ``share`` in the group, ``population_share``, ``lift``
        (their ratio) and ``log10_p`` (binomial surprise, as in
        :func:`creation_burst`). Empty values are ignored.

    Examples
    --------
    >>> group = pd.Series(["emulator/8.18"] * 9 + ["iPhone/8.5"])
    >>> population = pd.Series(["iPhone/8.5"] * 900 + ["Android/8.21"] * 95 + ["emulator/8.18"] * 5)
    >>> found = monoculture(group, population)
    >>> found["value"], round(found["lift"])
    ('emulator/8.18', 180)
    """
    return monoculture_counts(pd.Series(member_values), pd.Series(population_values).dropna().value_counts())


def monoculture_counts(member_values: pd.Series, population_counts: pd.Series, *, members_included: bool = False) -> dict:
    """:func:`monoculture` against precomputed population counts (one ``value_counts`` for many groups).

    Parameters
    ----------
    member_values : Series
        The group's values.
    population_counts : Series
        Value to count over the population.
    members_included : bool
        Whether ``population_counts`` counts the group too (it is then
        subtracted, so the group is compared with everyone else).

    Examples
    --------
    >>> everyone = pd.Series({"a": 90, "b": 10})
    >>> monoculture_counts(pd.Series(["b"] * 5), everyone, members_included=True)["population_share"]
    0.052632
    """
    member_values = pd.Series(member_values).dropna()
    empty = {"value": None, "share": 0.0, "population_share": 0.0, "lift": 0.0, "log10_p": 0.0}
    if member_values.empty or population_counts.empty:
        return empty
    counts = member_values.value_counts()
    top = int(counts.max())
    value = sorted(counts[counts == top].index, key=str)[0]
    others = float(population_counts.sum()) - (len(member_values) if members_included else 0)
    same = float(population_counts.get(value, 0)) - (top if members_included else 0)
    if others <= 0:
        return empty
    population_share = max(same / others, 1.0 / others)
    share = top / len(member_values)
    log10_p = float(scipy.stats.binom.logsf(top - 1, len(member_values), population_share) / np.log(10))
    return {
        "value": value,
        "share": float(share),
        "population_share": round(population_share, 6),
        "lift": float(share / population_share),
        "log10_p": log10_p,
    }


def weekly_histograms(events: EventsLike, accounts: Collection[str]) -> dict[str, np.ndarray]:
    """Requests of each account by half hour of the week (UTC, Monday 00:00 first).

    Returns
    -------
    dict
        Account id to an array of :data:`HALF_HOURS_PER_WEEK` request counts.

    Examples
    --------
    >>> from graph.detect.frames import events_frame
    >>> rows = [{"ts": "2019-12-23T09:10:00Z", "ip": "1.1.1.1", "account_id": "a"}]  # a Monday
    >>> int(weekly_histograms(events_frame(rows), ["a"])["a"].argmax())
    18
    """
    source = as_events(events)
    counts = source.query(
        f"""
        SELECT account_id, ((epoch_ms(ts) // {_HALF_HOUR_MS}) + {_EPOCH_WEEKDAY_SHIFT}) % {HALF_HOURS_PER_WEEK} AS bin,
               count(*) AS n
        FROM {{events}} WHERE account_id IN (SELECT account_id FROM {{focus}})
        GROUP BY 1, 2 ORDER BY 1, 2
        """,
        focus=pd.DataFrame({"account_id": sorted(set(accounts))}, dtype=object),
    )
    # filled in one step (a loop over tens of thousands of accounts' groups cost seconds at scale)
    codes, ids = pd.factorize(counts["account_id"], sort=True)
    histograms = np.zeros((len(ids), HALF_HOURS_PER_WEEK))
    histograms[codes, counts["bin"].to_numpy(dtype=int)] = counts["n"].to_numpy(dtype=float)
    return dict(zip(ids, histograms, strict=True))


def client_builds(events: EventsLike, accounts: Collection[str] | None = None) -> pd.Series:
    """Each account's most used client build (``family/version``), for monoculture tests.

    Examples
    --------
    >>> from graph.detect.frames import events_frame
    >>> rows = [{"ts": 0, "ip": "1.1.1.1", "account_id": "a", "user_agent_family": "TwitterAndroid",
    ...          "app_version": "8.18.0"}]
    >>> client_builds(events_frame(rows)).to_dict()
    {'a': 'TwitterAndroid/8.18.0'}
    """
    source = as_events(events)
    frames = {}
    focus = ""
    if accounts is not None:
        frames["focus"] = pd.DataFrame({"account_id": sorted(set(accounts))}, dtype=object)
        focus = "AND account_id IN (SELECT account_id FROM {focus})"
    builds = source.query(
        f"""
        WITH used AS (
            -- grouped on the raw columns first: building the string on every event cost twice as much
            SELECT account_id, user_agent_family, app_version, count(*) AS n
            FROM {{events}} WHERE account_id IS NOT NULL AND user_agent_family IS NOT NULL {focus}
            GROUP BY 1, 2, 3
        ), counted AS (
            SELECT account_id, user_agent_family || '/' || coalesce(app_version, '?') AS build, sum(n) AS n
            FROM used GROUP BY 1, 2
        )
        SELECT account_id, first(build ORDER BY n DESC, build) AS build FROM counted GROUP BY 1 ORDER BY 1
        """,
        **frames,
    )
    return builds.set_index("account_id")["build"]
