"""Communities of the coordination graph: who acts together.

The coordination graph has accounts as nodes and, as edge weights, how much
evidence says two accounts are run together (shared rare infrastructure,
synchronized activity, complementary slices of the same number blocks). A
community of it is a candidate abuse network; :mod:`graph.detect.scoring`
then decides whether it is abusive.

Several of networkx's community methods fit; ``benchmarks/detect.py`` and
``benchmarks/quality.py`` compare them on LFR graphs and on the simulator's
campaigns. Louvain with a fixed seed is the default: on both it recovers
planted communities best, and it scales to the sizes we meet.

Every method here is deterministic for the same input: the graph is rebuilt
with sorted nodes and edges before the method runs (networkx's methods walk
nodes in insertion order, so two equal graphs built in different orders could
otherwise give different communities), randomness comes from ``seed``, and
the communities come back in a canonical order.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping, Sequence

import community as community_louvain
import graspologic_native
import networkx as nx
import numpy as np

from graph.detect.resemblance import shared_mass

__all__ = [
    "METHODS", "EdgeArrays", "canonical_graph", "detect_communities", "kin_operations", "leiden_communities",
    "louvain_communities", "merge_dense_neighbours", "operations", "partition_quality", "pulled_elsewhere",
]

METHODS = ("louvain", "leiden", "label_propagation", "greedy_modularity", "k_core", "components")


def canonical_graph(G: nx.Graph, weight: str = "weight") -> nx.Graph:
    """A copy of ``G`` with nodes and edges inserted in sorted order, keeping only ``weight``.

    Examples
    --------
    >>> G = nx.Graph([("b", "a", {"weight": 2.0})])
    >>> list(canonical_graph(G).edges(data="weight"))
    [('a', 'b', 2.0)]
    """
    return _canonical(G.nodes, _sorted_edges(G, weight), weight)


def _sorted_edges(G: nx.Graph, weight: str) -> list[tuple]:
    """``G``'s edges as ``(a, b, w)``, ``a`` before ``b`` and the edges in order of their names."""
    edges = []
    for u, v, w in G.edges(data=weight, default=1.0):
        a, b = sorted((u, v), key=str)
        edges.append((str(a), str(b), a, b, w))
    edges.sort(key=lambda e: (e[0], e[1]))
    return [(a, b, w) for _, _, a, b, w in edges]


def _canonical(nodes: Iterable, edges: Iterable[tuple], weight: str) -> nx.Graph:
    H = nx.Graph()
    H.add_nodes_from(sorted(nodes, key=str))
    H.add_weighted_edges_from(edges, weight=weight)
    return H


def _canonical_components(H: nx.Graph, components: Sequence[set], weight: str) -> Iterator[nx.Graph]:
    """:func:`canonical_graph` of each component's subgraph of ``H``, from one pass over ``H``'s sorted edges.

    A subgraph view filters every adjacency it walks; sorting the edges
    once and dealing them out keeps each component's edges in sorted order.
    The graphs are built one at a time, as they are asked for.
    """
    index = {node: i for i, component in enumerate(components) for node in component}
    edges: list[list[tuple]] = [[] for _ in components]
    for edge in _sorted_edges(H, weight):
        i = index.get(edge[0])
        if i is not None:
            edges[i].append(edge)
    for component, mine in zip(components, edges, strict=True):
        yield _canonical(component, mine, weight)


def _connected_parts(G: nx.Graph, communities: Iterable[set]) -> list[set]:
    """Split communities into their connected parts.

    Louvain can return communities that are internally disconnected (Traag,
    Waltman and van Eck 2019); two groups with no tie between them are two
    networks, not one.
    """
    parts = []
    for community in communities:
        parts.extend(set(c) for c in nx.connected_components(G.subgraph(community)))
    return parts


