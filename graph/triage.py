"""Analyst judgements on clusters and entities, kept as append-only labels.

Nothing here updates or deletes: a status change, an attribution, a tag or a
comment is a new :data:`~graph.schema.LABEL` plus an :data:`~graph.schema.AUDIT`
event with the state before and after, written in one transaction in which the
state before is also read (:meth:`~graph.store.base.GraphStore.append_judgement`),
so concurrent changes never record a stale ``before``. The current state is read back as the
newest label of each kind. Because cluster ids are stable across detection
runs, labels on a cluster stay attached after re-detection. Who works a
cluster is a label too (kind ``assignment``), so handing a cluster over is
audited like every other judgement.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Collection, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime

from graph.admiralty import grades
from graph.errors import FilterError
from graph.schema import CLUSTER_STATUSES, ENTITY_KINDS
from graph.store.base import GraphStore

__all__ = [
    "CONFIDENCE_LEVELS",
    "EntityJudgement",
    "QueueFilters",
    "judgement",
    "cluster_judgements",
    "current_statuses",
    "cluster_tradecraft_name",
    "cluster_country_codes",
    "queue",
    "queue_order",
    "set_status",
    "set_attribution",
    "add_tag",
    "remove_tag",
    "add_comment",
    "assign",
    "record_audit",
]

CONFIDENCE_LEVELS = ("low", "moderate", "high")


@dataclass
class EntityJudgement:
    """Where the analysts stand on one entity, folded from its labels."""

    status: str = "new"
    status_reason: str | None = None
    #: the current status's Admiralty grades (:func:`graph.admiralty.grades`), ``{}`` when ungraded
    status_grades: dict = field(default_factory=dict)
    attribution: dict | None = None
    tags: list[str] = field(default_factory=list)
    comments: list[dict] = field(default_factory=list)
    labels: list[dict] = field(default_factory=list)
    assignee: str | None = None
    #: when an analyst last changed anything on the entity (analyst time, never data time)
    updated_at: datetime | None = None


def _fold(labels: Iterable[dict]) -> EntityJudgement:
    folded = EntityJudgement()
    tags: dict[str, None] = {}
    for label in sorted(labels, key=lambda row: (row["created_at"], row["label_id"])):
        kind = label.get("kind")
        folded.updated_at = label.get("created_at") or folded.updated_at
        if kind == "status":
            folded.status = label["value"]
            folded.status_reason = label.get("note")
            details = label.get("details") or {}
            folded.status_grades = grades(details.get("reliability"), details.get("credibility"))
        elif kind == "attribution":
            folded.attribution = {
                "actor": label.get("actor"),
                "note": label.get("note"),
                "created_by": label.get("created_by"),
                "created_at": label.get("created_at"),
                **(label.get("details") or {}),
            }
        elif kind == "tag":
            if (label.get("details") or {}).get("removed"):
                tags.pop(label["value"], None)
            else:
                tags[label["value"]] = None
        elif kind == "assignment":
            folded.assignee = None if (label.get("details") or {}).get("unassigned") else label["value"]
        elif kind == "comment":
            folded.comments.append(
                {"text": label["value"], "by": label.get("created_by"), "at": label.get("created_at")}
            )
        else:
            folded.labels.append(label)
    folded.tags = list(tags)
    return folded


def judgement(store: GraphStore, entity: str, entity_id: str) -> EntityJudgement:
    """Current status, attribution, tags, comments and other labels of one entity."""
    _check_entity(entity)
    return _fold(store.labels(entity, entity_id))


def cluster_judgements(store: GraphStore) -> dict[str, EntityJudgement]:
    """Every labelled cluster's judgement, read in one pass over the labels; clusters missing here are ``new``."""
    by_cluster: dict[str, list[dict]] = defaultdict(list)
    for label in store.labels("cluster"):
        by_cluster[label["entity_id"]].append(label)
    return {cluster_id: _fold(labels) for cluster_id, labels in by_cluster.items()}


