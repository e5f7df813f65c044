"""The audit log: every analyst action, append-only, filterable and downloadable as JSON Lines."""

from __future__ import annotations

from urllib.parse import urlencode

import dash
import dash_bootstrap_components as dbc
from dash import Input, Output, dcc, html

from app.web import ids, queries
from app.web.components import card, fmt_time, table
from app.web.state import current

PATH = "/audit"


def layout(**_query) -> html.Div:
    events = current().store.audit_events(limit=5000)
    users = sorted({e.get("user") for e in events if e.get("user")})
    actions = sorted({e.get("action") for e in events if e.get("action")})
    filters = dbc.Row([
        dbc.Col(dcc.Dropdown(id=ids.AUDIT_FILTER_USER, options=users, placeholder="any user"), md=3),
        dbc.Col(dcc.Dropdown(id=ids.AUDIT_FILTER_ACTION, options=actions, placeholder="any action"), md=3),
        dbc.Col(dbc.Input(id=ids.AUDIT_FILTER_TARGET, placeholder="target contains (e.g. cluster:C-)",
                          debounce=True, size="sm"), md=4),
        # a form that POSTs: the download is itself audited, so no link or prefetch may trigger it
        dbc.Col(html.Form(dbc.Button("Download JSON Lines", color="primary", size="sm", type="submit"),
                          id=ids.AUDIT_DOWNLOAD, method="post", action="/audit.jsonl"), md=2, className="text-end"),
    ], className="g-2 mb-2 align-items-center")
    return html.Div([
        html.H1("Audit log", className="page-title"),
        html.Div("Who did what, when, with the state before and after. Nothing here can be edited or deleted.",
                 className="page-subtitle section-gap"),
        card("Events", [filters, html.Div(id=ids.AUDIT_TABLE)], hint="newest first"),
    ])


def _short(value) -> str:
    text = queries.audit_jsonl([value]).strip() if value is not None else ""
    return text if len(text) <= 160 else text[:157] + "..."


def audit_rows(events: list[dict]) -> list[dict]:
    return [{"at": fmt_time(e.get("at"), seconds=True), "user": e.get("user") or "", "action": e.get("action") or "",
             "target": e.get("target") or "", "before": _short(e.get("before")), "after": _short(e.get("after"))}
            for e in events]


def register(app: dash.Dash) -> None:
    dash.register_page(__name__, path=PATH, name="Audit log", title="Audit log · sybilscope", layout=layout)

    @app.callback(
        Output(ids.AUDIT_TABLE, "children"),
        Output(ids.AUDIT_DOWNLOAD, "action"),
        Input(ids.AUDIT_FILTER_USER, "value"),
        Input(ids.AUDIT_FILTER_ACTION, "value"),
        Input(ids.AUDIT_FILTER_TARGET, "value"),
    )
    def audit(user, action, target):
        events = queries.audit_log(current().store, user=user, action=action, target=target)
        query = urlencode({k: v for k, v in (("user", user), ("action", action), ("target", target)) if v})
        rows = audit_rows(events)
        return (table(ids.AUDIT_TABLE + "-rows", rows,
                      [("at", "When (UTC)"), ("user", "User"), ("action", "Action"), ("target", "Target"),
                       ("before", "Before"), ("after", "After")], page_size=25,
                      style_cell_conditional=[{"if": {"column_id": c}, "fontFamily": "monospace", "fontSize": 11}
                                              for c in ("before", "after")]),
                "/audit.jsonl" + (f"?{query}" if query else ""))
