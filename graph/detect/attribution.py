"""Attribution hints: where a cluster's traffic comes from and whose clock it keeps.

These are hints for an analyst, not verdicts. Traffic can be routed through
any country (a residential proxy network makes Iranian operators look
American), so the request-weighted country, network and hosting mix is shown
next to the operators' clock: people work in their own daytime and rest on
their own weekend, whatever their exit nodes. The clock is estimated by
sliding two generic activity shapes (a working day and a waking day) around
the 24 hours and keeping the best fit; the weekend is the pair of local days
(or the single day) when the cluster is quiet. Overlap with labelled entities
("shares 12 IPs with accounts labelled X") is counted, not concluded.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence

import numpy as np
import pandas as pd

from graph.detect.behaviour import HALF_HOURS_PER_WEEK
from graph.detect.frames import EventsLike, among, as_events

__all__ = [
    "WEEKDAYS", "membership_frame", "origin_mix", "origin_summary", "utc_offset", "clock_confidence", "weekly_rhythm",
    "label_overlap",
]

#: IP kinds whose traffic counts as hosting (or anonymizing) traffic
_HOSTING_KINDS = ("hosting", "vpn", "tor", "proxy")

WEEKDAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")

# Generic local-time activity shapes, 48 half hours from midnight. They are
# deliberately coarse (a plateau with shoulders): the fit should not depend on
# any one population's exact curve.
_WORKING_DAY = np.interp(np.arange(48) / 2 + 0.25, [0, 7.5, 9, 17, 18.5, 24], [0, 0, 1, 1, 0, 0])
_WAKING_DAY = np.interp(np.arange(48) / 2 + 0.25, [0, 2, 6, 8, 12, 17, 21, 23, 24], [0.3, 0.1, 0.1, 0.6, 0.7, 0.7, 1, 0.6, 0.3])
_TEMPLATES = {"working day": _WORKING_DAY, "waking day": _WAKING_DAY}

# Weekends that quiet days are consistent with (a hint, never a country).
_WEEKENDS = {
    ("Fri",): "a Friday weekend (as in Iran)",
    ("Fri", "Sat"): "a Friday-Saturday weekend (as in Israel and much of the Middle East)",
    ("Thu", "Fri"): "a Thursday-Friday weekend (as formerly in parts of the Gulf)",
    ("Sat", "Sun"): "a Saturday-Sunday weekend",
    ("Sun",): "a Sunday rest day",
    ("Sat",): "a Saturday rest day",
}


def _top(frame: pd.DataFrame, key: str, total: float, top: int) -> list[dict]:
    rows = frame.sort_values(["requests", key], ascending=[False, True]).head(top)
    return [
        {key: (None if pd.isna(v) else (int(v) if isinstance(v, (int, np.integer)) else v)),
         "requests": int(n), "share": round(n / total, 4)}
        for v, n in zip(rows[key], rows["requests"], strict=True)
    ]


def membership_frame(clusters: Mapping[str, Collection[str]]) -> pd.DataFrame:
    """``account_id, cluster`` rows for a mapping of cluster key to members (for batched SQL)."""
    rows = [(account, key) for key, members in clusters.items() for account in sorted(set(members))]
    return pd.DataFrame(rows, columns=["account_id", "cluster"], dtype=object)


def origin_mix(events: EventsLike, clusters: Mapping[str, Collection[str]], *, top: int = 5) -> dict[str, dict]:
    """Request-weighted country, ASN and IP-kind mix of each cluster's traffic.

    Parameters
    ----------
    events : Events or DataFrame
    clusters : mapping of str to collection of str
        Cluster key to member accounts; one query serves them all.
    top : int
        How many countries and ASNs to list.

    Returns
    -------
    dict
        Cluster key to: ``requests`` (total), ``countries``, ``asns`` and
        ``kinds`` (lists of ``{value, requests, share}``, largest first),
        ``top_country``, and ``hosting_share``: the share from hosting, VPN,
        Tor or proxy addresses.

    Examples
    --------
    >>> from graph.detect.frames import events_frame
    >>> rows = [{"ts": 0, "ip": "5.1.1.1", "ip_country": "IR", "ip_asn": 59441, "ip_kind": "hosting",
    ...          "account_id": "a"}] * 3 + [{"ts": 0, "ip": "7.1.1.1", "ip_country": "US", "account_id": "a"}]
    >>> mix = origin_mix(events_frame(rows), {"c1": ["a"]})["c1"]
    >>> mix["top_country"], mix["hosting_share"]
    ('IR', 0.75)
    """
    source = as_events(events)
    counts = source.query(
        """
        SELECT m.cluster, e.ip_country AS country, e.ip_asn AS asn, coalesce(e.ip_kind, 'unknown') AS kind,
               count(*) AS requests
        FROM {events} e JOIN {members} m USING (account_id)
        GROUP BY 1, 2, 3, 4
        """,
        members=membership_frame(clusters),
    )
    by_cluster = dict(tuple(counts.groupby("cluster", sort=False)))
    out = {}
    for key in clusters:
        mine = by_cluster.get(key, counts.iloc[:0])
        total = float(mine["requests"].sum())
        if total == 0:
            out[key] = {"requests": 0, "countries": [], "asns": [], "kinds": [], "top_country": None,
                        "hosting_share": 0.0}
            continue
        by_country = mine.groupby("country", dropna=False)["requests"].sum().reset_index()
        by_asn = mine.groupby("asn", dropna=False)["requests"].sum().reset_index()
        by_kind = mine.groupby("kind", dropna=False)["requests"].sum().reset_index()
        countries = _top(by_country, "country", total, top)
        known = [c for c in countries if c["country"]]
        hosting = float(by_kind[by_kind["kind"].isin(_HOSTING_KINDS)]["requests"].sum())
        out[key] = {
            "requests": int(total),
            "countries": countries,
            "asns": _top(by_asn, "asn", total, top),
            "kinds": _top(by_kind, "kind", total, 8),
            "top_country": known[0]["country"] if known else None,
            "hosting_share": round(hosting / total, 4),
        }
    return out


def origin_summary(events: EventsLike, clusters: Mapping[object, Collection[str]]) -> pd.DataFrame:
    """What scoring needs of :func:`origin_mix`, for many clusters in one pass.

    Returns
    -------
    DataFrame
        Indexed by cluster key: ``hosting_share`` (rounded as in
        :func:`origin_mix`) and ``top_country`` (the known country with the
        most requests, ties broken by name). Clusters without requests are
        left out.

    Examples
    --------
    >>> from graph.detect.frames import events_frame
    >>> rows = [{"ts": 0, "ip": "5.1.1.1", "ip_country": "IR", "ip_kind": "hosting", "account_id": "a"}] * 3
    >>> rows += [{"ts": 0, "ip": "7.1.1.1", "ip_country": "US", "account_id": "b"}]
    >>> origin_summary(events_frame(rows), {"c1": ["a", "b"], "c2": ["b"]}).to_dict("index")
    {'c1': {'hosting_share': 0.75, 'top_country': 'IR'}, 'c2': {'hosting_share': 0.0, 'top_country': 'US'}}
    """
    source = as_events(events)
    kinds = ", ".join(f"'{k}'" for k in _HOSTING_KINDS)
    counts = source.query(
        f"""
        SELECT m.cluster, e.ip_country AS country, count(*) AS requests,
               count(*) FILTER (WHERE e.ip_kind IN ({kinds})) AS hosting
        FROM {{events}} e JOIN {{members}} m USING (account_id)
        GROUP BY 1, 2
        """,
        members=membership_frame(clusters),
    )
    totals = counts.groupby("cluster", sort=True)[["requests", "hosting"]].sum()
    shares = [round(float(h) / float(n), 4) for h, n in zip(totals["hosting"], totals["requests"], strict=True)]
    out = pd.DataFrame({"hosting_share": shares}, index=totals.index)
    known = counts.dropna(subset=["country"]).sort_values(
        ["cluster", "requests", "country"], ascending=[True, False, True], kind="stable"
    ).drop_duplicates("cluster")
    out["top_country"] = known.set_index("cluster")["country"].reindex(out.index)
    out["top_country"] = out["top_country"].astype(object).where(out["top_country"].notna(), None)
    return out


def utc_offset(histogram: np.ndarray) -> dict:
    """The UTC offset under which a weekly activity histogram looks most like human daytime.

    Parameters
    ----------
    histogram : numpy.ndarray
        :data:`~graph.detect.behaviour.HALF_HOURS_PER_WEEK` request counts in UTC.

    Returns
    -------
    dict
        ``offset_hours`` (half-hour steps, -12 to +14), ``shape`` (the
        template that fit best), ``fit`` (its correlation, -1..1) and
        ``margin`` (how much better than the best fit at least 3 hours away:
        small means the clock is ambiguous, as for round-the-clock bots) and
        ``confidence`` (:func:`clock_confidence`).

    Examples
    --------
    A team working 09:00-17:00 at UTC+3:30 is active 05:30-13:30 UTC:

    >>> week = np.zeros(HALF_HOURS_PER_WEEK)
    >>> for day in range(5):
    ...     week[day * 48 + 11: day * 48 + 27] = 10
    >>> utc_offset(week)["offset_hours"]
    3.5
    """
    histogram = np.asarray(histogram, dtype=float)
    if histogram.shape != (HALF_HOURS_PER_WEEK,):
        raise ValueError(f"histogram must have {HALF_HOURS_PER_WEEK} half-hour bins, not {histogram.shape}")
    daily = histogram.reshape(7, 48).sum(axis=0)
    if daily.sum() == 0:
        return {"offset_hours": None, "shape": None, "fit": 0.0, "margin": 0.0, "confidence": "weak"}
    fits = []
    for shape, template in _TEMPLATES.items():
        for steps in range(-24, 29):  # -12h .. +14h in half hours
            # local = utc + offset, so the local template seen in UTC is shifted back
            expected = np.roll(template, -steps)
            fit = float(np.corrcoef(daily, expected)[0, 1]) if daily.std() > 0 else 0.0
            fits.append((fit, steps / 2, shape))
    fits.sort(key=lambda f: (-f[0], abs(f[1]), f[2]))
    best = fits[0]
    far = [f for f in fits if min(abs(f[1] - best[1]), 24 - abs(f[1] - best[1])) >= 3]
    margin = best[0] - far[0][0] if far else best[0]
    fit, margin = round(best[0], 4), round(margin, 4)
    return {"offset_hours": best[1], "shape": best[2], "fit": fit, "margin": margin,
            "confidence": clock_confidence(fit, margin)}


def clock_confidence(fit: float | None, margin: float | None) -> str:
    """How far to trust a :func:`utc_offset` estimate, in one word: ``strong``, ``moderate`` or ``weak``.

    The fit says how much the day looks like a human day at all; the margin
    says how peaked the fit is around its offset (how much worse the best
    offset three or more hours away fits). Round-the-clock or shift work
    fits many offsets about equally: a small margin. The thresholds were
    read off the simulator's campaigns, whose operators' clocks are known:
    ``strong`` estimates land within an hour of the truth.

    Examples
    --------
    >>> clock_confidence(0.97, 0.28), clock_confidence(0.8, 0.12), clock_confidence(0.5, 0.07)
    ('strong', 'moderate', 'weak')
    """
    fit, margin = float(fit or 0.0), float(margin or 0.0)
    if fit >= 0.9 and margin >= 0.2:
        return "strong"
    if fit >= 0.75 and margin >= 0.1:
        return "moderate"
    return "weak"


def weekly_rhythm(histogram: np.ndarray, offset_hours: float | None) -> dict:
    """Activity by local weekday and the quiet days that suggest a weekend.

    Parameters
    ----------
    histogram : numpy.ndarray
        Weekly UTC histogram (as for :func:`utc_offset`).
    offset_hours : float or None
        The local clock's offset (``None``: read the week in UTC).

    Returns
    -------
    dict
        ``by_day`` (share of requests per local weekday), ``quiet_days``
        (days under 35% of the median day) and ``weekend`` (the weekend
        convention they are consistent with, or ``None``).

    Examples
    --------
    >>> week = np.ones(HALF_HOURS_PER_WEEK)
    >>> week[4 * 48: 5 * 48] = 0  # nothing on Fridays
    >>> weekly_rhythm(week, 0.0)["weekend"]
    'a Friday weekend (as in Iran)'
    """
    histogram = np.asarray(histogram, dtype=float)
    steps = int(round((offset_hours or 0.0) * 2))
    local = np.roll(histogram, steps)
    by_day = local.reshape(7, 48).sum(axis=1)
    total = by_day.sum()
    if total == 0:
        return {"by_day": {}, "quiet_days": [], "weekend": None}
    median = float(np.median(by_day))
    quiet = tuple(WEEKDAYS[d] for d in range(7) if by_day[d] < 0.35 * median)
    return {
        "by_day": {WEEKDAYS[d]: round(float(by_day[d] / total), 4) for d in range(7)},
        "quiet_days": list(quiet),
        "weekend": _WEEKENDS.get(quiet),
    }


def label_overlap(
    members: Collection[str],
    edges: pd.DataFrame,
    labels: Sequence[Mapping],
    *,
    top: int = 10,
) -> list[dict]:
    """Prior labels on a cluster's accounts and on the IPs and devices they used.

    Parameters
    ----------
    members : collection of str
    edges : DataFrame
        Account-to-infrastructure edges (``account_id, entity_type, entity``).
    labels : sequence of mappings
        Label rows (``entity``, ``entity_id`` or ``id``, ``value`` or
        ``label``, optional ``actor``), e.g. ``store.labels()``.
    top : int
        How many distinct labels to report.

    Returns
    -------
    list of dict
        ``label``, ``actor``, ``accounts``, ``ips``, ``devices`` (how many of
        the cluster's entities carry it) and ``text``, most entities first.

    Examples
    --------
    >>> edges = pd.DataFrame({"account_id": ["a"], "entity_type": ["ip"], "entity": ["5.1.1.1"]})
    >>> labels = [{"entity": "ip", "entity_id": "5.1.1.1", "value": "state-linked", "actor": "X"},
    ...           {"entity": "account", "entity_id": "a", "value": "suspended"}]
    >>> [row["text"] for row in label_overlap(["a"], edges, labels)]
    ['uses 1 IP labelled state-linked (actor X)', '1 member account labelled suspended']
    """
    members = set(members)
    mine = edges[among(edges["account_id"], members)]
    used = {
        "ip": set(mine.loc[mine["entity_type"] == "ip", "entity"].tolist()),
        "device": set(mine.loc[mine["entity_type"] == "device", "entity"].tolist()),
        "account": members,
    }
    found: dict[tuple[str, str | None], dict[str, set]] = {}
    for label in labels:
        if label.get("kind") not in (None, "label", "attribution"):
            continue
        entity = label.get("entity")
        key = label.get("entity_id", label.get("id"))
        if entity not in used or key not in used[entity]:
            continue
        name = label.get("value") or label.get("label")
        slot = found.setdefault((name, label.get("actor") or None), {"account": set(), "ip": set(), "device": set()})
        slot[entity].add(key)
    rows = []
    for (name, actor), slot in found.items():
        who = f" (actor {actor})" if actor else ""
        parts = []
        if slot["account"]:
            n = len(slot["account"])
            parts.append(f"{n} member account{'s' if n != 1 else ''} labelled {name}{who}")
        for entity, noun in (("ip", "IP"), ("device", "device")):
            if slot[entity]:
                n = len(slot[entity])
                parts.append(f"uses {n} {noun}{'s' if n != 1 else ''} labelled {name}{who}")
        rows.append(
            {
                "label": name,
                "actor": actor,
                "accounts": len(slot["account"]),
                "ips": len(slot["ip"]),
                "devices": len(slot["device"]),
                "text": "; ".join(parts),
            }
        )
    rows.sort(key=lambda r: (-(r["accounts"] + r["ips"] + r["devices"]), str(r["label"]), str(r["actor"])))
    return rows[:top]
