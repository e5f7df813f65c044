"""Whether the people an account finds know each other: address books are circles, leaked lists are strangers.

An address book holds its owner's friends, and friends are friends of each
other: the accounts one person's lookups find look each other (or the
person) up too, the triadic closure of any social network. A leaked list of
dissidents or journalists split among an operation's accounts is a set of
strangers to the account working it, whatever its hit ratio, volume or
overlap with the other operators (a divided list shares no numbers between
accounts at all). One account's closure is noisy: a newcomer or a
salesperson finds people who do not know each other too. Pooled over the
accounts behind one address or device fingerprint the gap becomes
unmistakable, while a carrier NAT or an office pools ordinary address books
and keeps the usual closure, as :func:`graph.detect.misses.entity_deficits`
does for misses.

* :func:`target_closure`: per account, the accounts it found and how many of
  those are in touch with it or with another account it found;
* :func:`entity_closure`: per IP and device, its accounts' mean closure
  against the population's, as a z-score (positive: strangers);
* :func:`stranger_pairs`: ties between the list-working accounts of each
  entity whose pooled closure is far below the usual;
* :func:`rare_links` and :func:`rare_groups`: accounts chained through
  addresses and devices that only a few accounts use, pooled like an entity
  (residential proxies put one to three accounts on each exit, so no single
  entity pools enough of an operation's workers);
* :func:`warm_links`: accounts chained through entities whose pooled closure
  leans to strangers without deciding alone (an operation spread over a
  dozen carrier addresses, each with a few bystanders), grouped the same way.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from typing import NamedTuple

import numpy as np
import pandas as pd
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

from graph.detect.frames import EventsLike, as_events
from graph.detect.infrastructure import entity_usage, pooling_usage
from graph.detect.targets import found_pairs

__all__ = [
    "ClosureBaseline", "target_closure", "closure_baseline", "entity_closure", "farm_closure", "stranger_pairs",
    "rare_links", "dedicated_links", "rare_groups", "warm_links",
]

def target_closure(events: EventsLike) -> pd.DataFrame:
    """For every account whose lookups found someone: ``targets`` found and how many of them are ``closed``.

    A found account ``t`` is closed when ``t``'s own lookups found the
    looker, or found another account the looker found (a triangle). Computed
    for everyone in one query; the wedges it walks are each account's found
    accounts' found accounts, a few dozen per account for address books.

    Examples
    --------
    >>> from graph.detect.frames import events_frame
    >>> found = [("a", "b"), ("a", "c"), ("b", "c"), ("x", "b"), ("x", "c"), ("x", "y")]
    >>> rows = [{"ts": 0, "ip": "1.1.1.1", "account_id": s, "phone_hash": f"p{t}", "matched_account_id": t}
    ...         for s, t in found]
    >>> target_closure(events_frame(rows)).to_dict("index")
    {'a': {'targets': 2, 'closed': 1}, 'b': {'targets': 1, 'closed': 0}, 'x': {'targets': 3, 'closed': 1}}
    """
    source = as_events(events)
    out = source.query(f"""
        WITH e AS (SELECT account_id AS a, found AS t FROM {found_pairs(source)}),
        closed AS (
            SELECT e1.a, e1.t FROM e e1 JOIN e e2 ON e2.a = e1.t AND e2.t = e1.a
            UNION
            SELECT e1.a, e1.t FROM e e1 JOIN e e2 ON e2.a = e1.t JOIN e e3 ON e3.a = e1.a AND e3.t = e2.t
        )
        SELECT e.a AS account_id, count(*) AS targets, count(c.t) AS closed
        FROM e LEFT JOIN closed c ON c.a = e.a AND c.t = e.t
        GROUP BY 1 ORDER BY 1
    """)
    return out.set_index("account_id").astype({"targets": "int64", "closed": "int64"})


class ClosureBaseline(NamedTuple):
    """The population's mean account closure and its spread, over accounts that found ``min_targets`` or more."""

    mean: float
    spread: float
    min_targets: int


