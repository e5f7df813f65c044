"""Misses at volume: lookups that find far fewer accounts than address books do.

An address book holds people its owner knows, and a good share of them are
on the platform; a number picked at random, from a range or from a
sequence matches only at the platform's penetration of the numbering plan.
That gap does not depend on how the numbers are spread: an enumerator that
scatters its numbers over five countries' mobile ranges (every block it
touches then holds one number, as in an address book) still misses. Dense
block coverage (:mod:`graph.detect.enumeration`) catches the enumerator that
walks blocks; this catches the one that does not.

Accounts differ in how many of their contacts use the platform, so the
population's hit ratios spread well beyond binomial noise. The deficit is
measured as in a beta-binomial model (Williams 1982), against the median
rate ``p0`` with a between-account spread ``tau`` that does not shrink with
volume:

    z = (p0 - p_hat) / sqrt(p0 (1 - p0) / n + tau^2 / k)

``n`` is the distinct numbers looked up and ``k`` the number of address
books pooled: 1 for one account, the members with lookups for a group or an
IP. A lone account with a low hit ratio is a curiosity (people look up
numbers from business cards); many accounts of one group all missing is not.
A group whose members' books are mostly copies of one (a circle of friends)
pools fewer: ``n`` and ``k`` shrink by its share of distinct numbers
(:func:`graph.detect.features.group_features`), since five copies of one
unlucky book are one piece of evidence, not five.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
import pandas as pd

from graph.detect.frames import EventsLike, as_events
from graph.detect.infrastructure import entity_usage

__all__ = ["HitBaseline", "hit_baseline", "deficit_z", "missing", "entity_deficits"]


class HitBaseline(NamedTuple):
    """The population's median hit ratio ``p0`` and its between-account spread ``tau``."""

    p0: float
    tau: float


def hit_baseline(
    matched: pd.Series | np.ndarray,
    phones: pd.Series | np.ndarray,
    *,
    min_phones: int = 20,
    min_tau: float = 0.03,
    rounds: int = 10,
) -> HitBaseline:
    """The population's usual hit ratio and how much accounts differ in it.

    Parameters
    ----------
    matched, phones : array-like
        Distinct numbers that matched, and distinct numbers looked up, per account.
    min_phones : int
        Only accounts with at least this many numbers take part (every
        account with lookups when fewer than 30 have that many).
    min_tau : float
        Floor of the spread: a population of near-identical address books
        must not make a small difference look extreme.
    rounds : int
        At most this many rounds of trimming (it usually settles in three).

    Returns
    -------
    HitBaseline

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> phones = rng.integers(50, 400, 2000)
    >>> matched = rng.binomial(phones, rng.beta(20, 60, 2000))
    >>> base = hit_baseline(matched, phones)
    >>> round(base.p0, 2), 0.03 <= base.tau < 0.08
    (0.25, True)

    Abusers, even as a tight four-tenths of the accounts, do not move it:

    >>> abusers = rng.integers(100, 300, 1300)
    >>> both = hit_baseline(np.r_[matched, rng.binomial(abusers, 0.02)], np.r_[phones, abusers])
    >>> round(both.p0, 2), abs(both.tau - base.tau) < 0.01
    (0.25, True)

    Notes
    -----
    Abusers pull hit ratios one way only, down, and can be a large, tight
    minority of the accounts that look up many numbers. A median drifts
    toward them and the shortest half (the shorth; Rousseeuw and Leroy
    1988) may sit on them. So the estimate is a one-sided trimmed one:
    take a median, measure the spread from the accounts above it only
    (median distance / 0.6745, a standard deviation for normal data; no
    abuser is there), drop the accounts more than 2.5 standard errors below
    (each its own: spread and binomial noise for its volume), and repeat on
    what is left until nothing changes. The first round starts from the
    upper half, which holds only ordinary accounts while abusers are
    fewer than half of all, so the trimming cannot settle on them. The binomial part of the observed
    spread is taken out, leaving the spread of the accounts' true rates.
    When operators mixing address books into their job outnumber the
    people, their rates fill the upper half too and the spread measured
    there swells until nobody falls 2.5 standard errors short; so whatever
    the spread, an account finding under half the usual ratio by more than
    one standard error of binomial noise is trimmed.
    """
    matched = np.asarray(matched, dtype=float)
    phones = np.asarray(phones, dtype=float)
    has = phones > 0
    if not has.any():
        return HitBaseline(0.0, min_tau)
    volume = phones >= min_phones
    pick = volume if volume.sum() >= 30 else has
    rate, n = matched[pick] / phones[pick], phones[pick]
    # start from the upper half: only ordinary accounts while abusers are fewer than half of all
    keep = rate >= np.quantile(rate, 0.5)
    for _ in range(rounds):
        p0 = float(np.median(rate[keep]))
        above = rate[keep & (rate > p0)] - p0
        spread = float(np.median(above)) / 0.6745 if len(above) else 0.0
        tau = float(np.sqrt(max(spread**2 - float(np.median(p0 * (1.0 - p0) / n[keep])), 0.0)))
        tau = max(tau, min_tau)
        noise = p0 * (1.0 - p0) / n
        trimmed = rate >= np.maximum(p0 - 2.5 * np.sqrt(tau**2 + noise), p0 / 2 - np.sqrt(noise))
        if (trimmed == keep).all():
            break
        keep = trimmed
    return HitBaseline(p0, tau)


