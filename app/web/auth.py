"""Who may use the web UI: users, password hashes and roles, kept in the workspace database.

Three roles, each including the one before: ``viewer`` reads everything,
``analyst`` also labels (status, attribution, tags, comments), ``admin`` also
manages users. Passwords are stored only as werkzeug scrypt hashes. On a
workspace's first ``serve`` the ``admin`` user is created with the password
in ``$SYBILSCOPE_ADMIN_PASSWORD``, else a random one that ``serve`` prints
once (CONTRACT section 5): it is never written anywhere.

The Flask side (:func:`init_login`) puts every page and every Dash callback
behind a login; the login page is a plain HTML form with a real submit
button, because a form without one does not submit on Enter. Sessions live
server-side (:mod:`app.web.sessions`): logout, a password or role change and
disabling a user end them at once. Failed sign-ins are slowed down per user
name and per address (:mod:`app.web.throttle`) and each one is reported to
the app (which audits it), never with the password.
"""

from __future__ import annotations

import hashlib
import hmac
import math
import os
import re
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from urllib.parse import urlsplit

import duckdb
import flask
import flask_login
from flask.sessions import SecureCookieSessionInterface
from werkzeug.security import check_password_hash, generate_password_hash

from app.access import WorkspaceAccess
from app.web import sessions, throttle
from graph.workspace import Workspace

__all__ = [
    "ROLES",
    "ADMIN_NAME",
    "ADMIN_PASSWORD_ENV",
    "User",
    "AdminBootstrap",
    "ensure_users_table",
    "create_user",
    "set_password",
    "reset_password",
    "set_role",
    "set_disabled",
    "get_user",
    "list_users",
    "verify_password",
    "bootstrap_admin",
    "session_secret",
    "init_login",
    "role_at_least",
]

ROLES = ("viewer", "analyst", "admin")
ADMIN_NAME = "admin"
ADMIN_PASSWORD_ENV = "SYBILSCOPE_ADMIN_PASSWORD"
USERS_TABLE = "users"
_NAME = re.compile(r"^[A-Za-z0-9_.@-]{1,64}$")
_HASH_METHOD = "scrypt"
# paths anyone may fetch, matched exactly (``/loginx`` is not the login form)
_PUBLIC_PATHS = frozenset({"/login", "/_favicon.ico", "/healthz"})
# static files for the login form: a folder, so its prefix ends with "/"
_PUBLIC_FOLDERS = ("/assets/",)
# the JSON API signs its callers in with bearer tokens, not this cookie (app.api)
_TOKEN_FOLDERS = ("/api/",)
#: how failed sign-ins are slowed down (see :mod:`app.web.throttle`)
THROTTLE = throttle.ThrottlePolicy()


@dataclass(frozen=True)
class User(flask_login.UserMixin):
    """A signed-in user as Flask-Login sees it."""

    name: str
    role: str
    #: the server-side session this user came with (:mod:`app.web.sessions`)
    session_id: str | None = field(default=None, compare=False, repr=False)

    def get_id(self) -> str:
        """What Flask-Login keeps in the cookie: the session token, never the bare name."""
        return self.session_id or ""

    @property
    def can_label(self) -> bool:
        return role_at_least(self.role, "analyst")

    @property
    def is_admin(self) -> bool:
        return self.role == "admin"


@dataclass(frozen=True)
class AdminBootstrap:
    """What the first start did about the admin user.

    ``password`` is set only when it was generated here and must be shown
    once; ``from_env`` says the password came from the environment.
    """

    created: bool
    password: str | None = None
    from_env: bool = False


def role_at_least(role: str, needed: str) -> bool:
    """Whether ``role`` includes the rights of ``needed`` (viewer < analyst < admin)."""
    if needed not in ROLES:
        raise ValueError(f"role must be one of {', '.join(ROLES)}, not {needed!r}")
    return role in ROLES and ROLES.index(role) >= ROLES.index(needed)