def closure_baseline(closure: pd.DataFrame, *, min_targets: int = 3, min_spread: float = 0.05) -> ClosureBaseline:
    """Mean and standard deviation of ``closed / targets`` over accounts with ``min_targets`` or more.

    The spread has a floor: a population in which almost nobody's contacts
    look anyone up (few of them are active) says nothing about strangers.

    Examples
    --------
    >>> closure = pd.DataFrame({"targets": [10, 10, 2], "closed": [2, 4, 0]}, index=["a", "b", "c"])
    >>> tuple(round(v, 3) for v in closure_baseline(closure))
    (0.3, 0.141, 3)
    """
    enough = closure[closure["targets"] >= min_targets]
    rate = enough["closed"] / enough["targets"]
    if len(rate) < 2:
        return ClosureBaseline(0.0, min_spread, min_targets)
    return ClosureBaseline(float(rate.mean()), max(float(rate.std()), min_spread), min_targets)


def entity_closure(
    events: EventsLike, closure: pd.DataFrame, baseline: ClosureBaseline, *, min_accounts: int = 5
) -> pd.DataFrame:
    """Each IP's, device's and hosting network's accounts' mean closure, and how far below the population's it lies.

    Parameters
    ----------
    events : Events or DataFrame
    closure : DataFrame
        :func:`target_closure`'s table.
    baseline : ClosureBaseline
        :func:`closure_baseline` of ``closure``.
    min_accounts : int
        Entities with fewer accounts that found ``baseline.min_targets`` people are left out.

    Returns
    -------
    DataFrame
        ``entity_type`` (``ip``, ``device`` or ``network``:
        :func:`graph.detect.infrastructure.pooling_usage`), ``entity``, ``accounts``,
        ``closure`` (their mean) and ``z``: ``(mean - closure) / (spread /
        sqrt(accounts))``, large when the accounts behind the entity find
        strangers.
    """
    source = as_events(events)
    enough = closure[closure["targets"] >= baseline.min_targets]
    rates = pd.DataFrame({"account_id": enough.index.to_numpy(dtype=object),
                          "rate": (enough["closed"] / enough["targets"]).to_numpy(dtype=float)})
    rows = source.query(f"""
        WITH used AS (
            SELECT entity_type, entity, account_id FROM {pooling_usage(source)}
        )
        SELECT used.entity_type, used.entity, count(*) AS accounts, avg(r.rate) AS closure
        FROM used JOIN {{rates}} r ON r.account_id = used.account_id
        GROUP BY 1, 2 HAVING count(*) >= {int(min_accounts)}
        ORDER BY 1, 2
    """, rates=rates)
    rows["z"] = (baseline.mean - rows["closure"].astype(float)) / (baseline.spread / np.sqrt(rows["accounts"]))
    return rows


