"""Scores with a meaning: how much the evidence says "coordinated abuse", and why.

A cluster's score is a logistic function of additive evidence, in the manner
of a naive-Bayes log-odds sum: each feature adds (or, for signs of ordinary
social life, subtracts) a bounded contribution, and the score is

    1 / (1 + exp(-(bias + sum of contributions)))

so that 0.5 is the point where the evidence for abuse outweighs the prior
against it. The contributions are kept with the score, which is what turns a
number into reasons an analyst can check ("+5.6: 97% of its lookups fall in
number blocks it tried almost entirely").

Why these features and weights. Abuse of a lookup API *is* the lookups: so
the strongest evidence is behavioural (enumerating whole number blocks,
missing far more often than people do, splitting blocks between accounts,
working through one target list), and the coordination and infrastructure
features (shared hosting, burst creation, one client build) only add to it.
Ordinary communities (offices, families, carrier NAT, friends) share
infrastructure and contacts too, but they look each other up: reciprocity
and prior benign labels count against a cluster. No infrastructure feature
alone can reach 0.5; that is what keeps carrier NATs, offices and VPN users
unflagged. The weights were set by hand from this reasoning and then checked
(not fitted) on the simulator's scenarios; ``benchmarks/quality.py`` reports
held-out seeds.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

__all__ = ["FLAG_THRESHOLD", "BIAS", "STRANGERS_MIN_SIZE", "ENUMERATING", "SHORT_REASONS", "cluster_score", "cluster_kind", "reasons", "member_score"]

#: a score at or above this means "suspected coordinated abuse network"
FLAG_THRESHOLD = 0.5

#: log-odds before any evidence: most groups of accounts are not abuse networks
BIAS = -5.0

#: a group's finding strangers counts from this many members: fewer behind a hot address are chance
STRANGERS_MIN_SIZE = 5

#: the contributions that say a group enumerates (walks blocks or runs, splits them), whichever is strongest
ENUMERATING = ("enumerated_blocks", "number_runs", "enumeration_evidence", "sharding")


def _clip(x: float, lo: float = 0.0, hi: float = 1.0) -> float:
    return max(lo, min(hi, float(x)))


def _surprise(log10_p: float, full: float = 8.0) -> float:
    """0..1: how surprising a binomial tail probability is (1 at 10**-full or below)."""
    return _clip(-log10_p / full)


def _made_together(f: Mapping[str, float]) -> float:
    """0..1: how surely the members were made in one sign-up burst (its surprise, times the share made in it)."""
    size = f.get("size", 1.0)
    return _surprise(f.get("burst_log10_p", 0.0)) * _clip(max(f.get("burst_share", 0.0),
                                                              f.get("burst_run_members", 0.0) / size) * 2)


def _rented(f: Mapping[str, float]) -> float:
    """0..1: the share of the members' traffic from hosting or VPN addresses, times the share on addresses and devices only they use."""
    return _clip(f.get("hosting_share", 0.0)) * _clip(f.get("exclusive_share", 0.0))


def _farmed(f: Mapping[str, float]) -> float:
    """0..1: the share of members on device fingerprints another member uses and few others do, times the share on
    addresses and devices only they use (an emulator farm's)."""
    return _clip(f.get("device_share", 0.0)) * _clip(f.get("exclusive_share", 0.0))


def clock_strength(f: Mapping[str, float]) -> float:
    """0..1: how surely the members keep a cron's clock: from a million to one to 10**-20, as members keeping it
    grow from half to nine in ten (:func:`graph.detect.synchrony.hour_clock`, :func:`graph.detect.synchrony.day_windows`)."""
    return _clip((-f.get("clock_log10_p", 0.0) - 6.0) / 14.0) * _clip((f.get("clock_share", 0.0) - 0.5) / 0.4)


