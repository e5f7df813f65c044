"""From request events to scored, explained, attributed clusters: detection without I/O.

:func:`find_networks` is the whole detection as one pure function of its
inputs (events, account rows, infrastructure edges, labels and earlier runs'
clusters); :mod:`graph.detect.run` reads those from a workspace and its
store and saves the result. The steps:

1. **Cheap statistics for everyone** (DuckDB over all events): lookups,
   block coverage and hit ratio per account, standardized against the
   population (:mod:`~graph.detect.enumeration`); sign-up bursts over all
   accounts (:mod:`~graph.detect.behaviour`).
2. **Seeds**: every family of evidence opens cases on its own: enumeration
   evidence, runs of consecutive numbers, misses (alone or pooled on what
   accounts share), shared or divided lists of strangers, lockstep and a
   schedule's slots, sign-up cohorts, farms' crowds, small list operations on
   rare exits, addresses and groups whose accounts find strangers
   (``docs/architecture.md`` has the list). Everything
   costly below only touches seeds and their neighbours, which is what keeps a
   17-million-lookup case within minutes.
3. **Ties** between seeds and anyone: shared rare infrastructure, sharded
   blocks, shared targets, synchronized session onsets. Accounts tied
   strongly enough to a seed become candidates; ties among all candidates
   form the weighted coordination graph.
4. **Communities** of that graph (Leiden with a seed by default).
5. **Scores**: features per community, a logistic evidence sum with its
   reasons (:mod:`~graph.detect.scoring`); communities tied as squads
   become one operation; weakly attached members of a flagged cluster are
   pruned and judged by what they share among themselves, and pruned parts
   flagged on their own that are still tied to the rest as squads rejoin
   it; a cluster working a list whose accounts work different countries'
   lists (operations renting one exit pool) is split by country
   (:func:`~graph.detect.resemblance.region_split`); candidates outside
   any community are judged alone (the lone enumerator).
6. **Evidence, attribution and exposure** for every kept cluster, and
   **stable ids** from earlier runs (:mod:`~graph.detect.identity`).

Steps 1 to 4 are here; the judging of steps 5 and 6 is
:class:`graph.detect.judging.Judge`'s, and the parameters and results are
:mod:`graph.detect.results`'.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Collection, Mapping, Sequence

import networkx as nx
import numpy as np
import pandas as pd

from graph.detect import (
    acquaintance,
    behaviour,
    enumeration,
    infrastructure,
    misses,
    resemblance,
    scoring,
    synchrony,
    targets,
)
from graph.detect.clustering import detect_communities, merge_dense_neighbours
from graph.detect.frames import EventsLike, among, as_events
from graph.detect.identity import assign_cluster_ids
from graph.detect.judging import Judge
from graph.detect.results import Detection, DetectionParams

__all__ = ["find_networks", "coordination_graph", "ProgressCallback"]

#: what detection calls as it goes: ``progress(step_name, fraction_done)``
ProgressCallback = Callable[[str, float], None]

#: synchrony weaker than this (Jaccard of onsets) ties nobody and is no group's feature
_SYNC_FLOOR = 0.1


def _step(progress: ProgressCallback | None, name: str, done: float) -> None:
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
    strangers: pd.DataFrame | None = None,
    crowds: pd.DataFrame | None = None,
    missers: pd.DataFrame | None = None,
    swept: pd.DataFrame | None = None,
    fresh: pd.DataFrame | None = None,
    exits: pd.DataFrame | None = None,
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
    strangers : DataFrame, optional
        ``a, b``: accounts behind one address or device whose accounts, pooled,
        find people who do not know each other (:func:`_stranger_ties`), tied by 0.3 each.
    crowds : DataFrame, optional
        ``a, b, weight`` (and ``resemblance`` when known): scheduled accounts
        that started work in the same spikes
        (:func:`graph.detect.synchrony.spike_ties`).
    missers : DataFrame, optional
        ``a, b``: accounts that miss behind one address or device whose
        pooled lookups miss (:func:`_infrastructure_seeds`), tied by 0.3 each.
    swept : DataFrame, optional
        ``a, b``: accounts working several numbers of each block that clear
        enumerators swept, or that such accounts swept together, and finding
        almost nobody there (:func:`graph.detect.enumeration.block_mates`),
        tied to each other block by block, by 0.3 each.
    fresh : DataFrame, optional
        ``a, b``: a farm's accounts, made in sign-up bursts behind addresses
        nearly all of whose users were, that never found each other
        (:func:`_fresh_crowds`), tied by 0.3 each.
    exits : DataFrame, optional
        ``a, b``: a small list operation's accounts, chained through exits few
        others use, sharing numbers pairwise and never finding each other
        (:func:`_exit_lists`), tied by 0.3 each.
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
    parts = _tie_parts(infra, sharding, shared, sync, lists, cohort, strangers, crowds, missers, swept, fresh, exits)
    parts = parts[among(parts["a"], keep) & among(parts["b"], keep) & (parts["w"] > 0)]
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
        for (a, b), w, *values in zip(wide.index.tolist(), wide["weight"].tolist(), *(wide[n].tolist() for n in names),
                                      strict=True)
    )
    return G


def _tie_parts(infra, sharding, shared, sync, lists=None, cohort=None, strangers=None, crowds=None,
               missers=None, swept=None, fresh=None, exits=None) -> pd.DataFrame:
    """Every tie as ``a, b, part, w``, weighed as :func:`coordination_graph` documents."""
    frames = []

    def add(frame: pd.DataFrame, part: str, w) -> None:
        frames.append(pd.DataFrame({"a": frame["a"].to_numpy(), "b": frame["b"].to_numpy(), "part": part,
                                    "w": np.asarray(w, dtype=float)}))

    if not infra.empty:
        # a shared address ties two jobs less than one (an exit is rented by many); a shared device
        # fingerprint is one operator's whatever it looks up
        alike = infra["resemblance"].clip(lower=0.0, upper=1.0) if "resemblance" in infra.columns else 1.0
        add(infra, "infra", 1.0 - np.exp(-(alike * (infra["ip"] + infra["prefix"]) + infra["device"]).to_numpy()))
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
    if strangers is not None and not strangers.empty:
        add(strangers, "strangers", np.full(len(strangers), 0.3))
    if crowds is not None and not crowds.empty:
        # one schedule is one operator's, unless the two accounts clearly work different countries (two
        # operators' crons both firing on the hour)
        alike = crowds["resemblance"].clip(lower=0.0, upper=1.0) if "resemblance" in crowds.columns else 1.0
        add(crowds, "crowds", 0.5 * (1.0 - np.exp(-(alike * crowds["weight"]).to_numpy())))
    if missers is not None and not missers.empty:
        add(missers, "missers", np.full(len(missers), 0.3))
    if swept is not None and not swept.empty:
        add(swept, "swept", np.full(len(swept), 0.3))
    if fresh is not None and not fresh.empty:
        add(fresh, "fresh", np.full(len(fresh), 0.3))
    if exits is not None and not exits.empty:
        add(exits, "exits", np.full(len(exits), 0.3))
    if not frames:
        return pd.DataFrame({"a": pd.Series(dtype=object), "b": pd.Series(dtype=object),
                             "part": pd.Series(dtype=object), "w": pd.Series(dtype=float)})
    return pd.concat(frames, ignore_index=True)


def _tie_table(infra, sharding, shared, sync, lists=None, cohort=None, strangers=None, crowds=None,
               missers=None, swept=None, fresh=None, exits=None) -> pd.DataFrame:
    """Combined tie weight per pair, for candidate expansion."""
    parts = _tie_parts(infra, sharding, shared, sync, lists, cohort, strangers, crowds, missers, swept, fresh, exits)
    return parts.groupby(["a", "b"], sort=True)["w"].sum().reset_index(name="weight")


def _list_ties(source, accounts: Collection[str], params: DetectionParams) -> pd.DataFrame:
    """``a, b, share`` for pairs of accounts in one shared-list block of strangers.

    Blocks come from :func:`graph.detect.targets.list_blocks` among
    ``accounts``; a block counts when it has at least three accounts, fewer
    than a fifth of which another member's lookups found (friends' address
    books overlap too, but friends find each other), and at most
    ``params.max_list_block`` accounts (a pairwise tie per pair of a bigger
    block would cost more than it tells). The members another member found
    are left out of a block's ties: friends, not its workers.
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
    # within a block of strangers, the few members another member found are its friends, not its workers
    acquainted = {(k, a) for k in strangers for a in found[k]["acquainted"]}
    mine = blocks[among(blocks["block"], strangers)]
    mine = mine[np.array([(k, a) not in acquainted for k, a in zip(mine["block"], mine["account_id"], strict=True)],
                         dtype=bool)]
    pairs = mine.merge(mine, on="block", suffixes=("_a", "_b"))
    pairs = pairs[pairs["account_id_a"] < pairs["account_id_b"]]
    return pd.DataFrame({
        "a": pairs["account_id_a"].to_numpy(), "b": pairs["account_id_b"].to_numpy(),
        "share": np.minimum(pairs["share_a"].to_numpy(), pairs["share_b"].to_numpy()),
    }).sort_values(["a", "b"], ignore_index=True)


