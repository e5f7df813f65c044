"""One detection run on a workspace: read, detect, and save the run atomically.

A run is stored with what is needed to reproduce or audit it: its parameters,
a fingerprint of the data it read (the event table's content and the
store's counts), when it ran and which sybilscope version ran it. Clusters
and memberships are written in one store call, so a run is there whole or
not at all, and an audit event records it.
"""

from __future__ import annotations

import hashlib
import json
import time
from dataclasses import dataclass
from datetime import UTC, datetime

from graph import __version__
from graph.detect import projection
from graph.detect.frames import Events
from graph.detect.networks import ProgressCallback, find_networks
from graph.detect.results import Cluster, Detection, DetectionParams
from graph.schema import AUDIT, CLUSTER, FOUND_IN, MEMBER_OF, RUN
from graph.store.base import GraphStore
from graph.triage import record_audit
from graph.workspace import Workspace

__all__ = ["DetectionResult", "detect", "data_fingerprint", "cluster_rows", "member_rows"]


@dataclass
class DetectionResult:
    """A saved run: its row as stored and the detection behind it."""

    run: dict
    detection: Detection

    @property
    def run_id(self) -> str:
        return self.run["run_id"]

    @property
    def clusters(self) -> list[Cluster]:
        return self.detection.clusters


def data_fingerprint(events: Events, counts: dict[str, int] | None = None) -> str:
    """A hash of the event table's content (order-independent) and of the input graph's counts.

    Two runs with the same fingerprint read the same data. An event's id is
    already a hash of its normalized row, so the ids stand for the content
    (hashing the row's columns again cost seconds at the incident's scale).
    """
    row = list(events.one(
        "SELECT count(*) AS n, min(epoch_ms(ts)) AS first_ms, max(epoch_ms(ts)) AS last_ms, "
        "bit_xor(hash(event_id)) AS ids FROM {events}"
    ).values())
    payload = json.dumps({"events": [None if v is None else int(v) for v in row], "store": counts or {}}, sort_keys=True)
    return "sha256:" + hashlib.sha256(payload.encode()).hexdigest()


def _ts(ms: int | None) -> datetime | None:
    return None if ms is None else datetime.fromtimestamp(ms / 1000, tz=UTC)


def cluster_rows(clusters: list[Cluster]) -> list[dict]:
    """Clusters as :data:`graph.schema.CLUSTER` rows for ``store.save_run``."""
    return [
        {
            "cluster_id": c.cluster_id,
            "score": c.score,
            "size": c.size,
            "top_ip_country": c.top_ip_country,
            "kind": c.kind,
            "reasons": c.reasons,
            "evidence": c.evidence,
            "attribution": c.attribution,
            "exposure": c.exposure,
            "first_seen": _ts(c.first_seen_ms),
            "last_seen": _ts(c.last_seen_ms),
        }
        for c in clusters
    ]


def member_rows(clusters: list[Cluster]) -> list[dict]:
    """Memberships as :data:`graph.schema.MEMBER_OF` rows for ``store.save_run``."""
    return [
        {
            "account_id": account,
            "cluster_id": c.cluster_id,
            "member_score": c.member_scores[account],
            "reasons": c.member_reasons.get(account, []),
            "sub_group": c.sub_groups.get(account),
        }
        for c in clusters
        for account in c.members
    ]


def detect(
    workspace: Workspace,
    store: GraphStore,
    params: DetectionParams | None = None,
    progress: ProgressCallback | None = None,
    *,
    user: str = "sybilscope",
    memory_limit: str = "2GB",
) -> DetectionResult:
    """Run detection on a workspace and save the run in its store.

    Parameters
    ----------
    workspace : Workspace
        Where the event table lives.
    store : GraphStore
        The workspace's graph store (either backend).
    params : DetectionParams, optional
    progress : callable, optional
        ``progress(step_name, fraction_done)``.
    user : str
        Recorded in the run's audit event.
    memory_limit : str
        DuckDB's memory limit while detection runs (it spills to disk beyond).

    Returns
    -------
    DetectionResult
    """
    params = params or DetectionParams()
    started = datetime.now(UTC)
    clock = time.perf_counter()
    events = projection.workspace_events(workspace)
    if events.connection is None:  # Spark: its executors' memory is the cluster's to set
        try:
            return _detect(workspace, store, events, params, progress, user, started, clock)
        finally:
            events.release()
    previous_limit = events.scalar("SELECT current_setting('memory_limit')")
    # DuckDB would otherwise take 80% of the machine's memory for its buffers
    events.connection.execute(f"SET memory_limit = '{memory_limit}'")
    try:
        return _detect(workspace, store, events, params, progress, user, started, clock)
    finally:
        events.release()
        events.connection.execute(f"SET memory_limit = '{previous_limit}'")


def _detect(workspace, store, events, params, progress, user, started, clock) -> DetectionResult:
    """Read, detect, save: :func:`detect` once the memory limit is set."""
    if progress is not None:
        progress("reading the graph", 0.0)
    # what detection reads: the request graph and labels, not earlier runs or the audit trail
    counts = {k: v for k, v in store.counts().items() if k not in (RUN, CLUSTER, MEMBER_OF, FOUND_IN, AUDIT)}
    fingerprint = data_fingerprint(events, counts)
    detection = find_networks(
        events,
        accounts=projection.accounts_frame(store, workspace),
        labels=store.labels(),
        history=projection.cluster_history(store),
        params=params,
        progress=progress,
    )
    finished = datetime.now(UTC)
    run = {
        "run_id": f"run-{started:%Y%m%dT%H%M%S%fZ}-{fingerprint[7:13]}",
        "started_at": started,
        "finished_at": finished,
        "params": params.to_dict(),
        "data_fingerprint": fingerprint,
        "code_version": __version__,
        "stats": {**detection.stats, "seconds": round(time.perf_counter() - clock, 3)},
    }
    store.save_run(run, cluster_rows(detection.clusters), member_rows(detection.clusters))
    record_audit(
        store, user, "detect", f"run:{run['run_id']}", None,
        {"clusters": detection.stats["clusters_kept"], "flagged": detection.stats["clusters_flagged"],
         "data_fingerprint": fingerprint},
    )
    return DetectionResult(run=run, detection=detection)