def contributions(features: Mapping[str, float]) -> dict[str, float]:
    """Each feature's contribution to the log-odds (see the module docstring).

    Parameters
    ----------
    features : mapping
        As built by :func:`graph.detect.features.group_features`; missing
        features count as absent evidence.

    Returns
    -------
    dict
        Feature name to log-odds contribution, zero contributions left out.
    """
    f = {k: float(v) for k, v in features.items() if isinstance(v, (int, float)) and not isinstance(v, bool)}
    size = f.get("size", 1.0)
    recip = _clip(f.get("reciprocity", 0.0))
    slots = 2.0 * _clip((f.get("slotted_share", 0.0) - 0.5) / 0.4) if size >= 5 else 0.0
    out = {
        # lookups inside number blocks the cluster tried a large part of
        "enumerated_blocks": 6.0 * _clip(f.get("enumerated_share", 0.0)),
        # lookups in runs of consecutive numbers (a sequential walk), beyond those the dense blocks counted
        "number_runs": 6.0 * max(_clip(f.get("run_share", 0.0)) - _clip(f.get("enumerated_share", 0.0)), 0.0),
        # members' own enumeration evidence (density of blocks and misses against the population)
        "enumeration_evidence": 0.7 * _clip(f.get("enumeration_evidence", 0.0), 0.0, 6.0),
        # members' lookups, pooled, find far fewer accounts than address books do, and most members miss
        # (up to a quarter more as members that find a fifth of the usual or less grow from 5 to 100:
        # people with unusual address books find less, not almost nothing)
        "misses": (4.0 + _clip(math.log(max(f.get("missing_members", 0.0), 1.0) / 5.0) / math.log(20.0))
                   * (f.get("hit_ratio", 1.0) <= 0.2 * f.get("usual_hit_ratio", 0.0)))
        * _clip((f.get("deficit_z", 0.0) - 3.0) / 5.0) * _clip(1.25 * f.get("miss_share", 0.0))
        if size >= 2
        else 0.0,
        # accounts splitting the same blocks with far less overlap than chance
        "sharding": 1.5 * _clip(f.get("sharding", 0.0)),
        # the same target numbers looked up by several members who never look each other up (up to
        # 1.5 more as such strangers grow from 5 to 100: circles, staff and reunions find each other)
        # (numbers shared only through onboarding syncs right after sign-up are a viral moment's)
        "shared_targets": (3.5 + 1.5 * _clip(math.log(max(size, 1.0) / 5.0) / math.log(20.0)) * (recip < 0.05))
        * _clip(f.get("shared_target_share", 0.0)) * (1.0 - recip) ** 2
        * (1.0 - _clip(f.get("onboarding_share", 0.0))) if size >= 3 else 0.0,
        # members work from addresses or devices whose accounts find people who do not know each other
        # (address books are circles of friends; a leaked list, however divided, is strangers)
        # (members made in one sign-up burst, leaving through datacenter addresses hardly anyone else
        # uses, or sharing device fingerprints nobody else does need two standard errors less: the burst,
        # the rented addresses or the emulators are the second family)
        "strangers": 4.5 * _clip((f.get("stranger_z", 0.0) + 2.0 * max(_made_together(f), _rented(f), _farmed(f))
                                  - 2.5) / 3.5)
        if size >= STRANGERS_MIN_SIZE else 0.0,
        # created within hours of each other, against the population's sign-up rate (members made in one
        # run of burst windows count: an operation can take longer than a window to make its accounts)
        "creation_burst": 1.5 * _made_together(f) if size >= 3 else 0.0,
        # members look up another country's numbers than the one they connect from, nearly all of them
        # (people's books are mostly local; VPN users and travellers look home, so alone this stays far
        # below the line), twice as telling from accounts made in one burst: new accounts made together
        # for a job abroad are an operation's
        "foreign_targets": (2.0 + 2.0 * _made_together(f)) * _clip((f.get("abroad_share", 0.0) - 0.5) / 0.4)
        if size >= 3
        else 0.0,
        # one client build across the cluster, rare in the population
        "client_monoculture": 0.75 * _surprise(f.get("client_log10_p", 0.0)) if size >= 3 else 0.0,
        # traffic from hosting, VPN, Tor or proxy addresses
        "hosting": 1.5 * _clip(f.get("hosting_share", 0.0)),
        # addresses and devices shared by members and (almost) nobody else
        "exclusive_infrastructure": 1.0 * _clip(f.get("exclusive_share", 0.0)) if size >= 2 else 0.0,
        # device fingerprints shared by members and few others
        "shared_devices": 1.0 * _clip(f.get("device_share", 0.0)) if size >= 3 else 0.0,
        # sessions starting together, repeatedly
        "synchrony": 0.75 * _clip(f.get("synchrony", 0.0)) if size >= 2 else 0.0,
        # many members starting the same work in the same minutes, on several days
        "synchronized_days": 0.5 * _clip(f.get("synchronized_days", 0.0) - 1.0, 0.0, 3.0) if size >= 3 else 0.0,
        # many members starting within the same minute, on several days: a scheduler, not a shift
        "lockstep_days": 1.0 * _clip(f.get("lockstep_days", 0.0) - 1.0, 0.0, 3.0) if size >= 3 else 0.0,
        # most members start their lookups in a schedule's recurring slots, a few of them each day: a
        # scheduler blurred by jitter (friends have evening peaks, not slots)
        "slots": slots,
        # most members' lookup sessions start at one minute of the hour, hour after hour on several days (a
        # cron table; people start at any minute): up to 3.0 from a million to one to 10**-20, as members
        # keeping it grow from half to nine in ten (one schedule, one family: only what it adds to the slots)
        # (or in the same few minutes of the day, day after day: a cron firing at a few times a day)
        "clockwork": max(3.0 * clock_strength(f) - slots, 0.0) if size >= 5 else 0.0,
        # members finding each other by number: a social circle, not an operation
        "reciprocity": -4.0 * recip,
        # members or their addresses already vetted as benign (by head, or by the lookups they made)
        "benign_labels": -3.0 * _clip(f.get("benign_label_share", 0.0)),
    }
    return {k: round(v, 4) for k, v in out.items() if abs(v) >= 1e-4}


