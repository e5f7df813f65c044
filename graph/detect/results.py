"""What detection is asked and what it answers: its parameters, the clusters it finds, and the run's result.

These are plain data shared by the steps of detection
(:mod:`graph.detect.networks`, :mod:`graph.detect.judging`), by
:mod:`graph.detect.run`, which saves them, and by every reader of a run. The
parameters belong with the result: a run is stored with the parameters that
produced it, so it can be reproduced and audited.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import networkx as nx

from graph.detect import scoring
from graph.detect.clustering import METHODS

__all__ = ["DetectionParams", "Cluster", "Detection"]


@dataclass(frozen=True)
class DetectionParams:
    """Everything that changes what detection finds; stored with each run.

    Parameters
    ----------
    seed : int
        Seed of the community method.
    method : str
        Community method, one of :data:`graph.detect.clustering.METHODS`.
    resolution : float
        Modularity resolution (above 1: smaller communities).
    keep_score : float
        Clusters scoring below this are not kept in the run (the flag
        threshold itself is fixed at 0.5: its meaning must not move).
    seed_evidence : float
        Enumeration evidence that makes an account a seed.
    run_length, seed_run_numbers : int
        Consecutive numbers of a block that make a run, and numbers in runs
        that make an account a seed (:func:`graph.detect.enumeration.run_numbers`:
        a sequential walk; address books hold no runs).
    enumerator_evidence : float
        Enumeration evidence above which accounts are compared for sharding
        (a legitimate heavy address book can reach a seed's evidence, not
        this).
    swept_numbers, mate_numbers, mate_share, mate_block_numbers, mate_hit_share : float
        A block where the clear enumerators (``enumerator_evidence``), or
        the accounts each trying ``mate_block_numbers`` of it and finding at
        most ``mate_hit_share`` of the usual hit ratio,
        together tried ``swept_numbers`` numbers is swept; an account with
        ``mate_numbers`` of its numbers, and ``mate_share`` of them, in
        swept blocks, ``mate_block_numbers`` or more a block, finding at
        most ``mate_hit_share`` of the usual hit ratio there, works them
        with those enumerators; such accounts are tied to each other block
        by block (:func:`graph.detect.enumeration.block_mates`; on draws 1-10
        one look-alike account, behind a campus NAT, met all four, while up
        to 190 camouflaged enumerators of a draw did). Sixty numbers, not a
        hundred: in its first days an operation splitting a block's walk
        between its accounts has tried a few dozen of each (draws 1-10
        observed for their first 7 of 14 days, ``benchmarks/quality.py
        --days 7``: draw 3's 156 accounts F1 .66 to .92; over the whole 14
        days nothing changed).
    min_tie : float
        Tie weight to a seed that makes an account a candidate.
    max_entity_accounts : int
        IPs, prefixes and devices shared by more accounts tie nobody.
    max_lookers : int
        Numbers looked up by more accounts tie nobody.
    onset_gap_seconds, sync_bucket_seconds : int
        Session onset gap and synchrony bucket width.
    burst_window_hours : float
        Sign-up burst window.
    min_jaccard : float
        Membership overlap for a cluster to keep an earlier run's id.
    max_list_block : int
        Shared-list blocks of more accounts tie nobody pairwise.
    seed_deficit : float
        Miss deficit (:mod:`graph.detect.misses`, in standard errors) that
        makes an account with at least 20 numbers looked up a seed.
    seed_entity_deficit, member_deficit : float
        An IP or device whose pooled lookups fall this far short makes
        seeds of the accounts that looked up through it with a deficit of
        at least ``member_deficit`` of their own.
    keep_deficit : float
        A member of a cluster judged on its enumeration or misses whose own
        deficit is this many standard errors is kept in it, whatever its
        hit ratio (on draws 1-10, 2.0 kept camouflaged operators that 1.5
        kept with their bystanders).
    seed_device_accounts : int
        A device fingerprint this many accounts looked numbers up from
        makes seeds of them all.
    seed_target_z : float
        Robust z of an account's share of lookups on numbers several others
        looked up (:func:`graph.detect.targets.popular_target_share`) that
        puts it among the accounts searched for a shared target list.
    operation_link, operation_reach : float
        Tie weight between two suspicious clusters, per account of the
        smaller, and the share of the smaller's accounts with such a tie,
        that make them squads of one operation
        (:func:`graph.detect.clustering.operations`).
    operation_rhythm : float
        Least cosine between two groups' activity by hour of the day for
        them to be one operation.
    operation_targets : float
        Least cosine between two groups' lookups by country of the number
        for them to be joined as squads of one operation: two operations
        renting one VPN exit work their own countries' numbers. Groups
        alike without a tie (:func:`graph.detect.clustering.kin_operations`),
        and two accounts that miss behind one address, need this share of
        their lookups in common (histogram intersection) instead: two
        operations on one country's carrier addresses both look up numbers
        there, besides each its own foreign ones.
    operation_shared_targets : float
        Least share of lookups in common (histogram intersection) between
        two groups joined as squads of one operation, beside the cosine: two
        operations on one country's carrier addresses, each mostly looking
        up that country's numbers, have a high cosine and little else in
        common; an operation's squads weigh its countries alike.
    rhythm_support : int
        Distinct active half hours of the week (summed over members) a
        group needs before its hours can keep it apart from another, and
        lookups it needs before the countries it works can.
    lockstep_bucket_seconds, seed_lockstep_days : int
        An account whose lookup sessions start in a crowd chance does not
        explain (:func:`graph.detect.synchrony.lockstep_days`, buckets of
        this width) on this many different days is a seed.
    slot_bucket_seconds, slot_tolerance_seconds, slot_days, slot_share : int, int, int, float
        A schedule blurred by jitter: crowds of lookup onsets in buckets of
        ``slot_bucket_seconds`` that recur within ``slot_tolerance_seconds``
        of one time of day on ``slot_days`` different days are its slots
        (:func:`graph.detect.synchrony.recurring_spikes`); an account that
        started in one on at least ``slot_share`` of the days it looked
        numbers up, and that shares an address or device few others use
        with another such account, is a seed (the sync right after sign-up
        does not count). Chosen a priori (a bucket wider than jitter of a
        few minutes, the three days lockstep asks for) and checked on draws
        1-10 and on draws beyond 20 picked for scheduled, aged operations.
    clock_log10_p : float
        A cron firing a few of its accounts a tick crowds no slot; behind an
        address or device they share, its onsets pile up at one minute of
        the hour (:func:`graph.detect.synchrony.clockwork`): a three-minute
        window this improbable for onsets spread over the hour (log10 of the
        binomial tail, times the 60 windows tried), on ``slot_days`` days,
        makes its accounts (``stranger_accounts`` or more) seeds tied as a
        schedule's. Chosen a priori, a million to one; on tuning draws 1-10
        every window this improbable that five accounts kept was an
        operation's (with a bystander or two at most), people's own came no
        closer than 10**-4.6, and the operations' reached 10**-85.
    schedule_days : int
        A cluster working a list is split by its members' crons
        (:func:`graph.detect.synchrony.minute_schedules`, windows as
        improbable as ``clock_log10_p``), and flagged clusters on one cron
        are joined, when each minute kept is kept on this many days or more:
        a cron repeats, one evening's crowd does not. Chosen a priori, more
        than one day.
    seed_stranger_z : float
        Addresses and devices whose accounts' pooled closure (how many of the
        people they find know each other, :mod:`graph.detect.acquaintance`)
        lies this many standard errors below the population's make their
        list-working accounts seeds.
    stranger_accounts : int
        Addresses and devices with fewer accounts that found people are not
        pooled, and fewer chained list workers, or accounts sharing numbers
        behind rare exits, are no group.
    rare_link_accounts : int
        An address or device at most this many accounts look numbers up
        through links them (:func:`graph.detect.acquaintance.rare_links`).
    warm_stranger_z, warm_closure : float
        So does one whose accounts' pooled closure lies this many standard
        errors below the population's and is at most this share of it
        (:func:`graph.detect.acquaintance.warm_links`): a carrier NAT's
        hundreds of accounts make a modest shortfall as many standard errors
        as a dozen list workers make a near-total one. Accounts made in one
        sign-up burst, or chained through addresses and devices few others
        use, need no more as a group: the burst or the rare exits are the
        second kind of evidence.
    list_shared, list_workers : int
        A list worker (finds strangers, does not miss) that shares this many
        numbers with at least ``list_workers`` other list workers it never
        found is a seed; so is an account sharing this many with others
        chained to it through rare exits (a group of ``stranger_accounts``).
    list_overlap : float
        ... when the shared numbers are at least this share of the two
        lists (cosine, :func:`graph.detect.targets.target_ties`).
    abroad_share, abroad_lookups : float, int
        An account made in a sign-up burst with at least ``abroad_lookups``
        lookups, at least this share of them of another country's numbers
        than the one it connects from
        (:func:`graph.detect.resemblance.looking_abroad`), may join its
        burst's cohort as accounts that miss do.
    fresh_share : float
        Share of an address's users made in sign-up bursts from which its
        burst-made accounts that look numbers up are one crowd
        (:func:`graph.detect.infrastructure.burst_crowds`): nearly all.
        Chosen on draws 1-10, whose viral sign-up evenings leave at most 83%
        of a carrier address's users new, and farms' rented addresses 90-100%.
        The same share of a hosting or VPN address's users keeping a
        schedule's slots ties them (:func:`graph.detect.acquaintance.dedicated_links`):
        an operation's rented addresses, however many of its accounts each
        holds (draws 1-10: one look-alike account fewer flagged, nothing else
        changed; a development case's 242 aged list workers on five hosting
        addresses, 40-55 each, went from unfound to one flagged cluster; a
        half share flagged seven look-alike accounts on tuning draw 5, not three).
    divided_numbers : float
        Numbers two groups would both have tried by chance in the blocks both
        worked, below which whether they divided the blocks cannot be told
        (:meth:`graph.detect.judging.Judge.divided`).
    """

    seed: int = 0
    method: str = "leiden"
    resolution: float = 1.0
    keep_score: float = 0.2
    seed_evidence: float = 1.0
    run_length: int = 5
    seed_run_numbers: int = 20
    enumerator_evidence: float = 3.0
    swept_numbers: int = 60
    mate_numbers: int = 5
    mate_share: float = 0.3
    mate_block_numbers: float = 3.0
    mate_hit_share: float = 0.25
    min_tie: float = 0.05
    max_entity_accounts: int = 500
    max_lookers: int = 50
    onset_gap_seconds: int = 900
    sync_bucket_seconds: int = 600
    burst_window_hours: float = 2.0
    min_jaccard: float = 0.3
    max_list_block: int = 2000
    seed_deficit: float = 1.5
    seed_entity_deficit: float = 4.0
    member_deficit: float = 1.0
    keep_deficit: float = 2.0
    seed_device_accounts: int = 5
    seed_target_z: float = 3.0
    operation_link: float = 0.1
    operation_reach: float = 0.5
    operation_rhythm: float = 0.6
    operation_targets: float = 0.8
    operation_shared_targets: float = 0.6
    rhythm_support: int = 40
    lockstep_bucket_seconds: int = 60
    seed_lockstep_days: int = 3
    slot_bucket_seconds: int = 600
    slot_tolerance_seconds: int = 1200
    slot_days: int = 3
    slot_share: float = 0.5
    clock_log10_p: float = -6.0
    schedule_days: int = 2
    seed_stranger_z: float = 4.0
    stranger_accounts: int = 5
    rare_link_accounts: int = 5
    warm_stranger_z: float = 2.0
    warm_closure: float = 0.25
    list_shared: int = 5
    list_workers: int = 10
    list_overlap: float = 0.1
    abroad_share: float = 0.5
    abroad_lookups: int = 10
    fresh_share: float = 0.9
    divided_numbers: float = 5.0

    def __post_init__(self) -> None:
        if self.method not in METHODS:
            raise ValueError(f"method must be one of {', '.join(METHODS)}, not {self.method!r}")
        if self.resolution <= 0:
            raise ValueError(f"resolution must be positive, not {self.resolution}")
        if not 0 <= self.keep_score <= scoring.FLAG_THRESHOLD:
            raise ValueError(f"keep_score must be between 0 and {scoring.FLAG_THRESHOLD}, not {self.keep_score}")
        for name in ("mate_share", "mate_hit_share", "abroad_share", "fresh_share"):
            if not 0 <= getattr(self, name) <= 1:
                raise ValueError(f"{name} is a share, between 0 and 1, not {getattr(self, name)}")

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class Cluster:
    """One detected cluster: members, score, reasons and everything behind them."""

    cluster_id: str
    members: list[str]
    score: float
    kind: str
    reasons: list[str]
    features: dict
    contributions: dict
    member_scores: dict[str, float]
    member_reasons: dict[str, list[str]]
    evidence: dict = field(default_factory=dict)
    attribution: dict = field(default_factory=dict)
    exposure: dict = field(default_factory=dict)
    #: account -> sub-group label ("S1", "S2", ...) when the cluster is one operation
    #: made of several squads; empty when it is not divided
    sub_groups: dict[str, str] = field(default_factory=dict)
    top_ip_country: str | None = None
    first_seen_ms: int | None = None
    last_seen_ms: int | None = None

    @property
    def size(self) -> int:
        return len(self.members)

    @property
    def flagged(self) -> bool:
        return self.score >= scoring.FLAG_THRESHOLD


@dataclass
class Detection:
    """What :func:`graph.detect.networks.find_networks` found: kept clusters (highest score first) and run statistics."""

    clusters: list[Cluster]
    graph: nx.Graph
    stats: dict
    params: DetectionParams
