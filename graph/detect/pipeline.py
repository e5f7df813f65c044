"""From request events to scored, explained, attributed clusters: detection without I/O.

:func:`find_networks` is the whole detection as one pure function of its
inputs (events, account rows, infrastructure edges, labels and earlier runs'
clusters); :mod:`graph.detect.run` reads those from a workspace and its
store and saves the result. The steps:

1. **Cheap statistics for everyone** (DuckDB over all events): lookups,
   block coverage and hit ratio per account, standardized against the
   population (:mod:`~graph.detect.enumeration`); sign-up bursts over all
   accounts (:mod:`~graph.detect.behaviour`).
2. **Seeds**: accounts with enumeration evidence, or made in a sign-up
   burst and sharing a target list with someone they do not know. Everything costly
   below only touches seeds and their neighbours, which is what keeps a
   17-million-lookup case within minutes.
3. **Ties** between seeds and anyone: shared rare infrastructure, sharded
   blocks, shared targets, synchronized session onsets. Accounts tied
   strongly enough to a seed become candidates; ties among all candidates
   form the weighted coordination graph.
4. **Communities** of that graph (Louvain with a seed by default).
5. **Scores**: features per community, a logistic evidence sum with its
   reasons (:mod:`~graph.detect.scoring`); weakly attached members of a
   flagged cluster are pruned and judged alone; candidates outside any
   community are judged alone (the lone enumerator).
6. **Evidence, attribution and exposure** for every kept cluster, and
   **stable ids** from earlier runs (:mod:`~graph.detect.identity`).
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import asdict, dataclass, field

import networkx as nx
import numpy as np
import pandas as pd

from graph.detect import behaviour, enumeration, infrastructure, misses, scoring, synchrony, targets
from graph.detect.attribution import (
    label_overlap,
    membership_frame,
    origin_mix,
    origin_summary,
    utc_offset,
    weekly_rhythm,
)
from graph.detect.clustering import (
    METHODS,
    detect_communities,
    kin_operations,
    merge_dense_neighbours,
    operations,
)
from graph.detect.evidence import cluster_evidence
from graph.detect.exposure import cluster_exposure
from graph.detect.features import group_features
from graph.detect.frames import EventsLike, as_events
from graph.detect.identity import assign_cluster_ids

__all__ = ["DetectionParams", "Cluster", "Detection", "find_networks", "coordination_graph"]

Progress = Callable[[str, float], None]

#: synchrony weaker than this (Jaccard of onsets) ties nobody and is no group's feature
_SYNC_FLOOR = 0.1

#: contributions that say what a group *does* (its lookups), not what it shares
_BEHAVIOUR = ("misses", "enumerated_blocks", "enumeration_evidence", "shared_targets")


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
    enumerator_evidence : float
        Enumeration evidence above which accounts are compared for sharding
        (a legitimate heavy address book can reach a seed's evidence, not
        this).
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
    rhythm_support : int
        Distinct active half hours of the week (summed over members) a
        group needs before its hours can keep it apart from another.
    lockstep_bucket_seconds, seed_lockstep_days : int
        An account whose lookup sessions start in a crowd chance does not
        explain (:func:`graph.detect.synchrony.lockstep_days`, buckets of
        this width) on this many different days is a seed.
    """

    seed: int = 0
    method: str = "louvain"
    resolution: float = 1.0
    keep_score: float = 0.2
    seed_evidence: float = 1.0
    enumerator_evidence: float = 3.0
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
    seed_device_accounts: int = 5
    seed_target_z: float = 3.0
    operation_link: float = 0.1
    operation_reach: float = 0.5
    operation_rhythm: float = 0.6
    rhythm_support: int = 40
    lockstep_bucket_seconds: int = 60
    seed_lockstep_days: int = 3

    def __post_init__(self) -> None:
        if self.method not in METHODS:
            raise ValueError(f"method must be one of {', '.join(METHODS)}, not {self.method!r}")
        if self.resolution <= 0:
            raise ValueError(f"resolution must be positive, not {self.resolution}")
        if not 0 <= self.keep_score <= scoring.FLAG_THRESHOLD:
            raise ValueError(f"keep_score must be between 0 and {scoring.FLAG_THRESHOLD}, not {self.keep_score}")

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
    """What :func:`find_networks` found: kept clusters (highest score first) and run statistics."""

    clusters: list[Cluster]
    graph: nx.Graph
    stats: dict
    params: DetectionParams


def _step(progress: Progress | None, name: str, done: float) -> None:
    if progress is not None:
        progress(name, done)