def cluster_score(features: Mapping[str, float]) -> tuple[float, dict[str, float]]:
    """The cluster's score (0..1) and the contributions that produced it.

    Examples
    --------
    A group that enumerated whole blocks from shared hosting addresses:

    >>> score, parts = cluster_score({"size": 12, "enumerated_share": 0.95, "enumeration_evidence": 5.0,
    ...                               "hosting_share": 1.0, "exclusive_share": 1.0})
    >>> score > 0.99, max(parts, key=parts.get)
    (True, 'enumerated_blocks')

    Three hundred people behind a carrier NAT who look each other up:

    >>> cluster_score({"size": 300, "exclusive_share": 1.0, "reciprocity": 0.6})[0] < 0.01
    True
    """
    parts = contributions(features)
    logit = BIAS + sum(parts.values())
    return round(1.0 / (1.0 + math.exp(-logit)), 4), parts


def cluster_kind(features: Mapping[str, float], parts: Mapping[str, float]) -> str:
    """What the cluster looks like, in one word pair, from its strongest evidence.

    Examples
    --------
    >>> cluster_kind({"size": 1}, {"enumerated_blocks": 5.0})
    'lone enumerator'
    """
    size = int(features.get("size", 1))
    positive = {k: v for k, v in parts.items() if v > 0}
    if not positive:
        return "ordinary group" if size > 1 else "ordinary account"
    top = max(sorted(positive), key=positive.get)
    if top in ("enumerated_blocks", "number_runs", "enumeration_evidence"):
        if size == 1:
            return "lone enumerator"
        return "sharded enumeration" if parts.get("sharding", 0.0) >= 0.75 else "enumeration network"
    if top in ("shared_targets", "strangers"):
        return "targeted lookups"
    if top in ("hosting", "exclusive_infrastructure"):
        return "shared infrastructure"
    return "coordinated accounts" if size > 1 else "suspicious account"


