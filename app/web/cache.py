"""Per-run data the pages share, computed once per detection run (see :class:`~app.web.state.WebState`).

A new run (``sybilscope detect`` while the server runs) gets a new run id,
so its data is computed afresh; labels are never cached because analysts
change them every minute.
"""

from __future__ import annotations

import pandas as pd

from app.web import queries, traffic_summary
from app.web.state import current
from graph.schema import ACCOUNT

__all__ = ["cluster_facts", "latest_run_id", "run_clusters", "run_members", "run_countries", "handles", "membership"]


def latest_run_id() -> str | None:
    run = current().store.latest_run()
    return run["run_id"] if run else None


def run_clusters(run_id: str | None) -> list[dict]:
    """The run's clusters, highest score first."""
    if run_id is None:
        return []
    return current().cached(("clusters", run_id), lambda: current().store.clusters(run_id))


def run_members(run_id: str | None) -> pd.DataFrame:
    """Every membership of the run (``account_id``, ``cluster_id``, ``member_score``)."""
    if run_id is None:
        return pd.DataFrame(columns=["account_id", "cluster_id", "member_score"])
    return current().cached(("members", run_id), lambda: queries.run_members(current().store, run_id))


def run_countries(run_id: str | None) -> dict[str, list[tuple[str, int]]]:
    """Each cluster's top IP countries in the run."""
    if run_id is None:
        return {}
    state = current()
    return state.cached(("countries", run_id),
                        lambda: queries.cluster_countries(state.con(), run_members(run_id)))


def membership(run_id: str | None) -> dict[str, str]:
    """account id -> cluster id in the run."""
    members = run_members(run_id)
    return current().cached(("membership", run_id),
                            lambda: dict(zip(members["account_id"], members["cluster_id"], strict=True)))


def handles() -> dict[str, str]:
    """Lower-case handle -> account id; rebuilt when the number of accounts changes."""
    state = current()
    accounts = state.store.counts().get(ACCOUNT, 0)
    return state.cached(("handles", accounts), lambda: queries.handle_index(state.store))


def cluster_facts(cluster_id: str) -> tuple[dict, list[dict], pd.DataFrame]:
    """The cluster row, its members and their links (:func:`app.web.queries.member_links`), once a data version.

    The cluster page's graph and evidence, a group of IPs opened in the
    graph and a page of an evidence row's requests all start from these;
    reading the members' links scans their requests, so it is done once, or
    not at all when ``ingest``/``detect`` kept them for this version of the data
    (:func:`app.web.traffic_summary.load_member_links`).
    """
    state = current()
    version = state.data_version()

    def read() -> tuple[dict, list[dict], pd.DataFrame]:
        cluster = queries.find_cluster(state.store, cluster_id)
        members = state.store.members(cluster["cluster_id"], cluster["run_id"])
        accounts = [m["account_id"] for m in members]
        kept = state.cached(("member-links", *version),
                            lambda: traffic_summary.load_member_links(state.workspace, version))
        if kept is None or cluster["run_id"] != version[0]:  # not kept, or a cluster of an earlier run
            return cluster, members, queries.member_links(state.con(), accounts)
        return cluster, members, kept[kept["account_id"].isin(accounts)].reset_index(drop=True)

    return state.cached(("cluster-facts", cluster_id, *version), read)