def ensure_users_table(con: duckdb.DuckDBPyConnection) -> None:
    """Create the users, sessions and failed sign-in tables when missing (idempotent)."""
    con.execute(
        f"CREATE TABLE IF NOT EXISTS {USERS_TABLE} ("
        "name VARCHAR PRIMARY KEY, password_hash VARCHAR NOT NULL, "
        "role VARCHAR NOT NULL, created_at TIMESTAMPTZ NOT NULL)"
    )
    con.execute(f"ALTER TABLE {USERS_TABLE} ADD COLUMN IF NOT EXISTS disabled BOOLEAN DEFAULT false")
    sessions.ensure_sessions_table(con)
    throttle.ensure_failures_table(con)


def _check_name(name: str) -> str:
    if not _NAME.match(name or ""):
        raise ValueError(
            f"user name {name!r} is not allowed: use 1-64 letters, digits, '_', '.', '@' or '-'"
        )
    return name


def _check_role(role: str) -> str:
    if role not in ROLES:
        raise ValueError(f"role must be one of {', '.join(ROLES)}, not {role!r}")
    return role


def _check_password(password: str) -> str:
    if not password or len(password) < 8:
        raise ValueError("a password needs at least 8 characters")
    return password


def create_user(con: duckdb.DuckDBPyConnection, name: str, password: str, role: str) -> User:
    """Add a user; ``ValueError`` if the name is taken or name, role or password are invalid."""
    ensure_users_table(con)
    _check_name(name)
    _check_role(role)
    _check_password(password)
    if get_user(con, name) is not None:
        raise ValueError(f"user {name!r} exists already: choose another name or change its role")
    con.execute(
        f"INSERT INTO {USERS_TABLE} (name, password_hash, role, created_at) VALUES (?, ?, ?, ?)",
        [name, generate_password_hash(password, method=_HASH_METHOD), role, datetime.now(UTC)],
    )
    return User(name, role)


def _change_ending_sessions(con: duckdb.DuckDBPyConnection, name: str, sql: str, params: list) -> None:
    """Change a user and end their sessions in one transaction: never one without the other."""
    if get_user(con, name) is None:
        raise KeyError(f"no user {name!r}")
    con.execute("BEGIN TRANSACTION")
    try:
        con.execute(sql, params)
        sessions.end_all(con, name)
    except BaseException:
        con.execute("ROLLBACK")
        raise
    con.execute("COMMIT")


def set_password(con: duckdb.DuckDBPyConnection, name: str, password: str) -> None:
    """Replace a user's password (hash) and end their sessions; ``KeyError`` for an unknown user."""
    _check_password(password)
    _change_ending_sessions(con, name, f"UPDATE {USERS_TABLE} SET password_hash = ? WHERE name = ?",
                            [generate_password_hash(password, method=_HASH_METHOD), name])


def reset_password(con: duckdb.DuckDBPyConnection, name: str) -> str:
    """Give a user a new random password, end their sessions and return it (to be shown once, never kept).

    ``KeyError`` for an unknown user.
    """
    password = secrets.token_urlsafe(12)
    set_password(con, name, password)
    return password


def set_role(con: duckdb.DuckDBPyConnection, name: str, role: str) -> None:
    """Change a user's role and end their sessions; ``KeyError`` for an unknown user."""
    _check_role(role)
    _change_ending_sessions(con, name, f"UPDATE {USERS_TABLE} SET role = ? WHERE name = ?", [role, name])


def set_disabled(con: duckdb.DuckDBPyConnection, name: str, disabled: bool) -> None:
    """Disable a user (no sign-in, sessions ended) or enable them again; ``KeyError`` for an unknown user."""
    _change_ending_sessions(con, name, f"UPDATE {USERS_TABLE} SET disabled = ? WHERE name = ?",
                            [bool(disabled), name])


def get_user(con: duckdb.DuckDBPyConnection, name: str) -> User | None:
    """The user with this name (disabled or not), or ``None``."""
    ensure_users_table(con)
    return _found_user(con.execute(f"SELECT name, role FROM {USERS_TABLE} WHERE name = ?", [name]).fetchall())


def _active_user(con: duckdb.DuckDBPyConnection, name: str) -> User | None:
    return _found_user(con.execute(
        f"SELECT name, role FROM {USERS_TABLE} WHERE name = ? AND NOT coalesce(disabled, false)", [name]
    ).fetchall())


def _found_user(rows: list[tuple]) -> User | None:
    """The user a ``SELECT name, role`` by name found (names are unique), or ``None``."""
    for name, role in rows:
        return User(name, role)
    return None


