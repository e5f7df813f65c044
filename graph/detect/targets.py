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
* :func:`reciprocity`: within a group, the share of members that another
  member's lookups found.
"""

from __future__ import annotations

from collections.abc import Collection

import pandas as pd

from graph.detect.frames import EventsLike, as_events

__all__ = ["target_ties", "reciprocity"]


def target_ties(
    events: EventsLike, *, max_lookers: int = 50, min_shared: int = 3, accounts: Collection[str] | None = None
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
    accounts : collection of str, optional
        Only pairs with at least one of these accounts.

    Returns
    -------
    DataFrame
        ``a, b`` (``a < b``), ``shared`` (numbers both looked up), ``weight``
        (sum of their rarities) and ``mutual`` (True when one found the other
        by its number), sorted by ``a, b``.

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
    focus = ""
    if accounts is not None:
        frames["focus"] = pd.DataFrame({"account_id": sorted(set(accounts))}, dtype=object)
        focus = "AND (x.account_id IN (SELECT account_id FROM {focus}) OR y.account_id IN (SELECT account_id FROM {focus}))"
    ties = source.query(
        f"""
        WITH looked AS (
            SELECT DISTINCT account_id, phone_hash FROM {{events}}
            WHERE account_id IS NOT NULL AND phone_hash IS NOT NULL
        ), rare AS (
            SELECT phone_hash, count(*) AS lookers FROM looked GROUP BY 1
            HAVING count(*) BETWEEN 2 AND {int(max_lookers)}
        ), used AS (
            SELECT looked.*, rare.lookers FROM looked JOIN rare USING (phone_hash)
        ), pairs AS (
            SELECT x.account_id AS a, y.account_id AS b, count(*) AS shared,
                   sum(1.0 / (x.lookers - 1)) AS weight
            FROM used x JOIN used y ON x.phone_hash = y.phone_hash AND x.account_id < y.account_id
            WHERE TRUE {focus}
            GROUP BY 1, 2 HAVING count(*) >= {int(min_shared)}
        ), found AS (
            SELECT DISTINCT least(account_id, matched_account_id) AS a, greatest(account_id, matched_account_id) AS b
            FROM {{events}}
            WHERE account_id IS NOT NULL AND matched_account_id IS NOT NULL AND account_id <> matched_account_id
        )
        SELECT pairs.a, pairs.b, pairs.shared, pairs.weight, found.a IS NOT NULL AS mutual
        FROM pairs LEFT JOIN found ON pairs.a = found.a AND pairs.b = found.b
        ORDER BY 1, 2
        """,
        **frames,
    )
    ties["shared"] = ties["shared"].astype(int)
    ties["weight"] = ties["weight"].astype(float).round(9)
    ties["mutual"] = ties["mutual"].astype(bool)
    return ties[["a", "b", "shared", "weight", "mutual"]]


def reciprocity(events: EventsLike, members: Collection[str]) -> dict:
    """How much a group's lookups found the group itself.

    Parameters
    ----------
    events : Events or DataFrame
    members : collection of str

    Returns
    -------
    dict
        ``found_members``: members that another member's lookup matched;
        ``share``: that over the group size; ``matched_accounts``: distinct
        accounts the group's lookups matched; ``inside_share``: the share of
        those that are members.

    Examples
    --------
    >>> from graph.detect.frames import events_frame
    >>> rows = [{"ts": 0, "ip": "1.1.1.1", "account_id": "a", "phone_hash": "pb", "matched_account_id": "b"},
    ...         {"ts": 0, "ip": "1.1.1.1", "account_id": "b", "phone_hash": "pa", "matched_account_id": "a"}]
    >>> reciprocity(events_frame(rows), ["a", "b"])["share"]
    1.0
    """
    members = sorted(set(members))
    if not members:
        return {"found_members": 0, "share": 0.0, "matched_accounts": 0, "inside_share": 0.0}
    source = as_events(events)
    row = source.query(
        """
        WITH mine AS (
            SELECT DISTINCT account_id, matched_account_id FROM {events}
            WHERE account_id IN (SELECT account_id FROM {members}) AND matched_account_id IS NOT NULL
              AND account_id <> matched_account_id
        )
        SELECT count(DISTINCT matched_account_id)
                   FILTER (WHERE matched_account_id IN (SELECT account_id FROM {members})) AS found,
               count(DISTINCT matched_account_id) AS matched
        FROM mine
        """,
        members=pd.DataFrame({"account_id": members}, dtype=object),
    ).iloc[0]
    found, matched = int(row["found"]), int(row["matched"])
    return {
        "found_members": found,
        "share": found / len(members),
        "matched_accounts": matched,
        "inside_share": found / matched if matched else 0.0,
    }