def farm_closure(
    events: EventsLike, closure: pd.DataFrame, baseline: ClosureBaseline, *, min_accounts: int = 5
) -> pd.DataFrame:
    """Each device fingerprint's accounts' mean closure, every account that found someone counted, and its z.

    :func:`entity_closure` judges only accounts that found
    ``baseline.min_targets`` people. An emulator farm's dozens of accounts
    may each look up a handful of a list's numbers and find one or two
    people: none has a closure of its own, yet that none of the people its
    accounts found knows another is as telling, pooled, as one account's
    hundred strangers. Each account's rate counts with the variance its few
    targets leave it, the larger of the population's spread squared and a
    coin's ``p(1 - p) / targets``; a family's tablet, a handful of accounts
    finding their friends, stays near the usual closure and far inside
    its wide error.

    Returns
    -------
    DataFrame
        ``entity`` (the device), ``accounts`` (that found someone through
        it, ``min_accounts`` or more), ``closure`` (their mean) and ``z``
        (positive: strangers).

    Examples
    --------
    >>> from graph.detect.frames import events_frame
    >>> rows = [{"ts": 0, "ip": f"9.9.9.{i}", "device_id": "emu", "account_id": f"op{i}", "phone_hash": "p"}
    ...         for i in range(40)]
    >>> closure = pd.DataFrame({"targets": 1, "closed": 0}, index=[f"op{i}" for i in range(40)])
    >>> found = farm_closure(events_frame(rows), closure, ClosureBaseline(0.2, 0.15, 3))
    >>> found["entity"].tolist(), found["accounts"].tolist(), bool(found["z"].iloc[0] > 3)
    (['emu'], [40], True)
    """
    source = as_events(events)
    found = closure[closure["targets"] > 0]
    p = min(max(baseline.mean, 1e-6), 1 - 1e-6)
    rates = pd.DataFrame({
        "account_id": found.index.to_numpy(dtype=object),
        "rate": (found["closed"] / found["targets"]).to_numpy(dtype=float),
        "var": np.maximum(baseline.spread ** 2, p * (1 - p) / found["targets"].to_numpy(dtype=float)),
    })
    rows = source.query(f"""
        SELECT u.entity, count(*) AS accounts, avg(r.rate) AS closure, sum(r.var) AS var
        FROM {entity_usage(source)} u JOIN {{rates}} r ON r.account_id = u.account_id
        WHERE u.entity_type = 'device' AND u.lookups > 0
        GROUP BY 1 HAVING count(*) >= {int(min_accounts)}
        ORDER BY 1
    """, rates=rates)
    rows["z"] = (baseline.mean - rows["closure"].astype(float)) / (np.sqrt(rows["var"].astype(float)) / rows["accounts"])
    return rows.drop(columns="var").astype({"entity": object})


def stranger_pairs(members: Mapping[object, list[str]], *, reach: int = 10) -> pd.DataFrame:
    """``a, b``: ties between the accounts of each entity, each to its ``reach`` next ones in id order.

    A ring lattice instead of every pair: a thousand accounts behind one
    exit stay one dense community at ten ties each, without half a million
    pairs.

    Examples
    --------
    >>> stranger_pairs({"ip": ["c", "a", "b"]}, reach=1).values.tolist()
    [['a', 'b'], ['a', 'c'], ['b', 'c']]
    """
    pairs = set()
    for accounts in members.values():
        ordered = sorted(set(accounts))
        n = len(ordered)
        for i in range(n):
            for step in range(1, min(reach, n - 1) + 1):
                a, b = ordered[i], ordered[(i + step) % n]
                pairs.add((min(a, b), max(a, b)))
    return pd.DataFrame(sorted(pairs), columns=["a", "b"], dtype=object).reindex(columns=["a", "b"])


def crowd_pairs(members: Mapping[object, list[str]]) -> pd.DataFrame:
    """``a, b``: ties within each crowd, every account to the ones 1, 2, 4, 8, ... places on in id order.

    About ``2 log2(n)`` ties an account, as few as :func:`stranger_pairs`
    gives a crowd of a thousand, but with no cheap cut: a ring lattice of a
    hundred accounts falls apart into arcs under modularity, each tied to
    the next by its ends only, while here every half of the crowd holds a
    tie to the other from each of its accounts.

    Examples
    --------
    >>> crowd_pairs({"ip": ["a", "b", "c", "d", "e"]}).values.tolist()
    [['a', 'b'], ['a', 'c'], ['a', 'd'], ['a', 'e'], ['b', 'c'], ['b', 'd'], ['b', 'e'], ['c', 'd'], ['c', 'e'], ['d', 'e']]
    """
    pairs = set()
    for accounts in members.values():
        ordered = sorted(set(accounts))
        n = len(ordered)
        step = 1
        while step < n:
            for i in range(n):
                a, b = ordered[i], ordered[(i + step) % n]
                pairs.add((min(a, b), max(a, b)))
            step *= 2
    return pd.DataFrame(sorted(pairs), columns=["a", "b"], dtype=object).reindex(columns=["a", "b"])


