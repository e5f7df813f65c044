"""Which clusters an export or a briefing covers: filters over one detection run.

Exports and briefings never invent their own notion of "the current
clusters": they read the clusters of the latest detection run (or a named
run), add each cluster's analyst status from :func:`graph.triage.current_statuses`,
and keep the ones every given filter accepts.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime

from graph.errors import SybilscopeError
from graph.schema import CLUSTER_STATUSES
from graph.store.base import GraphStore
from graph.triage import current_statuses

__all__ = ["Filters", "Selection", "parse_time", "select_clusters"]


@dataclass(frozen=True)
class Filters:
    """What to keep. Every filter left empty keeps everything.

    ``since``/``until`` keep clusters whose activity ``[first_seen,
    last_seen]`` overlaps the window, and narrow the exported edges to it.
    """

    cluster_ids: tuple[str, ...] = ()
    statuses: tuple[str, ...] = ()
    min_score: float | None = None
    since: datetime | None = None
    until: datetime | None = None
    run_id: str | None = None

    def __post_init__(self) -> None:
        for status in self.statuses:
            if status not in CLUSTER_STATUSES:
                raise SybilscopeError(
                    f"unknown status {status!r}: use one of {', '.join(CLUSTER_STATUSES)}"
                )
        if self.min_score is not None and not 0 <= self.min_score <= 1:
            raise SybilscopeError(f"--min-score must be between 0 and 1, not {self.min_score}")
        if self.since and self.until and self.since > self.until:
            raise SybilscopeError("--since is after --until: the window is empty")

    def describe(self) -> dict[str, object]:
        """The filters as plain JSON-ready data, for manifests and audit events."""
        return {
            "cluster_ids": list(self.cluster_ids),
            "statuses": list(self.statuses),
            "min_score": self.min_score,
            "since": self.since.isoformat() if self.since else None,
            "until": self.until.isoformat() if self.until else None,
            "run_id": self.run_id,
        }


@dataclass
class Selection:
    """The run the clusters come from and the clusters kept, highest score first.

    Each cluster row is the store's row plus ``status``.
    """

    run: dict
    clusters: list[dict]
    filters: Filters = field(default_factory=Filters)

    @property
    def cluster_ids(self) -> list[str]:
        return [c["cluster_id"] for c in self.clusters]


def parse_time(text: str | None) -> datetime | None:
    """An ISO 8601 date or time (no offset means UTC) as an aware UTC datetime."""
    if text is None or not str(text).strip():
        return None
    try:
        moment = datetime.fromisoformat(str(text).strip())
    except ValueError:
        raise SybilscopeError(
            f"cannot read the time {text!r}: use ISO 8601, e.g. 2019-12-24 or 2019-12-24T06:00:00Z"
        ) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)


def _overlaps(cluster: dict, since: datetime | None, until: datetime | None) -> bool:
    first, last = cluster.get("first_seen"), cluster.get("last_seen")
    if since is not None and last is not None and last < since:
        return False
    return not (until is not None and first is not None and first > until)


def select_clusters(store: GraphStore, filters: Filters | None = None) -> Selection:
    """The clusters of the latest (or named) run that pass ``filters``.

    Raises
    ------
    SybilscopeError
        When there is no detection run yet, the named run does not exist, or a
        cluster asked for by id is not in the run: an export that silently
        leaves out what was asked for would mislead.
    """
    filters = filters or Filters()
    runs = store.runs()
    if not runs:
        raise SybilscopeError("no detection run in this workspace yet: run `sybilscope detect` first")
    if filters.run_id is None:
        run = runs[0]
    else:
        found = [r for r in runs if r["run_id"] == filters.run_id]
        if not found:
            raise SybilscopeError(f"no detection run {filters.run_id!r} in this workspace")
        run = found[0]
    statuses = current_statuses(store)
    clusters = []
    for cluster in store.clusters(run["run_id"]):
        clusters.append({**cluster, "status": statuses.get(cluster["cluster_id"], "new")})
    if filters.cluster_ids:
        known = {c["cluster_id"] for c in clusters}
        missing = [cid for cid in filters.cluster_ids if cid not in known]
        if missing:
            raise SybilscopeError(
                f"cluster {', '.join(missing)} is not in detection run {run['run_id']}: "
                "see the queue (`sybilscope serve`) or an unfiltered export for the ids"
            )
        wanted = set(filters.cluster_ids)
        clusters = [c for c in clusters if c["cluster_id"] in wanted]
    if filters.statuses:
        clusters = [c for c in clusters if c["status"] in filters.statuses]
    if filters.min_score is not None:
        clusters = [c for c in clusters if (c.get("score") or 0.0) >= filters.min_score]
    if filters.since or filters.until:
        clusters = [c for c in clusters if _overlaps(c, filters.since, filters.until)]
    clusters.sort(key=lambda c: (-(c.get("score") or 0.0), c["cluster_id"]))
    return Selection(run=run, clusters=clusters, filters=filters)
