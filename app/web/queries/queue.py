"""The triage queue's questions: a run's clusters, their members and country mix, one cluster's squads."""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence

import duckdb
import pandas as pd

from app.events import EventReader
from app.present.evidence import exposed_accounts
from app.present.tradecraft import cluster_tradecraft
from app.web.queries.overview import Window
from app.web.taxonomy import is_tlp
from graph import triage
from graph.schema import CLUSTER_STATUSES, MEMBER_OF
from graph.store.base import GraphStore

__all__ = ["cluster_countries", "find_cluster", "run_members", "status_counts", "sub_groups", "triage_queue"]

# the queue's default window: every request
_ALL_TIME = Window()


def run_members(store: GraphStore, run_id: str) -> pd.DataFrame:
    """Every membership of one run: ``account_id``, ``cluster_id``, ``member_score``."""
    prefix = f"{run_id}/"
    rows = [
        (edge["src"], edge["dst"][len(prefix):], edge.get("member_score"))
        for batch in store.iter_edges(MEMBER_OF)
        for edge in batch
        if edge.get("run_id") == run_id and str(edge["dst"]).startswith(prefix)
    ]
    return pd.DataFrame(rows, columns=["account_id", "cluster_id", "member_score"])


def cluster_countries(
    con: duckdb.DuckDBPyConnection, members: pd.DataFrame, *, top: int = 3
) -> dict[str, list[tuple[str, int]]]:
    """Each cluster's busiest IP countries with request counts, from its members' events."""
    if members.empty:
        return {}
    rows = EventReader(con).rows(
        """SELECT cluster_id, country, requests FROM (
               SELECT m.cluster_id, coalesce(nullif(e.ip_country, ''), '??') AS country,
                      count(*) AS requests,
                      row_number() OVER (PARTITION BY m.cluster_id ORDER BY count(*) DESC, country) AS rank
               FROM {events} e JOIN {members} m ON e.account_id = m.account_id
               GROUP BY m.cluster_id, country)
           WHERE rank <= $top ORDER BY cluster_id, rank""",
        {"top": int(top)},
        members=members[["account_id", "cluster_id"]],
    )
    countries: dict[str, list[tuple[str, int]]] = defaultdict(list)
    for row in rows:
        countries[row["cluster_id"]].append((row["country"], int(row["requests"])))
    return dict(countries)