def detect_communities(
    G: nx.Graph,
    method: str = "louvain",
    *,
    weight: str = "weight",
    resolution: float = 1.0,
    seed: int = 0,
    k: int = 2,
) -> list[set]:
    """Partition the accounts of a coordination graph into communities.

    Parameters
    ----------
    G : networkx.Graph
        Undirected, with non-negative edge weights under ``weight``.
    method : str
        One of :data:`METHODS`: ``"louvain"`` (modularity, Blondel et al. 2008;
        :func:`louvain_communities`), ``"leiden"`` (modularity, Traag et al. 2019; compiled, the
        default: :func:`leiden_communities`), ``"label_propagation"``
        (asynchronous, Raghavan et al. 2007), ``"greedy_modularity"``
        (Clauset, Newman and Moore 2004), ``"k_core"`` (connected parts of the
        ``k``-core) or ``"components"``.
    weight : str
        Edge attribute holding the weight.
    resolution : float
        Modularity resolution for the modularity methods: above 1 favours
        smaller communities.
    seed : int
        Seed of the randomized methods.
    k : int
        Core number for ``"k_core"``.

    Returns
    -------
    list of sets
        Disjoint, each connected in ``G``, largest first (ties by smallest
        member); nodes without edges come back as singletons, except for
        ``"k_core"``, which leaves out nodes outside the core.

    Examples
    --------
    >>> G = nx.Graph()
    >>> G.add_weighted_edges_from([("a", "b", 1), ("b", "c", 1), ("a", "c", 1), ("x", "y", 1), ("c", "x", 0.1)])
    >>> [sorted(c) for c in detect_communities(G, seed=1)]
    [['a', 'b', 'c'], ['x', 'y']]

    Notes
    -----
    Louvain runs in about ``O(m log n)``; on a 22k-node, 311k-edge graph
    this function takes about 8 s here with networkx's Louvain and 3 s with
    the compiled Leiden. Detection only builds the graph over candidate
    accounts either way.
    """
    if method not in METHODS:
        raise ValueError(f"method must be one of {', '.join(METHODS)}, not {method!r}")
    if resolution <= 0:
        raise ValueError(f"resolution must be positive, not {resolution}")
    H = canonical_graph(G, weight)
    if H.number_of_nodes() == 0:
        return []
    if method in ("louvain", "leiden", "greedy_modularity"):
        # Modularity compares a community's weight with the whole graph's, so a
        # heavy component elsewhere (one dense network) makes small groups merge
        # across weak ties (the resolution limit, Fortunato and Barthelemy 2007).
        # Components share no edge: partition each against its own weight.
        found = []
        components = sorted(nx.connected_components(H), key=lambda c: min(map(str, c)))
        parts = _canonical_components(H, [c for c in components if len(c) > 2], weight)
        for component in components:
            if len(component) <= 2:
                found.append(component)
                continue
            part = next(parts)
            if method == "louvain":
                found.extend(louvain_communities(part, weight=weight, resolution=resolution, seed=seed))
            elif method == "leiden":
                found.extend(leiden_communities(part.edges(data=weight), resolution=resolution, seed=seed))
            else:
                found.extend(nx.community.greedy_modularity_communities(part, weight=weight, resolution=resolution))
    elif method == "label_propagation":
        found = list(nx.community.asyn_lpa_communities(H, weight=weight, seed=seed))
    elif method == "k_core":
        core = nx.k_core(H, k)
        found = list(nx.connected_components(core))
    else:
        found = list(nx.connected_components(H))
    communities = _connected_parts(H, found)
    return sorted(communities, key=lambda c: (-len(c), min(map(str, c))))


def louvain_communities(G: nx.Graph, *, weight: str = "weight", resolution: float = 1.0,
                        seed: int | None = None) -> list[set]:
    """Louvain communities (Blondel et al. 2008) of ``G``, by the reference implementation (python-louvain).

    networkx 3.6's own Louvain can move one node back and forth between two
    communities forever when their modularity gains tie up to round-off
    (networkx issues 6751 and 8739; an unweighted graph of seven nodes does
    it); python-louvain stops a level once a pass gains less than 1e-7.

    Examples
    --------
    >>> G = nx.Graph([(0, 1), (0, 2), (0, 5), (0, 6), (1, 2), (1, 4), (2, 3), (2, 5), (2, 6), (3, 4)])
    >>> sorted(sorted(c) for c in louvain_communities(G, seed=123))
    [[0, 2, 5, 6], [1, 3, 4]]
    """
    partition = community_louvain.best_partition(G, weight=weight, resolution=resolution, random_state=seed)
    communities: dict[int, set] = {}
    for node, label in partition.items():
        communities.setdefault(label, set()).add(node)
    return list(communities.values())