def list_users(con: duckdb.DuckDBPyConnection) -> list[dict]:
    """Every user's name, role, creation time and whether disabled (never the hash), by name."""
    ensure_users_table(con)
    rows = con.execute(
        f"SELECT name, role, created_at, coalesce(disabled, false) FROM {USERS_TABLE} ORDER BY name"
    ).fetchall()
    return [{"name": n, "role": r, "created_at": c, "disabled": d} for n, r, c, d in rows]


def assignable(con: duckdb.DuckDBPyConnection) -> list[str]:
    """Who a cluster can be assigned to: active users who may label, by name (the web form's list, the CLI's check)."""
    return [u["name"] for u in list_users(con) if not u["disabled"] and role_at_least(u["role"], "analyst")]


def verify_password(con: duckdb.DuckDBPyConnection, name: str, password: str) -> User | None:
    """The user if the password is right, else ``None`` (same answer for an unknown or disabled name)."""
    ensure_users_table(con)
    rows = con.execute(
        f"SELECT name, role, password_hash FROM {USERS_TABLE} WHERE name = ? AND NOT coalesce(disabled, false)",
        [name or ""],
    ).fetchall()
    if not rows:
        # spend the same time as a real check so timing does not reveal which names exist
        check_password_hash(_DUMMY_HASH, password or "")
        return None
    ((found, role, password_hash),) = rows
    if not check_password_hash(password_hash, password or ""):
        return None
    return User(found, role)


_DUMMY_HASH = generate_password_hash(secrets.token_hex(8), method=_HASH_METHOD)


def bootstrap_admin(con: duckdb.DuckDBPyConnection, env: dict | None = None) -> AdminBootstrap:
    """Create the ``admin`` user on a workspace's first serve; nothing when it exists."""
    ensure_users_table(con)
    if get_user(con, ADMIN_NAME) is not None:
        return AdminBootstrap(created=False)
    env = os.environ if env is None else env
    chosen = env.get(ADMIN_PASSWORD_ENV)
    if chosen:
        create_user(con, ADMIN_NAME, chosen, "admin")
        return AdminBootstrap(created=True, from_env=True)
    password = secrets.token_urlsafe(15)
    create_user(con, ADMIN_NAME, password, "admin")
    return AdminBootstrap(created=True, password=password)


def session_secret(workspace: Workspace) -> bytes:
    """The key that signs this workspace's session cookies, derived from the workspace secret.

    Deriving it (instead of a random key a start) keeps analysts signed in
    across restarts, and a cookie from one workspace is worthless on another.
    """
    return hmac.new(workspace.secret(), b"sybilscope web session v1", hashlib.sha256).digest()


def _safe_next(target: str | None) -> str:
    """Only same-site paths: never redirect a fresh login to another host."""
    if not target:
        return "/"
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not target.startswith("/") or target.startswith("//"):
        return "/"
    return target


_LOGIN_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Sign in - sybilscope</title>
<link rel="stylesheet" href="/assets/bootstrap.min.css">
<link rel="stylesheet" href="/assets/sybilscope.css">
</head><body class="login-body">
<main class="login-card card shadow-sm">
  <div class="card-body p-4">
    <div class="brand-mark mb-1">sybilscope</div>
    <p class="text-secondary small mb-4">Fake-account network investigation &middot; {{ workspace }}</p>
    {% if error %}<div class="alert alert-danger py-2 small" id="login-error">{{ error }}</div>{% endif %}
    <form method="post" action="/login" id="login-form">
      <input type="hidden" name="next" value="{{ next }}">
      <div class="mb-3">
        <label class="form-label small fw-semibold" for="login-username">User name</label>
        <input class="form-control" id="login-username" name="username" autocomplete="username"
               value="{{ username }}" required autofocus>
      </div>
      <div class="mb-3">
        <label class="form-label small fw-semibold" for="login-password">Password</label>
        <input class="form-control" id="login-password" name="password" type="password"
               autocomplete="current-password" required>
      </div>
      <button class="btn btn-primary w-100" id="login-submit" type="submit">Sign in</button>
    </form>
  </div>
