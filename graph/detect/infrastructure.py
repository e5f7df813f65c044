"""Shared infrastructure: accounts reached from the same rare IPs, networks and devices.

EvilCohort (Stringhini et al. 2015) observed that the accounts of one abuse
operation are accessed from a common set of machines; SliceNDice (Nilforoshan
and Shah 2019) showed that sharing an attribute value means more the rarer the
value is. Both matter here: a carrier CGNAT puts hundreds of unrelated people
behind a handful of IPs, an office NAT a few dozen, a family shares one
phone, while an abuse network shares a few hosting IPs and a pool of devices.

Each shared entity (an IP, a /24 or /48 network prefix, a device) gives a
pair of its accounts a tie of weight

    entity weight x kind weight / (accounts on the entity - 1)

the resource-allocation weighting of a bipartite projection (Newman 2001;
Zhou, Lu and Zhang 2009): each account gets the same total tie strength from
an entity however many accounts share it, so an IP shared by 2 accounts ties
them 299 times more tightly than a CGNAT IP shared by 300. Kind weights make
hosting, VPN, Tor and proxy addresses count more than residential ones, and
mobile (carrier NAT) less. Entities shared by more than ``max_accounts``
accounts tie nobody (their weight would be negligible and their pairs many).
"""

from __future__ import annotations

from collections.abc import Collection, Mapping

import numpy as np
import pandas as pd

from graph.detect.frames import Events, EventsLike, among, as_events, scratch_connection

__all__ = [
    "looking_through",
    "pooling_usage",
    "ENTITY_TYPES",
    "DEFAULT_KIND_WEIGHTS",
    "DEFAULT_ENTITY_WEIGHTS",
    "PREFIX_KINDS",
    "EDGE_COLUMNS",
    "entity_sizes",
    "entity_usage",
    "burst_crowds",
    "infrastructure_edges",
    "entity_weights",
    "infrastructure_ties",
]

ENTITY_TYPES = ("ip", "prefix", "device")

#: How much sharing an address of each kind says (contract ``ip_intel.kind``).
DEFAULT_KIND_WEIGHTS: dict[str, float] = {
    "hosting": 2.0,
    "tor": 2.0,
    "vpn": 1.5,
    "proxy": 1.5,
    "residential": 1.0,
    "unknown": 1.0,
    "mobile": 0.5,
}

#: How much sharing each entity type says: a device is personal, a /24 is a neighbourhood.
DEFAULT_ENTITY_WEIGHTS: dict[str, float] = {"ip": 1.0, "prefix": 0.25, "device": 2.0}

#: Prefixes tie accounts only for these kinds: rotating addresses inside one
#: hosting or VPN range is an operator's habit, while sharing a residential or
#: mobile /24 only means living in the same neighbourhood.
PREFIX_KINDS = frozenset({"hosting", "vpn", "tor", "proxy"})

#: Columns of an account-to-infrastructure edge table.
EDGE_COLUMNS = (
    "account_id", "entity_type", "entity", "requests", "lookups", "kind", "country", "asn", "entity_accounts",
)


def entity_sizes(events: EventsLike) -> pd.DataFrame:
    """How many accounts use each IP, prefix and device, over all the events.

    Returns
    -------
    DataFrame
        ``entity_type, entity, entity_accounts``.

    Examples
    --------
    >>> from graph.detect.frames import events_frame
    >>> frame = events_frame([{"ts": 0, "ip": "5.1.1.1", "account_id": a} for a in "abc"])
    >>> entity_sizes(frame)[["entity", "entity_accounts"]].values.tolist()
    [['5.1.1.1', 3]]
    """
    source = as_events(events)
    usage = entity_usage(source)
    return source.query(f"""
        SELECT 'ip' AS entity_type, entity, count(*) AS entity_accounts
        FROM {usage} WHERE entity_type = 'ip' GROUP BY 2
        UNION ALL
        SELECT 'prefix', prefix, count(DISTINCT account_id)
        FROM {usage} WHERE entity_type = 'ip' AND prefix IS NOT NULL GROUP BY 2
        UNION ALL
        SELECT 'device', entity, count(*)
        FROM {usage} WHERE entity_type = 'device' GROUP BY 2
        ORDER BY 1, 2
    """)