def rare_links(events: EventsLike, accounts: pd.Index, *, max_accounts: int = 5,
               kinds: Collection[str] | None = None) -> pd.DataFrame:
    """``a, b``: pairs of ``accounts`` that reached the service through one IP or device at most ``max_accounts`` use.

    Every request counts, not only lookups: an operator's everyday-looking
    side traffic leaves through the same proxy exits and handsets. The
    entity's size counts every account behind it, so a carrier NAT or an
    office, whose address is everyone's, links nobody; a household's router
    or a proxy exit links its few. With ``kinds``, only IPs of those kinds
    link (``hosting`` and ``vpn``: addresses rented in a datacenter).

    Examples
    --------
    >>> from graph.detect.frames import events_frame
    >>> rows = [{"ts": 0, "ip": ip, "account_id": a, "phone_hash": "p"}
    ...         for ip, users in (("1.1.1.1", "ab"), ("2.2.2.2", "bc"), ("3.3.3.3", "cdefgh")) for a in users]
    >>> rare_links(events_frame(rows), pd.Index(list("abcdefgh"))).values.tolist()
    [['a', 'b'], ['b', 'c']]
    >>> rows[2:4] = [{**row, "ip_kind": "hosting"} for row in rows[2:4]]
    >>> rare_links(events_frame(rows), pd.Index(list("abcdefgh")), kinds=("hosting", "vpn")).values.tolist()
    [['b', 'c']]
    """
    source = as_events(events)
    rows = source.query(f"""
        WITH used AS (
            SELECT entity_type, entity, account_id FROM {entity_usage(source)}
            WHERE {"true" if kinds is None else "entity_type = 'ip' AND kind IN (SELECT kind FROM {kinds})"}
        ), rare AS (
            SELECT entity_type, entity FROM used GROUP BY 1, 2 HAVING count(*) BETWEEN 2 AND {int(max_accounts)}
        ), mine AS (
            SELECT u.* FROM used u JOIN rare USING (entity_type, entity)
            WHERE u.account_id IN (SELECT account_id FROM {{accounts}})
        )
        SELECT DISTINCT x.account_id AS a, y.account_id AS b FROM mine x JOIN mine y
          ON x.entity_type = y.entity_type AND x.entity = y.entity AND x.account_id < y.account_id
        ORDER BY 1, 2
    """, accounts=pd.DataFrame({"account_id": accounts.to_numpy(dtype=object)}),
        kinds=pd.DataFrame({"kind": sorted(kinds or ())}, dtype=object))
    return rows.astype({"a": object, "b": object})