_SENTENCES = {
    "enumerated_blocks": lambda f: (
        f"{f.get('enumerated_share', 0):.0%} of its lookups fall in {int(f.get('enumerated_blocks', 0))} number "
        f"block(s) of which it tried {f.get('enumerated_fill', 0):.0%} of the numbers on average "
        f"(people look up scattered numbers)"
    ),
    "number_runs": lambda f: (
        f"{f.get('run_share', 0):.0%} of its lookups ({int(f.get('run_numbers', 0)):,} numbers) lie in runs of "
        f"consecutive numbers (a sequential walk; address books hold scattered numbers)"
    ),
    "enumeration_evidence": lambda f: (
        f"members' lookups are dense in blocks and mostly miss: {f.get('numbers_per_block', 0):.0f} numbers per "
        f"block, {f.get('hit_ratio', 0):.1%} matched, against a population median of "
        f"{f.get('population_hit_ratio', 0):.1%}"
    ),
    "misses": lambda f: (
        f"{int(f.get('missing_members', 0))} members miss far more often than address books do: "
        f"{f.get('hit_ratio', 0):.1%} of their numbers matched, against a usual "
        f"{f.get('usual_hit_ratio', 0):.1%} ({f.get('deficit_z', 0):.0f} standard errors short)"
    ),
    "shared_devices": lambda f: (
        f"{f.get('device_share', 0):.0%} of members use a device fingerprint that another member uses "
        f"and few others do"
    ),
    "sharding": lambda f: (
        f"members split the same blocks between them: {int(f.get('sharded_pairs', 0))} pairs overlap "
        f"{f.get('shard_overlap_ratio', 0):.0%} of what independent enumerators would"
    ),
    "shared_targets": lambda f: (
        f"{f.get('shared_target_share', 0):.0%} of members' looked-up numbers were also looked up by another "
        f"member, yet only {f.get('reciprocity', 0):.0%} of members were found by each other"
    ),
    "strangers": lambda f: (
        f"members work from addresses or devices whose accounts find people who do not know each other: "
        f"{f.get('target_closure', 0):.0%} of the accounts members found are in touch with another, against a "
        f"usual {f.get('usual_closure', 0):.0%} ({f.get('stranger_z', 0):.0f} standard errors short; a leaked list, "
        f"not address books)"
    ),
    "creation_burst": lambda f: (
        f"{int(f.get('burst_members', 0))} of {int(f.get('size', 0))} accounts were created within "
        f"{f.get('burst_window_hours', 2):g} h (population rate predicts {f.get('burst_expected', 0):.2f})"
        + (f", {int(f['burst_run_members'])} in one run of sign-up bursts"
           if f.get("burst_run_members", 0) > f.get("burst_members", 0) else "")
    ),
    "foreign_targets": lambda f: (
        f"{f.get('abroad_share', 0):.0%} of members' lookups went to numbers of another country than the one "
        f"they connect from (address books are mostly local)"
    ),
    "client_monoculture": lambda f: (
        f"{f.get('client_share', 0):.0%} use client {f.get('client_build', '?')}, "
        f"{f.get('client_population_share', 0):.1%} of everyone else"
    ),
    "hosting": lambda f: f"{f.get('hosting_share', 0):.0%} of its requests come from hosting, VPN, Tor or proxy addresses",
    "exclusive_infrastructure": lambda f: (
        f"{f.get('exclusive_share', 0):.0%} of its requests use {int(f.get('exclusive_entities', 0))} address(es) "
        f"or device(s) shared by members and almost nobody else"
    ),
    "synchrony": lambda f: (
        f"{f.get('synchrony', 0):.0%} of members start sessions in lockstep with another member "
        f"(up to {int(f.get('synchronized_windows', 0))} shared start windows)"
    ),
    "synchronized_days": lambda f: (
        f"several members started the same work within minutes of each other on "
        f"{int(f.get('synchronized_days', 0))} different days"
    ),
    "lockstep_days": lambda f: (
        f"several members started lookups within the same minute on {int(f.get('lockstep_days', 0))} different "
        f"days (a scheduler; people start at random moments)"
    ),
    "slots": lambda f: (
        f"{f.get('slotted_share', 0):.0%} of members start their lookups in the same daily slots, a few of them each "
        f"day, on most days they work (a scheduler blurred by jitter)"
    ),
    "clockwork": lambda f: (
        f"{f.get('clock_share', 0):.0%} of members start their lookup sessions in the same few minutes of the day, "
        f"day after day (chance 10^{f.get('clock_log10_p', 0):.0f}; a cron table firing a few times a day, where "
        f"people's sessions spread over their waking hours)" if f.get("clock_daily") else
        f"{f.get('clock_share', 0):.0%} of members start their lookup sessions at one minute of the hour, hour "
        f"after hour on several days (chance 10^{f.get('clock_log10_p', 0):.0f}; a cron table, where people start "
        f"at any minute)"
    ),
    "reciprocity": lambda f: f"{f.get('reciprocity', 0):.0%} of members were found by another member's lookups (a social circle)",
    "benign_labels": lambda f: (f"{f.get('benign_label_share', 0):.0%} of members (or of their lookups) are labelled "
                                f"benign, themselves or their addresses"),
}