def entity_usage(source: Events) -> str:
    """The temporary table of every account's traffic over each IP and device it used, built on first use.

    One row per (account, IP) and (account, device): ``account_id,
    entity_type`` (``ip`` or ``device``), ``entity``, ``requests``,
    ``lookups`` and, for IPs, ``kind``, ``country``, ``asn``, ``prefix`` and
    ``raw_kind`` (the IP's own ``ip_kind``). Entity sizes, infrastructure
    edges, rare links, pooled closure and the accounts behind hot entities
    all read it: each of them scanning the tens of millions of events for
    the same pairs cost a full scan apiece. An IP's prefix is a function of
    the IP, so prefix rows are sums over an account's IP rows
    (:func:`infrastructure_edges`).
    """
    return source.derived("entity_usage", """
        SELECT account_id, entity_type, entity, requests, lookups, kind, country, asn, prefix, raw_kind FROM (
            SELECT account_id, grouping(ip) = 1 AS by_device,
                   CASE WHEN by_device THEN 'device' ELSE 'ip' END AS entity_type,
                   CASE WHEN by_device THEN device_id ELSE ip END AS entity,
                   count(*) AS requests, count(phone_hash) AS lookups,
                   CASE WHEN by_device THEN 'device' ELSE coalesce(any_value(ip_kind), 'unknown') END AS kind,
                   CASE WHEN NOT by_device THEN any_value(ip_country) END AS country,
                   CASE WHEN NOT by_device THEN any_value(ip_asn) END AS asn,
                   CASE WHEN NOT by_device THEN any_value(ip_prefix) END AS prefix,
                   CASE WHEN NOT by_device THEN any_value(ip_kind) END AS raw_kind
            FROM {events} WHERE account_id IS NOT NULL
            GROUP BY GROUPING SETS ((account_id, ip), (account_id, device_id))
        ) WHERE entity IS NOT NULL
    """)


def pooling_usage(source: Events) -> str:
    """A subquery of who looked numbers up through each IP, device and hosting network (``entity_type, entity, account_id, lookups``).

    What a group of accounts share is pooled to judge them together
    (:func:`graph.detect.acquaintance.entity_closure`). An operation that
    rents a few addresses from one hosting provider puts a handful of
    accounts on each, too few to tell anything apiece; the provider's
    network (its ASN, entity ``AS<number>`` of type ``network``) pools them
    all. Only hosting networks: a carrier's or an ISP's network is
    everyone's.
    """
    usage = entity_usage(source)
    return f"""(
        SELECT entity_type, entity, account_id, lookups FROM {usage} WHERE lookups > 0
        UNION ALL
        SELECT 'network' AS entity_type, 'AS' || CAST(asn AS VARCHAR) AS entity, account_id, sum(lookups) AS lookups
        FROM {usage}
        WHERE entity_type = 'ip' AND raw_kind = 'hosting' AND asn IS NOT NULL AND lookups > 0
        GROUP BY 2, 3
    )"""


