"""Stable cluster ids: the same members get the same id, a persisting cluster keeps its id.

Analysts label clusters ("confirmed", "attributed to X"), and those labels are
keyed by ``cluster_id``. Detection re-runs whenever new logs arrive, so a
cluster must keep its id when it is still there, even if it gained or lost a
few members; otherwise every re-run would orphan the analysts' work.

Two rules give that:

* a cluster seen for the first time gets an id derived from its sorted member
  list (so the same input always gives the same ids, on any machine);
* a cluster that overlaps a previous run's cluster enough (Jaccard index of
  the member sets at least ``min_jaccard``) inherits that cluster's id. The
  matching is one-to-one and greedy on decreasing overlap, so when a cluster
  splits, the larger part keeps the id, and when two merge, the id of the
  better-matching one survives.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Collection, Mapping, Sequence

__all__ = ["fresh_cluster_id", "match_clusters", "assign_cluster_ids", "jaccard"]


def fresh_cluster_id(members: Collection[str], prefix: str = "C-") -> str:
    """An id derived from the member accounts alone: the same members give the same id.

    Parameters
    ----------
    members : collection of str
        Member account ids, in any order.
    prefix : str
        Put before the 10 hex digits of the hash.

    Returns
    -------
    str

    Examples
    --------
    >>> fresh_cluster_id(["b", "a"]) == fresh_cluster_id(["a", "b"])
    True
    >>> fresh_cluster_id(["a"]).startswith("C-")
    True
    """
    if not members:
        raise ValueError("a cluster needs at least one member to have an id")
    digest = hashlib.sha256("\n".join(sorted(set(members))).encode("utf-8")).hexdigest()
    return prefix + digest[:10]


def jaccard(a: Collection[str], b: Collection[str]) -> float:
    """The Jaccard index ``|a & b| / |a | b|`` of two member sets (0 when both are empty)."""
    a, b = set(a), set(b)
    union = len(a | b)
    return len(a & b) / union if union else 0.0


def match_clusters(
    current: Sequence[Collection[str]],
    previous: Mapping[str, Collection[str]],
    *,
    min_jaccard: float = 0.3,
) -> dict[int, str]:
    """Match current clusters to previous ones one-to-one by membership overlap.

    Parameters
    ----------
    current : sequence of collections of str
        This run's clusters as member sets.
    previous : mapping of str to collection of str
        A previous run's clusters: cluster id to members.
    min_jaccard : float
        Pairs with a smaller Jaccard index are never matched.

    Returns
    -------
    dict
        Index into ``current`` to the previous id it inherits.

    Examples
    --------
    >>> match_clusters([{"a", "b", "c"}, {"x"}], {"C-1": {"a", "b"}, "C-2": {"y"}})
    {0: 'C-1'}

    Notes
    -----
    Candidate pairs come from an account index, so the cost is linear in the
    total number of members. Ties are broken by overlap size, then by id, so
    the result does not depend on input order.
    """
    if not 0.0 < min_jaccard <= 1.0:
        raise ValueError(f"min_jaccard must be in (0, 1], not {min_jaccard}")
    owner: dict[str, str] = {}
    sizes: dict[str, int] = {}
    for cluster_id, members in previous.items():
        members = set(members)
        sizes[cluster_id] = len(members)
        for account in members:
            owner[account] = cluster_id
    candidates = []
    for index, members in enumerate(current):
        members = set(members)
        overlaps = Counter(owner[a] for a in members if a in owner)
        for cluster_id, shared in overlaps.items():
            score = shared / (len(members) + sizes[cluster_id] - shared)
            if score >= min_jaccard:
                candidates.append((-score, -shared, cluster_id, fresh_cluster_id(members), index))
    candidates.sort()
    matched: dict[int, str] = {}
    taken: set[str] = set()
    for _, _, cluster_id, _, index in candidates:
        if index in matched or cluster_id in taken:
            continue
        matched[index] = cluster_id
        taken.add(cluster_id)
    return matched


def assign_cluster_ids(
    current: Sequence[Collection[str]],
    history: Sequence[Mapping[str, Collection[str]]] = (),
    *,
    min_jaccard: float = 0.3,
) -> list[str]:
    """An id for each current cluster: inherited from earlier runs when it persists, else fresh.

    Parameters
    ----------
    current : sequence of collections of str
        This run's clusters as member sets (disjoint).
    history : sequence of mappings
        Earlier runs' clusters (id to members), newest first. A cluster is
        matched against the newest run first; clusters still unmatched try
        the run before, so a cluster that skipped a run (it scored too low to
        be kept, say) gets its old id back.
    min_jaccard : float
        See :func:`match_clusters`.

    Returns
    -------
    list of str
        One id per current cluster, all distinct.

    Examples
    --------
    >>> first = assign_cluster_ids([{"a", "b", "c"}])
    >>> assign_cluster_ids([{"a", "b", "c", "d"}], [{first[0]: {"a", "b", "c"}}]) == first
    True
    """
    ids: list[str | None] = [None] * len(current)
    taken: set[str] = set()
    for previous in history:
        open_indexes = [i for i, found in enumerate(ids) if found is None]
        if not open_indexes:
            break
        available = {cid: members for cid, members in previous.items() if cid not in taken}
        matched = match_clusters([current[i] for i in open_indexes], available, min_jaccard=min_jaccard)
        for local, cluster_id in matched.items():
            ids[open_indexes[local]] = cluster_id
            taken.add(cluster_id)
    for index, found in enumerate(ids):
        if found is None:
            candidate = fresh_cluster_id(current[index])
            suffix = 1
            while candidate in taken:
                suffix += 1
                candidate = f"{fresh_cluster_id(current[index])}-{suffix}"
            ids[index] = candidate
            taken.add(candidate)
    return [str(i) for i in ids]