def leiden_communities(edges: Iterable[tuple[object, object, float]], *, resolution: float = 1.0,
                       seed: int = 0) -> list[set]:
    """The modularity communities Leiden finds among the nodes of weighted ``edges`` (Traag et al. 2019).

    Compiled (graspologic-native): several times faster than networkx's
    Louvain on a coordination graph of tens of thousands of accounts, and
    every community comes out connected, which Louvain does not promise.
    Seeded: the same edges in the same order give the same communities.

    Examples
    --------
    >>> edges = [("a", "b", 1.0), ("b", "c", 1.0), ("a", "c", 1.0), ("x", "y", 1.0), ("y", "z", 1.0),
    ...          ("x", "z", 1.0), ("c", "x", 0.1)]
    >>> sorted(sorted(c) for c in leiden_communities(edges))
    [['a', 'b', 'c'], ['x', 'y', 'z']]
    """
    nodes: dict[object, str] = {}
    rows = [(nodes.setdefault(u, str(len(nodes))), nodes.setdefault(v, str(len(nodes))), float(w)) for u, v, w in edges]
    if not rows:
        return []
    _, membership = graspologic_native.leiden(rows, resolution=resolution, seed=seed)
    names = list(nodes)
    found: dict[int, set] = {}
    for key, community in membership.items():
        found.setdefault(community, set()).add(names[int(key)])
    return list(found.values())


def _density(weight: float, a: int, b: int | None = None) -> float:
    pairs = a * (a - 1) / 2 if b is None else a * b
    return weight / pairs if pairs else 0.0


class EdgeArrays:
    """A graph's edges as arrays: node positions, ends, weights and tie parts, in ``G.edges`` order.

    Joining communities into operations reads every edge of a graph of
    hundreds of thousands once a pass (:func:`operations`); read into arrays
    once, the passes share them, and the graph less one kind of tie
    (:meth:`without`) is a selection of them, not a second graph to build.

    Examples
    --------
    >>> G = nx.Graph()
    >>> G.add_edge("a", "b", weight=1.0, sharding=1.0)
    >>> G.add_edge("b", "c", weight=0.5, infra=0.5)
    >>> arrays = EdgeArrays(G)
    >>> arrays.weights.tolist(), arrays.part_weights(["infra", "sharding"]).tolist()
    ([1.0, 0.5], [1.0, 0.5])
    >>> held = arrays.without("sharding")
    >>> held.ends.tolist(), held.weights.tolist()
    ([[1, 2]], [0.5])
    """

    def __init__(self, G: nx.Graph, weight: str = "weight") -> None:
        self.position = {node: i for i, node in enumerate(G.nodes)}
        self.ends = np.array([(self.position[u], self.position[v]) for u, v in G.edges()],
                             dtype=np.int64).reshape(-1, 2)
        self._data = [d for _, _, d in G.edges(data=True)]
        self.weights = np.array([d.get(weight, 1.0) for d in self._data], dtype=float)
        self._parts: dict[str, np.ndarray] = {}

    def part_weights(self, parts: Collection[str]) -> np.ndarray:
        """Each edge's sum of the named tie parts (edge attributes), added in the order named."""
        total = np.zeros(len(self._data))
        for part in parts:
            if part not in self._parts:
                self._parts[part] = np.array([d.get(part, 0.0) for d in self._data], dtype=float)
            total = total + self._parts[part]
        return total

    def without(self, part: str) -> EdgeArrays:
        """The same graph with ``part`` taken out of each weight, and the edges left with none dropped."""
        rest = self.weights - self.part_weights([part])
        keep = rest > 0
        out = copy.copy(self)
        out.ends, out.weights = self.ends[keep], rest[keep]
        out._data = [d for d, kept in zip(self._data, keep.tolist(), strict=True) if kept]
        out._parts = {}
        return out