def _fresh_crowds(source, created: pd.Series, made: set[str], enumerators: set[str],
                  params: DetectionParams) -> pd.DataFrame:
    """``a, b``: burst-made accounts behind addresses nearly all of whose users were, strangers to each other.

    A farm's accounts each look up a handful of numbers from a list divided
    among hundreds: too few for any account to show anything, or to share
    a number with another. What they share is when they were made and where
    they come from (:func:`graph.detect.infrastructure.burst_crowds`). Each
    address's crowd is one group, and so are the accounts of one burst
    (made within ``params.burst_window_hours`` of the previous one) on such
    addresses: a farm rents several, from one provider or several, for the
    accounts it made at once. Groups sharing an account are one farm.

    A venue's or a campus's newcomers signing up together find each other:
    groups a fifth of which another member found are left out, and the
    members found are left out of the others' ties (as in
    :func:`_list_ties`). ``enumerators`` are left out too: their own doors
    tie them (blocks, misses), and a crowd's ties piled on those make their
    component heavy enough for modularity to merge the other operations in
    it (the resolution limit; tuning draw 5).
    """
    crowds = infrastructure.burst_crowds(source, made, min_accounts=params.stranger_accounts,
                                         min_share=params.fresh_share)
    crowds = crowds[~among(crowds["account_id"], enumerators)]
    if crowds.empty:
        return acquaintance.crowd_pairs({})
    times = created[among(created.index, made)].sort_values(kind="stable")
    burst = pd.Series(np.cumsum(np.diff(times.to_numpy(dtype=float), prepend=-np.inf)
                                > params.burst_window_hours * 3_600_000), index=times.index)
    crowds = crowds.assign(burst=burst.reindex(crowds["account_id"]).to_numpy())
    groups = {f"ip {ip}": list(frame["account_id"]) for ip, frame in crowds.groupby("ip", sort=True)}
    made_once = crowds.drop_duplicates(["burst", "account_id"])
    groups.update({f"burst {int(b)}": list(frame["account_id"])
                   for b, frame in made_once.groupby("burst", sort=True) if frame["ip"].nunique() > 1})
    found = targets.reciprocity(source, groups)
    members = {key: [a for a in accounts if a not in set(found[key]["acquainted"])]
               for key, accounts in groups.items() if len(accounts) >= params.stranger_accounts
               and found[key]["share"] < 0.2}
    # groups sharing an account are one farm, tied evenly: an address's ties on top of its burst's would
    # make each address a community of its own
    chained = nx.Graph()
    chained.add_edges_from((("group", key), a) for key, accounts in members.items() for a in accounts)
    farms = [sorted(a for a in part if not isinstance(a, tuple)) for part in nx.connected_components(chained)]
    return acquaintance.crowd_pairs(dict(enumerate(sorted(farms))))


def _closure_rates(stats: pd.DataFrame, closure: pd.DataFrame, usual: acquaintance.ClosureBaseline,
                   params: DetectionParams) -> pd.Series:
    """Each account's share of found people who know each other, for non-enumerators that found enough people."""
    enough = closure[closure["targets"] >= usual.min_targets]
    enough = enough[~among(enough.index, stats.index[stats["evidence"] >= params.seed_evidence])]
    return (enough["closed"] / enough["targets"]).rename("closure")


def _shared_list_workers(source, workers: pd.Index, params: DetectionParams) -> set[str]:
    """List workers that share several numbers each with many other list workers who never found them.

    Friends' address books overlap, but friends find each other and keep
    the usual closure; the accounts splitting one leaked list into
    overlapping parts find strangers, and each shares
    ``params.list_shared`` numbers or more, and at least ``params.list_overlap``
    of its list (cosine), with ``params.list_workers`` or more of the others:
    a friend of a few targets shares a handful of numbers among a book of
    friends. Ties are built from the workers only.
    """
    ties = targets.target_ties(source, max_lookers=params.max_lookers, min_shared=params.list_shared, accounts=workers)
    ties = ties[among(ties["a"], workers) & among(ties["b"], workers) & ~ties["mutual"]
                & (ties["overlap"] >= params.list_overlap)]
    degree = pd.concat([ties["a"], ties["b"]]).value_counts()
    return set(degree.index[degree >= params.list_workers])


