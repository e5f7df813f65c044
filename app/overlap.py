"""What several clusters share, to answer "is this one operator?".

Two clusters detection kept apart may still be one operation: the same
operator running two account pools at the same hours of the week, through
the same addresses, networks or devices, against the same list of numbers.
This module measures those three overlaps from the members' requests, in
one aggregate query each. Numbers appear only as the keyed hashes ingest
stored (``phone_hash``), never raw.

The compare page (:mod:`app.web.queries.compare`) and the briefing on an
operation (:mod:`app.brief.ties`) both read these measures, so the page and
the briefing never disagree on what ties two clusters.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from itertools import combinations

import pandas as pd

from app.events import EventReader
from graph.store.base import GraphStore

__all__ = ["INFRA_KINDS", "Comparison", "hour_of_week_label", "measure"]

#: what a shared piece of infrastructure can be, with the event column that names it
INFRA_KINDS = {"ip": "ip", "prefix": "ip_prefix", "asn": "CAST(ip_asn AS VARCHAR)", "device": "device_id"}
_DAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")


def hour_of_week_label(hour: int) -> str:
    """``0`` is ``Mon 00h`` (UTC), ``167`` is ``Sun 23h``."""
    return f"{_DAYS[hour // 24]} {hour % 24:02d}h"


@dataclass
class Comparison:
    """What the clusters share, pair by pair.

    ``clusters`` are the cluster rows found, in the order asked; ``missing``
    the ids no run found. ``rhythms`` maps a cluster to its requests in each
    of the 168 hours of the week (UTC, Monday 00h first). ``pairs`` has one
    dict a pair: ``a``, ``b``, ``rhythm_similarity`` (cosine of the two
    rhythms, 0 to 1), the count shared of each :data:`INFRA_KINDS`,
    ``numbers_shared`` and ``jaccard`` of their looked-up numbers.
    ``shared_infrastructure`` lists each address, prefix, ASN or device
    that two or more of the clusters use; ``numbers`` how many distinct
    numbers each looked up; ``shared_numbers`` one row for each set of two
    or more clusters that looked up the same numbers: ``clusters``, how many
    ``numbers`` and a sample of their ``hashes`` (shortened), widest sets first.
    """

    clusters: list[dict]
    missing: list[str] = field(default_factory=list)
    rhythms: dict[str, list[int]] = field(default_factory=dict)
    pairs: list[dict] = field(default_factory=list)
    shared_infrastructure: list[dict] = field(default_factory=list)
    numbers: dict[str, int] = field(default_factory=dict)
    shared_numbers: list[dict] = field(default_factory=list)


def _cosine(a: Sequence[int], b: Sequence[int]) -> float:
    norm = math.sqrt(sum(x * x for x in a)) * math.sqrt(sum(y * y for y in b))
    return sum(x * y for x, y in zip(a, b, strict=True)) / norm if norm else 0.0


def _rhythms(events: EventReader, members: pd.DataFrame, ids: Sequence[str]) -> dict[str, list[int]]:
    rhythms = {cluster_id: [0] * 168 for cluster_id in ids}
    for row in events.rows(
        # hours since the epoch, a Thursday: plain arithmetic, half the cost of calendar functions
        """SELECT m.cluster_id, (epoch_ms(e.ts) // 3600000 + 72) % 168 AS how, count(*) AS requests
           FROM {events} e JOIN {members} m ON e.account_id = m.account_id GROUP BY 1, 2""",
        members=members,
    ):
        rhythms[row["cluster_id"]][int(row["how"])] = int(row["requests"])
    return rhythms


def _clusters_of(mask: int, ids: Sequence[str]) -> list[str]:
    """The clusters whose bits a mask sets (cluster ``i`` of ``ids`` is bit ``1 << i``)."""
    return sorted(cluster_id for i, cluster_id in enumerate(ids) if int(mask) >> i & 1)


def _shared_infrastructure(events: EventReader, members: pd.DataFrame, ids: Sequence[str]) -> list[dict]:
    used = " UNION ALL ".join(
        f"SELECT '{kind}' AS kind, {column} AS key, bit_or(bit) AS mask, count(*) AS requests FROM mine "
        f"WHERE {column} IS NOT NULL AND {column} <> '' GROUP BY 2 HAVING bit_count(bit_or(bit)) >= 2"
        for kind, column in INFRA_KINDS.items()
    )
    rows = events.rows(
        f"""WITH mine AS (SELECT m.bit, e.ip, e.ip_prefix, e.ip_asn, e.device_id
                          FROM {{events}} e JOIN {{members}} m ON e.account_id = m.account_id)
            SELECT kind, key, mask, requests FROM ({used})
            ORDER BY bit_count(mask) DESC, requests DESC, kind, key""",
        members=members,
    )
    return [{"kind": row["kind"], "key": row["key"], "clusters": _clusters_of(row["mask"], ids),
             "requests": int(row["requests"])} for row in rows]


def _numbers(events: EventReader, members: pd.DataFrame, ids: Sequence[str]) -> tuple[dict[str, int], list[dict]]:
    """Distinct numbers each cluster looked up, and the hashes looked up by more than one cluster.

    One pass: each number's set of clusters as a bit mask (the ``bit`` of
    ``members``; sets of strings cost ten times more to build), then how many
    numbers have each set, a handful of sets however many numbers, with a sample.
    """
    sets = events.rows(
        """SELECT mask, count(*) AS numbers,
                  (list(phone_hash ORDER BY phone_hash) FILTER (WHERE bit_count(mask) >= 2))[1:$sample] AS sample
           FROM (SELECT e.phone_hash, bit_or(m.bit) AS mask FROM {events} e
                 JOIN {members} m ON e.account_id = m.account_id WHERE e.phone_hash IS NOT NULL GROUP BY 1)
           GROUP BY mask""",
        {"sample": 200},
        members=members,
    )
    counts: dict[str, int] = defaultdict(int)
    shared = []
    for row in sets:
        clusters = _clusters_of(row["mask"], ids)
        for cluster_id in clusters:
            counts[cluster_id] += int(row["numbers"])
        if len(clusters) >= 2:
            shared.append({"clusters": clusters, "numbers": int(row["numbers"]),
                           "hashes": [h[:12] for h in row["sample"] or []]})
    shared.sort(key=lambda row: (-len(row["clusters"]), -row["numbers"], row["clusters"]))
    return dict(counts), shared


def measure(cursor: object, store: GraphStore, clusters: list[dict]) -> Comparison:
    """Rhythms, shared infrastructure and shared numbers of ``clusters`` (rows with ``run_id``), pair by pair.

    ``cursor`` is a DuckDB connection or cursor on the workspace's events.
    """
    comparison = Comparison(clusters=clusters)
    ids = [row["cluster_id"] for row in clusters]
    members = pd.DataFrame(
        [(m["account_id"], row["cluster_id"], 1 << i) for i, row in enumerate(clusters)
         for m in store.members(row["cluster_id"], row["run_id"])],
        columns=["account_id", "cluster_id", "bit"],
    ).astype({"account_id": object, "cluster_id": object, "bit": "int64"})
    events = EventReader(cursor).for_accounts(members["account_id"])
    comparison.rhythms = _rhythms(events, members, ids)
    comparison.shared_infrastructure = _shared_infrastructure(events, members, ids)
    comparison.numbers, comparison.shared_numbers = _numbers(events, members, ids)
    shared: dict[tuple[str, str], dict[str, int]] = defaultdict(lambda: dict.fromkeys(INFRA_KINDS, 0))
    for row in comparison.shared_infrastructure:
        for pair in combinations(row["clusters"], 2):
            shared[pair][row["kind"]] += 1
    common: dict[tuple[str, str], int] = defaultdict(int)
    for row in comparison.shared_numbers:
        for pair in combinations(row["clusters"], 2):
            common[pair] += row["numbers"]
    for a, b in combinations(sorted(ids), 2):
        both = common[(a, b)]
        either = comparison.numbers.get(a, 0) + comparison.numbers.get(b, 0) - both
        comparison.pairs.append({
            "a": a, "b": b,
            "rhythm_similarity": round(_cosine(comparison.rhythms[a], comparison.rhythms[b]), 3),
            **shared[(a, b)],
            "numbers_shared": both,
            "jaccard": round(both / either, 3) if either else 0.0,
        })
    return comparison
