"""What the pages read of the whole case, computed when the data changes instead of when an analyst first asks.

Counting distinct callers, IPs and devices over every request, per country,
per IP and per ASN reads the whole events table several times: half a
second at scale 20 on an idle machine, much more on a busy one. Listing
every account, IP and device with its requests, which the search box
matches (:func:`app.web.queries.search_keys`), reads it once more, and so
does finding the IPs and devices of a cluster's members, where its page
starts (:func:`app.web.queries.member_links`). Pages cache these per version
of the data (:func:`app.web.state.data_version`), but the first analyst
after an ingest or a detection run would still wait. So the commands that
change the data (``ingest``, ``detect``) compute them right after they
commit (:func:`precompute`), into ``summaries/overview-all``,
``summaries/search-keys`` and ``summaries/member-links`` (the links of every
member of the latest run) in the workspace folder, each marked with the
version it was computed for; the pages read them back (:func:`load`,
:func:`load_search_keys`, :func:`load_member_links`) while that version is
current, and compute live otherwise (another version, or a workspace older
than this).
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path

import pandas as pd
import pyarrow.parquet  # imported with the app, not by the first analyst to open the overview

from app.investigation import Investigation
from app.web import queries
from app.web.state import data_version
from graph.workspace import Workspace

__all__ = ["load", "load_member_links", "load_search_keys", "member_links_dir", "precompute", "search_keys_dir",
           "summary_dir"]

_VERSION = "version.json"
_SEARCH_KEYS = "keys"
_LINKS = "links"


def summary_dir(workspace: Workspace) -> Path:
    return workspace.root / "summaries" / "overview-all"


def search_keys_dir(workspace: Workspace) -> Path:
    return workspace.root / "summaries" / "search-keys"


def member_links_dir(workspace: Workspace) -> Path:
    return workspace.root / "summaries" / "member-links"


def precompute(investigation: Investigation) -> None:
    """Keep the whole-case traffic (:func:`app.web.queries.traffic`), the search keys and the latest run's
    member links for the current data version."""
    con = investigation.reader()
    version = data_version(investigation.store, con)
    if not version[1]:
        return
    parts = queries.traffic(con)
    _keep(summary_dir(investigation.workspace), version,
          {name: pd.DataFrame([value]) if name == "totals" else value for name, value in parts.items()})
    _keep(search_keys_dir(investigation.workspace), version, {_SEARCH_KEYS: queries.search_keys(con)})
    if version[0] is not None:
        members = queries.run_members(investigation.store, version[0])
        _keep(member_links_dir(investigation.workspace), version,
              {_LINKS: queries.member_links(con, members["account_id"].unique().tolist())})


def load(workspace: Workspace, version: tuple) -> dict[str, object] | None:
    """The kept traffic if it was computed for ``version``, else ``None``."""
    parts = _read(summary_dir(workspace), version, queries.TRAFFIC_PARTS)
    if parts is None:
        return None
    parts["totals"] = {k: int(v) for k, v in parts["totals"].iloc[0].items()} if len(parts["totals"]) else {}
    return parts


def load_search_keys(workspace: Workspace, version: tuple) -> pd.DataFrame | None:
    """The kept search keys (:func:`app.web.queries.search_keys`) if they were computed for ``version``, else ``None``."""
    parts = _read(search_keys_dir(workspace), version, [_SEARCH_KEYS])
    return parts[_SEARCH_KEYS] if parts is not None else None


def load_member_links(workspace: Workspace, version: tuple) -> pd.DataFrame | None:
    """The kept links (:func:`app.web.queries.member_links`) of every member of run ``version[0]``, if they
    were computed for ``version``, else ``None``."""
    parts = _read(member_links_dir(workspace), version, [_LINKS])
    return parts[_LINKS] if parts is not None else None


def _keep(folder: Path, version: tuple, frames: dict[str, pd.DataFrame]) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / _VERSION).unlink(missing_ok=True)  # never a version beside parts of another
    for name, frame in frames.items():
        frame.to_parquet(folder / f"{name}.parquet", index=False)
    (folder / _VERSION).write_text(json.dumps(list(version)), encoding="utf-8")


def _read(folder: Path, version: tuple, names: Iterable[str]) -> dict[str, pd.DataFrame] | None:
    try:
        if tuple(json.loads((folder / _VERSION).read_text(encoding="utf-8"))) != tuple(version):
            return None
        return {name: pyarrow.parquet.read_table(folder / f"{name}.parquet").to_pandas() for name in names}
    except (OSError, ValueError):
        return None
