"""The tradecraft a cluster's evidence shows, named, and the one sentence that sets it apart.

A score says how sure detection is; it does not say what an analyst is
looking at. Most abuse networks enumerate, so the strongest contribution
(:func:`graph.detect.scoring.cluster_kind`) names nearly every cluster the
same way. What tells operations apart is how they run: on a few hosting
addresses or hundreds of residential proxy exits, on a handful of emulator
fingerprints, through one target list, on a scheduler. This module reads
the cluster's features (:func:`graph.detect.features.group_features`,
stored as ``evidence.statistics``) and names the first of these that the
evidence shows, most distinctive first, with a headline built from the
numbers behind it ("15 accounts on 3 devices across 305 residential IPs
that nobody else uses").

It reads features only, so it applies to any stored run; a feature an
older run lacks only keeps the rule that needs it from firing. Scores never
read it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

__all__ = ["TRADECRAFTS", "tradecraft", "evident_tradecrafts"]

#: every tradecraft name, with what it means (for glossaries and export documentation)
TRADECRAFTS = {
    "target-list unmasking": "strangers looking up one list of numbers (shared or divided between them), which mostly belong to accounts",
    "residential-proxy network": "many residential or mobile exits, each used by the cluster alone",
    "hosting farm": "traffic from a few hosting, VPN or proxy addresses",
    "emulator farm": "many accounts on a few device fingerprints nobody else uses",
    "lone enumerator": "one or two accounts walking number blocks at volume",
    "volume through a few IPs": "a large volume of lookups pushed through a few addresses",
    "divided enumeration": "accounts splitting the same number blocks between them (sharding)",
    "scheduled operation": "accounts started by one scheduler, within the same minute, day after day",
    "sign-up cohort": "accounts created together in a burst",
    "enumeration network": "accounts walking number blocks",
}


def _n(value: object) -> int:
    return int(round(float(value or 0)))


def _plural(count: int, noun: str, plural: str | None = None) -> str:
    return f"{count:,} {noun if count == 1 else (plural or noun + 's')}"


def _pct(share: object) -> str:
    return f"{100 * float(share or 0):.0f}%"


def _enumerates(f: Mapping) -> bool:
    # a third of the lookups in runs of consecutive numbers is a sequential walk, however little of a block it covers
    return (float(f.get("enumerated_share", 0)) >= 0.5 or float(f.get("enumeration_evidence", 0)) >= 2.0
            or float(f.get("run_share", 0)) >= 0.3)


def _targets(f: Mapping) -> str | None:
    if _n(f.get("size")) < 3 or _enumerates(f):
        return None
    if float(f.get("shared_target_share", 0)) >= 0.5:
        numbers = _n(f.get("numbers"))
        which = f"the same {numbers:,} numbers" if numbers else "the same numbers"
        return (f"{_plural(_n(f['size']), 'account')} that never look each other up looked up {which}: "
                f"{_pct(f['shared_target_share'])} of their lookups shared, {_pct(f.get('hit_ratio'))} matched an account")
    if float(f.get("stranger_z", 0)) >= 4.0:
        return (f"{_plural(_n(f['size']), 'account')} found people who do not know each other, as from a divided "
                f"list: {_pct(f.get('target_closure'))} of those found are in touch, against a usual "
                f"{_pct(f.get('usual_closure'))}")
    return None


def _proxies(f: Mapping) -> str | None:
    size, ips, private = _n(f.get("size")), _n(f.get("ips")), _n(f.get("private_ips"))
    if size < 2 or ips < max(10, 3 * size) or private < 0.8 * ips or float(f.get("residential_share", 0)) < 0.5:
        return None
    devices = _n(f.get("devices"))
    on = f" on {_plural(devices, 'device')}" if 0 < devices < size else ""
    return f"{_plural(size, 'account')}{on} across {private:,} residential IPs that nobody else uses"


def _hosting(f: Mapping) -> str | None:
    if float(f.get("hosting_share", 0)) < 0.5:
        return None
    ips, private = _n(f.get("ips")), _n(f.get("private_ips"))
    on = f" on {_plural(ips, 'IP')}" + (" that nobody else uses" if private == ips else "") if ips else ""
    return (f"{_plural(_n(f.get('size')), 'account')}{on}, {_pct(f['hosting_share'])} of their requests "
            f"from hosting, VPN or proxy addresses")


def _emulators(f: Mapping) -> str | None:
    size, devices = _n(f.get("size")), _n(f.get("private_devices"))
    if size < 3 or float(f.get("device_share", 0)) < 0.5 or not 0 < devices <= size / 3:
        return None
    return f"{_plural(size, 'account')} on {_plural(devices, 'device fingerprint')} that nobody else uses"


def _numbers(f: Mapping, where: str = "") -> str:
    tried, runs = _n(f.get("numbers") or f.get("lookups")), _n(f.get("run_numbers"))
    walked = f", {runs:,} of them in runs of consecutive numbers" if runs else ""
    return f"{tried:,} numbers{where}, {float(f.get('hit_ratio', 0)):.1%} of them matched{walked}"


def _lone(f: Mapping) -> str | None:
    size = _n(f.get("size"))
    if size > 2 or not _enumerates(f):
        return None
    blocks = _n(f.get("enumerated_blocks"))
    where = f" in {_plural(blocks, 'number block')}" if blocks else ""
    who = "1 account" if size == 1 else f"{size} accounts"
    return f"{who} tried {_numbers(f, where)}"


def _volume(f: Mapping) -> str | None:
    size, ips, lookups = _n(f.get("size")), _n(f.get("ips")), float(f.get("lookups", 0))
    if not 0 < ips <= max(3, size // 2) or lookups / ips < 1_000:
        return None
    return f"{_plural(size, 'account')} pushed {lookups:,.0f} lookups through {_plural(ips, 'IP')}, " \
           f"{lookups / ips:,.0f} an IP"


def _sharding(f: Mapping) -> str | None:
    if float(f.get("sharding", 0)) < 0.5 or not _enumerates(f):
        return None
    overlap = float(f.get("shard_overlap_ratio", 0))
    pairs = _plural(_n(f.get("sharded_pairs")), "pair")
    how = (f"{pairs} of them and not one number tried twice" if overlap == 0 else
           f"{pairs} of them overlapping {_pct(overlap)} of what independent enumerators would")
    return (f"{_plural(_n(f.get('size')), 'account')} split {_plural(_n(f.get('enumerated_blocks')), 'number block')} "
            f"between them, {how}")


def _schedule(f: Mapping) -> str | None:
    size, days = _n(f.get("size")), _n(f.get("lockstep_days"))
    if days >= 3:
        return f"{_plural(size, 'account')} started lookups within the same minute on {days} days"
    clock = size >= 5 and float(f.get("clock_log10_p", 0)) <= -6 and float(f.get("clock_share", 0)) >= 0.8
    if clock and not f.get("clock_daily"):
        # a cron firing a few accounts a tick: no crowd, one minute of the hour
        return (f"{_pct(f['clock_share'])} of {_plural(size, 'account')} started their lookups at one minute of the "
                f"hour, hour after hour")
    if size >= 5 and float(f.get("slotted_share", 0)) >= 0.8:
        # jitter blurred the minute, not the slots
        return (f"{_pct(f['slotted_share'])} of {_plural(size, 'account')} started their lookups in the same daily "
                f"slots, a few of them each day")
    if clock:
        # a cron firing a few accounts at a few times of the day, too few to crowd the population's slots
        return (f"{_pct(f['clock_share'])} of {_plural(size, 'account')} started their lookups in the same few "
                f"minutes of the day, day after day")
    return None


def _cohort(f: Mapping) -> str | None:
    size = _n(f.get("size"))
    made = max(_n(f.get("burst_members")), _n(f.get("burst_run_members")))
    if size < 3 or made < 0.5 * size:
        return None
    return (f"{made:,} of {size:,} accounts created within {float(f.get('burst_window_hours', 2)):g} h of each other "
            f"(the sign-up rate predicts {float(f.get('burst_expected', 0)):.1f})")


def _enumeration(f: Mapping) -> str | None:
    if not _enumerates(f):
        return None
    return f"{_plural(_n(f.get('size')), 'account')} tried {_numbers(f)}"


# most distinctive first: the first rule the evidence meets names the cluster
_RULES: tuple[tuple[str, Callable[[Mapping], str | None]], ...] = (
    ("target-list unmasking", _targets),
    ("residential-proxy network", _proxies),
    ("hosting farm", _hosting),
    ("emulator farm", _emulators),
    ("lone enumerator", _lone),
    ("volume through a few IPs", _volume),
    ("divided enumeration", _sharding),
    ("scheduled operation", _schedule),
    ("sign-up cohort", _cohort),
    ("enumeration network", _enumeration),
)


def tradecraft(features: Mapping[str, object] | None, kind: str | None = None) -> dict[str, str]:
    """The tradecraft a cluster's features show and the headline that sets it apart.

    Parameters
    ----------
    features : mapping
        The cluster's features (``evidence.statistics`` of a stored cluster).
    kind : str, optional
        The cluster's stored ``kind``: the name when no rule fires.

    Returns
    -------
    dict
        ``tradecraft`` (one of :data:`TRADECRAFTS`, else ``kind``) and
        ``headline`` (empty when no rule fires).

    Examples
    --------
    >>> tradecraft({"size": 15, "ips": 305, "private_ips": 305, "devices": 3, "residential_share": 1.0})
    {'tradecraft': 'residential-proxy network', 'headline': '15 accounts on 3 devices across 305 residential IPs that nobody else uses'}
    >>> tradecraft({"size": 3}, "coordinated accounts")
    {'tradecraft': 'coordinated accounts', 'headline': ''}
    """
    for name, headline in evident_tradecrafts(features).items():
        return {"tradecraft": name, "headline": headline}
    return {"tradecraft": kind or "", "headline": ""}


def evident_tradecrafts(features: Mapping[str, object] | None) -> dict[str, str]:
    """Every tradecraft the features show, most distinctive first, each with its headline.

    :func:`tradecraft` names a cluster by the first; technique suggestions
    (:mod:`app.present.techniques`) read them all, since a hosting farm that
    was also created in one burst is evidence of both.

    Examples
    --------
    >>> list(evident_tradecrafts({"size": 1, "enumerated_share": 0.9, "numbers": 10}))
    ['lone enumerator', 'enumeration network']
    >>> evident_tradecrafts({"size": 8, "numbers": 700, "hit_ratio": 0.3, "run_share": 0.6, "run_numbers": 420})
    {'enumeration network': '8 accounts tried 700 numbers, 30.0% of them matched, 420 of them in runs of consecutive numbers'}
    """
    features = features or {}
    found = {}
    for name, rule in _RULES:
        headline = rule(features)
        if headline:
            found[name] = headline
    return found
