"""One investigation, as the CLI, the web UI and the briefings all see it.

Like datasette's ``Datasette`` object under its CLI and its views, an
:class:`Investigation` is what every front end holds: ``sybilscope``
commands through :class:`app.context.CliContext`, Dash callbacks and
downloads through :class:`app.web.state.WebState`. It owns the workspace,
the graph store and the database access policy (:class:`app.access.WorkspaceAccess`)
and offers what an analyst does to a case, each by delegating to the one
function that does it: load files (:func:`ingest.pipeline.ingest`), detect
(:func:`graph.detect.run.detect`), list the triage queue
(:func:`app.export.select.select_clusters` over :func:`graph.triage.queue`),
look at and label a cluster (:mod:`graph.triage`), export
(:func:`app.export.export`) and brief (:func:`app.brief.brief`). Whatever
the UI can do, a script can do through the same object.
"""

from __future__ import annotations

import io
import tempfile
import zipfile
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from app.access import WorkspaceAccess
from app.present.countries import is_country_code
from graph import triage
from graph.errors import SybilscopeError
from ingest import pipeline
from ingest.lake import EventLake
from ingest.readers import SourceFile

if TYPE_CHECKING:  # briefing, export and detection load matplotlib, pymisp, stix2 and SciPy: each on first use
    from app.export import ExportResult, Filters, Selection
    from graph.detect.networks import ProgressCallback as DetectionProgress
    from graph.detect.results import DetectionParams
    from graph.detect.run import DetectionResult

__all__ = ["LABEL_ACTIONS", "Analyst", "ClusterCase", "Investigation"]

#: what :meth:`Investigation.label` can do, as the web's labeling form offers it
LABEL_ACTIONS = ("status", "attribution", "tag", "untag", "comment", "assign")


class Analyst(Protocol):
    """Who acts: a signed-in web user (:class:`app.web.auth.User`) or the CLI's user."""

    name: str

    @property
    def can_label(self) -> bool: ...


@dataclass(frozen=True)
class ClusterCase:
    """A cluster as the latest run that found it saw it, with the analysts' judgement on it.

    ``cluster`` is the store's row plus its current ``status``.
    """

    cluster: dict
    judgement: triage.EntityJudgement