def coordination_graph(
    nodes: Collection[str],
    infra: pd.DataFrame,
    sharding: pd.DataFrame,
    shared: pd.DataFrame,
    sync: pd.DataFrame,
    lists: pd.DataFrame | None = None,
    cohort: pd.DataFrame | None = None,
    *,
    min_weight: float = 0.02,
) -> nx.Graph:
    """The weighted account-to-account coordination graph from the four kinds of ties.

    Parameters
    ----------
    nodes : collection of str
        Accounts to include (ties to others are dropped).
    infra : DataFrame
        From :func:`graph.detect.infrastructure.infrastructure_ties`.
    sharding : DataFrame
        From :func:`graph.detect.enumeration.sharding_ties`.
    shared : DataFrame
        From :func:`graph.detect.targets.target_ties`.
    sync : DataFrame
        From :func:`graph.detect.synchrony.synchrony_ties`.
    lists : DataFrame, optional
        ``a, b, share``: pairs in one block of a shared target list
        (:func:`graph.detect.targets.list_blocks`), ``share`` the smaller of
        the two accounts' shares of lookups inside the block.
    cohort : DataFrame, optional
        ``a, b``: pairs of accounts that both miss and were made in one
        sign-up burst (:func:`graph.detect.behaviour.cohort_pairs`), tied by 0.2 each.
    min_weight : float
        Pairs tied more weakly than this get no edge: thousands of
        neighbours on a busy mobile address would each add a negligible tie
        and together swamp the graph.

    Returns
    -------
    networkx.Graph
        Edge attribute ``weight`` is the sum of the tie weights; ``infra``,
        ``sharding``, ``targets`` and ``sync`` keep each part.

    Notes
    -----
    Infrastructure, shared-block and shared-target weights are all
    resource-allocation sums (each shared entity gives its accounts a fixed
    budget), and each is saturated as ``1 - exp(-w)``: one dense network
    sharing hundreds of proxy exits must not outweigh every other tie in the
    graph, or modularity would merge everything else. A sharding tie counts
    only as far as the two accounts avoid each other's numbers where chance
    would make them collide (``complementarity``, scaled by how many
    collisions chance predicts), so independent enumerators of the same
    blocks stay apart. Shared targets count in proportion to how much of the
    smaller list the pair shares (a friend shares a few contacts, an operator
    works through the same list), not at all below a list cosine of 0.2 (a
    handful of numbers in common is what any two address books of one
    country have), and less between mutual contacts. Synchrony
    counts only for pairs in lockstep (Jaccard at least 0.2), because
    overlapping office hours make weaker synchrony common between unrelated
    operations. Two accounts of one shared-list block are tied by half the
    smaller of their shares of lookups in the block: each shares too few
    numbers with any other for a pairwise tie, but the block as a whole is
    what operators dividing one list look like.
    """
    keep = set(nodes)
    parts = _tie_parts(infra, sharding, shared, sync, lists, cohort)
    parts = parts[parts["a"].isin(keep) & parts["b"].isin(keep) & (parts["w"] > 0)]
    G = nx.Graph()
    G.add_nodes_from(sorted(keep))
    if parts.empty:
        return G
    wide = parts.pivot_table(index=["a", "b"], columns="part", values="w", aggfunc="sum", fill_value=0.0).round(9)
    wide["weight"] = wide.sum(axis=1).round(9)
    wide = wide[wide["weight"] >= min_weight].sort_index()
    names = [c for c in wide.columns if c != "weight"]
    G.add_edges_from(
        (a, b, {"weight": w, **{n: v for n, v in zip(names, values, strict=True) if v > 0}})
        for (a, b), w, *values in zip(wide.index, wide["weight"], *(wide[n] for n in names), strict=True)
    )
    return G


def _tie_parts(infra, sharding, shared, sync, lists=None, cohort=None) -> pd.DataFrame:
    """Every tie as ``a, b, part, w``, weighed as :func:`coordination_graph` documents."""
    frames = []

    def add(frame: pd.DataFrame, part: str, w) -> None:
        frames.append(pd.DataFrame({"a": frame["a"].to_numpy(), "b": frame["b"].to_numpy(), "part": part,
                                    "w": np.asarray(w, dtype=float)}))

    if not infra.empty:
        add(infra, "infra", 1.0 - np.exp(-(infra["ip"] + infra["prefix"] + infra["device"]).to_numpy()))
    if not sharding.empty:
        strength = sharding["complementarity"] * (sharding["expected_overlap"] / 5.0).clip(upper=1.0)
        add(sharding, "sharding", 1.0 - np.exp(-(sharding["weight"] * strength).to_numpy()))
    if not shared.empty:
        strength = shared["weight"] * shared["overlap"] * np.where(shared["mutual"], 0.3, 1.0)
        add(shared, "targets", (1.0 - np.exp(-strength.to_numpy())) * (shared["overlap"] >= 0.2).to_numpy())
    if not sync.empty:
        add(sync, "sync", (0.5 * sync["jaccard"] * (sync["jaccard"] >= 0.2)).to_numpy())
    if lists is not None and not lists.empty:
        add(lists, "lists", (0.5 * lists["share"]).to_numpy())
    if cohort is not None and not cohort.empty:
        add(cohort, "cohort", np.full(len(cohort), 0.2))
    if not frames:
        return pd.DataFrame({"a": pd.Series(dtype=object), "b": pd.Series(dtype=object),
                             "part": pd.Series(dtype=object), "w": pd.Series(dtype=float)})
    return pd.concat(frames, ignore_index=True)


def _tie_table(infra, sharding, shared, sync, lists=None, cohort=None) -> pd.DataFrame:
    """Combined tie weight per pair, for candidate expansion."""
    parts = _tie_parts(infra, sharding, shared, sync, lists, cohort)
    return parts.groupby(["a", "b"], sort=True)["w"].sum().reset_index(name="weight")


def _list_ties(source, accounts: Collection[str], params: DetectionParams) -> pd.DataFrame:
    """``a, b, share`` for pairs of accounts in one shared-list block of strangers.

    Blocks come from :func:`graph.detect.targets.list_blocks` among
    ``accounts``; a block counts when it has at least three accounts, fewer
    than a fifth of which another member's lookups found (friends' address
    books overlap too, but friends find each other), and at most
    ``params.max_list_block`` accounts (a pairwise tie per pair of a bigger
    block would cost more than it tells).
    """
    blocks = targets.list_blocks(source, accounts, max_lookers=params.max_lookers)
    sizes = blocks.groupby("block").size()
    blocks = blocks[blocks["block"].map(sizes).between(3, params.max_list_block)]
    if blocks.empty:
        return pd.DataFrame({"a": pd.Series(dtype=object), "b": pd.Series(dtype=object),
                             "share": pd.Series(dtype=float)})
    keys = {int(k): list(frame["account_id"]) for k, frame in blocks.groupby("block", sort=True)}
    found = targets.reciprocity(source, keys)
    strangers = [k for k in keys if found[k]["share"] < 0.2]
    mine = blocks[blocks["block"].isin(strangers)]
    pairs = mine.merge(mine, on="block", suffixes=("_a", "_b"))
    pairs = pairs[pairs["account_id_a"] < pairs["account_id_b"]]
    return pd.DataFrame({
        "a": pairs["account_id_a"].to_numpy(), "b": pairs["account_id_b"].to_numpy(),
        "share": np.minimum(pairs["share_a"].to_numpy(), pairs["share_b"].to_numpy()),
    }).sort_values(["a", "b"], ignore_index=True)


