"""The web app factory: one Flask server, one Dash app, one workspace.

:func:`create_app` wires the login (:mod:`app.web.auth`), the per-app state
(:mod:`app.web.state`), the pages (:mod:`app.web.pages`), the banner that
offers a newer detection run (:mod:`app.web.run_banner`), the read-only JSON
API (:mod:`app.api`), the security headers (:mod:`app.web.headers`) and two
plain Flask routes (the audit log as JSON Lines, a health check). Every
route but the login form, static files and the API (which takes a bearer
token instead) needs a signed-in user; routes that act (sign out, download
the audit log, which is itself audited) take POST only, so a link or an
image on another page cannot trigger them.

Each request holds the workspace database for its length
(:meth:`~app.access.WorkspaceAccess.lease`): a server started by ``serve``
lets go of it between requests, so CLI commands run beside it (see
:mod:`app.access`).
"""

from __future__ import annotations

from pathlib import Path

import dash
import dash_bootstrap_components as dbc
import flask
import flask_login
from dash import html

from app import api
from app.web import auth, downloads, headers, ids, queries, run_banner
from app.web.pages import PAGES
from app.web.state import WebState, current, install
from graph import triage
from graph.store import GraphStore
from graph.workspace import Workspace

__all__ = ["create_app"]

_HERE = Path(__file__).parent


def _navbar() -> html.Nav:
    user = flask_login.current_user
    links = [dbc.NavLink("Overview", href="/"),
             dbc.NavLink("Audit log", href="/audit")]
    if getattr(user, "is_admin", False):
        links.append(dbc.NavLink("Users", href="/users"))
    name = getattr(user, "name", "")
    role = getattr(user, "role", "")
    return html.Nav(
        [
            html.Div([
                html.A(["sybilscope", html.Span(" · lookup-abuse investigations")], href="/", className="navbar-brand"),
                html.Span(current().workspace.root.name, className="ss-workspace", title=str(current().workspace.root)),
            ], className="d-flex align-items-center"),
            dbc.Nav(links, className="me-auto ms-4"),
            html.Div([html.Span([html.B(name), f" · {role}"], id=ids.USER_MENU), " · ",
                      html.Form(html.Button("Sign out", type="submit", id=ids.SIGN_OUT, className="ss-sign-out"),
                                method="post", action="/logout", className="d-inline")], className="ss-user"),
        ],
        className="ss-navbar d-flex align-items-center",
        id=ids.NAVBAR,
    )


def _shell() -> html.Div:
    """The frame around every page (built per request: it shows who is signed in)."""
    return html.Div([_navbar(), html.Div([run_banner.layout(), dash.page_container], className="ss-page")])


def _hold_workspace(server: flask.Flask, state: WebState) -> None:
    """Each request (but the health check and static files) holds the workspace database while it runs."""

    @server.before_request
    def _take():
        if flask.request.path != "/healthz" and not flask.request.path.startswith("/assets/"):
            lease = state.investigation.lease()
            lease.__enter__()  # waits while a command holds the workspace
            flask.g.workspace_lease = lease

    @server.teardown_request
    def _give_back(_exc: BaseException | None) -> None:
        lease = flask.g.pop("workspace_lease", None)
        if lease is not None:
            lease.__exit__(None, None, None)


def _record_login(user: auth.User) -> None:
    triage.record_audit(current().store, user.name, "auth.login", f"user:{user.name}", None, {"role": user.role})


def _record_failed_login(name: str, address: str, reason: str) -> None:
    # the name as typed (cut short: it may be anything) and where from; the password never
    triage.record_audit(current().store, name[:64], "auth.failed", f"user:{name[:64]}", None,
                        {"address": address, "reason": reason})


def create_app(workspace: Workspace, store: GraphStore | None = None) -> dash.Dash:
    """The sybilscope web app for ``workspace`` (its store opened when not given).

    The Dash app's ``server`` is a Flask app; serve it with any WSGI server
    or ``app.run``. Users must exist (see :func:`app.web.auth.bootstrap_admin`).
    """
    server = flask.Flask("sybilscope.web", root_path=str(_HERE))
    state = WebState(workspace, store)
    auth.ensure_users_table(state.investigation.writer("serve the web UI"))
    install(server, state)
    _hold_workspace(server, state)  # before the login check, which reads the sessions
    api.register(server, state.investigation)
    auth.init_login(server, state.investigation, on_login=_record_login, on_failed_login=_record_failed_login)

    app = dash.Dash(
        "sybilscope",
        server=server,
        use_pages=True,
        pages_folder="",
        assets_folder=str(_HERE / "assets"),
        title="sybilscope",
        update_title=None,
        suppress_callback_exceptions=True,
        serve_locally=True,
    )
    for page in PAGES:
        page.register(app)
    downloads.register(app)
    run_banner.register(app)
    app.layout = _shell
    app.index_string = app.index_string.replace("{%favicon%}", "")

    @server.route("/audit.jsonl", methods=["POST"])
    def audit_download():
        filters = {name: flask.request.values.get(name) or None for name in ("user", "action", "target")}
        events = queries.audit_log(current().store, **filters, limit=None)
        user = flask_login.current_user
        triage.record_audit(current().store, user.name, "audit.export", "audit", None,
                            {"events": len(events), "filters": {k: v for k, v in filters.items() if v}})
        return flask.Response(
            queries.audit_jsonl(events),
            mimetype="application/x-ndjson",
            headers={"Content-Disposition": f"attachment; filename=audit-{workspace.root.name}.jsonl"},
        )

    @server.route("/healthz")
    def healthz():  # public: says the server is up, nothing about the workspace
        return {"ok": True}

    headers.install(app)
    return app