def looking_through(events: EventsLike, *, min_accounts: int = 5, networks: bool = False) -> pd.DataFrame:
    """``account_id, entity``: the accounts looking numbers up through each IP or device that ``min_accounts`` do.

    ``entity`` is ``ip:<address>`` or ``device:<id>``, and with ``networks``
    also ``network:AS<number>`` for the networks of hosting and VPN
    addresses (a provider's addresses pooled, as in :func:`pooling_usage`,
    with VPN exits too: what an operation's cron keeps shows against the
    provider's other customers). What a few accounts share cannot be pooled
    to tell anything (:func:`graph.detect.synchrony.clockwork`).

    Examples
    --------
    >>> from graph.detect.frames import events_frame
    >>> rows = [{"ts": 0, "ip": "5.1.1.1", "account_id": a, "phone_hash": "p"} for a in "abc"]
    >>> looking_through(events_frame(rows + [{"ts": 0, "ip": "5.1.1.1", "account_id": "d"}]), min_accounts=3)
      account_id      entity
    0          a  ip:5.1.1.1
    1          b  ip:5.1.1.1
    2          c  ip:5.1.1.1
    """
    source = as_events(events)
    usage = entity_usage(source)
    pooled = "" if not networks else f"""
        UNION
        SELECT account_id, 'network' AS entity_type, 'AS' || CAST(asn AS VARCHAR) AS entity FROM {usage}
        WHERE entity_type = 'ip' AND raw_kind IN ('hosting', 'vpn') AND asn IS NOT NULL AND lookups > 0
    """
    return source.query(f"""
        SELECT account_id, entity_type || ':' || entity AS entity FROM (
            SELECT account_id, entity_type, entity, count(*) OVER (PARTITION BY entity_type, entity) AS lookers
            FROM (SELECT account_id, entity_type, entity FROM {usage} WHERE lookups > 0 {pooled})
        ) WHERE lookers >= {int(min_accounts)}
        ORDER BY entity, account_id
    """)


def burst_crowds(
    events: EventsLike, bursts: Collection[str], *, min_accounts: int = 5, min_share: float = 0.9
) -> pd.DataFrame:
    """Addresses nearly all of whose users were made in sign-up bursts, and those of them that looked numbers up.

    A farm makes its accounts in bursts and sends them out through
    addresses it rents for them, so behind such an address nearly everyone
    is new. A viral evening's newcomers join people already there: a
    carrier's address, a campus's or a venue's is shared with those who
    signed up long before.

    Parameters
    ----------
    events : Events or DataFrame
    bursts : collection of str
        Accounts made in a sign-up burst (:func:`graph.detect.behaviour.burst_accounts`).
    min_accounts : int
        Fewer burst-made accounts looking numbers up through an address is no crowd.
    min_share : float
        Share of the address's users (everyone who sent a request through
        it) that must have been made in a burst.

    Returns
    -------
    DataFrame
        ``ip`` and ``account_id`` (its burst-made accounts that looked
        numbers up), sorted.

    Examples
    --------
    >>> from graph.detect.frames import events_frame
    >>> rows = [{"ts": 0, "ip": "5.1.1.1", "account_id": f"new{i}", "phone_hash": f"p{i}"} for i in range(5)]
    >>> rows += [{"ts": 0, "ip": "7.1.1.1", "account_id": a, "phone_hash": "q"} for a in ["new0", "old1", "old2"]]
    >>> burst_crowds(events_frame(rows), {f"new{i}" for i in range(5)})["account_id"].tolist()
    ['new0', 'new1', 'new2', 'new3', 'new4']
    """
    source = as_events(events)
    made = sorted(set(bursts))
    return source.query(f"""
        WITH ips AS (
            SELECT u.entity, u.account_id, u.lookups, m.account_id IS NOT NULL AS made
            FROM {entity_usage(source)} u LEFT JOIN {{made}} m USING (account_id)
            WHERE u.entity_type = 'ip'
        ), crowded AS (
            SELECT entity FROM ips GROUP BY 1
            HAVING count(*) FILTER (WHERE made AND lookups > 0) >= {int(min_accounts)}
               AND count(*) FILTER (WHERE made) >= {float(min_share)} * count(*)
        )
        SELECT entity AS ip, account_id FROM ips SEMI JOIN crowded USING (entity)
        WHERE made AND lookups > 0 ORDER BY 1, 2
    """, made=pd.DataFrame({"account_id": made}, dtype=object))