def dedicated_links(events: EventsLike, accounts: pd.Index, *, min_accounts: int = 5, min_share: float = 0.9) -> pd.DataFrame:
    """``a, b``: pairs of ``accounts`` behind one hosting or VPN address that ``accounts`` nearly fill.

    An address is dedicated when at least ``min_accounts`` of ``accounts``
    use it and they are at least ``min_share`` of everyone who does: the
    hosting addresses an operation rents, and the VPN exits it floods, hold
    its own accounts and hardly anyone else, however many of them, where a
    VPN exit's users are otherwise mostly people outside any one selection.
    Residential and carrier addresses are people's, and the few accounts a
    proxy exit carries are tied by :func:`rare_links` already; so are the
    handsets and emulators a few accounts share (tying the dozens an
    emulator fingerprint may carry cut one tuning draw's operations sharing
    VPN exits differently, ARI .99 -> .86; tying residential exits of six
    to eight accounts cut a development draw's operation in two). Every
    request counts, as for :func:`rare_links`.

    Examples
    --------
    >>> from graph.detect.frames import events_frame
    >>> rows = [{"ts": 0, "ip": "5.5.5.5", "ip_kind": "hosting", "account_id": f"op{i}", "phone_hash": "p"}
    ...         for i in range(6)]
    >>> rows += [{"ts": 0, "ip": "7.7.7.7", "ip_kind": "hosting", "account_id": a, "phone_hash": "p"}
    ...          for a in ["op0", "x", "y", "z"]]
    >>> len(dedicated_links(events_frame(rows), pd.Index([f"op{i}" for i in range(6)])))
    15
    """
    source = as_events(events)
    rows = source.query(f"""
        WITH used AS (
            SELECT entity, account_id, account_id IN (SELECT account_id FROM {{accounts}}) AS chosen
            FROM {entity_usage(source)} WHERE entity_type = 'ip' AND kind IN ('hosting', 'vpn')
        ), dedicated AS (
            SELECT entity FROM used GROUP BY 1
            HAVING count(*) FILTER (WHERE chosen) >= {int(min_accounts)}
               AND count(*) FILTER (WHERE chosen) >= {float(min_share)} * count(*)
        ), mine AS (
            SELECT u.entity, u.account_id FROM used u SEMI JOIN dedicated USING (entity) WHERE u.chosen
        )
        SELECT DISTINCT x.account_id AS a, y.account_id AS b FROM mine x JOIN mine y
          ON x.entity = y.entity AND x.account_id < y.account_id
        ORDER BY 1, 2
    """, accounts=pd.DataFrame({"account_id": accounts.to_numpy(dtype=object)}))
    return rows.astype({"a": object, "b": object})


def warm_links(events: EventsLike, pooled: pd.DataFrame, accounts: pd.Index, *, warm_z: float) -> pd.DataFrame:
    """``a, b``: ``accounts`` chained through the entities of ``pooled`` (:func:`entity_closure`) with ``z >= warm_z``.

    An operation that works a list from a dozen carrier addresses mixes a
    few bystanders into each, so no single address pools enough of its
    workers to decide; chained through the addresses that lean to strangers
    they are one group for :func:`rare_groups`, whose pooled closure decides.
    Only accounts behind two warm entities or more are chained: the
    operation's workers move between its addresses, while a bystander who
    finds strangers (a student behind the campus NAT an operator borrows)
    stays on its own one. Each entity links its accounts as a chain in id
    order (connectivity is all a group needs), so a warm address with many
    accounts costs no more pairs than accounts.

    Examples
    --------
    >>> from graph.detect.frames import events_frame
    >>> rows = [{"ts": 0, "ip": ip, "account_id": a, "phone_hash": "p"}
    ...         for ip, users in (("1.1.1.1", "abce"), ("2.2.2.2", "bcd"), ("3.3.3.3", "bxy"), ("4.4.4.4", "cd"))
    ...         for a in users]
    >>> pooled = pd.DataFrame({"entity_type": "ip", "entity": ["1.1.1.1", "2.2.2.2", "3.3.3.3", "4.4.4.4"],
    ...                        "z": [2.5, 2.1, 0.3, 2.2]})
    >>> warm_links(events_frame(rows), pooled, pd.Index(list("abcdexy")), warm_z=2.0).values.tolist()
    [['b', 'c'], ['c', 'd']]
    """
    warm = pooled.loc[pooled["z"] >= warm_z, ["entity_type", "entity"]]
    source = as_events(events)
    rows = source.query(f"""
        WITH mine AS (
            SELECT DISTINCT u.entity_type, u.entity, u.account_id FROM {pooling_usage(source)} u
            JOIN {{warm}} w ON w.entity_type = u.entity_type AND w.entity = u.entity
            WHERE u.account_id IN (SELECT account_id FROM {{accounts}})
            QUALIFY count(*) OVER (PARTITION BY u.account_id) >= 2
        ), chained AS (
            SELECT account_id AS a,
                   lead(account_id) OVER (PARTITION BY entity_type, entity ORDER BY account_id) AS b
            FROM mine
        )
        SELECT DISTINCT a, b FROM chained WHERE b IS NOT NULL ORDER BY 1, 2
    """, warm=warm, accounts=pd.DataFrame({"account_id": accounts.to_numpy(dtype=object)}))
    return rows.reindex(columns=["a", "b"]).astype({"a": object, "b": object})


