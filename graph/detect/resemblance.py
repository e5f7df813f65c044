"""Whether two accounts work the same job: the countries whose numbers they look up.

Two operations often share one commercial VPN exit or one carrier's NAT,
and so do bystanders: a shared address says the accounts stood in the same
place, not that one hand ran them. What one hand runs works one job: a
leaked list of one diaspora, the ranges of the countries it enumerates, an
address book of the home country. So a tie through a shared address
counts in full between accounts whose lookups fall on the same countries'
numbers, and fades between accounts whose targets lie elsewhere (two
operations behind one exit, or an operator and the exit's everyday users).
A shared device fingerprint is one operator's, whatever it looks up, and
does not fade.
"""

from __future__ import annotations

from collections.abc import Collection

import networkx as nx
import numpy as np
import pandas as pd
import scipy  # scipy.stats loads on first use

from graph.detect import infrastructure
from graph.detect.frames import EventsLike, among, as_events

__all__ = ["target_regions", "region_matrix", "region_resemblance", "region_split", "shared_mass", "home_countries",
           "looking_abroad"]


def target_regions(events: EventsLike, accounts: Collection[str]) -> pd.DataFrame:
    """Each account's lookups per region of the number looked up (``account_id``, ``region``, ``lookups``).

    Numbers whose region is unknown count as one region of their own.
    """
    source = as_events(events)
    wanted = pd.DataFrame({"account_id": sorted(accounts)}, dtype=object)
    return source.query("""
        SELECT e.account_id, coalesce(e.phone_region, '') AS region, count(*) AS lookups
        FROM {events} e SEMI JOIN {wanted} w ON e.account_id = w.account_id
        WHERE e.phone_hash IS NOT NULL
        GROUP BY 1, 2 ORDER BY 1, 2
    """, wanted=wanted)


def home_countries(events: EventsLike, accounts: Collection[str]) -> pd.Series:
    """The country most of each account's requests came from (ties broken by name), from its addresses.

    Read from the accounts' usage table (:func:`graph.detect.infrastructure.entity_usage`),
    which detection builds anyway; accounts whose addresses have no known
    country are left out.
    """
    source = as_events(events)
    wanted = pd.DataFrame({"account_id": sorted(set(accounts))}, dtype=object)
    rows = source.query(f"""
        SELECT account_id, country FROM (
            SELECT u.account_id, u.country,
                   row_number() OVER (PARTITION BY u.account_id ORDER BY sum(u.requests) DESC, u.country) AS rank
            FROM {infrastructure.entity_usage(source)} u SEMI JOIN {{wanted}} w ON u.account_id = w.account_id
            WHERE u.entity_type = 'ip' AND u.country IS NOT NULL
            GROUP BY 1, 2
        ) WHERE rank = 1 ORDER BY 1
    """, wanted=wanted)
    return pd.Series(rows["country"].to_numpy(dtype=object), index=rows["account_id"].to_numpy(dtype=object),
                     dtype=object, name="home")


def looking_abroad(regions: pd.DataFrame, homes: pd.Series) -> pd.DataFrame:
    """How many of each account's lookups went to numbers of another country than the one it connects from.

    People look up their own circle, which lives mostly where they do: a
    sign-up burst around a local event finds local numbers. An operation
    run from addresses in one country (its own, or its proxies') that works
    another country's diaspora, dissidents or mobile ranges looks abroad
    with nearly every lookup. Numbers of unknown region never count as
    abroad; accounts without a home country (:func:`home_countries`) are
    left out.

    Parameters
    ----------
    regions : DataFrame
        :func:`target_regions` of the accounts.
    homes : Series
        :func:`home_countries` of the accounts.

    Returns
    -------
    DataFrame
        Indexed by ``account_id``, sorted: ``lookups`` and ``abroad`` (of
        those, lookups of another country's numbers).

    Examples
    --------
    >>> regions = pd.DataFrame({"account_id": ["me", "me", "op", "op"], "region": ["US", "MX", "IR", ""],
    ...                         "lookups": [9, 3, 12, 2]})
    >>> looking_abroad(regions, pd.Series({"me": "US", "op": "US"})).values.tolist()
    [[12, 3], [14, 12]]
    """
    mine = regions[among(regions["account_id"], homes.index)]
    home = mine["account_id"].map(homes).to_numpy(dtype=object)
    region = mine["region"].to_numpy(dtype=object)
    away = (region != home) & (region != "")
    lookups = mine["lookups"].to_numpy(dtype=np.int64)
    out = pd.DataFrame({"lookups": lookups, "abroad": np.where(away, lookups, 0)},
                       index=pd.Index(mine["account_id"].to_numpy(dtype=object), name="account_id"))
    return out.groupby(level=0, sort=True).sum().astype("int64")