def _stranger_ties(
    source, rate: pd.Series, workers: pd.Index, closure: pd.DataFrame, usual: acquaintance.ClosureBaseline,
    params: DetectionParams, cohorts: pd.DataFrame, slots: Mapping[int, list[str]], befriended: set,
    rare: pd.DataFrame,
) -> tuple[pd.DataFrame, pd.Series]:
    """Ties among the list workers behind addresses and devices whose accounts find strangers, and their z.

    An entity is hot when its accounts' pooled closure lies
    ``params.seed_stranger_z`` standard errors below the population's; its
    list workers are the accounts that found at least
    ``usual.min_targets`` people of whom at most half the usual share know
    each other, and that do not enumerate (enumerators find strangers by
    construction and have their own doors). Workers spread over residential
    proxies (a few accounts an exit) or a dozen carrier addresses (each with
    its bystanders) pool on no entity deciding alone; the accounts chained
    through such rare entities, or through entities whose pooled closure
    lies ``params.warm_stranger_z`` standard errors below the usual and is
    at most ``params.warm_closure`` of it, are pooled as one group (:func:`graph.detect.acquaintance.rare_groups`) and
    count like an entity, needing only what a warm entity does: exits and handsets few others
    use, chaining them, are a second family of evidence, and ten list workers on residential
    proxies pool under three standard errors below the usual however few people they know
    (development draw 40; on tuning draws 2 and 8 it found an operation and lost a
    look-alike). Chained through rare hosting or VPN addresses alone (datacenter
    addresses a handful of accounts rent, where households and carrier subscribers do not
    appear), a group needs only a pooled closure at most ``params.warm_closure`` of the
    usual, whatever its z: five to ten accounts cannot pool two standard errors below the
    usual, and the rented addresses are the second family (tuning draw 9: eight aged accounts
    working one list from five Vultr addresses pooled at z 1.7). So are the accounts made
    in one sign-up burst (``cohorts``,
    :func:`graph.detect.behaviour.cohort_links` among the accounts with a closure rate): an
    operation on carrier addresses and its own handsets shares nothing a link could see, but
    it made its accounts at once. A burst is itself evidence, so a cohort needs only what a
    warm entity does (``params.warm_stranger_z`` standard errors, at most
    ``params.warm_closure`` of the usual closure): a dozen list workers made in one evening
    cannot reach the z a crowd behind one address does, while a viral evening's newcomers
    find their friends and keep most of the usual closure. So are the accounts keeping one
    schedule's slots (``slots``, :func:`_slot_pools`), and since the schedule, not the
    people they found, gathered them, every account of a hot pool is one of its workers,
    those that found too few people to tell included, unless it finds friends
    (``befriended``: found enough people, most of whom know each other). The ``rare``
    links (:func:`graph.detect.acquaintance.rare_links` of the judged accounts and of the
    :func:`_unknown` ones, which found too few people to have a closure of their own)
    also run through those unknown accounts: chained through them an operation's exits
    hold together, and in a hot group they are its workers. Returns the ties and, per
    account, the largest z of the hot entities or groups it works from.
    """
    pooled = acquaintance.entity_closure(source, closure, usual, min_accounts=params.stranger_accounts)
    links = pd.concat([rare,
                       acquaintance.warm_links(source, pooled[pooled["closure"] <= usual.mean * params.warm_closure],
                                               rate.index, warm_z=params.warm_stranger_z)],
                      ignore_index=True)
    judged = set(rate.index)
    slot_links = acquaintance.stranger_pairs({k: [a for a in v if a in judged] for k, v in slots.items()}, reach=1)
    rented = acquaintance.rare_links(source, pd.Index(pd.unique(pd.concat([rare["a"], rare["b"]])), dtype=object),
                                     max_accounts=params.rare_link_accounts, kinds=("hosting", "vpn"))
    pools = {kind: acquaintance.rare_groups(found, closure.loc[rate.index], usual, min_accounts=params.stranger_accounts)
             for kind, found in (("group", links), ("cohort", cohorts), ("slot", slot_links), ("rented", rented))}
    groups = pd.concat([frame.assign(kind=kind) for kind, frame in pools.items()], ignore_index=True)
    far = groups["closure"] <= usual.mean * params.warm_closure
    warm = (groups["z"] >= params.warm_stranger_z) & far
    groups = groups[(groups["z"] >= params.seed_stranger_z) | warm | (far & (groups["kind"] == "rented"))]
    # a schedule gathered its pool, not the people its accounts found: every account of a hot pool works
    # the list, those that found too few people to tell included, but not those that find friends
    pool_of = {a: k for k, v in slots.items() for a in v}
    hot_pools = (groups[groups["kind"] == "slot"].assign(pool=lambda f: f["account_id"].map(pool_of))
                 .groupby("pool").agg(group=("group", "first"), z=("z", "first")))
    gathered = pd.DataFrame([(a, int(row.group), float(row.z), "slot") for k, row in hot_pools.iterrows()
                             for a in slots[k] if a not in befriended], columns=["account_id", "group", "z", "kind"])
    # the accounts too quiet to judge that chained a group (``hidden``: nobody knows them and they leave
    # only through rare exits) work it too
    chained = groups["kind"].isin(["group", "rented"]) & ~groups["judged"]
    groups = pd.concat([groups[(among(groups["account_id"], workers) | chained) & (groups["kind"] != "slot")], gathered],
                       ignore_index=True)
    members = {(kind, int(g)): list(frame["account_id"])
               for (kind, g), frame in groups.groupby(["kind", "group"], sort=True)}
    group_z = pd.Series(groups["z"].to_numpy(), index=groups["account_id"].to_numpy(dtype=object), dtype=float)
    hot = pooled[pooled["z"] >= params.seed_stranger_z]
    # each worker is tied through its few hottest entities only: a proxy pool's thousands of exits,
    # each shared by most of the pool, would otherwise ring the same accounts thousands of times
    users = source.query(f"""
        WITH used AS (
            SELECT DISTINCT h.entity_type, h.entity, h.z, u.account_id FROM {infrastructure.pooling_usage(source)} u
            JOIN {{hot}} h ON h.entity_type = u.entity_type AND h.entity = u.entity
            WHERE u.account_id IN (SELECT account_id FROM {{workers}})
        ), ranked AS (
            SELECT *, row_number() OVER (PARTITION BY account_id ORDER BY z DESC, entity_type, entity) AS rank
            FROM used
        )
        SELECT entity_type, entity, z, account_id FROM ranked WHERE rank <= 3 ORDER BY 1, 2, 4
    """, hot=hot[["entity_type", "entity", "z"]], workers=pd.DataFrame({"account_id": list(workers)}, dtype=object))
    members.update({key: list(frame["account_id"]) for key, frame in users.groupby(["entity_type", "entity"], sort=True)})
    entity_z = users.groupby("account_id")["z"].max()
    best = pd.concat([entity_z, group_z]).groupby(level=0).max().sort_index()
    return acquaintance.stranger_pairs(members), best


def _farm_workers(source, closure: pd.DataFrame, usual: acquaintance.ClosureBaseline,
                  params: DetectionParams) -> pd.Series:
    """The accounts of device fingerprints whose accounts, pooled, find strangers, and their z.

    An emulator farm's dozens of accounts, each looking up a few of a list's
    numbers, find a person or two apiece: none is a list worker by its own
    closure, but pooled on their fingerprint
    (:func:`graph.detect.acquaintance.farm_closure`) the people they found
    do not know each other (development draw 168: 273 aged accounts on
    eight emulators, five lookups each, behind carrier addresses). A
    fingerprint is hot as an entity is for :func:`_stranger_ties`: its
    pooled closure ``params.seed_stranger_z`` standard errors below the
    usual, or ``params.warm_stranger_z`` and at most ``params.warm_closure``
    of it; ``params.seed_device_accounts`` accounts that found someone at
    least. Every account looking numbers up through it works the list, those
    that found nobody included, and so do those whose few finds know each
    other: an emulator's accounts are one hand, and judged as friends they
    were cut from their operation (development draw 107: two of 212).
    Returns each worker's z; the fingerprint ties them already
    (:func:`graph.detect.infrastructure.infrastructure_ties`), and ties of their own would cut an
    operation into its emulators (tuning draw 2: 73 accounts on three emulators behind one VPN's exits).
    """
    farms = acquaintance.farm_closure(source, closure, usual, min_accounts=params.seed_device_accounts)
    warm = (farms["z"] >= params.warm_stranger_z) & (farms["closure"] <= usual.mean * params.warm_closure)
    hot = farms[(farms["z"] >= params.seed_stranger_z) | warm]
    if hot.empty:
        return pd.Series(dtype=float)
    users = source.query(f"""
        SELECT u.account_id, max(h.z) AS z FROM {infrastructure.entity_usage(source)} u JOIN {{hot}} h USING (entity)
        WHERE u.entity_type = 'device' AND u.lookups > 0 GROUP BY 1 ORDER BY 1
    """, hot=hot[["entity", "z"]])
    return pd.Series(users["z"].to_numpy(dtype=float), index=users["account_id"].to_numpy(dtype=object))


