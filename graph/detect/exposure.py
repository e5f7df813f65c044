"""Exposure: whose phone numbers a cluster's lookups tied to their accounts.

Every lookup that matched revealed that a phone number belongs to an
account. Those account holders are the people a platform must notify (and
whom a state-linked operator may now target), so each cluster carries the
count of distinct exposed accounts, by the country of the exposed number.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping

import pandas as pd

from graph.detect.attribution import membership_frame
from graph.detect.frames import EventsLike, as_events

__all__ = ["cluster_exposure", "matched_outside", "exposure_by_country"]


def matched_outside(events: EventsLike, clusters: Mapping[str, Collection[str]]) -> pd.DataFrame:
    """Every (cluster, number, matched account) a cluster's lookups revealed, its own members left out.

    The one definition of exposure that detection, the UI, the exports and
    the briefings count with: a member found by its own cluster (an
    operator checking its accounts, a self-lookup) is not an outside person
    exposed, so neither the number nor the account counts.

    Returns
    -------
    DataFrame
        ``cluster, country`` (the number's region, ``"??"`` when unknown),
        ``phone_hash, matched_account_id``, one row per distinct triple.
    """
    source = as_events(events)
    members = membership_frame(clusters)
    matched = source.query(
        """
        SELECT m.cluster, coalesce(e.phone_region, '??') AS country, e.phone_hash, e.matched_account_id
        FROM {events} e JOIN {members} m USING (account_id)
        WHERE nullif(e.matched_account_id, '') IS NOT NULL
        GROUP BY 1, 2, 3, 4
        """,
        members=members,
    )
    own = set(zip(members["cluster"], members["account_id"], strict=True))
    keep = [(c, a) not in own for c, a in zip(matched["cluster"], matched["matched_account_id"], strict=True)]
    return matched[pd.Series(keep, index=matched.index, dtype=bool)]


def exposure_by_country(matched: pd.DataFrame) -> pd.DataFrame:
    """``country, numbers, accounts`` of :func:`matched_outside` rows, most exposed accounts first."""
    return (
        matched.groupby("country").agg(numbers=("phone_hash", "nunique"), accounts=("matched_account_id", "nunique"))
        .reset_index().sort_values(["accounts", "numbers", "country"], ascending=[False, False, True])
    )


def cluster_exposure(events: EventsLike, clusters: Mapping[str, Collection[str]], *, top: int = 20) -> dict[str, dict]:
    """Distinct accounts each cluster's lookups matched, counted by the exposed number's country.

    Parameters
    ----------
    events : Events or DataFrame
    clusters : mapping of str to collection of str
        Cluster key to member accounts; one query serves them all.
    top : int
        How many countries to list by name (the rest are summed as ``other``).

    Returns
    -------
    dict
        Cluster key to: ``exposed_accounts`` (distinct matched accounts, the
        cluster's own excluded: :func:`matched_outside`), ``numbers_matched``
        (distinct numbers that matched such an account), ``numbers_tried``
        (distinct numbers looked up), ``by_country`` (country to exposed accounts, largest first,
        unknown region as ``"??"``) and ``other`` (exposed accounts in
        countries beyond ``top``).

    Examples
    --------
    >>> from graph.detect.frames import events_frame
    >>> rows = [{"ts": 0, "ip": "1.1.1.1", "account_id": "op", "phone_hash": f"p{i}",
    ...          "phone_region": "IR" if i < 3 else "US", "matched_account_id": f"u{i}" if i % 2 == 0 else None}
    ...         for i in range(6)]
    >>> exposure = cluster_exposure(events_frame(rows), {"c1": ["op"]})["c1"]
    >>> exposure["exposed_accounts"], exposure["by_country"]
    (3, {'IR': 2, 'US': 1})
    """
    source = as_events(events)
    members = membership_frame(clusters)
    matched = matched_outside(source, clusters)
    tried = source.query(
        """
        SELECT m.cluster, count(DISTINCT l.phone) AS tried
        FROM {lookups} l JOIN {members} m USING (account_id) GROUP BY 1
        """,
        members=members,
    ).set_index("cluster")["tried"]
    out = {}
    for key in clusters:
        mine = matched[matched["cluster"] == key]
        per_country = exposure_by_country(mine)
        shown = per_country.head(top)
        out[key] = {
            "exposed_accounts": int(mine["matched_account_id"].nunique()),
            "numbers_matched": int(mine["phone_hash"].nunique()),
            "numbers_tried": int(tried.get(key, 0)),
            "by_country": {str(c): int(n) for c, n in zip(shown["country"], shown["accounts"], strict=True)},
            "other": int(per_country["accounts"].iloc[top:].sum()),
        }
    return out