def _infrastructure_seeds(
    source, stats: pd.DataFrame, baseline: misses.HitBaseline, params: DetectionParams
) -> set[str]:
    """Accounts whose lookups miss at volume, alone or pooled on what they share, and emulator farms' accounts.

    However an enumerator spreads its numbers, it misses; one account's
    deficit may be within the population's spread, but the same deficit
    pooled over the accounts funnelled through one address or fingerprint
    is not (those accounts become seeds when they miss a little
    themselves). And a device fingerprint that many accounts look numbers
    up from is an emulator farm's, whatever the lookups find: a family's
    tablet holds a few accounts.
    """
    own = stats["deficit_z"]
    # alone, an account must miss at half the usual rate or less (an effect, not only a standard error)
    seeds = set(stats.index[stats["missing"] & (own >= params.seed_deficit)])
    pooled = misses.entity_deficits(source, baseline)
    pooled["farm"] = (pooled["entity_type"] == "device") & (pooled["lookers"] >= params.seed_device_accounts)
    hot = pooled[(pooled["deficit_z"] >= params.seed_entity_deficit) | pooled["farm"]]
    if hot.empty:
        return seeds
    users = source.query("""
        SELECT DISTINCT e.account_id, h.farm FROM {events} e JOIN {hot} h ON h.entity_type = 'ip' AND e.ip = h.entity
        WHERE e.phone_hash IS NOT NULL AND e.account_id IS NOT NULL
        UNION
        SELECT DISTINCT e.account_id, h.farm FROM {events} e
        JOIN {hot} h ON h.entity_type = 'device' AND e.device_id = h.entity
        WHERE e.phone_hash IS NOT NULL AND e.account_id IS NOT NULL
    """, hot=hot[["entity_type", "entity", "farm"]])
    missing = own.reindex(users["account_id"]).to_numpy() >= params.member_deficit
    return seeds | set(users.loc[users["farm"].to_numpy() | missing, "account_id"])


def _epoch_ms(values: pd.Series) -> pd.Series:
    if pd.api.types.is_datetime64_any_dtype(values):
        return values.astype("datetime64[ms, UTC]").astype("int64").where(values.notna())
    return pd.to_numeric(values, errors="coerce")


