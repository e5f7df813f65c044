"""The banner that offers a newer detection run, when one commits while a page is open.

Pages read the latest run when they render, so an analyst keeps looking at
the run the page was opened on while ``sybilscope detect`` works beside the
server (it holds the workspace until its run is saved whole: see
:mod:`app.access`). Every page's frame remembers that run id and asks the
server every :data:`POLL_MS` milliseconds for the latest one; when they
differ, the banner names the new run and offers to reload the page on it.
"""

from __future__ import annotations

import dash
import dash_bootstrap_components as dbc
from dash import Input, Output, State, dcc, html

from app.web.cache import latest_run_id

__all__ = ["POLL_MS", "BANNER", "RELOAD", "layout", "register"]

#: how often an open page asks whether a newer run was saved
POLL_MS = 5_000
BANNER = "run-banner"
RELOAD = "run-banner-reload"
_SHOWN = "run-banner-shown"
_POLL = "run-banner-poll"


def layout() -> html.Div:
    """The banner's place, the run the page shows and the poll (built per page load)."""
    return html.Div([
        dcc.Store(id=_SHOWN, data=latest_run_id()),
        dcc.Interval(id=_POLL, interval=POLL_MS),
        html.Div(id=BANNER),
    ])


def _newer(shown: str | None, latest: str | None) -> list:
    if latest is None or latest == shown:
        return []
    return [dbc.Alert([
        html.Span(["A newer detection run is available: ", html.B(latest), ". This page still shows ",
                   html.B(shown or "no run"), ". "]),
        dbc.Button("Reload to see it", id=RELOAD, size="sm", color="primary", className="ms-2"),
    ], color="info", className="py-2 px-3 mb-2 d-flex align-items-center")]


def register(app: dash.Dash) -> None:
    """Add the poll's callback and the reload button's (in the browser)."""

    @app.callback(Output(BANNER, "children"), Input(_POLL, "n_intervals"), State(_SHOWN, "data"))
    def _offer(_ticks: int | None, shown: str | None) -> list:
        return _newer(shown, latest_run_id())

    app.clientside_callback(
        "function(clicks) { window.location.reload(); return true; }",
        Output(RELOAD, "disabled"),
        Input(RELOAD, "n_clicks"),
        prevent_initial_call=True,
    )