def current_statuses(store: GraphStore) -> dict[str, str]:
    """Every labelled cluster's current status; clusters missing here are ``new``."""
    latest: dict[str, tuple] = {}
    for label in store.labels("cluster"):
        if label.get("kind") != "status":
            continue
        stamp = (label["created_at"], label["label_id"])
        if label["entity_id"] not in latest or stamp > latest[label["entity_id"]][0]:
            latest[label["entity_id"]] = (stamp, label["value"])
    return {cluster_id: value for cluster_id, (_, value) in latest.items()}


@dataclass(frozen=True)
class QueueFilters:
    """Which clusters of a run the triage queue, its export and ``sybilscope queue`` keep.

    Every filter left empty keeps everything. One definition serves the web
    queue, "Export queue", ``sybilscope export`` and ``sybilscope queue``, so
    what an analyst sees in the queue is exactly what they export.

    statuses
        Keep clusters whose current analyst status is one of these.
    min_score
        Keep clusters scoring at least this (inclusive: ``0.5`` keeps ``0.5``).
    country
        ISO alpha-2, any case. Keep clusters with this country anywhere in
        their recorded request mix (the busiest countries the detection run
        recorded under ``attribution.countries``, plus ``top_ip_country``),
        not only where it is the top country: an operation run 70% from one
        country and 20% from another belongs to both countries' review.
    since, until
        Keep clusters whose activity ``[first_seen, last_seen]`` overlaps the
        closed window ``[since, until]``: both ends are included, so a
        cluster whose first request is exactly at ``until``, or whose last
        request is exactly at ``since``, is kept ("up to this time" means up
        to and including it, as in the export's narrowing of edges).
    kinds
        Keep clusters whose tradecraft (:func:`cluster_tradecraft_name`, e.g.
        ``hosting farm``) or detection ``kind`` is one of these, any case.
    tags
        Keep clusters that carry at least one of these analyst tags, any
        case (``TLP:AMBER`` is a tag too).
    """

    statuses: tuple[str, ...] = ()
    min_score: float | None = None
    country: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    kinds: tuple[str, ...] = ()
    tags: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        unknown = sorted(set(self.statuses) - set(CLUSTER_STATUSES))
        if unknown:
            raise FilterError(f"unknown status {', '.join(map(repr, unknown))}: "
                              f"statuses must be among {', '.join(CLUSTER_STATUSES)}")
        if self.min_score is not None and not 0 <= self.min_score <= 1:
            raise FilterError(f"--min-score must be between 0 and 1, not {self.min_score}")
        if self.since and self.until and self.since > self.until:
            raise FilterError("--since is after --until: the window is empty")
        if self.country is not None:
            object.__setattr__(self, "country", self.country.strip().upper() or None)
        for name in ("kinds", "tags"):
            object.__setattr__(self, name, tuple(dict.fromkeys(
                v.strip() for v in getattr(self, name) if v and v.strip())))

    def keeps(self, cluster: Mapping, status: str, tags: Collection[str] = ()) -> bool:
        """Whether a cluster row (with its current ``status`` and ``tags``) passes every filter."""
        if self.statuses and status not in self.statuses:
            return False
        if self.kinds and not _any_of(self.kinds, (cluster_tradecraft_name(cluster), cluster.get("kind"))):
            return False
        if self.tags and not _any_of(self.tags, tags):
            return False
        if self.min_score is not None and (cluster.get("score") or 0.0) < self.min_score:
            return False
        if self.country and self.country not in cluster_country_codes(cluster):
            return False
        first, last = cluster.get("first_seen"), cluster.get("last_seen")
        if self.since is not None and last is not None and last < self.since:
            return False
        return not (self.until is not None and first is not None and first > self.until)


def _any_of(wanted: Iterable[str], values: Iterable[str | None]) -> bool:
    """Whether any of ``values`` is among ``wanted``, ignoring case."""
    have = {str(v).casefold() for v in values if v}
    return any(w.casefold() in have for w in wanted)


def cluster_tradecraft_name(cluster: Mapping) -> str:
    """The tradecraft a stored cluster row's features show (:func:`graph.detect.tradecraft.tradecraft`)."""
    # imported here: graph.detect saves its runs' audit through this module, so it cannot load first
    from graph.detect.tradecraft import tradecraft

    evidence = cluster.get("evidence")
    statistics = evidence.get("statistics") if isinstance(evidence, Mapping) else None
    return tradecraft(statistics if isinstance(statistics, Mapping) else None, cluster.get("kind"))["tradecraft"]


