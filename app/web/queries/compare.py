"""Several clusters side by side, to answer "is this one operator?".

The measures live in :mod:`app.overlap` (the briefing on an operation reads
them too); this module finds each cluster named in the latest run that has it.
"""

from __future__ import annotations

from collections.abc import Sequence

import duckdb

from app.overlap import INFRA_KINDS, Comparison, hour_of_week_label, measure
from app.web.queries.queue import find_cluster
from graph.store.base import GraphStore

__all__ = ["INFRA_KINDS", "MAX_CLUSTERS", "Comparison", "compare_clusters", "hour_of_week_label"]

MAX_CLUSTERS = 12


def compare_clusters(con: duckdb.DuckDBPyConnection, store: GraphStore, cluster_ids: Sequence[str]) -> Comparison:
    """Compare the clusters named (each as the latest run that found it has it); see :class:`Comparison`.

    ``ValueError`` past :data:`MAX_CLUSTERS`: a comparison is read side by side.
    """
    wanted = list(dict.fromkeys(cluster_ids))
    if len(wanted) > MAX_CLUSTERS:
        raise ValueError(f"compare at most {MAX_CLUSTERS} clusters at once, not {len(wanted)}")
    found = {cluster_id: find_cluster(store, cluster_id) for cluster_id in wanted}
    comparison = measure(con, store, [row for row in found.values() if row is not None])
    comparison.missing = [cid for cid, row in found.items() if row is None]
    return comparison
