"""Export and briefing downloads from the web UI: the investigation's, as the CLI calls them.

Buttons go into the button rows the pages leave for them
(:data:`~app.web.ids.CLUSTER_ACTIONS` on the cluster page,
:data:`~app.web.ids.QUEUE_ACTIONS` above the triage queue). An export
arrives as one zip of its folder, a briefing as its file. Every role may
download (viewers read everything anyway); each download is an ``export``
or ``brief`` audit event under the signed-in user's name, as from the CLI.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import dash
import dash_bootstrap_components as dbc
import flask_login
from dash import Input, Output, State, dcc

from app.brief import BRIEF_FORMATS
from app.export import FORMATS, Filters
from app.web import ids
from app.web.pages.overview import QUEUE_BRIEF, QUEUE_BRIEF_FILE, QUEUE_KIND, QUEUE_TAG, window_for
from app.web.queries import Window
from app.web.state import current

__all__ = ["register", "export_zip", "briefing_bytes"]

EXPORT_FORMAT = "download-export-format"
EXPORT_BUTTON = "download-export"
EXPORT_FILE = "download-export-file"
BRIEF_FORMAT = "download-brief-format"
BRIEF_BUTTON = "download-brief"
BRIEF_FILE = "download-brief-file"
BRIEF_NOTES = "download-brief-notes"
QUEUE_FORMAT = "download-queue-format"
QUEUE_BUTTON = "download-queue"
QUEUE_FILE = "download-queue-file"


def _user() -> str:
    user = flask_login.current_user
    return getattr(user, "name", None) or "web"


def export_zip(fmt: str, filters: Filters, user: str) -> tuple[str, bytes]:
    """Export in ``fmt`` to a temporary folder and return ``(file name, zip bytes)``."""
    archive = current().investigation.export_archive(fmt, filters, user=user)
    scope = "-".join(filters.cluster_ids) if len(filters.cluster_ids) == 1 else "queue"
    return f"sybilscope-{scope}-{fmt}.zip", archive


def briefing_bytes(cluster_ids: list[str], fmt: str, user: str, include_notes: bool = False) -> tuple[str, bytes]:
    """Write one briefing on ``cluster_ids`` (several: one operation) in ``fmt``; returns ``(file name, bytes)``."""
    scope = cluster_ids[0] if len(cluster_ids) == 1 else f"operation-{len(cluster_ids)}-clusters"
    name = f"briefing-{scope}.{fmt}"
    with tempfile.TemporaryDirectory(prefix="sybilscope-brief-") as tmp:
        path = current().investigation.brief(cluster_ids, Path(tmp) / name, fmt=fmt, user=user,
                                             include_notes=include_notes)
        return name, path.read_bytes()


def _select(component_id: str, options: list[str], value: str) -> dbc.Select:
    return dbc.Select(id=component_id, options=[{"label": o, "value": o} for o in options], value=value,
                      size="sm", style={"width": "6.5rem"})


def cluster_buttons() -> list:
    """Export (format, zip) and briefing (html/pdf/md) controls for the cluster page header."""
    return [
        _select(EXPORT_FORMAT, list(FORMATS), "csv"),
        dbc.Button("Export", id=EXPORT_BUTTON, size="sm", color="secondary", outline=True),
        _select(BRIEF_FORMAT, list(BRIEF_FORMATS), "pdf"),
        dbc.Button("Briefing", id=BRIEF_BUTTON, size="sm", color="primary"),
        dbc.Checkbox(id=BRIEF_NOTES, label="with analysts' notes", value=False, className="small"),
        dcc.Download(id=EXPORT_FILE),
        dcc.Download(id=BRIEF_FILE),
    ]


def queue_buttons() -> list:
    """Export of the filtered queue (format, zip) for the overview's queue card."""
    return [
        _select(QUEUE_FORMAT, list(FORMATS), "csv"),
        dbc.Button("Export queue", id=QUEUE_BUTTON, size="sm", color="secondary", outline=True),
        dcc.Download(id=QUEUE_FILE),
    ]


def queue_filters(
    statuses: list[str] | None, min_score: float | None, country: str | None, window: Window,
    kinds: list[str] | None = None, tags: list[str] | None = None,
) -> Filters:
    """The queue's filters as export filters: the same clusters the queue shows (:class:`graph.triage.QueueFilters`)."""
    return Filters(statuses=tuple(statuses or ()), min_score=float(min_score) if min_score else None,
                   country=country or None, since=window.since, until=window.until, kinds=tuple(kinds or ()),
                   tags=tuple(tags or ()))


def register(app: dash.Dash) -> None:
    """Fill the pages' button rows and serve their downloads."""

    @app.callback(Output(ids.CLUSTER_ACTIONS, "children"), Input(ids.CLUSTER_ID, "data"))
    def cluster_actions(cluster_id):
        return cluster_buttons() if cluster_id else []

    @app.callback(Output(ids.QUEUE_ACTIONS, "children"), Input(ids.QUEUE_ACTIONS, "id"))
    def queue_actions(_id):
        return queue_buttons()

    @app.callback(
        Output(EXPORT_FILE, "data"),
        Input(EXPORT_BUTTON, "n_clicks"),
        State(EXPORT_FORMAT, "value"),
        State(ids.CLUSTER_ID, "data"),
        prevent_initial_call=True,
    )
    def export_cluster(clicks, fmt, cluster_id):
        if not clicks or not cluster_id:
            raise dash.exceptions.PreventUpdate
        name, data = export_zip(fmt or "csv", Filters(cluster_ids=(cluster_id,)), _user())
        return dcc.send_bytes(data, name)

    @app.callback(
        Output(BRIEF_FILE, "data"),
        Input(BRIEF_BUTTON, "n_clicks"),
        State(BRIEF_FORMAT, "value"),
        State(ids.CLUSTER_ID, "data"),
        State(BRIEF_NOTES, "value"),
        prevent_initial_call=True,
    )
    def brief_cluster(clicks, fmt, cluster_id, notes):
        if not clicks or not cluster_id:
            raise dash.exceptions.PreventUpdate
        name, data = briefing_bytes([cluster_id], fmt or "pdf", _user(), include_notes=bool(notes))
        return dcc.send_bytes(data, name)

    @app.callback(
        Output(QUEUE_BRIEF_FILE, "data"),
        Input(QUEUE_BRIEF, "n_clicks"),
        State(ids.QUEUE_TABLE + "-rows", "selected_row_ids"),
        prevent_initial_call=True,
    )
    def brief_selected(clicks, selected):
        if not clicks or not selected:
            raise dash.exceptions.PreventUpdate
        name, data = briefing_bytes(list(selected), "pdf", _user())
        return dcc.send_bytes(data, name)

    @app.callback(
        Output(QUEUE_FILE, "data"),
        Input(QUEUE_BUTTON, "n_clicks"),
        State(QUEUE_FORMAT, "value"),
        State(ids.QUEUE_STATUS, "value"),
        State(ids.QUEUE_MIN_SCORE, "value"),
        State(ids.QUEUE_COUNTRY, "value"),
        State(ids.OVERVIEW_WINDOW, "value"),
        State(QUEUE_KIND, "value"),
        State(QUEUE_TAG, "value"),
        prevent_initial_call=True,
    )
    def export_queue(clicks, fmt, statuses, min_score, country, choice, kinds, tags):
        if not clicks:
            raise dash.exceptions.PreventUpdate
        filters = queue_filters(statuses, min_score, country, window_for(choice), kinds, tags)
        name, data = export_zip(fmt or "csv", filters, _user())
        return dcc.send_bytes(data, name)