def cluster_country_codes(cluster: Mapping) -> list[str]:
    """The countries of a cluster's recorded request mix, busiest first (``top_ip_country`` always in)."""
    mix = (cluster.get("attribution") or {}).get("countries") or []
    codes = [str(c["country"]).upper() for c in mix if isinstance(c, Mapping) and c.get("country")]
    top = (cluster.get("top_ip_country") or "").upper()
    if top and top not in codes:
        codes.insert(0, top)
    return codes


def queue(clusters: Iterable[dict], statuses: Mapping[str, str], filters: QueueFilters | None = None,
          *, tags: Mapping[str, Collection[str]] | None = None) -> list[dict]:
    """The clusters ``filters`` keeps, each with its ``status``, highest score first.

    Parameters
    ----------
    clusters : iterable of dict
        Cluster rows of one detection run (:meth:`GraphStore.clusters`).
    statuses : mapping of str to str
        :func:`current_statuses`; a cluster missing there is ``new``.
    filters : QueueFilters, optional
        What to keep (everything when ``None``); see :class:`QueueFilters`
        for the exact meaning of each filter.
    tags : mapping of str to collection of str, optional
        Each cluster's current tags (:func:`cluster_judgements`); required
        when ``filters`` filters by tag, so no caller can drop that filter
        by forgetting to read them.

    Returns
    -------
    list of dict
        Each row as given plus ``status``, in :func:`queue_order`.
    """
    filters = filters or QueueFilters()
    if filters.tags and tags is None:
        raise ValueError("filtering the queue by tag needs the clusters' tags (graph.triage.cluster_judgements)")
    kept = []
    for cluster in clusters:
        status = statuses.get(cluster["cluster_id"], "new")
        if filters.keeps(cluster, status, (tags or {}).get(cluster["cluster_id"], ())):
            kept.append({**cluster, "status": status})
    kept.sort(key=queue_order)
    return kept


def queue_order(cluster: Mapping) -> tuple:
    """Sort key of the queue: highest score, then the most accounts, then the most recent request, then id.

    Many clusters of a real operation score 1.0 to three decimals; among
    them the biggest network, then the one still active, deserves the first
    look. The id only makes the order total.
    """
    last = cluster.get("last_seen")
    recency = last.timestamp() if isinstance(last, datetime) else 0.0
    return -(cluster.get("score") or 0.0), -(cluster.get("size") or 0), -recency, cluster["cluster_id"]


def record_audit(
    store: GraphStore, user: str, action: str, target: str, before: object, after: object
) -> dict:
    """Append one audit event and return it."""
    event = {
        "at": datetime.now(UTC),
        "user": user,
        "action": action,
        "target": target,
        "before": before,
        "after": after,
    }
    store.append_audit([event])
    return event


def _append(store: GraphStore, user: str, action: str, row: dict,
            change: Callable[[EntityJudgement], tuple[object, object]]) -> dict:
    """Append ``row`` and its audit event; ``change(judgement before)`` gives the event's before and after."""
    row = {"created_by": user, "source": "analyst", **row}
    target = f"{row['entity']}:{row['entity_id']}"

    def event(labels: list[dict]) -> dict:
        before, after = change(_fold(labels))
        return {"user": user, "action": action, "target": target, "before": before, "after": after}

    label, _ = store.append_judgement(row, event)
    return label


def _check_entity(entity: str) -> None:
    if entity not in ENTITY_KINDS:
        raise ValueError(f"entity must be one of {', '.join(ENTITY_KINDS)}, not {entity!r}")


def _check_target(store: GraphStore, entity: str, entity_id: str) -> None:
    """A judgement needs something to judge: a cluster must have been found by a detection run."""
    _check_entity(entity)
    if entity == "cluster" and not store.cluster_history(entity_id):
        raise ValueError(f"no cluster {entity_id!r}: no detection run found it. "
                         "Check the id (`sybilscope export` lists clusters) or run `sybilscope detect` first")