def infrastructure_edges(events: EventsLike, accounts: Collection[str] | None = None) -> pd.DataFrame:
    """Account-to-infrastructure edges (IP, prefix, device) aggregated from request events.

    Parameters
    ----------
    events : Events or DataFrame
        Request events with the warehouse's columns.
    accounts : collection of str, optional
        Only edges of these accounts.

    Returns
    -------
    DataFrame
        One row per (account, entity) with :data:`EDGE_COLUMNS`: requests and
        lookups over it, for IPs and prefixes the kind, country and ASN
        (device rows carry kind ``"device"``), and ``entity_accounts``: how
        many accounts use the entity in all the events, whatever ``accounts``
        selects (that is what makes an entity rare or common).

    Examples
    --------
    >>> from graph.detect.frames import events_frame
    >>> frame = events_frame([
    ...     {"ts": 0, "ip": "5.1.1.1", "ip_prefix": "5.1.1.0/24", "ip_kind": "hosting", "account_id": "a"},
    ...     {"ts": 0, "ip": "5.1.1.1", "ip_prefix": "5.1.1.0/24", "ip_kind": "hosting", "account_id": "b"},
    ... ])
    >>> edges = infrastructure_edges(frame, ["a"])
    >>> sorted(edges.entity_type.unique()), edges.entity_accounts.tolist()
    (['ip', 'prefix'], [2, 2])
    """
    source = as_events(events)
    frames = {"sizes": entity_sizes(source)}
    where = "TRUE"
    if accounts is not None:
        frames["focus"] = pd.DataFrame({"account_id": sorted(set(accounts))}, dtype=object)
        where = "account_id IN (SELECT account_id FROM {focus})"
    sql = f"""
        SELECT account_id, entity_type, entity, requests, lookups, kind, country, asn, prefix, raw_kind
        FROM {entity_usage(source)} WHERE {where}
    """
    rows = source.query(sql, **frames)
    ips = rows[(rows["entity_type"] == "ip") & rows["prefix"].notna()]
    prefixes = ips.groupby(["account_id", "prefix"], sort=False).agg(
        requests=("requests", "sum"), lookups=("lookups", "sum")
    ).reset_index()
    for column, source_column in (("kind", "raw_kind"), ("country", "country"), ("asn", "asn")):
        top = (ips.groupby(["account_id", "prefix", source_column], sort=False)["requests"].sum().reset_index()
               .sort_values(["account_id", "prefix", "requests", source_column], ascending=[True, True, False, True])
               .drop_duplicates(["account_id", "prefix"]).rename(columns={source_column: column}))
        prefixes = prefixes.merge(top[["account_id", "prefix", column]], on=["account_id", "prefix"], how="left")
    prefixes = prefixes.rename(columns={"prefix": "entity"}).assign(entity_type="prefix")
    prefixes["kind"] = prefixes["kind"].fillna("unknown")
    edges = pd.concat([rows.drop(columns=["prefix", "raw_kind"]), prefixes], ignore_index=True)
    edges = edges.merge(frames["sizes"], on=["entity_type", "entity"])
    edges = edges.sort_values(["entity_type", "entity", "account_id"], ignore_index=True)
    edges["asn"] = edges["asn"].astype("Int64")
    edges["entity_accounts"] = edges["entity_accounts"].astype("int64")
    return edges[list(EDGE_COLUMNS)]


