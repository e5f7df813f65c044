"""Scripted exports of detected clusters: CSV, JSON Lines, Parquet, GraphML, GEXF, STIX 2.1, MISP.

One call does the whole job the CLI and the web UI share: select the
clusters (:mod:`app.export.select`), read their content once
(:mod:`app.export.tables`), optionally pseudonymize account ids
(:mod:`app.export.redact`), write the files in one format, write
``manifest.json`` beside them (run, data fingerprint, parameters, filters,
counts), and append an ``export`` audit event. A read-only workspace can
still be exported; the manifest then says the export is not in its audit log.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from app.access import Reader, WorkspaceAccess
from app.export import csv, jsonl, misp, neo4j_import, network, parquet, stix
from app.export.files import replacing
from app.export.redact import Redactor
from app.export.select import Filters, Selection, parse_time, select_clusters
from app.export.tables import ExportContent, build_content, exposed_number_hashes
from graph.errors import SybilscopeError
from graph.schema import ACCOUNT
from graph.store.base import GraphStore
from graph.triage import record_audit
from graph.workspace import Workspace

__all__ = ["FORMATS", "GRAPH_FORMATS", "ExportResult", "Filters", "Selection", "export", "parse_time", "read_content"]

FORMATS: dict[str, Callable[[ExportContent, Path], list[Path]]] = {
    "csv": csv.write,
    "jsonl": jsonl.write,
    "parquet": parquet.write,
    "graphml": network.write_graphml,
    "gexf": network.write_gexf,
    "stix": stix.write,
    "misp": misp.write,
}
#: formats of the whole graph rather than of the selected clusters
GRAPH_FORMATS: dict[str, Callable[[GraphStore, Path], tuple[list[Path], dict[str, int]]]] = {
    "neo4j-import": neo4j_import.write,
}
MANIFEST = "manifest.json"
NOT_AUDITED = "not recorded: the workspace is read-only here"


@dataclass
class ExportResult:
    """Where the export went and what it holds."""

    out_dir: Path
    format: str
    files: list[Path]
    manifest: dict

    @property
    def counts(self) -> dict[str, int]:
        return self.manifest["counts"]


def _redactor(workspace: Workspace, store: GraphStore) -> Redactor:
    account_ids = (node["account_id"] for batch in store.iter_nodes(ACCOUNT) for node in batch)
    return Redactor(workspace.secret(), account_ids)


def read_content(
    workspace: Workspace,
    store: GraphStore,
    filters: Filters | None = None,
    *,
    redact: bool = False,
    reader: Reader | None = None,
    phone_hashes: bool = False,
) -> ExportContent:
    """Select the clusters and read their export tables (no file written, no audit).

    ``reader`` gives the cursor on the events (an investigation's
    :meth:`~app.access.WorkspaceAccess.reader`; the workspace's own when ``None``).
    """
    selection = select_clusters(store, filters)
    events = (reader or WorkspaceAccess(workspace, store).reader)()
    try:
        content = build_content(
            store,
            selection,
            events=events,
            redactor=_redactor(workspace, store) if redact else None,
            workspace=workspace.root.name,  # its name, never its path: no local path leaves the machine
        )
        if phone_hashes:
            member_of = {row["account_id"]: row["cluster_id"] for row in content.tables["members"]}
            content.exposed_number_hashes = exposed_number_hashes(
                events, member_of, selection.filters.since, selection.filters.until)
        return content
    finally:
        events.close()


def export(
    workspace: Workspace,
    store: GraphStore,
    fmt: str,
    out_dir: str | Path,
    filters: Filters | None = None,
    *,
    redact: bool = False,
    user: str = "cli",
    reader: Reader | None = None,
    options: dict | None = None,
) -> ExportResult:
    """Export the selected clusters of the latest run to ``out_dir`` in format ``fmt``.

    Parameters
    ----------
    workspace, store : Workspace, GraphStore
        The investigation and its graph store.
    fmt : str
        One of :data:`FORMATS`.
    out_dir : path
        Created if missing; files of the same names are replaced (a symbolic
        link there is replaced by the file, its target left alone).
    filters : Filters, optional
        Which clusters (default: every cluster of the latest run). The
        :data:`GRAPH_FORMATS` write the whole graph and ignore them.
    redact : bool
        Replace account ids with keyed pseudonyms and drop handles, for
        public release.
    user : str
        Who exports, for the audit event.
    reader : callable, optional
        Gives the cursor on the events (see :func:`read_content`).
    options : dict, optional
        The format's own options, recorded in the manifest. MISP
        (:mod:`app.export.misp`): ``per`` (``cluster``, the default, or
        ``squad``) and ``phone_hashes`` (add the keyed hashes of the numbers
        each cluster exposed; off unless asked, and never with ``redact``).
    """
    if fmt not in FORMATS and fmt not in GRAPH_FORMATS:
        raise SybilscopeError(f"unknown export format {fmt!r}: use one of {', '.join([*FORMATS, *GRAPH_FORMATS])}")
    options = {k: v for k, v in (options or {}).items() if v}
    if options and fmt != "misp":
        raise SybilscopeError(f"{', '.join(sorted(options))} only go with --format misp")
    if options.get("phone_hashes") and redact:
        raise SybilscopeError("--phone-hashes does not go with --redact: a public release carries no numbers")
    out = Path(out_dir).expanduser().resolve()
    if out.exists() and not out.is_dir():
        raise SybilscopeError(f"--out {out} is a file: give a folder for the export")
    if fmt in GRAPH_FORMATS:
        if redact:
            raise SybilscopeError(f"--format {fmt} copies the whole graph to a new database: it takes no --redact")
        out.mkdir(parents=True, exist_ok=True)
        files, counts = GRAPH_FORMATS[fmt](store, out)
        manifest = {"format": fmt, "files": [f.name for f in files], "counts": counts}
        return _finish(store, out, fmt, files, manifest, user, {"format": fmt, "out_dir": str(out), "counts": counts})
    content = read_content(workspace, store, filters, redact=redact, reader=reader,
                           phone_hashes=bool(options.get("phone_hashes")))
    content.options = options
    out.mkdir(parents=True, exist_ok=True)
    files = FORMATS[fmt](content, out)
    manifest = content.manifest(fmt, [f.name for f in files])
    return _finish(store, out, fmt, files, manifest, user, {
        "format": fmt,
        "out_dir": str(out),
        "run_id": content.selection.run["run_id"],
        "cluster_ids": content.selection.cluster_ids,
        "filters": content.selection.filters.describe(),
        "redacted": redact,
        "counts": manifest["counts"],
    })


def _finish(
    store: GraphStore, out: Path, fmt: str, files: list[Path], manifest: dict, user: str, event: dict
) -> ExportResult:
    """Write ``manifest.json`` beside the files and record the export ``event`` in the audit log."""
    manifest["audit"] = NOT_AUDITED if store.read_only else "recorded in the workspace's audit log"
    with replacing(out / MANIFEST, "w", encoding="utf-8") as handle:
        handle.write(json.dumps(manifest, indent=2, default=str) + "\n")
    if not store.read_only:
        record_audit(store, user, "export", f"export:{fmt}", None, event)
    return ExportResult(out_dir=out, format=fmt, files=[*files, out / MANIFEST], manifest=manifest)