</main></body></html>"""


def _now() -> datetime:
    """The time sessions and the throttle go by (one place, so tests can move it)."""
    return datetime.now(UTC)


def is_public(path: str) -> bool:
    """Whether ``path`` is served without a login: exact paths, and files under the static folder."""
    return path in _PUBLIC_PATHS or (path.startswith(_PUBLIC_FOLDERS) and ".." not in path)


class _SessionCookies(SecureCookieSessionInterface):
    """Flask's signed session cookie, ``Secure`` whenever the request came over TLS."""

    def get_cookie_secure(self, app: flask.Flask) -> bool:
        return bool(app.config["SESSION_COOKIE_SECURE"]) or (
            flask.has_request_context() and flask.request.is_secure
        )


#: ``on_failed_login(name, address, reason)``: the app audits each failed sign-in
FailedLogin = Callable[[str, str, str], None]


def init_login(server: flask.Flask, access: WorkspaceAccess, on_login: Callable[[User], None] | None = None,
               on_failed_login: FailedLogin | None = None) -> None:
    """Put the whole server behind a login and add ``/login`` and ``/logout`` (POST only).

    Users and sessions are read and written through ``access`` (the app's
    investigation). ``on_login(user)`` is called after a successful sign-in
    and ``on_failed_login(name, address, reason)`` after each refused one
    (the app records audit events there).
    """
    workspace = access.workspace
    policy = sessions.SessionPolicy(idle=workspace.settings.session_idle,
                                    max_age=workspace.settings.session_max_age)
    server.secret_key = session_secret(workspace)
    server.session_interface = _SessionCookies()
    server.config.update(
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_NAME="sybilscope_session",
        PERMANENT_SESSION_LIFETIME=policy.max_age,
    )
    manager = flask_login.LoginManager()
    manager.init_app(server)

    @manager.user_loader
    def _load(token: str) -> User | None:
        con = access.writer("sign in")  # resuming a session may end or touch it
        name = sessions.resume(con, token, policy, _now())
        user = _active_user(con, name) if name is not None else None
        return replace(user, session_id=token) if user is not None else None

    @server.before_request
    def _require_login():
        path = flask.request.path
        if is_public(path) or path.startswith(_TOKEN_FOLDERS) or flask_login.current_user.is_authenticated:
            return None
        if path.startswith("/_dash-") or flask.request.method != "GET":
            return flask.jsonify({"error": "sign in first"}), 401
        return flask.redirect(flask.url_for("login", next=flask.request.full_path.rstrip("?")))

    def _refused(name: str, address: str, reason: str) -> None:
        if on_failed_login is not None:
            on_failed_login(name, address, reason)

    @server.route("/login", methods=["GET", "POST"])
    def login():
        error = None
        status = 200
        username = ""
        target = _safe_next(flask.request.values.get("next"))
        if flask.request.method == "POST":
            con = access.writer("sign in")
            username = flask.request.form.get("username", "")
            address = flask.request.remote_addr or ""
            now = _now()
            wait = throttle.wait(con, username, address, THROTTLE, now)
            if wait:
                _refused(username, address, "throttled")
                error, status = f"Too many failed sign-ins: wait {_duration(wait)} and try again.", 429
            else:
                user = verify_password(con, username, flask.request.form.get("password", ""))
                if user is not None:
                    throttle.forget_user(con, user.name)
                    flask.session.clear()  # nothing from before the sign-in carries over
                    flask_login.login_user(replace(user, session_id=sessions.start(con, user.name, now)))
                    if on_login is not None:
                        on_login(user)
                    return flask.redirect(target)
                throttle.record_failure(con, username, address, THROTTLE, now)
                _refused(username, address, "wrong user name or password")
                error, status = "Wrong user name or password.", 401
        html = flask.render_template_string(
            _LOGIN_PAGE, error=error, next=target, username=username, workspace=workspace.root.name
        )
        return html, status

    @server.route("/logout", methods=["POST"])
    def logout():
        user = flask_login.current_user
        if getattr(user, "session_id", None):
            sessions.end(access.writer("sign out"), user.session_id)
        flask_login.logout_user()
        flask.session.clear()
        return flask.redirect("/login")


def _duration(seconds: int) -> str:
    if seconds < 120:
        return f"{seconds} seconds"
    return f"{math.ceil(seconds / 60)} minutes"