def region_matrix(regions: pd.DataFrame) -> tuple[pd.Index, np.ndarray]:
    """The accounts of :func:`target_regions`' rows and their lookups, one row an account and one column a region."""
    rows, ids = pd.factorize(regions["account_id"])
    cols, _ = pd.factorize(regions["region"])
    counts = np.zeros((len(ids), cols.max() + 1 if len(cols) else 0))
    np.add.at(counts, (rows, cols), regions["lookups"].to_numpy(dtype=float))
    return pd.Index(ids), counts


def shared_mass(a: np.ndarray, b: np.ndarray) -> np.ndarray | float:
    """The share two count profiles have in common: the histogram intersection of their normalized counts.

    Row by row along the last axis; a profile without counts shares nothing.

    Examples
    --------
    >>> float(shared_mass(np.array([55.0, 45.0, 0.0]), np.array([85.0, 0.0, 15.0])))
    0.55
    """
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    sa, sb = a.sum(axis=-1, keepdims=True), b.sum(axis=-1, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        both = np.minimum(a / sa, b / sb).sum(axis=-1)
    return np.where((sa[..., 0] > 0) & (sb[..., 0] > 0), both, 0.0)


def region_resemblance(
    regions: pd.DataFrame, a: pd.Series | np.ndarray, b: pd.Series | np.ndarray, *, max_p: float = 1e-3,
    shared: bool = False, chunk: int = 50_000,
) -> np.ndarray:
    """Per pair ``a[i], b[i]``: 1.0 unless their lookups clearly fall on different countries' numbers.

    "Clearly" is a G-test of homogeneity of the two accounts' region counts
    at ``max_p``: seven lookups each over four countries say nothing (an
    operation's accounts splitting one list by sevens differ by chance),
    hundreds on different countries do. When they clearly differ, the
    resemblance is the cosine of their region profiles, or with ``shared``
    the share of lookups they have in common (histogram intersection),
    which is stricter where both lean on one country: two operations from
    one country's carrier addresses that both look up numbers there,
    besides each its own foreign ones. An account without lookups has no
    profile; its pairs get 1.0.

    Examples
    --------
    >>> regions = pd.DataFrame({"account_id": ["x", "x", "y", "z", "q", "r"],
    ...                         "region": ["IR", "US", "IR", "DE", "IR", "DE"], "lookups": [300, 100, 500, 400, 4, 3]})
    >>> region_resemblance(regions, ["x", "x", "y", "w", "q"], ["y", "z", "z", "x", "r"]).round(3).tolist()
    [0.949, 0.0, 0.0, 1.0, 1.0]
    >>> region_resemblance(regions, ["x"], ["y"], shared=True).round(3).tolist()
    [0.75]
    """
    a, b = np.asarray(a, dtype=object), np.asarray(b, dtype=object)
    out = np.ones(len(a))
    if regions.empty or not len(a):
        return out
    ids, counts = region_matrix(regions)
    unit = counts / np.linalg.norm(counts, axis=1, keepdims=True)
    ia, ib = ids.get_indexer(a), ids.get_indexer(b)
    known = np.flatnonzero((ia >= 0) & (ib >= 0))
    for start in range(0, len(known), chunk):  # dense pair-by-region arrays, a chunk at a time
        at = known[start:start + chunk]
        x, y = counts[ia[at]], counts[ib[at]]
        pooled = x + y
        share = pooled / pooled.sum(axis=1, keepdims=True)
        g = 2.0 * (_plogp(x, share * x.sum(axis=1, keepdims=True)) + _plogp(y, share * y.sum(axis=1, keepdims=True)))
        dof = np.maximum((pooled > 0).sum(axis=1) - 1, 1)
        differ = scipy.stats.chi2.sf(g, dof) < max_p
        alike = shared_mass(x, y) if shared else np.einsum("ij,ij->i", unit[ia[at]], unit[ib[at]])
        out[at] = np.where(differ, alike, 1.0)
    return out


def _plogp(observed: np.ndarray, expected: np.ndarray) -> np.ndarray:
    """Row sums of ``observed * log(observed / expected)``, zero where nothing was observed."""
    with np.errstate(divide="ignore", invalid="ignore"):
        terms = np.where(observed > 0, observed * np.log(observed / np.where(expected > 0, expected, 1.0)), 0.0)
    return terms.sum(axis=1)


def region_split(
    G: nx.Graph, groups: list[list[str]], regions: pd.DataFrame, *, min_members: int = 5, min_lookups: int = 5,
    max_shared: float = 0.6,
) -> list[list[str]]:
    """Groups whose accounts work different countries' numbers, split into one group per job.

    Two operations renting one pool of VPN exits are tied through it, and
    the ties across them can outweigh those inside each (development draw
    104: four list operations in one community). Each works its own
    country's list. A group is split when at least two sets of
    ``min_members`` accounts (each with ``min_lookups`` lookups or more)
    look up mostly one country's numbers, different countries, and the sets'
    pooled lookups share less than ``max_shared`` of their countries
    (:func:`shared_mass`, the bound under which :func:`graph.detect.clustering.operations`
    never joins two groups): sets sharing more are one job whose accounts
    lean different ways. A set's country counts only when some other set
    looks it up at less than half the group's rate: lists of several
    countries' dissidents share the big ones (accounts leaning to the United
    States' part of two lists are no third job). Every account then goes to
    the set whose countries its own lookups share most; one that looked up
    too little to say goes where most of its ties in ``G`` go. An operation dividing its countries
    between its accounts would be split too: detection splits only clusters
    working a list this way (:func:`graph.detect.networks.find_networks`).

    Examples
    --------
    >>> rows = [(f"i{k}", "IR", 8) for k in range(5)] + [(f"l{k}", "IL", 8) for k in range(5)]
    >>> rows += [(a, "US", 2) for a, _, _ in rows] + [("quiet", "US", 1)]
    >>> regions = pd.DataFrame(rows, columns=["account_id", "region", "lookups"])
    >>> G = nx.Graph([("quiet", "l0"), ("quiet", "l1"), ("quiet", "i0")])
    >>> region_split(G, [sorted(regions["account_id"].unique())], regions)
    [['i0', 'i1', 'i2', 'i3', 'i4'], ['l0', 'l1', 'l2', 'l3', 'l4', 'quiet']]
    """
    index, matrix = region_matrix(regions)
    row_of = dict(zip(index.tolist(), range(len(index)), strict=True))
    out: list[list[str]] = []
    for members in groups:
        rows = np.array([row_of.get(m, -1) for m in members], dtype=np.int64)
        counts = np.where(rows[:, None] >= 0, matrix[rows], 0.0) if len(index) else np.zeros((len(members), 0))
        known = counts.sum(axis=1) >= min_lookups
        top = np.where(known, counts.argmax(axis=1) if counts.shape[1] else -1, -1)
        labels, sizes = np.unique(top[known], return_counts=True)
        sets = labels[sizes >= min_members]
        pooled = [counts[top == label].sum(axis=0) for label in sets]
        # a country every set looks up (a list's common part: the same big countries) is no job's own
        whole = counts.sum(axis=0) / max(counts.sum(), 1.0)
        share = [p / max(p.sum(), 1.0) for p in pooled]
        own = [i for i, label in enumerate(sets)
               if any(share[j][label] < whole[label] / 2 for j in range(len(sets)) if j != i)]
        pooled = [pooled[i] for i in own]
        jobs = _joined_sets(pooled, max_shared)
        if len(jobs) < 2:
            out.append(members)
            continue
        profiles = np.array([sum(pooled[i] for i in job) for job in jobs])
        part = np.full(len(members), -1)
        part[known] = shared_mass(counts[known][:, None, :], profiles[None, :, :]).argmax(axis=1)
        placed = {m: int(p) for m, p in zip(members, part.tolist(), strict=True) if p >= 0}
        for m in members:
            if m not in placed:
                votes = np.zeros(len(jobs))
                for other in G.adj.get(m, {}):
                    if other in placed:
                        votes[placed[other]] += 1
                placed[m] = int(votes.argmax())
        out.extend(sorted(m for m in members if placed[m] == k) for k in range(len(jobs)))
    return [g for g in out if g]


def _joined_sets(pooled: list[np.ndarray], max_shared: float) -> list[list[int]]:
    """Sets whose pooled lookups share ``max_shared`` of their countries or more, joined transitively."""
    jobs: list[list[int]] = []
    for i, profile in enumerate(pooled):
        near = [job for job in jobs if any(shared_mass(profile, pooled[j]) >= max_shared for j in job)]
        jobs = [job for job in jobs if job not in near] + [sorted([i, *[j for job in near for j in job]])]
    return sorted(jobs)
