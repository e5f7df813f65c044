"""Shared targets: accounts that look up the same rare numbers, and whether they know each other.

Friends' address books overlap, so two people syncing contacts often look up
some of the same numbers. But friends are also *in* each other's books: a
social circle's lookups find its own members. Operators working through a
leaked list of targets (dissidents, journalists) look up the same numbers
without ever finding each other. This module measures both sides:

* :func:`target_ties`: pairs of accounts sharing looked-up numbers, each
  number weighted by its rarity (``1 / (accounts that looked it up - 1)``,
  as for shared infrastructure), and whether either account's lookups
  matched the other (a mutual contact);
* :func:`list_blocks`: groups of accounts that draw their lookups from one
  shared list even when no two of them share more than a number or two (a
  leaked list of a thousand targets split among a hundred operators): the
  dense blocks of the accounts-by-numbers graph;
* :func:`reciprocity`: within a group, the share of members that another
  member's lookups found.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping

import numpy as np
import pandas as pd
from scipy.sparse import coo_matrix, csr_matrix
from scipy.sparse.csgraph import connected_components

from graph.detect.attribution import membership_frame
from graph.detect.clustering import leiden_communities
from graph.detect.frames import EventsLike, as_events

__all__ = ["target_ties", "list_blocks", "found_pairs", "reciprocity", "shared_target_share", "popular_target_share"]


def _looked(source, max_block_numbers: int) -> str:
    """SQL for the distinct lookups outside blocks their account enumerated (``account_id, phone, block``).

    The enumerated (account, block) pairs are few and kept as a temporary
    table: excluding them is a cheap anti-join, where counting every
    account's numbers in every block it touched (millions of pairs) for each
    query was not.
    """
    enumerated = source.derived(f"enumerated_blocks_{int(max_block_numbers)}", f"""
        SELECT account_id, block FROM {{lookups}} GROUP BY 1, 2 HAVING count(*) >= {int(max_block_numbers)}
    """)
    return f"""
        SELECT l.account_id, l.phone, l.block FROM {{lookups}} l
        ANTI JOIN {enumerated} e ON e.account_id = l.account_id AND e.block IS NOT DISTINCT FROM l.block
    """


def target_ties(
    events: EventsLike,
    *,
    max_lookers: int = 50,
    min_shared: int = 3,
    max_block_numbers: int = 20,
    accounts: Collection[str] | None = None,
) -> pd.DataFrame:
    """Pairs of accounts that looked up the same numbers.

    Parameters
    ----------
    events : Events or DataFrame
    max_lookers : int
        Numbers looked up by more accounts than this tie nobody (a celebrity's
        or a customer hotline's number).
    min_shared : int
        Pairs sharing fewer numbers are left out.
    max_block_numbers : int
        Lookups inside a block where the account tried this many numbers or
        more are enumeration, not a target list: two enumerators sweeping the
        same block share numbers by construction, and
        :func:`graph.detect.enumeration.sharding_ties` judges them instead.
    accounts : collection of str, optional
        Only pairs with at least one of these accounts.

    Returns
    -------
    DataFrame
        ``a, b`` (``a < b``), ``shared`` (numbers both looked up), ``weight``
        (sum of their rarities), ``overlap`` (the cosine of the two lists:
        shared over the geometric mean of their sizes, near 1 for two
        operators working one list, small for a friend who has a few of the
        targets among many contacts) and ``mutual`` (True when one found the other by its
        number), sorted by ``a, b``.

    Examples
    --------
    >>> from graph.detect.frames import events_frame
    >>> rows = [{"ts": 0, "ip": "1.1.1.1", "account_id": acc, "phone_hash": f"t{i}"}
    ...         for acc in ("op1", "op2") for i in range(5)]
    >>> target_ties(events_frame(rows))[["a", "b", "shared", "mutual"]].values.tolist()
    [['op1', 'op2', 5, False]]
    """
    source = as_events(events)
    frames = {}
    if accounts is None:
        focused, pairs = "TRUE", "x.account_id < y.account_id"
    else:
        # each pair once, from its focus account (the smaller id when both are): the crowd's
        # own pairs, most of the cost of a self-join over everyone, are never built
        frames["focus"] = pd.DataFrame({"account_id": sorted(set(accounts))}, dtype=object)
        focused = "account_id IN (SELECT account_id FROM {focus})"
        pairs = "x.focused AND x.account_id <> y.account_id AND (x.account_id < y.account_id OR NOT y.focused)"
    # the lists' sizes and the rare numbers' lookups are everyone's, whichever accounts are focused:
    # a run asks for ties of several sets of accounts and reads them from one table each
    looked = f"SELECT account_id, phone AS phone_hash FROM ({_looked(source, max_block_numbers)})"
    sizes = source.derived(f"target_list_sizes_{int(max_block_numbers)}", f"""
        SELECT account_id, count(*) AS numbers FROM ({looked}) GROUP BY 1
    """)
    rare = source.derived(f"rare_target_lookups_{int(max_lookers)}_{int(max_block_numbers)}", f"""
        WITH looked AS ({looked}), rare AS (
            SELECT phone_hash, count(*) AS lookers FROM looked GROUP BY 1
            HAVING count(*) BETWEEN 2 AND {int(max_lookers)}
        )
        SELECT looked.account_id, looked.phone_hash, rare.lookers FROM looked JOIN rare USING (phone_hash)
    """)
    ties = source.query(
        f"""
        WITH used AS (
            SELECT *, {focused} AS focused FROM {rare}
        ), pairs AS (
            SELECT least(x.account_id, y.account_id) AS a, greatest(x.account_id, y.account_id) AS b,
                   count(*) AS shared, sum(1.0 / (x.lookers - 1)) AS weight
            FROM used x JOIN used y ON x.phone_hash = y.phone_hash AND {pairs}
            GROUP BY 1, 2 HAVING count(*) >= {int(min_shared)}
        ), found AS (
            SELECT DISTINCT least(account_id, found) AS a, greatest(account_id, found) AS b FROM {found_pairs(source)}
        )
        SELECT pairs.a, pairs.b, pairs.shared, pairs.weight,
               pairs.shared / sqrt(sa.numbers * sb.numbers) AS overlap, found.a IS NOT NULL AS mutual
        FROM pairs LEFT JOIN found ON pairs.a = found.a AND pairs.b = found.b
        JOIN {sizes} sa ON sa.account_id = pairs.a JOIN {sizes} sb ON sb.account_id = pairs.b
        ORDER BY 1, 2
        """,
        **frames,
    )
    ties["shared"] = ties["shared"].astype(int)
    ties["weight"] = ties["weight"].astype(float).round(9)
    ties["overlap"] = ties["overlap"].astype(float).round(9)
    ties["mutual"] = ties["mutual"].astype(bool)
    return ties[["a", "b", "shared", "weight", "overlap", "mutual"]]


def list_blocks(
    events: EventsLike,
    accounts: Collection[str],
    *,
    min_lookers: int = 3,
    min_numbers: int = 5,
    max_lookers: int = 50,
    max_block_numbers: int = 20,
    max_cross: float = 0.2,
) -> pd.DataFrame:
    """Blocks of accounts working through one shared list of numbers, among ``accounts``.

    A pairwise tie needs two accounts to share several numbers; operators
    splitting a leaked list of a thousand targets among a hundred accounts
    share one or two each, so only the group shows it. This finds the dense
    blocks of the bipartite graph of ``accounts`` by the numbers they looked
    up: the (``min_numbers``, ``min_lookers``)-core (every account keeps at
    least ``min_numbers`` numbers that at least ``min_lookers`` of the kept
    accounts looked up, peeled to a fixpoint as in dense-subgraph peeling),
    split into connected components, and a component into its Leiden
    communities of accounts (weighted by the numbers they share) when less
    than ``max_cross`` of that weight runs between them: two groups made in
    sign-up bursts (an operation and a viral moment) can touch through a
    few numbers without being one list's workers, while one operation's
    overlapping parts of a list give no such clean cut. Each account's ``share`` is how much of
    its lookups lie in its block, with each number weighted
    ``1 / log(lookers + 5)`` over everyone (the column weights of Fraudar,
    Hooi et al., KDD 2016): looking up popular numbers as camouflage barely
    dilutes an operator's share.

    Parameters
    ----------
    events : Events or DataFrame
    accounts : collection of str
        The accounts to look among (detection passes accounts created in a
        sign-up burst: over everyone, friends' overlapping address books
        chain into one giant block).
    min_lookers, min_numbers : int
        The core's thresholds.
    max_lookers : int
        Numbers looked up by more accounts (everyone included) are left out.
    max_block_numbers : int
        Lookups inside a block of numbers the account enumerated are left out
        (see :func:`target_ties`).
    max_cross : float
        Share of a component's shared-number weight between its communities
        below which they are separate blocks.

    Returns
    -------
    DataFrame
        ``account_id, block, share``: blocks numbered from 0 in the order of
        their first account id, accounts sorted within each.

    Examples
    --------
    >>> from graph.detect.frames import events_frame
    >>> rows = [{"ts": 0, "ip": "1.1.1.1", "account_id": f"op{k}", "phone_hash": f"t{(k * 5 + i) % 30}"}
    ...         for k in range(6) for i in range(15)]
    >>> blocks = list_blocks(events_frame(rows), [f"op{k}" for k in range(6)])
    >>> blocks["block"].tolist(), blocks["share"].round(2).tolist()
    ([0, 0, 0, 0, 0, 0], [1.0, 1.0, 1.0, 1.0, 1.0, 1.0])
    """
    empty = pd.DataFrame({"account_id": pd.Series(dtype=object), "block": pd.Series(dtype=np.int64),
                          "share": pd.Series(dtype=float)})
    focus = sorted(set(accounts))
    if len(focus) < 2:
        return empty
    source = as_events(events)
    edges = source.query(
        f"""
        WITH looked AS (
            SELECT account_id, phone FROM ({_looked(source, max_block_numbers)})
        ), mine AS (
            SELECT * FROM looked WHERE account_id IN (SELECT account_id FROM {{focus}})
        ), lookers AS (
            SELECT phone, count(*) AS lookers FROM looked WHERE phone IN (SELECT phone FROM mine) GROUP BY 1
        )
        SELECT mine.account_id, mine.phone, lookers.lookers FROM mine JOIN lookers USING (phone)
        WHERE lookers.lookers <= {int(max_lookers)}
        ORDER BY 1, 2
        """,
        focus=pd.DataFrame({"account_id": focus}, dtype=object),
    )
    if edges.empty:
        return empty
    account_index, account_ids = pd.factorize(edges["account_id"], sort=True)
    phone_index, phones = pd.factorize(edges["phone"], sort=True)
    weight = 1.0 / np.log(edges["lookers"].to_numpy(dtype=float) + 5.0)
    total = np.bincount(account_index, weights=weight, minlength=len(account_ids))
    alive = np.ones(len(edges), dtype=bool)
    while True:
        lookers = np.bincount(phone_index[alive], minlength=len(phones))
        keep = alive & (lookers[phone_index] >= min_lookers)
        numbers = np.bincount(account_index[keep], minlength=len(account_ids))
        keep &= numbers[account_index] >= min_numbers
        if keep.sum() == alive.sum():
            break
        alive = keep
    if not alive.any():
        return empty
    a, p = account_index[alive], phone_index[alive]
    n = len(account_ids) + len(phones)
    graph = coo_matrix((np.ones(len(a)), (a, len(account_ids) + p)), shape=(n, n))
    _, label = connected_components(graph, directed=False)
    label = _separate(a, p, weight[alive], label, len(account_ids), max_cross)
    kept = np.unique(a)
    inside = np.bincount(a, weights=weight[alive], minlength=len(account_ids))
    out = pd.DataFrame({"account_id": account_ids[kept].astype(object), "label": label[kept],
                        "share": (inside[kept] / total[kept]).round(6)})
    # blocks numbered by their first account, so the numbering does not depend on the solver's
    first = out.groupby("label")["account_id"].transform("min")
    out["block"] = pd.factorize(first, sort=True)[0].astype(np.int64)
    return out.sort_values(["block", "account_id"], ignore_index=True)[["account_id", "block", "share"]]


def _separate(accounts: np.ndarray, phones: np.ndarray, weight: np.ndarray, label: np.ndarray,
              n_accounts: int, max_cross: float) -> np.ndarray:
    """Component labels, with components whose account communities barely touch split (new labels)."""
    label = label.copy()
    incidence = csr_matrix((weight, (accounts, phones)), shape=(n_accounts, int(phones.max()) + 1))
    projection = (incidence @ incidence.T).tocoo()
    upper = projection.row < projection.col
    rows, cols, values = projection.row[upper], projection.col[upper], projection.data[upper]
    # the numbers' order (their keyed hashes, a workspace's secret) must not choose the communities: the pairs
    # go to Leiden in account order, their weights rounded past the sums' float noise
    order = np.lexsort((cols, rows))
    rows, cols, values = rows[order], cols[order], values[order].round(9)
    fresh = int(label.max()) + 1
    for component in np.unique(label[np.unique(accounts)]):
        inside = label[rows] == component
        if inside.sum() < 3:
            continue
        a, b, w = rows[inside], cols[inside], values[inside]
        parts = leiden_communities(zip(a.tolist(), b.tolist(), w.tolist(), strict=True))
        if len(parts) < 2:
            continue
        owner = np.full(n_accounts, -1)
        for i, part in enumerate(parts):
            owner[sorted(part)] = i
        if w[owner[a] != owner[b]].sum() >= max_cross * w.sum():
            continue
        for part in parts[1:]:
            label[sorted(part)] = fresh
            fresh += 1
    return label


def found_pairs(source) -> str:
    """The temporary table of who found whom by number (``account_id, found``, distinct, no self-finds).

    Far fewer rows than the events (two million pairs for 36 million
    requests), built once and read by every reciprocity and closure measure
    of a run instead of a scan of the events each.
    """
    return source.derived("found_pairs", """
        SELECT DISTINCT account_id, matched_account_id AS found FROM {events}
        WHERE account_id IS NOT NULL AND matched_account_id IS NOT NULL AND matched_account_id <> account_id
    """)


def reciprocity(events: EventsLike, clusters: Mapping[str, Collection[str]]) -> dict[str, dict]:
    """How much each group's lookups found the group itself.

    Parameters
    ----------
    events : Events or DataFrame
    clusters : mapping of str to collection of str
        Cluster key to member accounts.

    Returns
    -------
    dict
        Cluster key to: ``found_members`` (members that another member's
        lookup matched), ``share`` (that over the group size) and
        ``acquainted`` (their sorted ids: a circle's members find each
        other, and a list's targets are found; operators working a list are
        strangers nobody looks up).

    Examples
    --------
    >>> from graph.detect.frames import events_frame
    >>> rows = [{"ts": 0, "ip": "1.1.1.1", "account_id": "a", "phone_hash": "pb", "matched_account_id": "b"},
    ...         {"ts": 0, "ip": "1.1.1.1", "account_id": "b", "phone_hash": "pa", "matched_account_id": "a"}]
    >>> reciprocity(events_frame(rows), {"c": ["a", "b"]})["c"]["share"]
    1.0
    """
    source = as_events(events)
    members = membership_frame(clusters)
    pairs = source.query(
        # a semi join: joined on (account, cluster), the planner paired every two members of a cluster
        # first, a hundred million rows for a cluster of ten thousand
        f"""
        WITH mine AS (SELECT m.cluster, f.found FROM {found_pairs(source)} f JOIN {{members}} m USING (account_id))
        SELECT DISTINCT mine.cluster, mine.found FROM mine
        SEMI JOIN {{members}} t ON t.account_id = mine.found AND t.cluster = mine.cluster
        """,
        members=members,
    )
    by_cluster = dict(iter(pairs.groupby("cluster", sort=False)))
    out = {}
    for key, group in clusters.items():
        mine = by_cluster.get(key)
        n = 0 if mine is None else int(mine["found"].nunique())
        size = len(set(group))
        acquainted = [] if mine is None else sorted(set(mine["found"]))
        out[key] = {"found_members": n, "share": n / size if size else 0.0, "acquainted": acquainted}
    return out


def shared_target_share(
    events: EventsLike, clusters: Mapping[str, Collection[str]], *, max_block_numbers: int = 20
) -> dict[str, dict]:
    """For each cluster, how much of its members' looked-up numbers another member also looked up.

    Lookups inside blocks an account enumerated are left out (see
    :func:`target_ties`).

    Returns
    -------
    dict
        Cluster key to ``{"share": float, "members": {account: float}}``: the
        share over all members' distinct (account, number) lookups, and each
        member's own share (an operator working the list is near 1; a friend
        of one of the targets, who has them among many contacts, is not).

    Examples
    --------
    >>> from graph.detect.frames import events_frame
    >>> rows = [{"ts": 0, "ip": "1.1.1.1", "account_id": acc, "phone_hash": f"t{i}", "block_hash": f"b{i}"}
    ...         for acc in ("op1", "op2") for i in range(4)]
    >>> rows.append({"ts": 0, "ip": "1.1.1.1", "account_id": "op1", "phone_hash": "own", "block_hash": "bx"})
    >>> found = shared_target_share(events_frame(rows), {"c": ["op1", "op2"]})["c"]
    >>> found["share"], found["members"]["op1"]
    (0.8889, 0.8)
    """
    source = as_events(events)
    shares = source.query(
        f"""
        WITH looked AS (
            SELECT m.cluster, l.account_id, l.phone
            FROM ({_looked(source, max_block_numbers)}) l JOIN {{members}} m USING (account_id)
        ), lookers AS (
            SELECT cluster, phone, count(*) AS n FROM looked GROUP BY 1, 2
        )
        SELECT looked.cluster, looked.account_id, count(*) AS numbers,
               sum(CASE WHEN lookers.n >= 2 THEN 1 ELSE 0 END) AS shared
        FROM looked JOIN lookers USING (cluster, phone)
        GROUP BY 1, 2
        """,
        members=membership_frame(clusters),
    )
    by_cluster = dict(tuple(shares.groupby("cluster", sort=False)))
    out = {}
    for key in clusters:
        mine = by_cluster.get(key, shares.iloc[:0])
        total = float(mine["numbers"].sum())
        out[key] = {
            "share": round(float(mine["shared"].sum()) / total, 4) if total else 0.0,
            "members": {
                a: round(float(s) / float(n), 4)
                for a, s, n in zip(mine["account_id"], mine["shared"], mine["numbers"], strict=True)
            },
        }
    return out


def popular_target_share(
    events: EventsLike, *, min_lookers: int = 3, max_lookers: int = 50, max_block_numbers: int = 20
) -> pd.DataFrame:
    """For every account, how much of its lookups went to numbers several other accounts also looked up.

    An address book is mostly private: a few of its numbers are in friends'
    books too. A leaked target list is worked by many accounts, so an
    operator's lookups are mostly numbers others looked up as well, however
    the list is divided. Lookers are counted as devices (an account without
    one counts as its own): a family syncing one tablet's address book into
    each member's account is one book, not several. Computed for everyone
    in one pass (one count of lookers per number); numbers looked up from
    more than ``max_lookers`` devices (a celebrity, a pizza place) do not count.

    Returns
    -------
    DataFrame
        Indexed by ``account_id``: ``numbers`` (distinct, outside enumerated
        blocks) and ``share`` (of those, looked up by ``min_lookers`` to
        ``max_lookers`` accounts in all).

    Examples
    --------
    >>> from graph.detect.frames import events_frame
    >>> rows = [{"ts": 0, "ip": "1.1.1.1", "account_id": f"op{k}", "phone_hash": f"t{i}"} for k in range(4) for i in range(5)]
    >>> rows += [{"ts": 0, "ip": "2.2.2.2", "account_id": "me", "phone_hash": f"own{i}"} for i in range(5)]
    >>> popular_target_share(events_frame(rows))["share"].tolist()
    [0.0, 1.0, 1.0, 1.0, 1.0]

    A family of three syncing one tablet's book is one looker; one person
    looking a number up from three handsets is three:

    >>> rows = [{"ts": 0, "ip": "3.3.3.3", "account_id": f"kid{k}", "device_id": "tablet", "phone_hash": f"f{i}"}
    ...         for k in range(3) for i in range(5)]
    >>> rows += [{"ts": 0, "ip": "4.4.4.4", "account_id": "me", "device_id": f"phone{k}", "phone_hash": "x"}
    ...          for k in range(3)]
    >>> popular_target_share(events_frame(rows))["share"].tolist()
    [0.0, 0.0, 0.0, 1.0]
    """
    source = as_events(events)
    # lookers are counted only for the numbers with enough lookups to have that many (a million of a busy
    # case's thirteen million: an enumerator's numbers are looked up once), from the lookups' counts
    out = source.query(f"""
        WITH often AS (
            SELECT phone FROM {{lookups}} GROUP BY 1 HAVING sum(requests) >= {int(min_lookers)}
        ), lookers AS (
            SELECT phone FROM (
                SELECT hash(phone_hash) AS phone, device_id, account_id
                FROM {{events}} WHERE phone_hash IS NOT NULL AND account_id IS NOT NULL
            ) SEMI JOIN often USING (phone)
            GROUP BY 1
            HAVING count(DISTINCT coalesce(device_id, 'account:' || account_id))
                   BETWEEN {int(min_lookers)} AND {int(max_lookers)}
        ), looked AS ({_looked(source, max_block_numbers)})
        SELECT account_id, count(*) AS numbers, count(lookers.phone) AS popular
        FROM looked LEFT JOIN lookers USING (phone)
        GROUP BY 1 ORDER BY 1
    """)
    out = out.set_index("account_id")
    out["share"] = (out["popular"] / out["numbers"]).astype(float)
    return out[["numbers", "share"]]