def _exit_lists(source, rare: pd.DataFrame, found: set[str], params: DetectionParams) -> pd.DataFrame:
    """``a, b``: accounts chained through rare exits that share numbers with each other and never found each other.

    A small operation working a leaked list from residential proxies gives
    each account its own slice of the list and its own friends for cover:
    none finds mostly strangers, none misses, no exit pools enough of them,
    and ten accounts are too few for any crowd. But the slices overlap, so
    the accounts share ``params.list_shared`` numbers or more pairwise, and
    they leave through exits few others use (``rare``,
    :func:`graph.detect.acquaintance.rare_links`). Households and friends
    who share a router share contacts too, but they are a few, and they
    find each other. So within each component of the rare links, the pairs
    sharing that many numbers without either finding the other chain into
    groups; a group of ``params.stranger_accounts`` or more, fewer than a
    fifth of which another member found (as in :func:`_list_ties`), is one
    list's workers, those found left out. The door opens cases nothing else
    opened: a group half of which another door already ``found`` is that
    door's operation, and its other accounts join it through their ties to
    it (ties of the whole group piled on the operation's own made its
    community heavy enough for modularity to cut it in two: development
    draw 45, camouflaged); the found accounts of a smaller share are left
    out of the ties for the same reason.
    """
    links = nx.Graph()
    links.add_edges_from(zip(rare["a"], rare["b"], strict=True))
    component = {a: i for i, part in enumerate(nx.connected_components(links))
                 if len(part) >= params.stranger_accounts for a in part}
    if not component:
        return acquaintance.crowd_pairs({})
    ties = targets.target_ties(source, max_lookers=params.max_lookers, min_shared=params.list_shared,
                               accounts=component)
    ties = ties[~ties["mutual"] & (ties["a"].map(component) == ties["b"].map(component))]
    sharing = nx.Graph()
    sharing.add_edges_from(zip(ties["a"], ties["b"], strict=True))
    groups = {i: sorted(part) for i, part in enumerate(nx.connected_components(sharing))
              if len(part) >= params.stranger_accounts and len(part & found) < len(part) / 2}
    known = targets.reciprocity(source, groups)
    left_out = {i: found | set(known[i]["acquainted"]) for i in groups}
    return acquaintance.crowd_pairs({i: [a for a in members if a not in left_out[i]]
                                     for i, members in groups.items() if known[i]["share"] < 0.2})


def _unknown(source, closure: pd.DataFrame, accounts: pd.Series, max_accounts: int) -> set[str]:
    """The ``accounts`` nobody knows that connect only through addresses few others use.

    Nobody found them by number, and none of the few people they found
    knows them (none closed); and every address they used holds at most
    ``max_accounts`` accounts: an operation's accounts leave through its
    proxy exits, while a household behind a borrowed router, as unknown as
    a newcomer may be, also reaches the service through its carrier's
    shared addresses.
    """
    if accounts.empty:
        return set()
    found = source.query(f"""
        SELECT DISTINCT found AS account_id FROM {targets.found_pairs(source)}
        WHERE found IN (SELECT account_id FROM {{accounts}})
    """, accounts=pd.DataFrame({"account_id": accounts.to_numpy(dtype=object)}))
    closed = closure["closed"].reindex(accounts).fillna(0).to_numpy() > 0
    unknown = sorted(set(accounts[~closed]) - set(found["account_id"].tolist()))
    confined = source.query(f"""
        WITH mine AS (
            SELECT account_id, entity FROM {infrastructure.entity_usage(source)}
            WHERE entity_type = 'ip' AND account_id IN (SELECT account_id FROM {{accounts}})
        ), sizes AS (
            SELECT entity, count(*) AS accounts FROM {infrastructure.entity_usage(source)}
            WHERE entity_type = 'ip' AND entity IN (SELECT entity FROM mine) GROUP BY 1
        )
        SELECT mine.account_id FROM mine JOIN sizes USING (entity)
        GROUP BY 1 HAVING max(sizes.accounts) <= {int(max_accounts)}
    """, accounts=pd.DataFrame({"account_id": unknown}, dtype=object))
    return set(confined["account_id"].tolist())


def _infrastructure_seeds(
    source, stats: pd.DataFrame, baseline: misses.HitBaseline, params: DetectionParams
) -> tuple[set[str], pd.DataFrame]:
    """Accounts whose lookups miss at volume, alone or pooled on what they share, emulator farms' accounts, and their ties.

    However an enumerator spreads its numbers, it misses; one account's
    deficit may be within the population's spread, but the same deficit
    pooled over the accounts funnelled through one address or fingerprint
    is not (those accounts become seeds when they miss a little
    themselves). And a device fingerprint that many accounts look numbers
    up from is an emulator farm's, whatever the lookups find: a family's
    tablet holds a few accounts.

    The accounts that miss themselves (:func:`graph.detect.misses.missing`)
    behind one such address or device are tied (``a, b``; detection keeps
    the pairs that work the same countries' numbers), as the list workers behind
    an address whose accounts find strangers are (:func:`_stranger_ties`):
    an operation on carrier addresses shares each with hundreds of
    bystanders, so a resource-allocation tie through it is negligible,
    yet among the accounts there that miss it is all that is shared. Each
    account is tied through its three hottest addresses or devices.
    """
    own = stats["deficit_z"]
    # alone, an account must miss at half the usual rate or less (an effect, not only a standard error)
    seeds = set(stats.index[stats["missing"] & (own >= params.seed_deficit)])
    pooled = misses.entity_deficits(source, baseline)
    pooled["farm"] = (pooled["entity_type"] == "device") & (pooled["lookers"] >= params.seed_device_accounts)
    hot = pooled[(pooled["deficit_z"] >= params.seed_entity_deficit) | pooled["farm"]]
    if hot.empty:
        return seeds, acquaintance.stranger_pairs({})
    users = source.query(f"""
        SELECT DISTINCT u.entity_type, u.entity, u.account_id, h.farm, h.deficit_z FROM {infrastructure.entity_usage(source)} u
        JOIN {{hot}} h ON h.entity_type = u.entity_type AND h.entity = u.entity
        WHERE u.lookups > 0
    """, hot=hot[["entity_type", "entity", "farm", "deficit_z"]])
    missing = own.reindex(users["account_id"]).to_numpy() >= params.member_deficit
    seeds |= set(users.loc[users["farm"].to_numpy() | missing, "account_id"].tolist())
    # ties among the accounts that miss themselves, through each one's three hottest addresses or devices
    mine = users[stats["missing"].reindex(users["account_id"]).fillna(False).to_numpy(dtype=bool) & ~users["farm"]]
    mine = mine.sort_values(["account_id", "deficit_z", "entity_type", "entity"], ascending=[True, False, True, True])
    mine = mine[mine.groupby("account_id").cumcount() < 3]
    members = {key: frame["account_id"].tolist() for key, frame in mine.groupby(["entity_type", "entity"], sort=True)
               if len(frame) >= 2}
    return seeds, acquaintance.stranger_pairs(members)


def _listing(row: tuple) -> bool:
    """Whether a judged cluster works a list.

    Its strongest evidence is strangers or shared targets
    (:func:`graph.detect.scoring.cluster_kind`'s "targeted lookups"), and it
    neither enumerates nor misses (:func:`_works_numbers`).
    """
    return scoring.cluster_kind(row[2], row[3]) == "targeted lookups" and not _works_numbers(row)


def _works_numbers(row: tuple) -> bool:
    """Whether a judged cluster's enumerating and missing count for 1.0 of log-odds or more.

    1.0 is the least a group's behaviour counts for when squads are joined.
    """
    return sum(row[3].get(k, 0.0) for k in (*scoring.ENUMERATING, "misses")) >= 1.0


def _by_country(kept: list[tuple], judge: Judge, G: nx.Graph, regions: pd.DataFrame,
                params: DetectionParams) -> list[tuple]:
    """Clusters that are several list operations renting one pool of exits, each working its own country's list, split.

    The exits' ties across operations can outweigh those inside each
    (development draw 104: four list operations on one VPN pool in one
    cluster). A cluster working a list (:func:`_listing`) is split by
    :func:`graph.detect.resemblance.region_split`, and each part is judged
    on its own: those under ``params.keep_score`` were bystanders. An
    operation working numbers may divide its countries between its accounts
    (sequential walks over two countries' ranges whose accounts also share
    numbers, on camouflaged tuning draw 9) and is left whole.
    """
    out = []
    for row in kept:
        parts = resemblance.region_split(G, [row[0]], regions, min_members=scoring.STRANGERS_MIN_SIZE,
                                         max_shared=params.operation_shared_targets) if _listing(row) else [row[0]]
        parts = _one_making(parts, judge)
        if len(parts) == 1:
            out.append(row)
            continue
        out.extend(part for part in judge.score_groups(parts) if part[1] >= params.keep_score)
    return out


