"""Which clusters an export or a briefing covers: filters over one detection run.

Exports and briefings never invent their own notion of "the current
clusters": they read the clusters of the latest detection run (or a named
run), add each cluster's analyst status and tags from :func:`graph.triage.cluster_judgements`,
and keep the ones :func:`graph.triage.queue` keeps: the same filter as the
triage page and ``sybilscope queue``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime

from graph.errors import SybilscopeError
from graph.store.base import GraphStore
from graph.triage import QueueFilters, cluster_judgements, queue

__all__ = ["Filters", "Selection", "parse_time", "select_clusters"]


@dataclass(frozen=True)
class Filters:
    """What to keep. Every filter left empty keeps everything.

    ``statuses``, ``min_score``, ``country``, ``since``, ``until``, ``kinds`` and ``tags`` mean
    exactly what they mean in the triage queue (:class:`graph.triage.QueueFilters`);
    ``since``/``until`` also narrow the exported edges to the window.
    ``cluster_ids`` and ``run_id`` pick clusters and the run by name.
    """

    cluster_ids: tuple[str, ...] = ()
    statuses: tuple[str, ...] = ()
    min_score: float | None = None
    since: datetime | None = None
    until: datetime | None = None
    run_id: str | None = None
    country: str | None = None
    kinds: tuple[str, ...] = ()
    tags: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        checked = self.queue_filters
        for name in ("country", "kinds", "tags"):
            object.__setattr__(self, name, getattr(checked, name))

    @property
    def queue_filters(self) -> QueueFilters:
        """The queue's filters among these (checked on construction)."""
        return QueueFilters(statuses=tuple(self.statuses), min_score=self.min_score, country=self.country,
                            since=self.since, until=self.until, kinds=tuple(self.kinds), tags=tuple(self.tags))

    def describe(self) -> dict[str, object]:
        """The filters as plain JSON-ready data, for manifests and audit events."""
        return {
            "cluster_ids": list(self.cluster_ids),
            "statuses": list(self.statuses),
            "min_score": self.min_score,
            "country": self.country,
            "since": self.since.isoformat() if self.since else None,
            "until": self.until.isoformat() if self.until else None,
            "run_id": self.run_id,
            "kinds": list(self.kinds),
            "tags": list(self.tags),
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
    clusters = store.clusters(run["run_id"])
    if filters.cluster_ids:
        known = {c["cluster_id"] for c in clusters}
        missing = [cid for cid in filters.cluster_ids if cid not in known]
        if missing:
            raise SybilscopeError(
                f"cluster {', '.join(missing)} is not in detection run {run['run_id']}: "
                "see `sybilscope queue` for the ids"
            )
        wanted = set(filters.cluster_ids)
        clusters = [c for c in clusters if c["cluster_id"] in wanted]
    judgements = cluster_judgements(store)
    kept = queue(clusters, {cid: j.status for cid, j in judgements.items()}, filters.queue_filters,
                 tags={cid: j.tags for cid, j in judgements.items()})
    return Selection(run=run, clusters=kept, filters=filters)
