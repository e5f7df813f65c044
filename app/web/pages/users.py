"""User management (admins): who may sign in, with which role, and a new password when one is lost.

Every action is checked on the server, in the callback, not only by hiding
the page: a viewer or an analyst who posts to a callback by hand is refused.
Each change is audited under the admin's name with the same action names as
``sybilscope users`` (``users.add``, ``users.role``, ``users.disable``,
``users.enable``, ``users.passwd``). An admin cannot change their own role or
account here, so the last admin cannot lock everyone out by a slip.
"""

from __future__ import annotations

import dash
import dash_bootstrap_components as dbc
import flask_login
from dash import Input, Output, State, ctx, html

from app.web import auth, ids
from app.web.components import card, fmt_time, table
from app.web.state import current
from graph import triage

PATH = "/users"
ONLY_ADMINS = "Only admins manage users."
#: the buttons of the "change a user" card and what each does
_ACTIONS = {ids.USERS_SET_ROLE: "role", ids.USERS_DISABLE: "disable", ids.USERS_ENABLE: "enable",
            ids.USERS_RESET: "passwd"}


def _users_table() -> object:
    rows = [{"name": u["name"], "role": u["role"], "state": "disabled" if u["disabled"] else "active",
             "created": fmt_time(u["created_at"])} for u in auth.list_users(current().con())]
    return table(ids.USERS_TABLE + "-rows", rows,
                 [("name", "User"), ("role", "Role"), ("state", "State"), ("created", "Created")])


def _alert(message: object, ok: bool) -> dbc.Alert:
    return dbc.Alert(message, color="success" if ok else "danger", className="py-1 small mb-0")


def layout(**_query) -> html.Div:
    if not getattr(flask_login.current_user, "is_admin", False):
        return html.Div([html.H1("Users", className="page-title"),
                         html.P(ONLY_ADMINS, className="text-secondary")])
    roles = [{"label": r, "value": r} for r in auth.ROLES]
    add = html.Div([
        dbc.Row([
            dbc.Col(dbc.Input(id=ids.USERS_NAME, placeholder="user name", size="sm"), md=4),
            dbc.Col(dbc.Select(id=ids.USERS_ROLE, value="analyst", size="sm", options=roles), md=3),
            dbc.Col(dbc.Input(id=ids.USERS_PASSWORD, type="password", placeholder="password (8+ characters)",
                              size="sm"), md=3),
            dbc.Col(dbc.Button("Add user", id=ids.USERS_SUBMIT, size="sm", color="primary"), md=2),
        ], className="g-2"),
        html.Div(id=ids.USERS_FEEDBACK, className="mt-2"),
    ])
    names = [{"label": u["name"], "value": u["name"]} for u in auth.list_users(current().con())]
    change = html.Div([
        dbc.Row([
            dbc.Col(dbc.Select(id=ids.USERS_PICK, options=names, placeholder="choose a user", size="sm"), md=4),
            dbc.Col(dbc.Select(id=ids.USERS_NEW_ROLE, value="analyst", size="sm", options=roles), md=3),
            dbc.Col(dbc.Button("Set role", id=ids.USERS_SET_ROLE, size="sm", color="primary"), md="auto"),
        ], className="g-2"),
        html.Div([
            dbc.Button("Disable", id=ids.USERS_DISABLE, size="sm", color="danger", outline=True),
            dbc.Button("Enable", id=ids.USERS_ENABLE, size="sm", color="secondary", outline=True),
            dbc.Button("Reset password", id=ids.USERS_RESET, size="sm", color="secondary", outline=True),
        ], className="button-row mt-2"),
        html.Div(id=ids.USERS_CHANGE_FEEDBACK, className="mt-2"),
    ])
    return html.Div([
        html.H1("Users", className="page-title section-gap"),
        dbc.Row([
            dbc.Col(card("Accounts", html.Div(_users_table(), id=ids.USERS_TABLE)), lg=6),
            dbc.Col([
                card("Add a user", add, hint="viewers read, analysts label, admins manage users"),
                card("Change a user", change,
                     hint="each change ends the user's sessions and is audited; a new password is shown once"),
            ], lg=6),
        ]),
    ])


def change_user(action: str, name: str | None, role: str | None, admin) -> tuple[object, bool]:
    """Do one admin action on user ``name`` for ``admin`` and audit it: the message, and whether it was done.

    ``action`` is ``role``, ``disable``, ``enable`` or ``passwd`` (a new
    random password, in the message and nowhere else).
    """
    if not getattr(admin, "is_admin", False):
        return ONLY_ADMINS, False
    if not name:
        return "Choose a user first.", False
    if name == admin.name:
        return "You cannot change your own account here: ask another admin, or use `sybilscope users`.", False
    con = current().investigation.writer("manage users")
    before = auth.get_user(con, name)
    if before is None:
        return f"No user {name!r}.", False
    target = f"user:{name}"
    if action == "role":
        try:
            auth.set_role(con, name, role or "")
        except ValueError as exc:
            return str(exc), False
        triage.record_audit(current().store, admin.name, "users.role", target, {"role": before.role}, {"role": role})
        return f"{name} is now {role}; their sessions ended.", True
    if action in ("disable", "enable"):
        disabled = action == "disable"
        auth.set_disabled(con, name, disabled)
        triage.record_audit(current().store, admin.name, f"users.{action}", target, {"disabled": not disabled},
                            {"disabled": disabled})
        return (f"{name} is disabled: their sessions ended." if disabled else f"{name} is enabled again."), True
    password = auth.reset_password(con, name)
    triage.record_audit(current().store, admin.name, "users.passwd", target, None, None)
    return html.Span([f"New password for {name}, shown only this once: ",
                      html.Code(password, id=ids.USERS_RESET + "-once", className="user-select-all"),
                      ". Give it to them over a safe channel; their sessions ended."]), True


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
            return _alert(ONLY_ADMINS, ok=False), dash.no_update, ""
        try:
            auth.create_user(current().investigation.writer("add a user"), (name or "").strip(), password or "", role)
        except ValueError as exc:
            return _alert(str(exc), ok=False), dash.no_update, ""
        triage.record_audit(current().store, admin.name, "users.add", f"user:{name}", None, {"role": role})
        return _alert(f"Added {name} ({role}).", ok=True), _users_table(), ""

    @app.callback(
        Output(ids.USERS_CHANGE_FEEDBACK, "children"),
        Output(ids.USERS_TABLE, "children", allow_duplicate=True),
        *(Input(button, "n_clicks") for button in _ACTIONS),
        State(ids.USERS_PICK, "value"),
        State(ids.USERS_NEW_ROLE, "value"),
        prevent_initial_call=True,
    )
    def change(*values):
        name, role = values[-2:]
        message, done = change_user(_ACTIONS[ctx.triggered_id], name, role, flask_login.current_user)
        if not done:
            return _alert(message, ok=False), dash.no_update
        return _alert(message, ok=True), _users_table()