def _one_making(parts: list[list[str]], judge: Judge) -> list[list[str]]:
    """``parts`` of one cluster joined again where a device fingerprint, or one sign-up burst, holds two members of each.

    Operations renting one pool of exits each bring their own handsets or
    emulators and make their own accounts: accounts of two parts taking
    turns on one fingerprint, or made in one burst, are one operation's,
    however their few lookups each lean to a country (development draw 168:
    273 accounts on eight emulators, five lookups each, split three ways by
    the countries of their numbers) or each emulator keeps its own minute
    of the hour (tuning draw 2: 73 accounts made in one evening, on three
    emulators). The burst is the chain of :func:`graph.detect.behaviour.cohort_links`.
    """
    if len(parts) < 2:
        return parts
    members = [m for part in parts for m in part]
    devices = judge.edges[(judge.edges["entity_type"] == "device") & among(judge.edges["account_id"], members)]
    made = nx.Graph(behaviour.cohort_links(judge.created, judge.bursts & set(members),
                                           judge.params.burst_window_hours).to_numpy().tolist())
    makers = pd.DataFrame([(f"burst:{min(c)}", m) for c in nx.connected_components(made) for m in c],
                          columns=["entity", "account_id"], dtype=object)
    return _kin_parts(parts, pd.concat([devices[["entity", "account_id"]].assign(entity=lambda f: "device:" + f["entity"]),
                                        makers], ignore_index=True))


def _kin_parts(parts: list[list[str]], makers: pd.DataFrame) -> list[list[str]]:
    """``parts`` joined where one ``entity`` of ``makers`` (``entity, account_id``) holds two members of each.

    Examples
    --------
    >>> makers = pd.DataFrame({"entity": ["emu", "emu", "emu", "emu", "own", "own"],
    ...                        "account_id": ["a", "b", "c", "d", "e", "f"]})
    >>> _kin_parts([["a", "b"], ["c", "d"], ["e", "f"]], makers)
    [['a', 'b', 'c', 'd'], ['e', 'f']]
    """
    part_of = {m: i for i, part in enumerate(parts) for m in part}
    mine = makers[among(makers["account_id"], part_of.keys())].drop_duplicates(["entity", "account_id"])
    held = mine.assign(part=mine["account_id"].map(part_of)).groupby(["entity", "part"]).size()
    joined = nx.Graph()
    joined.add_nodes_from(range(len(parts)))
    for _, counts in held[held >= 2].groupby(level="entity"):
        shared = counts.index.get_level_values("part").tolist()
        joined.add_edges_from(zip(shared, shared[1:], strict=False))
    return [sorted(m for i in sorted(c) for m in parts[i]) for c in sorted(nx.connected_components(joined), key=min)]


def _by_schedule(kept: list[tuple], judge: Judge, params: DetectionParams) -> list[tuple]:
    """Clusters that are several list operations on one pool of exits and one list, each on its own cron, split.

    Operations renting one commercial VPN's exits for one leaked list share
    the exits and many targets, and may share the list's countries too
    (development draw 104: three operations in one cluster after the split
    by country). Each operator's cron fires at its own minute of the hour.
    A cluster working a list (:func:`_listing`) whose members keep two
    minutes of the hour or more (:func:`graph.detect.synchrony.minute_schedules`)
    is split into one part per schedule and one of the members keeping
    none, and each part is judged on its own: those under
    ``params.keep_score`` were bystanders.
    """
    lookups = judge.onsets[judge.onsets["lookup"].astype(bool)]
    out = []
    for row in kept:
        schedules = synchrony.minute_schedules(
            lookups, row[0], min_members=scoring.STRANGERS_MIN_SIZE, max_log10_p=params.clock_log10_p,
            min_days=params.schedule_days) if _listing(row) else []
        if len(schedules) < 2:
            out.append(row)
            continue
        timed = {m for schedule in schedules for m in schedule.accounts}
        parts = _one_making([p for p in [*(schedule.accounts for schedule in schedules),
                                         [m for m in row[0] if m not in timed]] if p], judge)
        if len(parts) == 1:
            out.append(row)
            continue
        out.extend(part for part in judge.score_groups(parts) if part[1] >= params.keep_score)
    return out


def _joined_by_cron(kept: list[tuple], judge: Judge,
                    params: DetectionParams) -> tuple[list[tuple], dict[str, object], dict[str, str]]:
    """Flagged clusters on one cron through one exit pool, joined as one operation's squads.

    Pruning, regrouping and the splits by country and by cron leave some
    operations in fragments that nothing ties any more (development draw
    104: a burst-made list operation in two clusters of 17 and 14 accounts,
    both keeping 27 minutes past the hour through the same VPN exits). Two
    flagged clusters that neither enumerate nor miss (:func:`_works_numbers`)
    join when at least half of each keeps one schedule
    (:func:`graph.detect.synchrony.minute_schedules`), the two schedules'
    windows overlap, their hours of the day are mostly the same (Jaccard at
    least 1/2: two operators' crons differ in their hours too) and the
    clusters' lookups left through an address in common. The cron alone is
    not enough: one operator's minute is another's one time in twenty
    (development draw 101 keeps one operation's fragments on different
    exits apart). Each cluster joined is a squad of the operation. Returns
    the rows, the joined members' squad keys and, for each joined member,
    what joined its squad to the rest (the coordination graph's ties across
    squads are only the exits' weak ones, which bystanders share).
    """
    lookups = judge.onsets[judge.onsets["lookup"].astype(bool)]
    ips = judge.edges[(judge.edges["entity_type"] == "ip") & (judge.edges["lookups"] > 0)]
    exits = ips.groupby("account_id", sort=False)["entity"].agg(frozenset).to_dict()
    crons: dict[int, tuple[synchrony.Schedule, frozenset]] = {}
    for i, (members, score, *_) in enumerate(kept):
        if score < scoring.FLAG_THRESHOLD or _works_numbers(kept[i]):
            continue
        schedules = synchrony.minute_schedules(lookups, members, min_members=scoring.STRANGERS_MIN_SIZE,
                                               max_log10_p=params.clock_log10_p, min_days=params.schedule_days)
        if schedules and 2 * len(schedules[0].accounts) >= len(members):
            crons[i] = (schedules[0], frozenset().union(*(exits.get(m, frozenset()) for m in members)))
    same = nx.Graph()
    same.add_nodes_from(crons)
    for i, j in itertools.combinations(sorted(crons), 2):
        (a, a_exits), (b, b_exits) = crons[i], crons[j]
        near = min((a.minute - b.minute) % 60, (b.minute - a.minute) % 60) < 3
        if near and len(a.hours & b.hours) * 2 >= len(a.hours | b.hours) and a_exits & b_exits:
            same.add_edge(i, j)

    def say(part: list[int]) -> str:
        minutes = [crons[i][0].minute for i in part]
        # windows three minutes wide, less than three apart (across the hour: 58 and 0 are one cron)
        first = min(minutes, key=lambda m: sum((m2 - m) % 60 for m2 in minutes))
        last = (first + max((m - first) % 60 for m in minutes) + 2) % 60
        return (f"one schedule (lookups starting {first}-{last} minutes past the hour, at the same hours of the day) "
                "through exits in common")

    return _as_squads(kept, same, judge, "cron", say)