def triage_queue(
    store: GraphStore,
    *,
    clusters: Sequence[dict] | None = None,
    countries: dict[str, list[tuple[str, int]]] | None = None,
    statuses: Sequence[str] | None = None,
    min_score: float = 0.0,
    country: str | None = None,
    window: Window = _ALL_TIME,
    kinds: Sequence[str] | None = None,
    tags: Sequence[str] | None = None,
) -> list[dict]:
    """The latest run's clusters in :func:`graph.triage.queue` order, with the analysts' judgement, filtered.

    Parameters
    ----------
    store : GraphStore
    clusters : rows of the run (the latest run's when ``None``)
    countries : :func:`cluster_countries` of the run (the top country alone when ``None``)
    statuses, min_score, country, window, kinds, tags : the queue's filters, as
        :class:`graph.triage.QueueFilters` defines them (``window`` gives
        ``since`` and ``until``); "Export queue" and ``sybilscope queue``
        apply the same ones.

    Returns
    -------
    list of dict
        ``cluster_id``, ``score``, ``size``, ``kind``, ``tradecraft``, ``headline``, ``status``,
        ``countries`` (e.g. ``"IR 71% · IL 20%"``), ``country_codes``, ``exposed`` (accounts
        whose numbers the lookups matched), the analysts' ``attribution`` (actor and country),
        ``attributed_country``, ``tlp``, ``tags`` and ``assignee``; data time (``first_seen``,
        ``last_seen``: the cluster's first and last request) kept apart from analyst time
        (``updated_at``: the last label on it).
    """
    rows = list(store.clusters() if clusters is None else clusters)
    filters = triage.QueueFilters(statuses=tuple(statuses or ()), min_score=min_score or None, country=country,
                                  since=window.since, until=window.until, kinds=tuple(kinds or ()),
                                  tags=tuple(tags or ()))
    judgements = triage.cluster_judgements(store)
    unjudged = triage.EntityJudgement()
    queue = []
    for row in triage.queue(rows, {cid: j.status for cid, j in judgements.items()}, filters,
                            tags={cid: j.tags for cid, j in judgements.items()}):
        cluster_id = row["cluster_id"]
        judgement = judgements.get(cluster_id, unjudged)
        attribution = judgement.attribution or {}
        mix = (countries or {}).get(cluster_id) or (
            [(row["top_ip_country"], 1)] if row.get("top_ip_country") else []
        )
        codes = [code for code, _ in mix]
        total = sum(n for _, n in mix) or 1
        queue.append(
            {
                "cluster_id": cluster_id,
                "score": row.get("score"),
                "size": row.get("size"),
                "kind": row.get("kind"),
                **cluster_tradecraft(row),
                "status": row["status"],
                "countries": " · ".join(f"{code} {round(100 * n / total)}%" for code, n in mix)
                if countries
                else " · ".join(codes),
                "country_codes": codes,
                "exposed": exposed_accounts(row.get("exposure")),
                "attribution": " · ".join(str(v) for v in (attribution.get("country"), attribution.get("actor")) if v),
                "attributed_country": attribution.get("country"),
                "tlp": next((tag for tag in judgement.tags if is_tlp(tag)), None),
                "tags": [tag for tag in judgement.tags if not is_tlp(tag)],
                "assignee": judgement.assignee,
                "first_seen": row.get("first_seen"),
                "last_seen": row.get("last_seen"),
                "updated_at": judgement.updated_at,
            }
        )
    return queue


def find_cluster(store: GraphStore, cluster_id: str) -> dict | None:
    """The cluster's row in the latest run that found it (``None`` if no run did)."""
    for row in store.clusters():
        if row["cluster_id"] == cluster_id:
            return row
    history = store.cluster_history(cluster_id)
    return history[-1] if history else None


def _label_order(label: str) -> tuple:
    """Sub-group labels in reading order: S2 before S10."""
    digits = "".join(ch for ch in label if ch.isdigit())
    return (label.rstrip("0123456789"), int(digits) if digits else -1, label)


def sub_groups(cluster: dict, members: Sequence[dict]) -> list[dict]:
    """An operation's squads: ``sub_group``, ``size``, ``ties`` and ``accounts`` (strongest first).

    Sizes and accounts come from the members' ``sub_group``; what ties each
    squad together comes from detection's ``evidence["sub_groups"]`` (where a
    squad no member names still shows, with the size detection gave). Empty
    when the cluster is one group.
    """
    evidence = cluster.get("evidence") if isinstance(cluster.get("evidence"), dict) else {}
    described = evidence.get("sub_groups") if isinstance(evidence.get("sub_groups"), list) else []
    told = {str(row["sub_group"]): row for row in described if isinstance(row, dict) and row.get("sub_group")}
    accounts: dict[str, list[str]] = defaultdict(list)
    for member in sorted(members, key=lambda m: (-(m.get("member_score") or 0.0), m["account_id"])):
        if member.get("sub_group"):
            accounts[member["sub_group"]].append(member["account_id"])
    rows = []
    for label in sorted(set(accounts) | set(told), key=_label_order):
        row = told.get(label, {})
        mine = accounts.get(label) or [str(a) for a in row.get("accounts") or []]
        rows.append({"sub_group": label, "size": len(accounts[label]) if label in accounts else int(row.get("size") or 0),
                     "ties": str(row.get("ties") or ""), "accounts": mine})
    return rows


def status_counts(queue: Iterable[dict]) -> dict[str, int]:
    """How many queue rows have each triage status (every status present)."""
    counted = Counter(item["status"] for item in queue)
    return {status: counted.get(status, 0) for status in CLUSTER_STATUSES}
