"""The overview's whole-case traffic, computed when the data changes instead of when an analyst first asks.

Counting distinct callers, IPs and devices over every request, per country,
per IP and per ASN reads the whole events table several times: half a
second at scale 20 on an idle machine, much more on a busy one. Pages cache
it per version of the data (:func:`app.web.state.data_version`), but the
first analyst after an ingest or a detection run would still wait. So the
commands that change the data (``ingest``, ``detect``) compute it right
after they commit (:func:`precompute`), into ``summaries/overview-all`` in
the workspace folder, marked with the version it was computed for; the
overview reads it back (:func:`load`) while that version is current, and
computes live otherwise (another version, or a workspace older than this).
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pyarrow.parquet  # imported with the app, not by the first analyst to open the overview

from app.investigation import Investigation
from app.web import queries
from app.web.state import data_version
from graph.workspace import Workspace

__all__ = ["load", "precompute", "summary_dir"]

_VERSION = "version.json"


def summary_dir(workspace: Workspace) -> Path:
    return workspace.root / "summaries" / "overview-all"


def precompute(investigation: Investigation) -> None:
    """Compute and keep the whole-case traffic (:func:`app.web.queries.traffic`) for the current data version."""
    con = investigation.reader()
    version = data_version(investigation.store, con)
    if not version[1]:
        return
    parts = queries.traffic(con)
    folder = summary_dir(investigation.workspace)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / _VERSION).unlink(missing_ok=True)  # never a version beside parts of another
    for name, value in parts.items():
        frame = pd.DataFrame([value]) if name == "totals" else value
        frame.to_parquet(folder / f"{name}.parquet", index=False)
    (folder / _VERSION).write_text(json.dumps(list(version)), encoding="utf-8")


def load(workspace: Workspace, version: tuple) -> dict[str, object] | None:
    """The kept traffic if it was computed for ``version``, else ``None``."""
    folder = summary_dir(workspace)
    try:
        if tuple(json.loads((folder / _VERSION).read_text(encoding="utf-8"))) != tuple(version):
            return None
        parts = {name: pyarrow.parquet.read_table(folder / f"{name}.parquet").to_pandas()
                 for name in queries.TRAFFIC_PARTS}
    except (OSError, ValueError):
        return None
    parts["totals"] = {k: int(v) for k, v in parts["totals"].iloc[0].items()} if len(parts["totals"]) else {}
    return parts