def entity_weights(
    edges: pd.DataFrame,
    *,
    kind_weights: Mapping[str, float] | None = None,
    entity_type_weights: Mapping[str, float] | None = None,
    max_accounts: int = 2000,
    min_weight: float = 0.005,
) -> pd.DataFrame:
    """How much sharing each entity says: the pair tie weight it gives its accounts.

    Parameters
    ----------
    edges : DataFrame
        Account-to-infrastructure edges (:data:`EDGE_COLUMNS`); without an
        ``entity_accounts`` column, the accounts present are counted.
    kind_weights : mapping, optional
        Weight of each IP kind; default :data:`DEFAULT_KIND_WEIGHTS`.
    entity_type_weights : mapping, optional
        Weight of each entity type; default :data:`DEFAULT_ENTITY_WEIGHTS`.
    max_accounts : int
        Entities with more accounts than this tie nobody.
    min_weight : float
        Entities whose pair weight would be smaller tie nobody either: a
        mobile address shared by hundreds ties each pair by less than this,
        and building its pairs would cost more than all the rest.

    Returns
    -------
    DataFrame
        ``entity_type, entity, accounts, kind, weight`` for every entity with
        at least two accounts; prefixes of kinds outside :data:`PREFIX_KINDS`
        weigh 0.

    Examples
    --------
    >>> edges = pd.DataFrame({
    ...     "account_id": ["a", "b"] + [f"u{i}" for i in range(300)],
    ...     "entity_type": "ip", "entity": ["h"] * 2 + ["cgnat"] * 300,
    ...     "kind": ["hosting"] * 2 + ["mobile"] * 300})
    >>> weights = entity_weights(edges, min_weight=0).set_index("entity")["weight"]
    >>> float(weights["h"]), round(float(weights["cgnat"]), 5)
    (2.0, 0.00167)
    >>> float(entity_weights(edges).set_index("entity").loc["cgnat", "weight"])  # below min_weight
    0.0
    """
    kind_weights = {**DEFAULT_KIND_WEIGHTS, **(kind_weights or {})}
    type_weights = {**DEFAULT_ENTITY_WEIGHTS, **(entity_type_weights or {})}
    if max_accounts < 2:
        raise ValueError(f"max_accounts must be at least 2, not {max_accounts}")
    if "entity_accounts" in edges.columns:
        grouped = (
            edges.groupby(["entity_type", "entity"], sort=True)
            .agg(accounts=("entity_accounts", "max"), kind=("kind", "first"))
            .reset_index()
        )
    else:
        grouped = (
            edges.groupby(["entity_type", "entity"], sort=True)
            .agg(accounts=("account_id", "nunique"), kind=("kind", "first"))
            .reset_index()
        )
    grouped = grouped[grouped["accounts"] >= 2].copy()
    kind_w = grouped["kind"].map(lambda k: kind_weights.get(k, 1.0)).astype(float)
    type_w = grouped["entity_type"].map(lambda t: type_weights.get(t, 1.0)).astype(float)
    neighbourhood = (grouped["entity_type"] == "prefix") & ~grouped["kind"].isin(PREFIX_KINDS)
    weight = type_w * kind_w / (grouped["accounts"] - 1)
    grouped["weight"] = weight.where((grouped["accounts"] <= max_accounts) & ~neighbourhood & (weight >= min_weight), 0.0)
    return grouped.reset_index(drop=True)