class Investigation(WorkspaceAccess):
    """A workspace, its store and database access, and what analysts do to the case.

    Changes (ingest, detect, labels) are refused up front on a workspace
    this process may not write; exports and briefings still work there and
    say they could not be recorded in its audit log.
    """

    def ingest(
        self,
        sources: Mapping[str, Sequence[SourceFile]],
        *,
        progress: pipeline.Progress | None = None,
        ignored_files: Iterable[str] = (),
    ) -> pipeline.IngestSummary:
        """Load case files into the events and the graph (:func:`ingest.pipeline.ingest`)."""
        self.require_writable("ingest")
        lake = EventLake.of(self.workspace) if self.workspace.settings.engine == "spark" else None
        return pipeline.ingest(self.workspace, self.store, sources, progress=progress, ignored_files=ignored_files,
                               lake=lake)

    def detect(self, params: DetectionParams, *, progress: DetectionProgress | None = None) -> DetectionResult:
        """Run detection and save the run (:func:`graph.detect.run.detect`)."""
        from graph.detect.run import detect

        self.require_writable("detect")
        return detect(self.workspace, self.store, params, progress=progress)

    def queue(self, filters: Filters | None = None) -> Selection:
        """The clusters of the latest (or named) run ``filters`` keeps, as the web's triage queue shows them."""
        from app.export.select import select_clusters

        return select_clusters(self.store, filters)

    def cluster(self, cluster_id: str) -> ClusterCase:
        """One cluster, from the latest run that found it, with its current judgement.

        Raises
        ------
        SybilscopeError
            When no detection run found the cluster.
        """
        history = self.store.cluster_history(cluster_id)
        if not history:
            raise SybilscopeError(f"no detection run found a cluster {cluster_id!r}: see `sybilscope queue` for the ids")
        from app.export import Filters

        found = self.queue(Filters(cluster_ids=(cluster_id,), run_id=history[-1]["run_id"]))
        return ClusterCase(cluster=found.clusters[0], judgement=triage.judgement(self.store, "cluster", cluster_id))

    def label(self, cluster_id: str, action: str, values: Mapping[str, Any], user: Analyst) -> dict:
        """Append one judgement on a cluster for ``user``, with its audit event, and return the label.

        Parameters
        ----------
        cluster_id : str
        action : str
            One of :data:`LABEL_ACTIONS`.
        values : mapping
            The labeling form's fields: ``status`` and ``reason``; ``actor``,
            ``country``, ``confidence`` and ``rationale``; with either of
            those, optional Admiralty grades ``reliability`` (A-F) and
            ``credibility`` (1-6); ``tag`` (or
            ``free_tag``, which wins when given); ``remove`` (the tag to
            remove); ``comment``; ``assignee`` (empty to unassign).
        user : Analyst
            Who labels, recorded on the label and its audit event.

        Raises
        ------
        PermissionError
            When ``user`` may not label (a viewer).
        ValueError
            When a value is missing or not allowed (a country that is not an
            ISO 3166-1 alpha-2 code), or no run found the cluster (:mod:`graph.triage` says which).
        StoreError
            When the workspace is read-only here.
        """
        if not getattr(user, "can_label", False):
            raise PermissionError("viewers cannot label: ask an admin for the analyst role")
        if action not in LABEL_ACTIONS:
            raise ValueError(f"unknown labeling action {action!r}")
        self.require_writable("label")
        store = self.store
        if action == "status":
            return triage.set_status(store, cluster_id, values.get("status") or "", values.get("reason") or "",
                                     user.name, **_grades(values))
        if action == "attribution":
            country = (values.get("country") or "").strip() or None
            if country is not None and not is_country_code(country):
                raise ValueError(f"country {country!r} is not an ISO alpha-2 code assigned to a country "
                                 "(ISO 3166-1: IR, IL, MY, ...): leave it empty when the country is not known")
            return triage.set_attribution(store, "cluster", cluster_id, actor=values.get("actor") or "",
                                          country=country, confidence=values.get("confidence") or "",
                                          rationale=values.get("rationale") or "", user=user.name,
                                          **_grades(values))
        if action == "tag":
            tag = (values.get("free_tag") or "").strip() or values.get("tag") or ""
            return triage.add_tag(store, "cluster", cluster_id, tag, user.name)
        if action == "untag":
            return triage.remove_tag(store, "cluster", cluster_id, values["remove"], user.name)
        if action == "assign":
            return triage.assign(store, cluster_id, values.get("assignee") or "", user.name)
        return triage.add_comment(store, "cluster", cluster_id, values.get("comment") or "", user.name)

    def export(
        self, fmt: str, out_dir: str | Path, filters: Filters | None = None, *, redact: bool = False, user: str,
        options: dict | None = None,
    ) -> ExportResult:
        """Export the clusters ``filters`` keeps to ``out_dir`` in ``fmt`` (:func:`app.export.export`)."""
        from app.export import export

        return export(self.workspace, self.store, fmt, out_dir, filters, redact=redact, user=user,
                      reader=self.reader, options=options)

    def export_archive(self, fmt: str, filters: Filters | None = None, *, user: str) -> bytes:
        """Export as :meth:`export` does, into a temporary folder, and return its files as one zip.

        What the web's export download and the JSON API send.
        """
        with tempfile.TemporaryDirectory(prefix="sybilscope-export-") as tmp:
            result = self.export(fmt, Path(tmp) / "export", filters, user=user)
            buffer = io.BytesIO()
            with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
                for path in sorted(result.files):
                    archive.write(path, path.name)
        return buffer.getvalue()

    def brief(self, cluster_ids: Sequence[str], out: str | Path, *, user: str, **options: Any) -> Path:
        """Write a briefing on ``cluster_ids`` to ``out`` (:func:`app.brief.brief`; ``options`` are its own)."""
        from app.brief import brief

        return brief(self.workspace, self.store, cluster_ids, out, user=user, reader=self.reader, **options)


def _grades(values: Mapping[str, Any]) -> dict:
    """The Admiralty grades a status or attribution carries (checked by :func:`graph.admiralty.grades`)."""
    return {"reliability": values.get("reliability") or None, "credibility": values.get("credibility") or None}