def rare_groups(links: pd.DataFrame, closure: pd.DataFrame, baseline: ClosureBaseline, *,
                min_accounts: int = 5) -> pd.DataFrame:
    """The connected groups of :func:`rare_links` (or :func:`warm_links`), each with its accounts' pooled closure.

    Residential proxies put one to three accounts on each exit and own
    handsets put one on each device, so no single entity pools an
    operation's list workers; chained through those exits and handsets they
    are one group, while households and circles of friends chain into small
    groups that keep the usual closure. Every account of a group that found
    ``baseline.min_targets`` people is pooled, not only those that find
    strangers, so the z means what an entity's does (:func:`entity_closure`).
    The accounts that found fewer still chain: when an operation's accounts
    look up a dozen numbers each, half of them find fewer than three people,
    and chained through the other half alone its exits fall apart.

    Returns
    -------
    DataFrame
        ``account_id, group, accounts, closure, z, judged``, for groups of at
        least ``min_accounts`` accounts that found ``baseline.min_targets``
        people (``accounts`` counts those, the ``judged``), numbered by their
        first account; the group's other linked accounts come with
        ``judged`` false.

    Examples
    --------
    >>> links = pd.DataFrame({"a": ["a", "b", "c", "d", "x"], "b": ["b", "c", "d", "e", "y"]})
    >>> closure = pd.DataFrame({"targets": 10, "closed": [0, 0, 1, 0, 0, 5, 5]}, index=list("abcdexy"))
    >>> groups = rare_groups(links, closure, ClosureBaseline(0.3, 0.2, 3))
    >>> groups["account_id"].tolist(), round(float(groups["z"].iloc[0]), 2)
    (['a', 'b', 'c', 'd', 'e'], 3.13)

    An account that found too few people to judge still chains its neighbours:

    >>> bridged = pd.concat([links, pd.DataFrame({"a": ["e", "q"], "b": ["q", "r"]})], ignore_index=True)
    >>> closure.loc["r"] = (10, 0)
    >>> groups = rare_groups(bridged, closure, ClosureBaseline(0.3, 0.2, 3))
    >>> groups[["account_id", "accounts", "judged"]].values.tolist()[-2:]
    [['q', 6, False], ['r', 6, True]]
    """
    columns = {"account_id": object, "group": np.int64, "accounts": np.int64, "closure": float, "z": float,
               "judged": bool}
    enough = closure[closure["targets"] >= baseline.min_targets]
    ids = enough.index.append(pd.Index(pd.unique(pd.concat([links["a"], links["b"]])))).unique()
    a, b = ids.get_indexer(links["a"]), ids.get_indexer(links["b"])
    graph = coo_matrix((np.ones(len(a)), (a, b)), shape=(len(ids), len(ids)))
    _, label = connected_components(graph, directed=False)
    rate = (enough["closed"] / enough["targets"]).reindex(ids)
    out = pd.DataFrame({"account_id": ids.to_numpy(dtype=object), "label": label, "rate": rate.to_numpy(dtype=float),
                        "judged": rate.notna().to_numpy()})
    size = out.groupby("label")["judged"].transform("sum")
    out = out[size >= min_accounts]
    if out.empty:
        return pd.DataFrame({c: pd.Series(dtype=t) for c, t in columns.items()})
    out = out.assign(accounts=size[size >= min_accounts].astype(np.int64),
                     closure=out.groupby("label")["rate"].transform("mean"),
                     group=pd.factorize(out.groupby("label")["account_id"].transform("min"), sort=True)[0])
    out["z"] = (baseline.mean - out["closure"]) / (baseline.spread / np.sqrt(out["accounts"]))
    return out.sort_values(["group", "account_id"], ignore_index=True).astype(columns)[list(columns)]