def deficit_z(
    matched: pd.Series | np.ndarray,
    phones: pd.Series | np.ndarray,
    baseline: HitBaseline,
    books: pd.Series | np.ndarray | float = 1.0,
) -> np.ndarray:
    """How far the hit ratio falls below the population's, in standard errors (0 without lookups).

    Parameters
    ----------
    matched, phones : array-like
        Distinct numbers matched and looked up (per account, group or entity).
    baseline : HitBaseline
        From :func:`hit_baseline`.
    books : array-like or float
        Address books pooled in each row (see the module docstring).

    Returns
    -------
    numpy.ndarray
        Positive when fewer numbers matched than usual.

    Examples
    --------
    >>> base = HitBaseline(0.25, 0.08)
    >>> deficit_z([2, 60], [200, 240], base).round(1).tolist()
    [2.8, 0.0]
    >>> deficit_z([20], [2000], base, books=10).round(1).tolist()
    [8.9]
    """
    matched = np.asarray(matched, dtype=float)
    phones = np.asarray(phones, dtype=float)
    books = np.maximum(np.asarray(books, dtype=float), 1.0)
    p0, tau = baseline
    safe = np.maximum(phones, 1.0)
    se = np.sqrt(p0 * (1.0 - p0) / safe + tau**2 / books)
    z = (p0 - matched / safe) / np.maximum(se, 1e-9)
    return np.where(phones > 0, z, 0.0)


def missing(
    matched: pd.Series, phones: pd.Series, deficit: pd.Series, baseline: HitBaseline, *, min_phones: int = 20
) -> pd.Series:
    """Whether each account itself misses: enough numbers, a deficit of a standard error, at most half the usual rate.

    The effect size matters as much as its significance: where accounts
    differ little, a newcomer whose friends are not on the platform yet
    finds two thirds of the usual share and is a standard error short,
    while an enumerator, however camouflaged, finds a fraction.

    Examples
    --------
    >>> base = HitBaseline(0.3, 0.05)
    >>> missing(pd.Series([20, 5]), pd.Series([100, 100]), pd.Series([1.5, 4.5]), base).tolist()
    [False, True]
    """
    rate = matched / phones.where(phones > 0)
    return (phones >= min_phones) & (deficit >= 1.0) & (rate <= baseline.p0 / 2)


def entity_deficits(events: EventsLike, baseline: HitBaseline, *, min_lookers: int = 2) -> pd.DataFrame:
    """The pooled miss deficit of every IP and device that several accounts looked numbers up from.

    An operation funnels its accounts' lookups through a few addresses or
    device fingerprints; pooled there, a deficit that is within the spread
    of one account becomes unmistakable, while a carrier NAT or an office
    pools ordinary address books and keeps the usual rate.

    Parameters
    ----------
    events : Events or DataFrame
    baseline : HitBaseline
    min_lookers : int
        Entities fewer accounts looked numbers up from are left out.

    Returns
    -------
    DataFrame
        ``entity_type`` (``ip`` or ``device``), ``entity``, ``lookers``,
        ``phones``, ``matched`` and ``deficit_z`` (``lookers`` address books pooled).

    Examples
    --------
    >>> from graph.detect.frames import events_frame
    >>> rows = [{"ts": 0, "ip": "5.1.1.1", "account_id": f"op{i % 5}", "phone_hash": f"p{i}"} for i in range(500)]
    >>> found = entity_deficits(events_frame(rows), HitBaseline(0.25, 0.08))
    >>> found[["entity", "lookers", "phones"]].values.tolist(), bool(found["deficit_z"].iloc[0] > 5)
    ([['5.1.1.1', 5, 500]], True)
    """
    source = as_events(events)
    # who looked through each entity comes from the accounts' usage table (few entities have two
    # lookers); the distinct numbers of those entities only are then read in one pass for both kinds
    rows = source.query(f"""
        WITH lookers AS (
            SELECT entity_type, entity, count(*) AS lookers FROM {entity_usage(source)} WHERE lookups > 0
            GROUP BY 1, 2 HAVING count(*) >= {int(min_lookers)}
        ), per AS (
            SELECT CASE WHEN grouping(ip) = 1 THEN 'device' ELSE 'ip' END AS entity_type,
                   CASE WHEN grouping(ip) = 1 THEN device_id ELSE ip END AS entity, phone, bool_or(matched) AS matched
            FROM (
                SELECT ip, device_id, hash(phone_hash) AS phone, matched_account_id IS NOT NULL AS matched
                FROM {{events}}
                WHERE account_id IS NOT NULL AND phone_hash IS NOT NULL
                  AND (ip IN (SELECT entity FROM lookers WHERE entity_type = 'ip')
                       OR device_id IN (SELECT entity FROM lookers WHERE entity_type = 'device'))
            )
            GROUP BY GROUPING SETS ((ip, phone), (device_id, phone))
        )
        SELECT per.entity_type, per.entity, any_value(lookers.lookers) AS lookers, count(*) AS phones,
               count(*) FILTER (WHERE per.matched) AS matched
        FROM per JOIN lookers ON lookers.entity_type = per.entity_type AND lookers.entity = per.entity
        GROUP BY 1, 2 ORDER BY 1, 2
    """)
    rows["deficit_z"] = deficit_z(rows["matched"], rows["phones"], baseline, rows["lookers"])
    return rows
