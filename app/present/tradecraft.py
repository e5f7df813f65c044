"""A cluster's tradecraft and headline, as the queue, the cluster page, exports and briefings print them."""

from __future__ import annotations

from collections.abc import Mapping

from graph.detect.tradecraft import tradecraft

__all__ = ["cluster_tradecraft"]


def cluster_tradecraft(cluster: Mapping) -> dict[str, str]:
    """``tradecraft`` and ``headline`` of a stored cluster row, from the features its run recorded.

    A run saved before a feature existed still gets the name its evidence
    supports, else its detection ``kind``, and an empty headline.
    """
    evidence = cluster.get("evidence")
    statistics = evidence.get("statistics") if isinstance(evidence, Mapping) else None
    return tradecraft(statistics if isinstance(statistics, Mapping) else None, cluster.get("kind"))