def find_networks(
    events: EventsLike,
    *,
    accounts: pd.DataFrame | None = None,
    edges: pd.DataFrame | None = None,
    labels: Sequence[Mapping] = (),
    history: Sequence[Mapping[str, Collection[str]]] = (),
    params: DetectionParams | None = None,
    progress: Progress | None = None,
) -> Detection:
    """Find coordinated abuse networks (and lone abusers) in request events.

    Parameters
    ----------
    events : Events or DataFrame
        Request events with the warehouse's columns.
    accounts : DataFrame, optional
        Account rows with ``account_id``, ``created_at`` (datetime or epoch
        ms) and optionally ``followers``; enables sign-up burst evidence.
    edges : DataFrame, optional
        Account-to-infrastructure edges (:data:`graph.detect.infrastructure.EDGE_COLUMNS`),
        e.g. projected from the graph store; computed from ``events`` when absent.
    labels : sequence of mappings
        Prior and analyst labels (``entity``, ``entity_id``, ``value``, ``actor``, ``kind``).
    history : sequence of mappings
        Earlier runs' clusters (id to members), newest first, for stable ids.
    params : DetectionParams, optional
    progress : callable, optional
        Called as ``progress(step_name, fraction_done)``.

    Returns
    -------
    Detection
        Clusters scoring at least ``params.keep_score``, highest first; each
        account in at most one.

    Examples
    --------
    >>> from graph.detect.frames import events_frame
    >>> rows = [{"ts": i * 2000, "ip": "5.1.1.1", "ip_kind": "hosting", "account_id": "enum",
    ...          "phone_hash": f"p{i}", "block_hash": f"b{i // 1000}", "block_ordinal": i % 1000}
    ...         for i in range(3000)]
    >>> rows += [{"ts": i * 60_000, "ip": f"7.1.{i}.1", "account_id": f"user{i}", "phone_hash": f"q{i}{j}",
    ...           "block_hash": f"c{i}{j}", "block_ordinal": 5, "matched_account_id": f"m{i}{j}" if j % 2 else None}
    ...          for i in range(60) for j in range(25)]
    >>> found = find_networks(events_frame(rows))
    >>> [(c.members, c.kind, c.flagged) for c in found.clusters]
    [(['enum'], 'lone enumerator', True)]
    """
    params = params or DetectionParams()
    source = as_events(events)
    _step(progress, "account statistics", 0.0)
    stats = enumeration.lookup_stats(source)
    stats = stats.join(enumeration.enumeration_evidence(stats))
    baseline = misses.hit_baseline(stats["matched"], stats["phones"])
    stats["deficit_z"] = misses.deficit_z(stats["matched"], stats["phones"], baseline)
    stats["missing"] = misses.missing(stats["matched"], stats["phones"], stats["deficit_z"], baseline)
    callers = set(stats.index)
    population_hit = float(np.nanmedian(stats.loc[stats["phones"] > 0, "hit_ratio"])) if (stats["phones"] > 0).any() else 0.0

    created = pd.Series(dtype="float64")
    if accounts is not None and "created_at" in accounts.columns and not accounts.empty:
        created = pd.Series(_epoch_ms(accounts["created_at"]).to_numpy(), index=accounts["account_id"].to_numpy())
        created = created.dropna().sort_values(kind="stable")

    _step(progress, "shared targets", 0.1)
    # A shared list alone is every circle of friends, and a sign-up burst alone
    # is every viral moment: accounts made in a burst that work through one
    # list as strangers (none found another by its number) are worth a closer look.
    bursts = behaviour.burst_accounts(created, window_hours=params.burst_window_hours) if len(created) else set()
    seeds = set(stats.index[stats["evidence"] >= params.seed_evidence])
    seeds |= _infrastructure_seeds(source, stats, baseline, params)
    # aged accounts work leaked lists too: those whose lookups are mostly numbers that several
    # others looked up, far more than address books overlap, are looked among as well
    popular = targets.popular_target_share(source, max_lookers=params.max_lookers)
    popular = popular[popular["numbers"] >= 20]
    unusual = enumeration.robust_z(popular["share"], min_scale=0.05) >= params.seed_target_z
    lists = _list_ties(source, bursts | set(popular.index[unusual]), params)
    seeds |= set(lists["a"]) | set(lists["b"])
    # a scheduler gives its accounts away by when they start, whatever they look up and from where
    lockstep = synchrony.lockstep_days(
        synchrony.activity_onsets(source, gap_seconds=params.onset_gap_seconds, lookups_only=True),
        bucket_seconds=params.lockstep_bucket_seconds,
    )
    seeds |= set(lockstep.index[lockstep >= params.seed_lockstep_days]) & callers
    # accounts made in one sign-up burst, most of which miss, are one cohort: camouflaged enumerators
    # on their own handsets and addresses share nothing else a tie could see (a viral moment's
    # newcomers find their friends)
    cohort = behaviour.cohort_pairs(created, bursts, set(stats.index[stats["missing"]]), params.burst_window_hours)
    seeds |= set(cohort["a"]) | set(cohort["b"])
    # only ties touching a seed, and later a newcomer, are ever used: the crowd's pairs are never built
    target_seed = targets.target_ties(source, max_lookers=params.max_lookers, accounts=seeds)

    _step(progress, "block coverage", 0.2)
    # Sharding is judged between clear enumerators only, on every block one
    # worked at all: a network of hundreds of accounts splitting blocks leaves
    # each of them only a few numbers per block, and an address book, however
    # big, is never among the accounts compared.
    enumerators = stats.index[stats["evidence"] >= params.enumerator_evidence]
    # a few million sampled lookups measure slice overlap as well as all of them
    sample = max(1, math.ceil(float(stats.loc[enumerators, "lookups"].sum()) / 2_000_000))
    coverage = enumeration.block_coverage(source, enumerators, min_numbers=3, sample=sample)
    sharding = enumeration.sharding_ties(coverage, min_numbers=3, min_block_union=100)

    _step(progress, "shared infrastructure", 0.3)
    sizes = infrastructure.entity_sizes(source) if edges is None else None
    seed_edges = infrastructure.infrastructure_edges(source, seeds, sizes=sizes) if edges is None else edges
    infra_seed = infrastructure.infrastructure_ties(
        edges if edges is not None else seed_edges, focus=seeds, max_accounts=params.max_entity_accounts
    )
    onsets_seed = synchrony.activity_onsets(source, seeds, gap_seconds=params.onset_gap_seconds)
    sync_seed = synchrony.synchrony_ties(onsets_seed, bucket_seconds=params.sync_bucket_seconds, min_shared=3,
                                         min_jaccard=_SYNC_FLOOR)

    def touching(frame: pd.DataFrame, group: set) -> pd.DataFrame:
        return frame[frame["a"].isin(group) | frame["b"].isin(group)]

    ties = _tie_table(infra_seed, touching(sharding, seeds), target_seed, sync_seed, lists, cohort)
    strong = ties[ties["weight"] >= params.min_tie]
    candidates = set(seeds) | set(strong["a"]) | set(strong["b"])
    candidates &= callers

    _step(progress, f"coordination graph ({len(seeds):,} seeds, {len(candidates):,} candidates)", 0.45)
    newcomers = candidates - seeds
    if candidates == seeds:
        # nobody joined the seeds: their edges, onsets and ties are the candidates' (ties cost seconds at scale)
        cand_edges = seed_edges if edges is None else edges[edges["account_id"].isin(candidates)]
        infra, onsets, sync, shared = infra_seed, onsets_seed, sync_seed, target_seed
    else:
        shared = pd.concat(
            [target_seed, targets.target_ties(source, max_lookers=params.max_lookers, accounts=newcomers)],
            ignore_index=True,
        ).drop_duplicates(["a", "b"]).sort_values(["a", "b"], ignore_index=True)
        if edges is None:
            cand_edges = pd.concat(
                [seed_edges, infrastructure.infrastructure_edges(source, newcomers, sizes=sizes)], ignore_index=True
            )
            cand_edges = cand_edges[cand_edges["account_id"].isin(candidates)]
        else:
            cand_edges = edges[edges["account_id"].isin(candidates)]
        infra = infrastructure.infrastructure_ties(
            edges if edges is not None else cand_edges, focus=candidates, max_accounts=params.max_entity_accounts
        )
        onsets = pd.concat(
            [onsets_seed[onsets_seed["account_id"].isin(candidates)],
             synchrony.activity_onsets(source, newcomers, gap_seconds=params.onset_gap_seconds)],
            ignore_index=True,
        ).sort_values(["account_id", "endpoint", "ts_ms"], ignore_index=True)
        sync = synchrony.synchrony_ties(onsets, bucket_seconds=params.sync_bucket_seconds, min_shared=3,
                                         min_jaccard=_SYNC_FLOOR)
    G = coordination_graph(candidates, infra, sharding, shared, sync, lists, cohort)

    _step(progress, f"communities ({G.number_of_nodes():,} accounts, {G.number_of_edges():,} ties)", 0.55)
    communities = merge_dense_neighbours(
        G, detect_communities(G, params.method, resolution=params.resolution, seed=params.seed)
    )
    groups = [sorted(c) for c in communities if len(c) >= 2 or stats.loc[next(iter(c)), "evidence"] > 0]

    _step(progress, f"scoring ({len(groups):,} groups)", 0.65)
    context = _Context(
        source=source, stats=stats, G=G, edges=cand_edges, coverage=coverage, sharding=sharding,
        onsets=onsets, sync=sync, created=created, labels=labels, population_hit=population_hit,
        baseline=baseline, params=params, bursts=frozenset(bursts),
    )
    # squads tied into one operation are judged together, each kept as a sub-group
    scored, squad_of = context.merge_operations(context.score_groups(groups))
    # prune members that lack what makes their cluster suspicious; judge them alone
    final: list[tuple[list[str], float, dict, dict]] = []
    rescore: list[list[str]] = []
    remainders: list[list[str]] = []
    for members, score, features, parts in scored:
        weak = context.weak_members(members, features, parts) if score >= params.keep_score and len(members) > 1 else []
        if weak and len(weak) < len(members):
            remainders.append([m for m in members if m not in weak])
            # what the pruned members share among themselves (a second operation that shares
            # an exit with the first) is judged on its own
            rescore.extend(sorted(part) for part in sorted(nx.connected_components(G.subgraph(weak)), key=min))
        else:
            final.append((members, score, features, parts))
    # what the pruned members bridged falls apart into its parts, and parts that resemble each other
    # in two ways (squads joined by resemblance, not ties) are one again
    split = [[sorted(part) for part in sorted(nx.connected_components(G.subgraph(r)), key=min)] for r in remainders]
    for parts, ops in zip(split, context.kin_each(split), strict=True):
        rescore.extend(sorted(m for i in op for m in parts[i]) for op in ops)
    final.extend(context.score_groups(rescore))
    kept = [row for row in final if row[1] >= params.keep_score]
    kept.sort(key=lambda r: (-r[1], -len(r[0]), r[0][0]))

    _step(progress, "evidence and attribution", 0.8)
    ids = assign_cluster_ids([set(r[0]) for r in kept], history, min_jaccard=params.min_jaccard)
    clusters = context.describe(kept, ids, squad_of)
    stats_out = {
        "events": int(len(source)),
        "callers": len(callers),
        "seeds": len(seeds),
        "candidates": len(candidates),
        "graph_nodes": G.number_of_nodes(),
        "graph_edges": G.number_of_edges(),
        "communities": len(groups),
        "clusters_kept": len(clusters),
        "clusters_flagged": sum(1 for c in clusters if c.flagged),
        "accounts_flagged": sum(c.size for c in clusters if c.flagged),
    }
    _step(progress, "done", 1.0)
    return Detection(clusters=clusters, graph=G, stats=stats_out, params=params)


