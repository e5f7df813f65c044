"""Who may use the web UI: users, password hashes and roles, kept in the workspace database.

Three roles, each including the one before: ``viewer`` reads everything,
``analyst`` also labels (status, attribution, tags, comments), ``admin`` also
manages users. Passwords are stored only as werkzeug scrypt hashes. On a
workspace's first ``serve`` the ``admin`` user is created with the password
in ``$SYBILSCOPE_ADMIN_PASSWORD``, else a random one that ``serve`` prints
once (CONTRACT section 5): it is never written anywhere.

The Flask side (:func:`init_login`) puts every page and every Dash callback
behind a login; the login page is a plain HTML form with a real submit
button, because a form without one does not submit on Enter.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import re
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime
from urllib.parse import urlsplit

import duckdb
import flask
import flask_login
from werkzeug.security import check_password_hash, generate_password_hash

from graph import warehouse
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
    "set_role",
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
# paths anyone may fetch: the login form itself and the static files it uses
_PUBLIC_PREFIXES = ("/login", "/assets/", "/_favicon.ico", "/healthz")


@dataclass(frozen=True)
class User(flask_login.UserMixin):
    """A signed-in user as Flask-Login sees it."""

    name: str
    role: str

    def get_id(self) -> str:
        return self.name

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
    """Create the users table when missing (idempotent)."""
    con.execute(
        f"CREATE TABLE IF NOT EXISTS {USERS_TABLE} ("
        "name VARCHAR PRIMARY KEY, password_hash VARCHAR NOT NULL, "
        "role VARCHAR NOT NULL, created_at TIMESTAMPTZ NOT NULL)"
    )


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
        f"INSERT INTO {USERS_TABLE} VALUES (?, ?, ?, ?)",
        [name, generate_password_hash(password, method=_HASH_METHOD), role, datetime.now(UTC)],
    )
    return User(name, role)


def set_password(con: duckdb.DuckDBPyConnection, name: str, password: str) -> None:
    """Replace a user's password (hash); ``KeyError`` for an unknown user."""
    _check_password(password)
    if get_user(con, name) is None:
        raise KeyError(f"no user {name!r}")
    con.execute(
        f"UPDATE {USERS_TABLE} SET password_hash = ? WHERE name = ?",
        [generate_password_hash(password, method=_HASH_METHOD), name],
    )


def set_role(con: duckdb.DuckDBPyConnection, name: str, role: str) -> None:
    """Change a user's role; ``KeyError`` for an unknown user."""
    _check_role(role)
    if get_user(con, name) is None:
        raise KeyError(f"no user {name!r}")
    con.execute(f"UPDATE {USERS_TABLE} SET role = ? WHERE name = ?", [role, name])


def get_user(con: duckdb.DuckDBPyConnection, name: str) -> User | None:
    """The user with this name, or ``None``."""
    ensure_users_table(con)
    rows = con.execute(f"SELECT name, role FROM {USERS_TABLE} WHERE name = ?", [name]).fetchall()
    return User(rows[0][0], rows[0][1]) if rows else None


def list_users(con: duckdb.DuckDBPyConnection) -> list[dict]:
    """Every user's name, role and creation time (never the hash), by name."""
    ensure_users_table(con)
    rows = con.execute(f"SELECT name, role, created_at FROM {USERS_TABLE} ORDER BY name").fetchall()
    return [{"name": n, "role": r, "created_at": c} for n, r, c in rows]


def verify_password(con: duckdb.DuckDBPyConnection, name: str, password: str) -> User | None:
    """The user if the password is right, else ``None`` (same answer for an unknown name)."""
    ensure_users_table(con)
    rows = con.execute(
        f"SELECT name, role, password_hash FROM {USERS_TABLE} WHERE name = ?", [name or ""]
    ).fetchall()
    row = rows[0] if rows else None
    if row is None:
        # spend the same time as a real check so timing does not reveal which names exist
        check_password_hash(_DUMMY_HASH, password or "")
        return None
    if not check_password_hash(row[2], password or ""):
        return None
    return User(row[0], row[1])


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


def init_login(server: flask.Flask, workspace: Workspace, on_login=None) -> None:
    """Put the whole server behind a login and add ``/login`` and ``/logout``.

    ``on_login(user)`` is called after a successful sign-in (the app records
    an audit event there).
    """
    server.secret_key = session_secret(workspace)
    server.config.update(
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_NAME="sybilscope_session",
    )
    manager = flask_login.LoginManager()
    manager.init_app(server)
    db_path = workspace.db_path

    @manager.user_loader
    def _load(name: str) -> User | None:
        return get_user(warehouse.connect(db_path), name)

    @server.before_request
    def _require_login():
        path = flask.request.path
        if path.startswith(_PUBLIC_PREFIXES) or flask_login.current_user.is_authenticated:
            return None
        if path.startswith("/_dash-") or flask.request.method != "GET":
            return flask.jsonify({"error": "sign in first"}), 401
        return flask.redirect(flask.url_for("login", next=flask.request.full_path.rstrip("?")))

    @server.route("/login", methods=["GET", "POST"])
    def login():
        error = None
        username = ""
        target = _safe_next(flask.request.values.get("next"))
        if flask.request.method == "POST":
            username = flask.request.form.get("username", "")
            user = verify_password(
                warehouse.connect(db_path), username, flask.request.form.get("password", "")
            )
            if user is not None:
                flask_login.login_user(user)
                if on_login is not None:
                    on_login(user)
                return flask.redirect(target)
            error = "Wrong user name or password."
        html = flask.render_template_string(
            _LOGIN_PAGE, error=error, next=target, username=username, workspace=workspace.root.name
        )
        return html, (401 if error else 200)

    @server.route("/logout")
    def logout():
        flask_login.logout_user()
        return flask.redirect("/login")