def _joined_by_start(kept: list[tuple], judge: Judge,
                     params: DetectionParams) -> tuple[list[tuple], dict[str, object], dict[str, str]]:
    """Flagged clusters most of whose accounts started looking numbers up together, joined as one operation's squads.

    A scheduler firing an operation's squads at once starts them within
    seconds of each other. In a case's first days it may have fired too
    seldom for a schedule or a synchrony tie (tuning draw 3, its first
    seven days: an operation of aged accounts, each walking its own ranges
    through residential proxies and its own handset, was found as twelve
    clusters that nothing else tied; all its accounts started within 73
    seconds of each other). Two flagged clusters join when half of each or
    more started a session in one two-minute window
    (:func:`graph.detect.synchrony.common_start`), their windows overlap,
    both work numbers or neither does (:func:`_works_numbers`) and their
    lookups fall on the same countries' numbers (sharing
    ``params.operation_targets`` of them): two operators' crons firing on
    the same round hour work lists of their own. Each cluster joined is a
    squad of the operation. Returns the rows, the joined members' squad
    keys and what joined each of them.
    """
    lookups = judge.onsets[judge.onsets["lookup"].astype(bool)]
    moments: dict[int, tuple[int, int]] = {}
    for i, (members, score, *_) in enumerate(kept):
        if score < scoring.FLAG_THRESHOLD or len(members) < scoring.STRANGERS_MIN_SIZE:
            continue
        start, together = synchrony.common_start(lookups, members)
        if 2 * together >= len(members):
            moments[i] = (start, together)
    same = nx.Graph()
    same.add_nodes_from(moments)
    for i, j in itertools.combinations(sorted(moments), 2):
        if abs(moments[i][0] - moments[j][0]) >= 2 or _works_numbers(kept[i]) != _works_numbers(kept[j]):
            continue
        a, b = judge.target_profile(kept[i][0]), judge.target_profile(kept[j][0])
        if a is not None and b is not None and resemblance.shared_mass(a, b) >= params.operation_targets:
            same.add_edge(i, j)

    def say(part: list[int]) -> str:
        first = min(moments[i][0] for i in part)
        at = pd.Timestamp(first * 60_000, unit="ms", tz="UTC").strftime("%Y-%m-%d %H:%M")
        return f"one start (most of its accounts' lookups began within two minutes of the rest's, at {at} UTC)"

    return _as_squads(kept, same, judge, "start", say)


def _as_squads(kept: list[tuple], same: nx.Graph, judge: Judge, join: str,
               say: Callable[[list[int]], str]) -> tuple[list[tuple], dict[str, object], dict[str, str]]:
    """The clusters ``same`` links (indices into ``kept``), each linked set judged as one operation.

    Each cluster joined is a squad of it (keyed by ``join``, the set and the
    cluster); ``say`` names what joined the set. Returns the rows, the joined
    members' squad keys and, for each of them, what joined it.
    """
    joined = [sorted(part) for part in nx.connected_components(same) if len(part) > 1]
    squads = {m: (join, part[0], i) for part in joined for i in part for m in kept[i][0]}
    why = {}
    for part in joined:
        text = say(part)
        why.update({m: text for i in part for m in kept[i][0]})
    rows = judge.score_groups([sorted(m for i in part for m in kept[i][0]) for part in joined]) if joined else []
    gone = {i for part in joined for i in part}
    return [row for i, row in enumerate(kept) if i not in gone] + rows, squads, why


def _slot_pools(slots: pd.DataFrame, links: pd.DataFrame) -> dict[int, list[str]]:
    """The accounts of ``links`` (pairs sharing a rare address or device), chained slot by slot and link by link.

    An account working two slots joins them, and so does an exit or a handset two accounts
    working different slots share: one operation's slots are one pool.
    """
    accounts = set(links["a"].tolist()) | set(links["b"].tolist())
    mine = slots[among(slots["account_id"], accounts)].drop_duplicates(["slot", "account_id"])
    if mine.empty:
        return {}
    graph = nx.Graph()
    graph.add_edges_from(((0, a), (1, int(k))) for a, k in zip(mine["account_id"], mine["slot"], strict=True))
    graph.add_edges_from(((0, a), (0, b)) for a, b in zip(links["a"], links["b"], strict=True))
    pools = sorted(sorted(a for side, a in part if side == 0) for part in nx.connected_components(graph))
    return dict(enumerate(pools))


