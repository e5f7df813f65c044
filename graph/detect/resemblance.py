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

import numpy as np
import pandas as pd
import scipy  # scipy.stats loads on first use

from graph.detect import infrastructure
from graph.detect.frames import EventsLike, among, as_events

__all__ = ["target_regions", "region_matrix", "region_resemblance", "shared_mass", "home_countries", "looking_abroad"]


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