def infrastructure_ties(
    edges: pd.DataFrame,
    *,
    focus: Collection[str] | None = None,
    kind_weights: Mapping[str, float] | None = None,
    entity_type_weights: Mapping[str, float] | None = None,
    max_accounts: int = 2000,
    min_weight: float = 0.005,
) -> pd.DataFrame:
    """Pairs of accounts tied by shared infrastructure, with the tie weight per entity type.

    Parameters
    ----------
    edges : DataFrame
        Account-to-infrastructure edges (:data:`EDGE_COLUMNS`).
    focus : collection of str, optional
        Only pairs with at least one of these accounts (the candidates), so
        the pairs of benign crowds are never built.
    kind_weights, entity_type_weights, max_accounts, min_weight
        See :func:`entity_weights`.

    Returns
    -------
    DataFrame
        ``a, b`` (``a < b``), ``ip, prefix, device`` (summed tie weights) and
        ``shared_ips, shared_prefixes, shared_devices`` (counts), sorted by
        ``a, b``.

    Examples
    --------
    Two accounts sharing one hosting IP are tied far more tightly than any
    pair of 300 accounts behind a carrier NAT:

    >>> edges = pd.DataFrame({
    ...     "account_id": ["a", "b"] + [f"u{i:03d}" for i in range(300)],
    ...     "entity_type": "ip", "entity": ["h"] * 2 + ["cgnat"] * 300,
    ...     "kind": ["hosting"] * 2 + ["mobile"] * 300})
    >>> ties = infrastructure_ties(edges, min_weight=0).set_index(["a", "b"])
    >>> float(ties.loc[("a", "b"), "ip"]) > 1000 * float(ties.loc[("u000", "u001"), "ip"])
    True
    >>> infrastructure_ties(edges)[["a", "b"]].values.tolist()  # the NAT's pairs are not even built
    [['a', 'b']]

    Notes
    -----
    The pairs are built in DuckDB: the cost is the sum over entities of the
    squared number of their accounts (capped by ``max_accounts``).
    """
    weights = entity_weights(
        edges, kind_weights=kind_weights, entity_type_weights=entity_type_weights, max_accounts=max_accounts,
        min_weight=min_weight,
    )
    weights = weights[weights["weight"] > 0]
    columns = ["a", "b", "ip", "prefix", "device", "shared_ips", "shared_prefixes", "shared_devices"]
    if weights.empty:
        return pd.DataFrame({c: pd.Series(dtype=object if c in "ab" else float) for c in columns})
    # pairs are built on integer codes (sorted, so code order is id order) and grouped by them: the
    # accounts' and entities' strings made the self-join and its grouping several times slower
    used = edges[["account_id", "entity_type", "entity"]].drop_duplicates()
    codes, ids = pd.factorize(used["account_id"], sort=True)
    focused = np.ones(len(ids), dtype=bool) if focus is None else among(ids, focus)
    con = scratch_connection()
    try:
        con.register("edges", pd.DataFrame({"account_id": codes.astype(np.int32), "entity_type": used["entity_type"],
                                            "entity": used["entity"]}))
        con.register("accounts", pd.DataFrame({"account_id": np.arange(len(ids), dtype=np.int32), "focused": focused}))
        con.register("weights", weights[["entity_type", "entity", "weight"]])
        # only entities a focus account touches can tie a focus account
        ties = con.execute("""
            WITH entities AS (
                SELECT row_number() OVER () AS e, entity_type, entity, weight FROM weights
            ), used AS (
                SELECT d.account_id, a.focused, w.e, w.entity_type, w.weight
                FROM edges d JOIN entities w USING (entity_type, entity) JOIN accounts a USING (account_id)
            ), kept AS (
                SELECT * FROM used WHERE e IN (SELECT e FROM used WHERE focused)
            )
            SELECT x.account_id AS a, y.account_id AS b,
                   sum(x.weight) FILTER (WHERE x.entity_type = 'ip') AS ip,
                   sum(x.weight) FILTER (WHERE x.entity_type = 'prefix') AS prefix,
                   sum(x.weight) FILTER (WHERE x.entity_type = 'device') AS device,
                   count(*) FILTER (WHERE x.entity_type = 'ip') AS shared_ips,
                   count(*) FILTER (WHERE x.entity_type = 'prefix') AS shared_prefixes,
                   count(*) FILTER (WHERE x.entity_type = 'device') AS shared_devices
            FROM kept x JOIN kept y ON x.e = y.e AND x.account_id < y.account_id
            WHERE x.focused OR y.focused
            GROUP BY 1, 2
            ORDER BY 1, 2
        """).df()
    finally:
        con.close()
    # the ids come back as the strings a query would return them (pandas' string dtype where it has one)
    ties["a"] = pd.Series(ids[ties["a"].to_numpy()], dtype=object).astype(str)
    ties["b"] = pd.Series(ids[ties["b"].to_numpy()], dtype=object).astype(str)
    for column in ("ip", "prefix", "device"):
        ties[column] = ties[column].fillna(0.0).astype(float).round(9)
    for column in ("shared_ips", "shared_prefixes", "shared_devices"):
        ties[column] = ties[column].astype(int)
    return ties[columns]