@dataclass
class _Context:
    """What scoring and describing clusters need, computed once per run."""

    source: object
    stats: pd.DataFrame
    G: nx.Graph
    edges: pd.DataFrame
    coverage: pd.DataFrame
    sharding: pd.DataFrame
    onsets: pd.DataFrame
    sync: pd.DataFrame
    created: pd.Series
    labels: Sequence[Mapping]
    population_hit: float
    baseline: misses.HitBaseline
    params: DetectionParams
    _builds: pd.Series | None = None
    _build_totals: pd.Series | None = None
    _weeks: dict | None = None
    _benign: set | None = None
    bursts: frozenset = frozenset()
    _onboarded: set | None = None

    # -- features -----------------------------------------------------------
    def belonging(self, account: str, members: Collection[str]) -> float:
        """Share of the account's tie weight that lies inside ``members``."""
        if account not in self.G:
            return 0.0
        inside = set(members)
        total = within = 0.0
        for other, data in self.G[account].items():
            total += data["weight"]
            if other in inside:
                within += data["weight"]
        return within / total if total else (1.0 if len(inside) == 1 else 0.0)

    def weak_members(self, members: list[str], features: dict, parts: dict) -> list[str]:
        """Members that do not share what makes the cluster suspicious.

        A flagged cluster is judged on its strongest evidence; a member that
        lacks it (a friend of one of the targets among list-working operators,
        a neighbour among enumerators) and is only loosely tied is pruned and
        judged on its own. Among enumerators, a member whose own lookups miss
        is one of them even when cover traffic dilutes its block coverage.
        """
        top = max(sorted(parts), key=lambda k: parts[k]) if parts else None
        acquainted = set(features.get("_acquainted", ()))
        weak = []
        for m in members:
            own = float(self.stats.loc[m, "evidence"])
            if top in ("enumerated_blocks", "enumeration_evidence", "sharding", "misses"):
                lacks = own < self.params.seed_evidence and not bool(self.stats.loc[m, "missing"])
            elif top == "shared_targets":
                # operators working one list are strangers nobody looks up; a member others found is a
                # friend or a target
                lacks = features.get("_member_shared", {}).get(m, 0.0) < 0.6 or m in acquainted
            else:
                lacks = own < self.params.seed_evidence and self.belonging(m, members) < 0.5
            if lacks:
                weak.append(m)
        return weak

    def merge_operations(self, scored: list[tuple]) -> tuple[list[tuple], dict[str, str]]:
        """Communities tied into one operation become one group; returns the groups and each squad's label.

        Two passes of :func:`graph.detect.clustering.operations`: first
        suspicious groups, linked strongly (a squad on the operation's
        devices or addresses); then groups that each show the
        same behaviour of abuse (lookups that miss, enumerate or work a
        target list; each with its own kind), linked by what an operation holds (addresses,
        devices, a schedule, a list: not chance overlap of enumerated
        blocks) from at least two accounts of the smaller one: camouflaged squads on addresses they share with
        bystanders are tied to each other only thinly, but do the same
        thing. An operation replaces its squads when it scores at least as
        high as the best of them, or is flagged: pooled, the squads'
        evidence usually says more than each squad's does (a deficit of
        misses over a hundred accounts instead of ten, where each squad of
        ten is within chance); when it does not, the squads are kept apart.
        Members that lack the operation's evidence are pruned afterwards,
        as for any group.
        """
        squad_of: dict[str, int] = {}  # account -> the community it came from
        community_ids = itertools.count()

        def behaves(row: tuple) -> bool:
            return sum(row[3].get(k, 0.0) for k in _BEHAVIOUR) >= 1.0

        # two operations enumerating the same blocks overlap a little by chance: in the thin
        # second pass only what an operation holds (addresses, devices, a schedule, a list) links
        held = nx.Graph()
        held.add_weighted_edges_from(
            (a, b, d["weight"] - d.get("sharding", 0.0)) for a, b, d in self.G.edges(data=True)
            if d["weight"] - d.get("sharding", 0.0) > 0
        )
        def kind(row: tuple) -> str:
            parts = row[3]
            enumerates = sum(parts.get(k, 0.0) for k in ("enumerated_blocks", "enumeration_evidence", "sharding"))
            ways = {"enumeration": enumerates, "misses": parts.get("misses", 0.0),
                    "targets": parts.get("shared_targets", 0.0)}
            return max(sorted(ways), key=ways.get)

        def tied(graph: nx.Graph, link: float, reach: float):
            return lambda groups: operations(
                graph, groups, min_link=link, min_reach=reach, min_touched=2,
                rhythms=[self.rhythm(g) for g in groups], min_rhythm=self.params.operation_rhythm)

        # each pass: which groups take part (None: not), partitioned by the key, and how they are joined
        passes = (
            (lambda row: "any" if row[1] >= self.params.keep_score or behaves(row) else None,
             tied(self.G, self.params.operation_link, self.params.operation_reach)),
            (lambda row: kind(row) if behaves(row) else None, tied(held, 0.0, 0.0)),
            # resemblance in two ways is itself strong: enumerating and missing are one kind here
            (lambda row: ("targets" if kind(row) == "targets" else "numbers") if behaves(row) else None, self.kin),
        )
        for key_of, join in passes:
            keys = [key_of(row) for row in scored]
            suspicious = [row for row, key in zip(scored, keys, strict=True) if key is not None]
            out = [row for row, key in zip(scored, keys, strict=True) if key is None]
            found = []
            for key in sorted({k for k in keys if k is not None}):
                index = [i for i, k in enumerate(k for k in keys if k is not None) if k == key]
                found += [[index[j] for j in op] for op in join([suspicious[i][0] for i in index])]
            multi = [op for op in found if len(op) > 1]
            out.extend(suspicious[op[0]] for op in found if len(op) == 1)
            merged = self.score_groups([sorted(m for i in op for m in suspicious[i][0]) for op in multi])
            for op, row in zip(multi, merged, strict=True):
                best = max(suspicious[i][1] for i in op)
                if row[1] < min(scoring.FLAG_THRESHOLD, best):
                    out.extend(suspicious[i] for i in op)
                    continue
                for i in op:
                    # a part that is already an operation (second pass) keeps its squads
                    if suspicious[i][0][0] not in squad_of:
                        squad_of.update(dict.fromkeys(suspicious[i][0], next(community_ids)))
                out.append(row)
            scored = out
        # the communities an operation was made of are its squads, labelled by size
        labels: dict[str, str] = {}
        for row in scored:
            squads: dict[int, list[str]] = {}
            for m in row[0]:
                if m in squad_of:
                    squads.setdefault(squad_of[m], []).append(m)
            ordered = sorted(squads.values(), key=lambda q: (-len(q), min(q)))
            labels.update({m: f"S{k}" for k, squad in enumerate(ordered, 1) for m in squad})
        return scored, labels

    def kin(self, groups: list[list[str]]) -> list[list[int]]:
        """Groups that resemble each other in two ways (:func:`graph.detect.clustering.kin_operations`)."""
        return self.kin_each([groups])[0]

    def kin_each(self, batches: list[list[list[str]]]) -> list[list[list[int]]]:
        """:meth:`kin` for many batches of disjoint groups, their profiles read in one pass."""
        flat = [g for batch in batches if len(batch) > 1 for g in batch]
        profiles = iter(self.profiles(flat))
        out = []
        for batch in batches:
            if len(batch) < 2:
                out.append([[i] for i in range(len(batch))])
                continue
            mine = [next(profiles) for _ in batch]
            out.append(kin_operations(mine, min_rhythm=self.params.operation_rhythm))
        return out

    def profiles(self, groups: list[list[str]]) -> list[dict]:
        """What :func:`graph.detect.clustering.kin_operations` compares, for disjoint ``groups``.

        Birth: the median creation time of the members made in a sign-up
        burst, when they are at least half. The infrastructure is the
        addresses and devices that carry a fifth of the group's requests or
        that two members share (an address most of the population uses is
        nobody's infrastructure). The target area is the number blocks the
        group looked up in. The rhythm is :meth:`rhythm`.
        """
        if not groups:
            return []
        keys = dict(enumerate(groups))
        blocks = self._blocks(keys)
        owner = pd.Series({m: g for g, members in keys.items() for m in members}, dtype="int64")
        edges = self.edges[self.edges["entity_type"].isin(["ip", "device"])
                           & (self.edges["entity_accounts"] <= self.params.max_entity_accounts)]
        edges = edges[edges["account_id"].isin(owner.index)]
        edges = edges.assign(g=owner.reindex(edges["account_id"]).to_numpy())
        per = edges.groupby(["g", "entity_type", "entity"]).agg(
            requests=("requests", "sum"), members=("account_id", "nunique")).reset_index()
        total = per.groupby("g")["requests"].transform("sum")
        core = per[(per["requests"] >= 0.2 * total) | (per["members"] >= 2)]
        entities = {int(g): set(zip(frame["entity_type"], frame["entity"], strict=True))
                    for g, frame in core.groupby("g", sort=False)}
        out = []
        for g, members in keys.items():
            created = [self.created[m] for m in members if m in self.bursts and m in self.created.index]
            born = float(np.median(created)) if created and len(created) >= len(members) / 2 else None
            out.append({"kind": None, "born": born, "entities": entities.get(g, set()),
                        "targets": blocks.get(g, set()), "rhythm": self.rhythm(members)})
        return out

    def weeks(self) -> dict[str, np.ndarray]:
        """Every candidate's requests by half hour of the week (operations and attribution read them)."""
        if self._weeks is None:
            self._weeks = behaviour.weekly_histograms(self.source, self.G.nodes)
        return self._weeks

    def rhythm(self, members: Sequence[str]) -> np.ndarray | None:
        """A group's activity by hour of the day (UTC), or None when too little is known to compare.

        Each member counts once in each half hour of the week it was active
        (a burst of a thousand lookups is one observation, not a thousand),
        folded onto the hours of the day; fewer than
        ``params.rhythm_support`` such observations say nothing reliable
        about working hours.
        """
        weeks = self.weeks()
        week = sum((np.minimum(weeks[m], 1.0) for m in members if m in weeks), np.zeros(behaviour.HALF_HOURS_PER_WEEK))
        return week.reshape(7, 24, 2).sum(axis=(0, 2)) if week.sum() >= self.params.rhythm_support else None

    def builds(self) -> pd.Series:
        if self._builds is None:
            self._builds = behaviour.client_builds(self.source)
        return self._builds

    def benign_entities(self) -> set:
        if self._benign is None:
            self._benign = {
                (row.get("entity"), row.get("entity_id", row.get("id")))
                for row in self.labels
                if (row.get("value") or row.get("label")) == "benign" and row.get("kind") in (None, "label")
            }
        return self._benign

    def score_groups(self, groups: list[list[str]]) -> list[tuple[list[str], float, dict, dict]]:
        """Features and scores of many groups at once: one query or one groupby per feature."""
        if not groups:
            return []
        keys = dict(enumerate(groups))
        shared = targets.shared_target_share(self.source, keys)
        recip = targets.reciprocity(self.source, keys)
        rows = group_features(
            groups,
            stats=self.stats,
            union=self._block_union(keys),
            sharding=self.sharding,
            sync=self.sync,
            onsets=self.onsets,
            edges=self.edges,
            shared_share={g: shared[g]["share"] for g in keys},
            reciprocity={g: row["share"] for g, row in recip.items()},
            origin=origin_summary(self.source, keys),
            created=self.created,
            builds=self.builds(),
            build_counts=self._build_counts(),
            benign=self.benign_entities(),
            population_hit=self.population_hit,
            baseline=self.baseline,
            sync_bucket_seconds=self.params.sync_bucket_seconds,
            burst_window_hours=self.params.burst_window_hours,
            lockstep_seconds=self.params.lockstep_bucket_seconds,
            bursts=self.bursts,
        )
        out = []
        onboarding = self._onboarding(keys)
        for g, members in keys.items():
            features = rows[g]
            features["_member_shared"] = shared[g]["members"]
            features["_acquainted"] = recip[g]["acquainted"]
            if len(members) >= 3:
                features["onboarding_share"] = round(sum(onboarding.get(m, False) for m in members) / len(members), 6)
            score, contributions = scoring.cluster_score(features)
            out.append((members, score, features, contributions))
        return out

    def _onboarding(self, keys: Mapping[int, list[str]]) -> dict[str, bool]:
        """Which members looked numbers up only in the hour after they were made (an onboarding sync).

        A viral evening's new accounts each sync an address book once, right
        after signing up, and never look anything up again; an operation
        works its list over days, whenever its accounts were made.
        """
        if self._onboarded is None:
            # one pass for every candidate (groups are always made of candidates)
            spans = self.source.query(
                """
                SELECT account_id, min(epoch_ms(ts)) AS first_ms, max(epoch_ms(ts)) AS last_ms FROM {events}
                WHERE phone_hash IS NOT NULL AND account_id IN (SELECT account_id FROM {members}) GROUP BY 1
                """,
                members=pd.DataFrame({"account_id": sorted(set(self.G.nodes) & set(self.created.index))}, dtype=object),
            ).set_index("account_id")
            made = self.created.reindex(spans.index)
            hour = 3_600_000
            quick = (spans["first_ms"] - made <= hour) & (spans["last_ms"] - spans["first_ms"] <= hour)
            self._onboarded = set(quick.index[quick])
        return {m: m in self._onboarded for group in keys.values() for m in group}

    def _block_union(self, keys: Mapping[int, list[str]]) -> pd.DataFrame:
        """``g, numbers``: distinct numbers each group tried in each block it touched."""
        return self.source.query(
            f"""
            SELECT m.cluster AS g, {enumeration.distinct_ordinals_sql("l.ordinal")} AS numbers
            FROM {{lookups}} l JOIN {{members}} m USING (account_id)
            WHERE l.block IS NOT NULL
            GROUP BY m.cluster, l.block
            """,
            members=membership_frame(keys),
        )

    def _blocks(self, keys: Mapping[int, list[str]]) -> dict[int, set]:
        """The number blocks each group looked up in (its target area)."""
        rows = self.source.query(
            """
            SELECT DISTINCT m.cluster AS g, l.block FROM {lookups} l JOIN {members} m USING (account_id)
            WHERE l.block IS NOT NULL
            """,
            members=membership_frame(keys),
        )
        return {int(g): set(frame["block"]) for g, frame in rows.groupby("g", sort=False)}

    def _build_counts(self) -> pd.Series:
        if self._build_totals is None:
            self._build_totals = self.builds().value_counts()
        return self._build_totals

    # -- description ----------------------------------------------------------
    def squads(self, sub_groups: Mapping[str, str]) -> list[dict]:
        """Each sub-group of an operation: its size, a sample of accounts, and what ties it inside and to the rest."""
        by_group: dict[str, list[str]] = {}
        for account, label in sub_groups.items():
            by_group.setdefault(label, []).append(account)
        kinds = {"infra": "shared infrastructure", "sharding": "divided number blocks", "targets": "shared targets",
                 "sync": "synchronized sessions", "lists": "one divided target list",
                 "cohort": "made in one sign-up burst, both missing"}
        rows = []
        for label in sorted(by_group, key=lambda x: int(x[1:])):
            members = sorted(by_group[label])
            inside, outside = {}, {}
            for m in members:
                for other, data in self.G[m].items() if m in self.G else ():
                    if other not in sub_groups:
                        continue
                    into = inside if sub_groups[other] == label else outside
                    for part in kinds:
                        into[part] = into.get(part, 0.0) + data.get(part, 0.0)

            def say(weights: dict) -> str:
                top = [kinds[k] for k, v in sorted(weights.items(), key=lambda kv: -kv[1]) if v > 0][:2]
                return " and ".join(top) or "no direct ties"

            rows.append({
                "sub_group": label, "size": len(members), "accounts": members[:20],
                "ties": f"tied inside by {say(inside)}; to the rest of the operation by {say(outside)}",
            })
        return rows

    def describe(self, kept, ids: list[str], squad_of: Mapping[str, str]) -> list[Cluster]:
        if not kept:
            return []
        keys = {cid: row[0] for cid, row in zip(ids, kept, strict=True)}
        mix = origin_mix(self.source, keys)
        exposure = cluster_exposure(self.source, keys)
        histograms = self.weeks()
        evidence = cluster_evidence(
            self.source, keys, edges=self.edges, onsets=self.onsets, sharding=self.sharding,
            bucket_seconds=self.params.sync_bucket_seconds,
        )
        clusters = []
        for cid, (members, score, features, parts) in zip(ids, kept, strict=True):
            sub_groups = {m: squad_of[m] for m in members if m in squad_of}
            if len(set(sub_groups.values())) < 2:
                sub_groups = {}
            features = {k: v for k, v in features.items() if not k.startswith("_")}
            week = sum((histograms[m] for m in members if m in histograms), np.zeros(behaviour.HALF_HOURS_PER_WEEK))
            clock = utc_offset(week)
            rhythm = weekly_rhythm(week, clock["offset_hours"])
            attribution = {
                "countries": mix[cid]["countries"],
                "asns": mix[cid]["asns"],
                "ip_kinds": mix[cid]["kinds"],
                "hosting_share": mix[cid]["hosting_share"],
                "utc_offset": clock,
                "weekly_rhythm": rhythm,
                "labels": label_overlap(members, self.edges, self.labels),
            }
            member_scores, member_reasons = {}, {}
            for m in members:
                belong = self.belonging(m, members) if len(members) > 1 else 1.0
                own = float(self.stats.loc[m, "evidence"])
                member_scores[m] = scoring.member_score(score, belong, own)
                why = []
                if len(members) > 1:
                    why.append(f"{belong:.0%} of its coordination ties are inside the cluster")
                if own > 0:
                    row = self.stats.loc[m]
                    why.append(
                        f"own lookups: {int(row['phones'])} numbers, {row['numbers_per_block']:.0f} per block, "
                        f"{row['hit_ratio']:.1%} matched"
                    )
                member_reasons[m] = why
            stats = self.stats.loc[members]
            clusters.append(
                Cluster(
                    cluster_id=cid,
                    members=sorted(members, key=lambda m: (-member_scores[m], m)),
                    score=score,
                    kind=scoring.cluster_kind(features, parts),
                    reasons=scoring.reasons(features, parts),
                    features=features,
                    contributions=parts,
                    member_scores=member_scores,
                    member_reasons=member_reasons,
                    evidence={**evidence[cid], "statistics": features, "contributions": parts,
                              **({"sub_groups": self.squads(sub_groups)} if sub_groups else {})},
                    sub_groups=sub_groups,
                    attribution=attribution,
                    exposure=exposure[cid],
                    top_ip_country=mix[cid]["top_country"],
                    first_seen_ms=int(stats["first_ms"].min()),
                    last_seen_ms=int(stats["last_ms"].max()),
                )
            )
        return clusters