#: a few words for each contribution, for tables
SHORT_REASONS = {
    "enumerated_blocks": "enumerates number blocks",
    "number_runs": "walks runs of numbers",
    "enumeration_evidence": "dense, mostly missing lookups",
    "misses": "lookups mostly miss",
    "shared_devices": "shared device fingerprints",
    "sharding": "shards blocks between accounts",
    "shared_targets": "one target list, strangers",
    "strangers": "finds strangers, not friends",
    "creation_burst": "created in a burst",
    "foreign_targets": "looks up numbers abroad",
    "client_monoculture": "one client build",
    "hosting": "hosting/VPN traffic",
    "exclusive_infrastructure": "private shared addresses",
    "synchrony": "sessions in lockstep",
    "synchronized_days": "starts work together",
    "lockstep_days": "started by one scheduler",
    "slots": "keeps a schedule's slots",
    "clockwork": "starts on a cron's clock",
    "reciprocity": "members know each other",
    "benign_labels": "labelled benign",
}


def reasons(features: Mapping[str, float], parts: Mapping[str, float], top: int = 5) -> list[str]:
    """Plain-language reasons, strongest first, each with its signed contribution.

    Examples
    --------
    >>> reasons({"hosting_share": 1.0}, {"hosting": 1.5})
    ['+1.5: 100% of its requests come from hosting, VPN, Tor or proxy addresses']
    """
    ordered = sorted(parts.items(), key=lambda kv: (-abs(kv[1]), kv[0]))[:top]
    return [f"{value:+.1f}: {_SENTENCES[name](features)}" for name, value in ordered if name in _SENTENCES]


def member_score(cluster_score_value: float, belonging: float, own_evidence: float) -> float:
    """How strongly one account belongs to its cluster, 0..1.

    Parameters
    ----------
    cluster_score_value : float
        The cluster's score.
    belonging : float
        The share of the account's coordination ties that lie inside the
        cluster (1 for a cluster of one).
    own_evidence : float
        The account's own enumeration evidence (robust z units, 0 = none).

    Examples
    --------
    >>> member_score(0.9, 1.0, 5.0) > member_score(0.9, 0.2, 0.0)
    True
    """
    own = 1.0 - math.exp(-max(own_evidence, 0.0) / 2.0)
    strength = max(_clip(belonging), own)
    return round(cluster_score_value * (0.5 + 0.5 * strength), 4)
