"""User management (admins): who may sign in, and with which role."""

from __future__ import annotations

import dash
import dash_bootstrap_components as dbc
import flask_login
from dash import Input, Output, State, html

from app.web import auth, ids
from app.web.components import card, fmt_time, table
from app.web.state import current
from graph import triage

PATH = "/users"


def _users_table() -> object:
    rows = [{"name": u["name"], "role": u["role"], "created": fmt_time(u["created_at"])}
            for u in auth.list_users(current().con())]
    return table(ids.USERS_TABLE + "-rows", rows, [("name", "User"), ("role", "Role"), ("created", "Created")])


def layout(**_query) -> html.Div:
    if not getattr(flask_login.current_user, "is_admin", False):
        return html.Div([html.H1("Users", className="page-title"),
                         html.P("Only admins manage users.", className="text-secondary")])
    form = html.Div([
        dbc.Row([
            dbc.Col(dbc.Input(id=ids.USERS_NAME, placeholder="user name", size="sm"), md=4),
            dbc.Col(dbc.Select(id=ids.USERS_ROLE, value="analyst", size="sm",
                               options=[{"label": r, "value": r} for r in auth.ROLES]), md=3),
            dbc.Col(dbc.Input(id=ids.USERS_PASSWORD, type="password", placeholder="password (8+ characters)",
                              size="sm"), md=3),
            dbc.Col(dbc.Button("Add user", id=ids.USERS_SUBMIT, size="sm", color="primary"), md=2),
        ], className="g-2"),
        html.Div(id=ids.USERS_FEEDBACK, className="mt-2"),
    ])
    return html.Div([
        html.H1("Users", className="page-title section-gap"),
        dbc.Row([dbc.Col(card("Accounts", html.Div(_users_table(), id=ids.USERS_TABLE)), lg=6),
                 dbc.Col(card("Add a user", form, hint="viewers read, analysts label, admins manage users"), lg=6)]),
    ])


def register(app: dash.Dash) -> None:
    dash.register_page(__name__, path=PATH, name="Users", title="Users · sybilscope", layout=layout)

    @app.callback(
        Output(ids.USERS_FEEDBACK, "children"),
        Output(ids.USERS_TABLE, "children"),
        Output(ids.USERS_PASSWORD, "value"),
        Input(ids.USERS_SUBMIT, "n_clicks"),
        State(ids.USERS_NAME, "value"),
        State(ids.USERS_ROLE, "value"),
        State(ids.USERS_PASSWORD, "value"),
        prevent_initial_call=True,
    )
    def add(_clicks, name, role, password):
        admin = flask_login.current_user
        if not getattr(admin, "is_admin", False):
            return dbc.Alert("Only admins manage users.", color="danger", className="py-1 small"), dash.no_update, ""
        try:
            auth.create_user(current().investigation.writer("add a user"), (name or "").strip(), password or "", role)
        except ValueError as exc:
            return dbc.Alert(str(exc), color="danger", className="py-1 small"), dash.no_update, ""
        triage.record_audit(current().store, admin.name, "users.add", f"user:{name}", None, {"role": role})
        return dbc.Alert(f"Added {name} ({role}).", color="success", className="py-1 small"), _users_table(), ""