def merge_dense_neighbours(
    G: nx.Graph, communities: list[set], *, ratio: float = 0.5, weight: str = "weight"
) -> list[set]:
    """Merge communities that are tied to each other almost as densely as within themselves.

    Modularity splits a group along its internal structure (accounts that
    use one hosting IP versus those that use another) even when every pair
    across the split is tied too (they split the same number blocks). Two
    communities are merged when the mean tie weight per account pair between
    them is at least ``ratio`` times the mean within the looser of the two;
    merges repeat, densest first, until none qualifies.

    Parameters
    ----------
    G : networkx.Graph
    communities : list of sets
        Disjoint communities (as from :func:`detect_communities`).
    ratio : float
        Between-density over within-density needed to merge.
    weight : str

    Returns
    -------
    list of sets
        Largest first, ties by smallest member.

    Examples
    --------
    >>> G = nx.complete_graph(6)
    >>> nx.set_edge_attributes(G, 0.6, "weight")
    >>> for u, v in [(0, 1), (0, 2), (1, 2), (3, 4), (3, 5), (4, 5)]:
    ...     G[u][v]["weight"] = 1.0
    >>> [sorted(c) for c in merge_dense_neighbours(G, [{0, 1, 2}, {3, 4, 5}])]
    [[0, 1, 2, 3, 4, 5]]
    """
    groups = [set(c) for c in communities]
    # the edges once, as arrays of node positions: each round of merging only relabels their ends
    arrays = EdgeArrays(G, weight)
    position, ends, weights = arrays.position, arrays.ends, arrays.weights
    while True:
        owner = np.full(len(position), -1, dtype=np.int64)
        for i, c in enumerate(groups):
            owner[[position[node] for node in c if node in position]] = i
        left, right = owner[ends[:, 0]], owner[ends[:, 1]]
        known = (left >= 0) & (right >= 0)
        same, cross = known & (left == right), known & (left != right)
        inside = np.bincount(left[same], weights=weights[same], minlength=len(groups))
        keys = np.minimum(left[cross], right[cross]) * len(groups) + np.maximum(left[cross], right[cross])
        pairs, first, which = np.unique(keys, return_index=True, return_inverse=True)
        sums = np.bincount(which.ravel(), weights=weights[cross], minlength=len(pairs))
        # pairs in the order their first edge comes, so ties between equal scores go as they always did
        between = {(int(k) // len(groups), int(k) % len(groups)): float(sums[j])
                   for j, k in sorted(enumerate(pairs), key=lambda jk: first[jk[0]])}
        best = None
        for (a, b), w in between.items():
            if len(groups[a]) < 2 or len(groups[b]) < 2:
                continue
            looser = min(_density(inside[a], len(groups[a])), _density(inside[b], len(groups[b])))
            score = _density(w, len(groups[a]), len(groups[b])) / looser if looser else 0.0
            if score >= ratio and (best is None or score > best[0]):
                best = (score, a, b)
        if best is None:
            return sorted(groups, key=lambda c: (-len(c), min(map(str, c))))
        _, a, b = best
        groups[a] |= groups[b]
        del groups[b]


def pulled_elsewhere(
    G: nx.Graph, groups: Sequence[Collection], kin: Sequence, asked: Sequence[bool], *, weight: str = "weight"
) -> list[bool]:
    """For each asked group: are most of its members tied more strongly to one group of other kin
    than to all the groups of their own kin together?

    ``kin`` says which groups belong together (the fragments pruning cut from
    one cluster share a kin; ``None`` is kin to nothing). Modularity weighs a
    member's ties to a community against what chance predicts from the
    community's total degree, so when one operation holds most of the
    graph's weight, its edge members score better in a smaller neighbour (a
    second operation on the same exits) though tied to their own far more
    strongly; cut from that neighbour by pruning, they are not its squad.

    Examples
    --------
    >>> G = nx.Graph()
    >>> G.add_weighted_edges_from([("a", "b", 1), ("b", "c", 1), ("x", "y", 1), ("y", "z", 1),
    ...                            ("c", "z", 0.2), ("p", "a", 0.9), ("q", "b", 0.9), ("p", "y", 0.2)])
    >>> groups = [{"a", "b", "c"}, {"x", "y", "z"}, {"p", "q"}]
    >>> pulled_elsewhere(G, groups, [0, 1, 1], [False, True, True])
    [False, False, True]
    """
    owner = {m: j for j, group in enumerate(groups) for m in group}
    out = []
    for i, group in enumerate(groups):
        if not asked[i]:
            out.append(False)
            continue
        away = 0
        for m in group:
            pull: dict[int, float] = {}
            for n, tie in G[m].items():
                j = owner.get(n)
                if j is not None:
                    pull[j] = pull.get(j, 0.0) + tie.get(weight, 1.0)
            home = sum(w for j, w in pull.items() if kin[j] is not None and kin[j] == kin[i])
            away += any(w > home for j, w in pull.items() if kin[j] is None or kin[j] != kin[i])
        out.append(away > len(group) / 2)
    return out


def operations(
    G: nx.Graph | EdgeArrays,
    groups: list[list],
    *,
    min_link: float = 0.1,
    min_reach: float = 0.5,
    min_touched: int = 1,
    rhythms: Sequence[np.ndarray] | None = None,
    min_rhythm: float = 0.0,
    targets: Sequence[np.ndarray] | None = None,
    min_targets: float = 0.0,
    min_shared_targets: float = 0.0,
    devices: Sequence[Mapping[str, Collection]] | None = None,
    min_device: float = 0.5,
    job: Collection[str] = (),
    min_job: float = 0.1,
    rented: Collection[str] = (),
    divided: Callable[[int, int], bool] | None = None,
    weight: str = "weight",
) -> list[list[int]]:
    """Groups tied into one operation: indices of ``groups``, joined wherever two are linked.

    Modularity cuts an operation along its squads (each on its own proxies,
    each splitting its own blocks) even when the squads are tied to each
    other through shared devices, addresses or a schedule. Two groups are
    linked when the tie weight between them, per account of the smaller
    group, is at least ``min_link``, and at least ``min_reach`` of the
    smaller group's accounts have such a tie, with as many accounts of the
    larger one: one account's coincidental ties (a shared session start,
    one common address) do not link two groups, nor do a few strays of the
    smaller group's operation that ended up in the larger's cluster; a squad
    working on the operation's devices does. Links are
    transitive (union-find). ``min_touched`` is the least number of the
    smaller group's accounts with a tie across, whatever its size. With
    ``rhythms`` (each group's activity by hour of the day, None where too
    little is known), two groups whose rhythms have a cosine below
    ``min_rhythm`` are never linked: an
    operation's squads keep its operators' hours, while operations that
    merely rent the same VPN exits keep their own. ``targets`` and
    ``min_targets`` do the same with each group's lookups by country of the
    number: squads work one job, two renters of one exit their own. Two
    operations from one country's carrier addresses both look up numbers
    there besides each its own foreign ones, and that home part makes the
    cosine high: ``min_shared_targets`` is the least share of lookups in
    common (histogram intersection) as well. But
    groups that share a device fingerprint (``devices``: each group's) are
    one operator's whatever countries each works, and so are groups tied
    across more by one job than by addresses: ``job`` names the edge
    attributes of ties no rented address gives (the same blocks swept),
    ``rented`` those an address gives, and the job's weight across must
    reach the addresses' and ``min_job`` per account of the smaller group.
    An operation dividing its countries between squads still sweeps the
    same blocks with them (and keeps its schedule besides), while two
    renters of one exit are tied by it above all. A shared device holds two
    groups only when ``min_device`` of the smaller one's accounts (and
    ``min_touched`` at least) work on it, and as many of the larger one's,
    however thinly the groups are otherwise tied: a few of one operation's accounts
    that ended up in another's cluster carry their own emulators there. With
    ``devices``, an account tied across also counts, for the reach on its
    side, every account of its group on a device it works on: one operator's
    hand. Modularity cuts an operation dividing a list along its emulators,
    and each emulator's accounts are tied to the rest only by some of them.
    With ``divided`` (called with two group indices), two groups that share
    no address or device and did not divide the blocks both worked
    (:func:`graph.detect.enumeration.chance_collisions`) are not tied by
    the job at all: two operations sweeping one country's busiest blocks
    each on its own leave thousands of account pairs whose few numbers a
    block happen not to meet (development draw 162: a dense-block operation
    on hosting addresses and a sequential one on residential proxies, one
    cluster of 149). An operation whose accounts each walk their own
    numbers does not divide its blocks either, but its squads share its
    exits or handsets (tuning draw 4: without that condition, one was cut
    in two).

    Parameters
    ----------
    G : networkx.Graph or EdgeArrays
        The coordination graph (or its edges, read once for several calls).
    groups : list of lists
        Disjoint groups of nodes (communities, scored clusters).
    min_link, min_reach : float
    min_touched : int
    divided : callable, optional
    rhythms, targets : sequences of arrays (or None), optional
    min_rhythm, min_targets, min_shared_targets : float
    devices : sequence of mappings, optional
        Each group's device fingerprints, each with the group's accounts that used it.
    min_device : float
    job, rented : collections of str
    min_job : float
    weight : str

    Returns
    -------
    list of lists of int
        Each operation's group indices, ascending; operations ordered by their smallest index.

    Examples
    --------
    >>> G = nx.Graph([(0, 2), (1, 3), (2, 3), (4, 5), (5, 6)])
    >>> operations(G, [[0, 1], [2, 3], [4, 5, 8], [6, 7, 9]])
    [[0, 1], [2], [3]]
    """
    arrays = G if isinstance(G, EdgeArrays) else EdgeArrays(G, weight)
    position, ends, weights = arrays.position, arrays.ends, arrays.weights
    owner = np.full(len(position), -1, dtype=np.int64)
    for i, members in enumerate(groups):
        owner[[position[node] for node in members if node in position]] = i
    left, right = owner[ends[:, 0]], owner[ends[:, 1]]
    cross = (left >= 0) & (right >= 0) & (left != right)
    n = max(len(groups), 1)
    # the pairs of groups with a tie across, in (a, b) order; each pair's weight summed in edge order
    pairs, which = np.unique(np.minimum(left[cross], right[cross]) * n + np.maximum(left[cross], right[cross]),
                             return_inverse=True)
    which = which.ravel()
    between = np.bincount(which, weights=weights[cross], minlength=len(pairs))
    bound = np.bincount(which, weights=arrays.part_weights(job)[cross], minlength=len(pairs))
    rent = np.bincount(which, weights=arrays.part_weights(rented)[cross], minlength=len(pairs))
    sizes = np.array([len(members) for members in groups], dtype=np.int64)
    first, second = pairs // n, pairs % n
    smaller = np.where(sizes[first] <= sizes[second], first, second)
    # each pair's smaller group's accounts with a tie across (each counted once)
    nodes = np.concatenate([ends[cross, 0], ends[cross, 1]])
    pair_of = np.concatenate([which, which])
    mine = owner[nodes] == smaller[pair_of]
    touched = np.bincount(np.unique(pair_of[mine] * len(position) + nodes[mine]) // max(len(position), 1),
                          minlength=len(pairs))
    # and the larger group's (a few strays of the smaller group's operation inside the larger do not link them)
    far = np.bincount(np.unique(pair_of[~mine] * len(position) + nodes[~mine]) // max(len(position), 1),
                      minlength=len(pairs))
    if devices is not None:
        names = list(position)
        touched = _with_hands(touched, pair_of[mine], nodes[mine], smaller, devices, names)
        far = _with_hands(far, pair_of[~mine], nodes[~mine], first + second - smaller, devices, names)

    def linked():
        for a, b, small, w, reached, held, address, across in zip(
                first.tolist(), second.tolist(), smaller.tolist(), between.tolist(), touched.tolist(),
                bound.tolist(), rent.tolist(), far.tolist(), strict=True):
            if held and not address and divided is not None and not divided(a, b):
                w, held = w - held, 0.0
            one_hand = (devices is not None and _device_holders(devices[a], devices[b])
                        >= max(min_touched, min_device * len(groups[small]))) or (
                bool(job) and held / len(groups[small]) >= min_job and held >= address)
            checks = ((rhythms, min_rhythm, _cosine),) if one_hand else (
                (rhythms, min_rhythm, _cosine), (targets, min_targets, _cosine), (targets, min_shared_targets, shared_mass))
            if any(profiles is not None and profiles[a] is not None and profiles[b] is not None
                   and alike(profiles[a], profiles[b]) < least for profiles, least, alike in checks):
                continue
            if (w / len(groups[small]) >= min_link and reached >= max(min_touched, min_reach * len(groups[small]))
                    and across >= min_reach * len(groups[small])):
                yield a, b

    return _joined(len(groups), linked())


def _with_hands(counted: np.ndarray, pair_of: np.ndarray, nodes: np.ndarray, side: np.ndarray,
                devices: Sequence[Mapping[str, Collection]], names: list) -> np.ndarray:
    """Each pair's accounts on one side with a tie across, counting every account on a device one of them works on.

    ``counted`` is each pair's count without the devices; ``pair_of`` and
    ``nodes`` are the side's ends of the ties across, ``side`` each pair's
    group on that side. An operator holding several accounts on one handset
    or emulator is one hand: when some of them are tied to another group, so
    is the hand. Squads that modularity cut along the operation's emulators
    (each on its own) are otherwise tied to the operation by only some of
    their accounts.
    """
    out = counted.copy()
    order = np.argsort(pair_of, kind="stable")
    starts = np.searchsorted(pair_of[order], np.arange(len(counted) + 1))
    for k in range(len(counted)):
        hands = devices[int(side[k])]
        if not hands:
            continue
        reached = {names[i] for i in nodes[order[starts[k]:starts[k + 1]]].tolist()}
        held = [accounts for accounts in hands.values() if len(accounts) >= 2 and not reached.isdisjoint(accounts)]
        out[k] = len(reached.union(*held))
    return out


def _device_holders(mine: Mapping[str, Collection], theirs: Mapping[str, Collection]) -> int:
    """How many accounts work on a device both groups used, on the side with fewer (0 when none is shared)."""
    shared = mine.keys() & theirs.keys()
    if not shared:
        return 0
    return min(len(set().union(*(side[device] for device in shared))) for side in (mine, theirs))


def kin_operations(
    profiles: Sequence[Mapping],
    *,
    min_overlap: float = 0.5,
    max_apart_hours: float = 12.0,
    min_families: int = 2,
    min_rhythm: float = 0.0,
    min_regions: float = 0.0,
    max_sharing: int = 500,
) -> list[list[int]]:
    """Groups of one kind that resemble each other in two independent ways: indices joined into operations.

    Squads that share nothing pairwise worth a tie (each on its own
    rotating devices, all on exits a crowd of VPN users shares too) still
    come from the same operator: made in the same sign-up burst, working
    through the same few addresses, on the same number blocks. Each
    resemblance alone is common (bursts, VPN exits and a country's busiest
    blocks are shared by strangers); two together, between groups already
    suspicious for the same behaviour and keeping the same hours, are how
    the operation shows. Links are transitive.

    Parameters
    ----------
    profiles : sequence of mappings
        One per group: ``kind`` (what it does: groups of different kinds
        are never linked), ``born`` (median creation time, epoch ms, of its
        members made in a sign-up burst, None when fewer than half were),
        ``entities`` (set of the addresses and devices carrying its
        traffic), ``targets`` (set of the number blocks it looked up in)
        ``rhythm`` (activity by hour of the day, or None) and, optionally,
        ``regions`` (lookups by country of the number, or None).
    min_overlap : float
        Shared entities (or blocks) over the smaller set that count as one
        infrastructure (or one target area).
    max_apart_hours : float
        Burst-made groups born at most this far apart count as one burst.
    min_families : int
        Resemblances (burst, infrastructure, target area) needed.
    min_rhythm : float
        Groups whose rhythms have a cosine below this are never linked.
    min_regions : float
        Groups whose lookups by country share less than this (histogram
        intersection) are never linked: two operations from one country's
        carrier addresses, made in one week, working different countries'
        numbers are two. Stricter than the cosine :func:`operations` asks
        of groups tied to each other (one operation's squads may weigh its
        countries differently): kin share no tie, only a likeness, and two
        profiles that both lean on the home country have a high cosine.
    max_sharing : int
        An entity or block more groups than this use (a carrier's busiest
        address) tells nothing about who belongs together and is left out.

    Returns
    -------
    list of lists of int
        Each operation's group indices, ascending; ordered by smallest index.

    Examples
    --------
    >>> hour = 3_600_000
    >>> squad = lambda born, ips, blocks="": {"kind": "enumeration", "born": born, "entities": set(ips),
    ...                                       "targets": set(blocks), "rhythm": None}
    >>> kin_operations([squad(0, "ab"), squad(3 * hour, "abc"), squad(0, "xy"), squad(None, "ab"),
    ...                 squad(None, "xy", "pqr"), squad(None, "x", "pq")])
    [[0, 1], [2], [3], [4, 5]]
    """
    apart_ms = max_apart_hours * 3_600_000
    # groups with neither an entity nor a block in common cannot resemble each other in two ways:
    # pairs come from an index of both
    users: dict = {}
    for i, p in enumerate(profiles):
        for entity in p["entities"]:
            users.setdefault(("entity", entity), []).append(i)
        for block in p.get("targets", ()):
            users.setdefault(("block", block), []).append(i)
    pairs = sorted({(i, j) for group in users.values() if len(group) <= max_sharing
                    for x, i in enumerate(group) for j in group[x + 1:]})
    crowded = {"entities": {k for (f, k), g in users.items() if f == "entity" and len(g) > max_sharing},
               "targets": {k for (f, k), g in users.items() if f == "block" and len(g) > max_sharing}}

    def alike():
        for i, j in pairs:
            p, q = profiles[i], profiles[j]
            if p["kind"] != q["kind"]:
                continue
            if p["rhythm"] is not None and q["rhythm"] is not None and _cosine(p["rhythm"], q["rhythm"]) < min_rhythm:
                continue
            if (p.get("regions") is not None and q.get("regions") is not None
                    and shared_mass(p["regions"], q["regions"]) < min_regions):
                continue
            families = 0
            if p["born"] is not None and q["born"] is not None and abs(p["born"] - q["born"]) <= apart_ms:
                families += 1
            for family in ("entities", "targets"):
                mine, theirs = p.get(family, set()) - crowded[family], q.get(family, set()) - crowded[family]
                small = min(len(mine), len(theirs))
                if small and len(mine & theirs) / small >= min_overlap:
                    families += 1
            if families >= min_families:
                yield i, j

    return _joined(len(profiles), alike())


def _joined(n: int, links: Iterable[tuple[int, int]]) -> list[list[int]]:
    """Indices ``0..n-1`` joined wherever a link says, transitively (union-find), ordered by smallest index."""
    parent = list(range(n))

    def root(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    for a, b in links:
        ra, rb = root(a), root(b)
        parent[max(ra, rb)] = min(ra, rb)
    found: dict[int, list[int]] = {}
    for i in range(n):
        found.setdefault(root(i), []).append(i)
    return [found[k] for k in sorted(found)]


def _cosine(a: np.ndarray, b: np.ndarray) -> float:
    norm = float(np.linalg.norm(a) * np.linalg.norm(b))
    return float(a @ b) / norm if norm else 0.0


def partition_quality(G: nx.Graph, communities: list[set], weight: str = "weight") -> dict[str, float]:
    """Modularity, coverage and performance of a partition (for comparing methods).

    Nodes of ``G`` that no community holds are added as singletons first.

    Examples
    --------
    >>> G = nx.barbell_graph(5, 0)
    >>> quality = partition_quality(G, [set(range(5)), set(range(5, 10))])
    >>> round(quality["modularity"], 3)
    0.452
    """
    covered = set().union(*communities) if communities else set()
    full = [set(c) for c in communities] + [{n} for n in G if n not in covered]
    coverage, performance = nx.community.partition_quality(G, full)
    return {
        "modularity": nx.community.modularity(G, full, weight=weight),
        "coverage": coverage,
        "performance": performance,
    }
