"""Briefings on detected operations: HTML, PDF and Markdown from editable templates.

:func:`brief` is what the CLI (``sybilscope brief``) and the web UI's
briefing button both call: gather the facts (:mod:`app.brief.build`), draw
the charts (:mod:`app.brief.figures`), render the template
(:mod:`app.brief.render`) and append a ``brief`` audit event.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from app.access import Reader
from app.brief.build import Briefing, collect_briefing
from app.brief.edition import EDITIONS as BRIEF_EDITIONS
from app.brief.render import FORMATS as BRIEF_FORMATS
from app.brief.render import (
    format_for,
    output_path,
    pdf_text,
    pdf_to_png,
    render_text,
    write_briefing,
)
from graph.store.base import GraphStore
from graph.triage import record_audit
from graph.workspace import Workspace

__all__ = [
    "BRIEF_EDITIONS",
    "BRIEF_FORMATS",
    "Briefing",
    "brief",
    "collect_briefing",
    "format_for",
    "pdf_text",
    "pdf_to_png",
    "render_text",
    "write_briefing",
]


def brief(
    workspace: Workspace,
    store: GraphStore,
    cluster_ids: Sequence[str],
    out: str | Path,
    *,
    fmt: str | None = None,
    template: Path | None = None,
    tlp: str | None = None,
    run_id: str | None = None,
    redact: bool = False,
    user: str = "cli",
    reader: Reader | None = None,
    edition: str = "full",
    include_notes: bool = False,
) -> Path:
    """Write a briefing on ``cluster_ids`` to ``out`` and record it in the audit log (unless read-only).

    Parameters
    ----------
    workspace, store : Workspace, GraphStore
        The investigation.
    cluster_ids : sequence of str
        Clusters of one detection run that the briefing treats as one operation.
    out : path
        The file to write; its suffix gives the format unless ``fmt`` does.
    fmt : {"html", "pdf", "md"}, optional
    template : path, optional
        A Jinja2 template to use instead of the stock one.
    tlp : str, optional
        The marking (default: the clusters' ``TLP:`` tag, else ``TLP:AMBER``).
    run_id : str, optional
        The detection run (default: the latest).
    redact : bool
        Pseudonymize account ids in free text.
    user : str
        Who asked, for the audit event.
    reader : callable, optional
        Gives the cursor on the events (see :func:`collect_briefing`).
    edition : {"full", "public"}
        ``full`` for the trust-and-safety team; ``public`` for journalists and policy readers
        (redacted, no hashed ids, no evidence or block tables; :mod:`app.brief.edition`).
    include_notes : bool
        Print the analysts' comments (full edition only).

    Returns
    -------
    Path
        The file written.
    """
    out = output_path(out)
    chosen = format_for(out, fmt)
    facts = collect_briefing(workspace, store, cluster_ids, run_id=run_id, tlp=tlp, redact=redact,
                             reader=reader, edition_name=edition, include_notes=include_notes)
    path = write_briefing(facts, out, chosen, template)
    if store.read_only:  # nothing can be recorded; the CLI says so
        return path
    record_audit(
        store,
        user,
        "brief",
        "brief:" + ",".join(facts.reproduce["cluster_ids"]),
        None,
        {
            "format": chosen,
            "out": str(path),
            "run_id": facts.reproduce["run_id"],
            "cluster_ids": facts.reproduce["cluster_ids"],
            "tlp": facts.tlp,
            "template": str(template) if template else None,
            "redacted": facts.redacted,
            "edition": edition,
            "notes": include_notes,
        },
    )
    return path