def _schedule_slots(onsets: pd.DataFrame, created: pd.Series, params: DetectionParams) -> tuple[pd.DataFrame, pd.Series]:
    """A schedule's slots (:func:`graph.detect.synchrony.recurring_spikes`) and each account's share of days in one.

    Jitter blurs the minute, not the hour: crowds of lookup onsets in wider
    buckets recurring at one time of day on several days are a schedule's
    slots, and the accounts starting in them on most of their working days
    its accounts. An onboarding sync within the hour after sign-up is a
    viral evening's, not a slot's, and does not count.
    """
    made = onsets["account_id"].map(created).to_numpy(dtype=float)
    settled = onsets[~((onsets["ts_ms"].to_numpy(dtype=float) - made) <= 3_600_000)]
    slots = synchrony.recurring_spikes(
        synchrony.lockstep_spikes(settled, bucket_seconds=params.slot_bucket_seconds),
        bucket_seconds=params.slot_bucket_seconds, tolerance_seconds=params.slot_tolerance_seconds,
        min_days=params.slot_days,
    )
    return slots, synchrony.slot_share(slots, settled)


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
    progress: ProgressCallback | None = None,
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
    # a sequential walk, however camouflaged, leaves runs of consecutive numbers no address book holds
    stats["run_numbers"] = enumeration.run_numbers(
        source, min_run=params.run_length, exclude=stats.index[stats["evidence"] >= params.enumerator_evidence]
    ).reindex(stats.index, fill_value=0).astype(float)
    runners = set(stats.index[stats["run_numbers"] >= params.seed_run_numbers])
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
    seeds = set(stats.index[stats["evidence"] >= params.seed_evidence]) | runners
    missers, miss_ties = _infrastructure_seeds(source, stats, baseline, params)
    seeds |= missers
    # aged accounts work leaked lists too: those whose lookups are mostly numbers that several
    # others looked up, far more than address books overlap, are looked among as well
    popular = targets.popular_target_share(source, max_lookers=params.max_lookers)
    popular = popular[popular["numbers"] >= 20]
    unusual = enumeration.robust_z(popular["share"], min_scale=0.05) >= params.seed_target_z
    lists = _list_ties(source, bursts | set(popular.index[unusual]), params)
    seeds |= set(lists["a"].tolist()) | set(lists["b"].tolist())
    # a scheduler gives its accounts away by when they start, whatever they look up and from where
    lookup_onsets = synchrony.activity_onsets(source, gap_seconds=params.onset_gap_seconds, lookups_only=True)
    spikes = synchrony.lockstep_spikes(lookup_onsets, bucket_seconds=params.lockstep_bucket_seconds)
    lockstep = synchrony.lockstep_days(spikes)
    scheduled = set(lockstep.index[lockstep >= params.seed_lockstep_days]) & callers
    seeds |= scheduled
    slots, on_slots = _schedule_slots(lookup_onsets, created, params)
    # a cron firing one or two of many accounts a tick crowds no slot: it shows at one minute of the hour
    clocked = synchrony.clockwork(
        lookup_onsets, infrastructure.looking_through(source, min_accounts=params.stranger_accounts),
        min_accounts=params.stranger_accounts, max_log10_p=params.clock_log10_p, min_days=params.slot_days,
        seed=params.seed,
    )
    # a cron firing a few of its aged accounts at a few times of the day, each for a handful of lookups,
    # keeps no minute of the hour and crowds no slot where people's own sessions peak (development draw
    # 137: 104 accounts behind eight rented addresses, three windows a day, missed): pooled behind their
    # addresses or the hosting network those belong to, their onsets pile up in minutes of the day
    clocked = pd.concat([clocked, synchrony.day_clock(
        lookup_onsets, infrastructure.looking_through(source, min_accounts=params.stranger_accounts, networks=True),
        min_accounts=params.stranger_accounts, max_log10_p=params.clock_log10_p, min_days=params.slot_days,
        seed=params.seed,
    )], ignore_index=True).groupby(["a", "b"], sort=True)["windows"].sum().reset_index()
    del lookup_onsets  # a busy case's millions of onsets
    # a bystander starting in a slot's minutes shares nothing else with the schedule's accounts; those
    # share proxy exits, handsets or emulators (an address or device few others use) with each other, or
    # hosting or VPN addresses they nearly fill however many of them each holds (an operation's own)
    on_slots = on_slots[on_slots >= params.slot_share].index.intersection(sorted(callers))
    paired = pd.concat([acquaintance.rare_links(source, on_slots, max_accounts=params.rare_link_accounts),
                        acquaintance.dedicated_links(source, on_slots, min_accounts=params.stranger_accounts,
                                                     min_share=params.fresh_share)],
                       ignore_index=True).drop_duplicates(ignore_index=True)
    slotted = set(paired["a"].tolist()) | set(paired["b"].tolist())
    ticked = set(clocked["a"].tolist()) | set(clocked["b"].tolist())
    seeds |= slotted | ticked
    # a scheduler firing a few of its many accounts at a time meets each pair of them too seldom for a
    # synchrony tie; spike by spike (slot by slot) they chain into one operation
    crowds = synchrony.spike_ties(spikes, scheduled)
    # accounts made in one sign-up burst, most of which miss, walk runs of numbers or look up another
    # country's numbers than the one they connect from, are one cohort: camouflaged enumerators and list
    # workers on their own handsets and addresses share nothing else a tie could see (a viral moment's
    # newcomers find their friends, who live where they do)
    made = bursts & callers
    abroad = resemblance.looking_abroad(resemblance.target_regions(source, made), resemblance.home_countries(source, made))
    abroad = abroad[(abroad["lookups"] >= params.abroad_lookups)
                    & (abroad["abroad"] >= params.abroad_share * abroad["lookups"])]
    cohort = behaviour.cohort_pairs(created, bursts, set(stats.index[stats["missing"]]) | set(abroad.index) | runners,
                                    params.burst_window_hours)
    seeds |= set(cohort["a"].tolist()) | set(cohort["b"].tolist())
    # the people an address book finds know each other; a leaked list's targets, however it is divided,
    # do not: pooled behind one address or device, accounts finding strangers are list workers
    closure = acquaintance.target_closure(source)
    usual_closure = acquaintance.closure_baseline(closure)
    rate = _closure_rates(stats, closure, usual_closure, params)
    workers = rate.index[rate <= usual_closure.mean / 2]
    befriended = set(rate.index.difference(workers))
    # accounts that found too few people to have a closure of their own, nobody knows, behind rare exits only
    hidden = _unknown(source, closure, pd.Series(sorted(callers - set(rate.index)), dtype=object),
                      params.rare_link_accounts)
    rare = acquaintance.rare_links(source, rate.index.union(pd.Index(sorted(hidden), dtype=object)),
                                   max_accounts=params.rare_link_accounts)
    strangers, stranger_z = _stranger_ties(source, rate, workers, closure, usual_closure, params,
                                           behaviour.cohort_links(created, bursts & set(rate.index),
                                                                  params.burst_window_hours),
                                           _slot_pools(slots, paired), befriended, rare)
    # an emulator farm's accounts may find a person or two each: pooled on their fingerprint, strangers
    stranger_z = pd.concat([stranger_z, _farm_workers(source, closure, usual_closure, params)]
                           ).groupby(level=0).max().sort_index()
    seeds |= set(strangers["a"].tolist()) | set(strangers["b"].tolist())
    # a small operation's accounts, each with a little of one list and its own friends for cover, share
    # more numbers with each other than with anyone, behind exits few others use
    exits = _exit_lists(source, rare, seeds, params)
    seeds |= set(exits["a"].tolist()) | set(exits["b"].tolist())
    # slot by slot, a schedule's accounts (keeping its slots or its minute of the hour) chain into one
    # operation, and those keeping one minute behind an address are tied through it; those whose lookups
    # find a circle of friends are not its accounts
    ticking = clocked[~among(clocked["a"], befriended) & ~among(clocked["b"], befriended)]
    crowds = pd.concat([crowds, synchrony.spike_ties(slots, (slotted | ticked) - befriended),
                        ticking[["a", "b"]].assign(weight=ticking["windows"].astype(float))], ignore_index=True)
    crowds = crowds.groupby(["a", "b"], sort=True)["weight"].sum().reset_index()
    seeds |= _shared_list_workers(source, workers.difference(stats.index[stats["missing"]]), params)
    # a farm's burst-made accounts leave through addresses it rented for them, however little each looks up
    fresh = _fresh_crowds(source, created, made, set(stats.index[stats["evidence"] >= params.seed_evidence]), params)
    seeds |= set(fresh["a"].tolist()) | set(fresh["b"].tolist())
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
    # camouflage dilutes an enumerator's own evidence, not where its numbers lie: the accounts trying
    # several numbers of each block the clear enumerators swept, finding almost nobody, are tied to each
    # other (not to the sweepers: a heavy user's book can sweep a block too; squads join their operation
    # when judged); so are those of the blocks such accounts swept together, when no account is clear
    mates = enumeration.block_mates(
        source, enumerators, min_swept=params.swept_numbers, min_numbers=params.mate_numbers, min_share=params.mate_share,
        min_per_block=params.mate_block_numbers, max_hit=baseline.p0 * params.mate_hit_share,
    )
    swept = acquaintance.stranger_pairs({int(block): list(frame["account_id"])
                                         for block, frame in mates.groupby("block", sort=True)})

    # Ties among seeds alone bring no newcomer: the edges, onsets and infrastructure and synchrony ties
    # are read once, for the candidates, below (at the incident's scale each cost seconds). Only given
    # edges (every account's) tie a seed to an account outside them.
    infra_seed = (infrastructure.infrastructure_ties(edges, focus=seeds, max_accounts=params.max_entity_accounts)
                  if edges is not None else pd.DataFrame())

    def touching(frame: pd.DataFrame, group: set) -> pd.DataFrame:
        return frame[among(frame["a"], group) | among(frame["b"], group)]

    ties = _tie_table(infra_seed, touching(sharding, seeds), target_seed, pd.DataFrame(), lists, cohort, strangers,
                      crowds, miss_ties, swept, fresh, exits)
    strong = ties[ties["weight"] >= params.min_tie]
    candidates = set(seeds) | set(strong["a"].tolist()) | set(strong["b"].tolist())
    candidates &= callers

    _step(progress, f"shared infrastructure ({len(seeds):,} seeds, {len(candidates):,} candidates)", 0.3)
    newcomers = candidates - seeds
    shared = target_seed if not newcomers else pd.concat(
        [target_seed, targets.target_ties(source, max_lookers=params.max_lookers, accounts=newcomers)],
        ignore_index=True,
    ).drop_duplicates(["a", "b"]).sort_values(["a", "b"], ignore_index=True)
    if edges is None:
        cand_edges = infrastructure.infrastructure_edges(source, candidates)
        infra = infrastructure.infrastructure_ties(cand_edges, focus=candidates, max_accounts=params.max_entity_accounts)
    else:
        cand_edges = edges[among(edges["account_id"], candidates)]
        infra = infra_seed if not newcomers else infrastructure.infrastructure_ties(
            edges, focus=candidates, max_accounts=params.max_entity_accounts)
    onsets = synchrony.activity_onsets(source, candidates, gap_seconds=params.onset_gap_seconds)
    sync = synchrony.synchrony_ties(onsets, bucket_seconds=params.sync_bucket_seconds, min_shared=3,
                                     min_jaccard=_SYNC_FLOOR)

    _step(progress, "coordination graph", 0.45)
    regions = resemblance.target_regions(source, candidates)
    infra = infra.assign(resemblance=resemblance.region_resemblance(regions, infra["a"], infra["b"]))
    crowds = crowds.assign(resemblance=resemblance.region_resemblance(regions, crowds["a"], crowds["b"]))
    # missing behind one address is a tie only between accounts on one job: a bystander behind the
    # operation's VPN exit who misses too works other countries' numbers, and two operations on one
    # country's carrier addresses both look up numbers there besides their own foreign ones (so the
    # share in common, not the cosine, which that home part dominates)
    alike = resemblance.region_resemblance(regions, miss_ties["a"], miss_ties["b"], shared=True)
    miss_ties = miss_ties[alike >= params.operation_targets]
    G = coordination_graph(candidates, infra, sharding, shared, sync, lists, cohort, strangers, crowds, miss_ties,
                           swept, fresh, exits)

    _step(progress, f"communities ({G.number_of_nodes():,} accounts, {G.number_of_edges():,} ties)", 0.55)
    communities = merge_dense_neighbours(
        G, detect_communities(G, params.method, resolution=params.resolution, seed=params.seed)
    )
    groups = [sorted(c) for c in communities if len(c) >= 2 or stats.loc[next(iter(c)), "evidence"] > 0]

    _step(progress, f"scoring ({len(groups):,} groups)", 0.65)
    judge = Judge(
        source=source, stats=stats, G=G, edges=cand_edges, coverage=coverage, sharding=sharding,
        onsets=onsets, sync=sync, created=created, labels=labels, population_hit=population_hit,
        baseline=baseline, params=params, bursts=frozenset(bursts), stranger_z=stranger_z,
        closure=closure, usual_closure=usual_closure, regions=regions,
        mates=frozenset(mates["account_id"].tolist()), slotted=frozenset(slotted), clocked=frozenset(ticked), abroad=resemblance.looking_abroad(regions, resemblance.home_countries(source, candidates)),
    )
    # squads tied into one operation are judged together, each kept as a sub-group
    scored, squad_of = judge.merge_operations(judge.score_groups(groups))
    # prune members that lack what makes their cluster suspicious; judge them by what they share
    final: list[tuple[list[str], float, dict, dict]] = []
    rescore: list[list[str]] = []
    remainders: list[list[str]] = []
    pruned: list[list[list[str]]] = []  # each pruned cluster's pruned members, by connected part
    origin: dict[str, int] = {}  # a pruned cluster's members -> which cluster
    for number, (members, score, features, parts) in enumerate(scored):
        weak = judge.weak_members(members, features, parts) if score >= params.keep_score and len(members) > 1 else []
        if weak and len(weak) < len(members):
            origin.update(dict.fromkeys(members, number))
            remainders.append([m for m in members if m not in weak])
            # what the pruned members share among themselves (a second operation that shares
            # an exit with the first) is judged on its own
            pruned.append([sorted(part) for part in sorted(nx.connected_components(G.subgraph(weak)), key=min)])
        else:
            final.append((members, score, features, parts))
    # what the pruned members bridged falls apart into its parts; parts of either that resemble each
    # other in two ways (squads joined by resemblance, not ties) are one again
    split = pruned + [[sorted(part) for part in sorted(nx.connected_components(G.subgraph(r)), key=min)]
                      for r in remainders]
    for parts, ops in zip(split, judge.kin_each(split), strict=True):
        rescore.extend(sorted(m for i in op for m in parts[i]) for op in ops)
    # a regrouped part that stands on a list is pruned once more by it: people using an operation's
    # exits for their own address books were cut from it together with the list workers (finding
    # strangers), and so were a viral evening's sign-ups whose books overlap its list (shared targets;
    # only the surely-not-operators: members pooled there share few targets); one that enumerates is
    # pruned by where its members' numbers lie (camouflaged enumerators cut from their operation
    # together with the people on its VPN exit: only the enumerators' numbers lie in the blocks it swept)
    again, cut = [], []
    regrouped = judge.score_groups(rescore)
    # a part that does not stand as a whole may hold a small operation among the bystanders it was
    # pruned with: six list workers on their own emulators, pruned with two dozen people on the same VPN
    # exits once the usual hit ratio no longer drifted toward the operators, were one connected part
    # with them, judged as one more group on a VPN (development draw 50, camouflaged); its communities
    # are judged instead
    low = [row[0] for row in regrouped if row[1] < params.keep_score and len(row[0]) > 2]
    split_low = [sorted(part) for members in low for part in detect_communities(
        G.subgraph(members), params.method, resolution=params.resolution, seed=params.seed)]
    if len(split_low) > len(low):
        lows = {m for members in low for m in members}
        regrouped = [row for row in regrouped if row[0][0] not in lows] + judge.score_groups(split_low)
    for members, score, features, parts in regrouped:
        top = max(sorted(parts), key=parts.get) if parts else None
        listed = top in ("strangers", "shared_targets") and score >= params.keep_score
        swept = top in scoring.ENUMERATING and score >= params.keep_score
        weak = (judge.weak_members(members, features, parts, friends_only=top == "shared_targets") if listed
                else judge.off_sweep(members, scored[origin[members[0]]][0]) if swept else [])
        # a list's workers are not pruned below the size at which their strangers count: the members
        # without a hot address of their own (too few people found) are then what makes the group;
        # but those another member found are friends, never a list's workers
        if top == "strangers" and len(members) - len(weak) < scoring.STRANGERS_MIN_SIZE:
            acquainted = set(features.get("_acquainted", ()))
            weak = [m for m in weak if m in acquainted]
        if top == "strangers" and listed and len(weak) == len(members):
            # nobody in it works a list: friends who find each other behind an operation's exits, whose
            # pool of accounts finds strangers (the operation's workers pruned apart from them)
            continue
        if weak and len(weak) < len(members):
            again.append([m for m in members if m not in weak])
            # what was cut is judged by the communities it forms, not account by account: a small
            # operation on its own emulators behind the exits is cut with the exits' other users, and
            # by itself each of its accounts is only someone on a VPN exit (development draw 50,
            # camouflaged); cut twice, it is no squad of the cluster it was first cut from either
            cut.extend(sorted(part) for part in detect_communities(
                G.subgraph(weak), params.method, resolution=params.resolution, seed=params.seed))
            for m in weak:
                origin.pop(m, None)
        else:
            final.append((members, score, features, parts))
    final.extend(judge.score_groups(again + cut))
    # fragments of one cluster that each stand on their own evidence and are still tied as its squads
    # are (an operation's squad doing other work than the rest) are that operation again
    kept, rejoined = judge.rejoin([row for row in final if row[1] >= params.keep_score], origin)
    squad_of = {**squad_of, **rejoined}
    kept, crons, cron_ties = _joined_by_cron(
        _by_schedule(_by_country(kept, judge, G, regions, params), judge, params), judge, params)
    kept, starts, start_ties = _joined_by_start(kept, judge, params)
    # a cron-joined operation joined again at its start keeps the squads the cron joined
    squad_of = {**squad_of, **starts, **crons}
    joined_by = {**start_ties, **cron_ties}
    kept.sort(key=lambda r: (-r[1], -len(r[0]), r[0][0]))

    _step(progress, "evidence and attribution", 0.8)
    ids = assign_cluster_ids([set(r[0]) for r in kept], history, min_jaccard=params.min_jaccard)
    clusters = judge.describe(kept, ids, squad_of, joined_by)
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