def set_status(store: GraphStore, cluster_id: str, status: str, reason: str, user: str, *,
               reliability: str | None = None, credibility: str | None = None) -> dict:
    """Change a cluster's triage status; a reason is required, Admiralty grades are optional."""
    if status not in CLUSTER_STATUSES:
        raise ValueError(f"status must be one of {', '.join(CLUSTER_STATUSES)}, not {status!r}")
    if not reason or not reason.strip():
        raise ValueError("a status change needs a reason")
    graded = grades(reliability, credibility)
    _check_target(store, "cluster", cluster_id)
    row = {"entity": "cluster", "entity_id": cluster_id, "kind": "status", "value": status, "note": reason.strip(),
           **({"details": graded} if graded else {})}
    after = {"status": status, "reason": reason.strip(), **graded}
    return _append(store, user, "label.status", row, lambda now: ({"status": now.status}, after))


def set_attribution(
    store: GraphStore,
    entity: str,
    entity_id: str,
    *,
    actor: str,
    country: str | None,
    confidence: str,
    rationale: str,
    user: str,
    reliability: str | None = None,
    credibility: str | None = None,
) -> dict:
    """Attribute an entity (usually a cluster) to an actor, with a confidence, a rationale and optional grades."""
    _check_entity(entity)
    if confidence not in CONFIDENCE_LEVELS:
        raise ValueError(f"confidence must be one of {', '.join(CONFIDENCE_LEVELS)}, not {confidence!r}")
    if not actor or not actor.strip():
        raise ValueError("an attribution needs an actor or intrusion-set name")
    if not rationale or not rationale.strip():
        raise ValueError("an attribution needs a rationale")
    graded = grades(reliability, credibility)
    _check_target(store, entity, entity_id)
    details = {"country": (country or "").upper() or None, "confidence": confidence, **graded}
    row = {
        "entity": entity,
        "entity_id": entity_id,
        "kind": "attribution",
        "value": actor.strip(),
        "actor": actor.strip(),
        "note": rationale.strip(),
        "details": details,
    }
    after = {"actor": actor.strip(), "rationale": rationale.strip(), **details}
    return _append(store, user, "label.attribution", row, lambda now: (now.attribution, after))


def add_tag(store: GraphStore, entity: str, entity_id: str, tag: str, user: str) -> dict:
    """Add a tag (a taxonomy tag such as ``TLP:AMBER`` or a free tag)."""
    _check_entity(entity)
    tag = tag.strip()
    if not tag:
        raise ValueError("a tag cannot be empty")
    _check_target(store, entity, entity_id)
    row = {"entity": entity, "entity_id": entity_id, "kind": "tag", "value": tag}
    return _append(store, user, "label.tag", row,
                   lambda now: ({"tags": now.tags}, {"tags": sorted({*now.tags, tag})}))


def remove_tag(store: GraphStore, entity: str, entity_id: str, tag: str, user: str) -> dict:
    """Remove a tag by appending a removal (the history keeps both)."""
    _check_target(store, entity, entity_id)
    row = {"entity": entity, "entity_id": entity_id, "kind": "tag", "value": tag, "details": {"removed": True}}
    return _append(store, user, "label.untag", row,
                   lambda now: ({"tags": now.tags}, {"tags": [t for t in now.tags if t != tag]}))


def add_comment(store: GraphStore, entity: str, entity_id: str, text: str, user: str) -> dict:
    """Add a free-text comment to an entity."""
    _check_entity(entity)
    if not text or not text.strip():
        raise ValueError("a comment cannot be empty")
    _check_target(store, entity, entity_id)
    row = {"entity": entity, "entity_id": entity_id, "kind": "comment", "value": text.strip()}
    return _append(store, user, "label.comment", row, lambda _now: (None, {"comment": text.strip()}))


def assign(store: GraphStore, cluster_id: str, assignee: str, user: str) -> dict:
    """Assign a cluster to an analyst by name; an empty ``assignee`` takes the assignment back.

    The newest assignment is the current one; the audit event records who
    held the cluster before.
    """
    assignee = (assignee or "").strip()
    _check_target(store, "cluster", cluster_id)
    row = {"entity": "cluster", "entity_id": cluster_id, "kind": "assignment", "value": assignee or "-",
           **({} if assignee else {"details": {"unassigned": True}})}
    return _append(store, user, "label.assign", row,
                   lambda now: ({"assignee": now.assignee}, {"assignee": assignee or None}))
