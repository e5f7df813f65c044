"""Web UI sessions kept server-side, so that ending one really ends it.

A signed cookie alone cannot be revoked: a copy taken before logout would
still work. Here the cookie carries only a random token; the workspace
database keeps its SHA-256 (never the token itself) with the user, when the
session started and when it was last used. Every request looks the token up,
so logout, a password change, a role change and disabling a user (which all
delete the user's rows) take effect on the very next request, and a session
ends after ``idle`` without a request or ``max_age`` after sign-in
(configured in :class:`graph.workspace.Settings`).
"""

from __future__ import annotations

import hashlib
import secrets
from contextlib import suppress
from dataclasses import dataclass
from datetime import datetime, timedelta

import duckdb

__all__ = ["SessionPolicy", "ensure_sessions_table", "start", "resume", "end", "end_all"]

SESSIONS_TABLE = "web_sessions"
# last_seen is written at most this often: a page fires a dozen callbacks at once
_TOUCH_EVERY = timedelta(minutes=1)


@dataclass(frozen=True)
class SessionPolicy:
    """How long a session may sit unused (``idle``) and last in all (``max_age``)."""

    idle: timedelta
    max_age: timedelta


def ensure_sessions_table(con: duckdb.DuckDBPyConnection) -> None:
    """Create the sessions table when missing (idempotent)."""
    con.execute(
        f"CREATE TABLE IF NOT EXISTS {SESSIONS_TABLE} ("
        "token_hash VARCHAR PRIMARY KEY, name VARCHAR NOT NULL, "
        "started_at TIMESTAMPTZ NOT NULL, last_seen TIMESTAMPTZ NOT NULL)"
    )


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def start(con: duckdb.DuckDBPyConnection, name: str, now: datetime) -> str:
    """Open a session for user ``name``; returns the token for the cookie (shown nowhere else)."""
    ensure_sessions_table(con)
    token = secrets.token_urlsafe(32)
    con.execute(f"INSERT INTO {SESSIONS_TABLE} VALUES (?, ?, ?, ?)", [_digest(token), name, now, now])
    return token


def resume(con: duckdb.DuckDBPyConnection, token: str, policy: SessionPolicy, now: datetime) -> str | None:
    """The user name of a live session, or ``None`` (unknown, ended or expired: then it is deleted)."""
    if not token:
        return None
    ensure_sessions_table(con)
    digest = _digest(token)
    rows = con.execute(
        f"SELECT name, started_at, last_seen FROM {SESSIONS_TABLE} WHERE token_hash = ?", [digest]
    ).fetchall()
    if not rows:
        return None
    name, started_at, last_seen = rows[0]
    if now - last_seen > policy.idle or now - started_at > policy.max_age:
        _quietly(con, f"DELETE FROM {SESSIONS_TABLE} WHERE token_hash = ?", [digest])
        return None
    if now - last_seen > _TOUCH_EVERY:
        _quietly(con, f"UPDATE {SESSIONS_TABLE} SET last_seen = ? WHERE token_hash = ?", [now, digest])
    return name


def _quietly(con: duckdb.DuckDBPyConnection, sql: str, params: list) -> None:
    """Bookkeeping that may lose a race with another request (or a full disk) without harm."""
    with suppress(duckdb.Error):
        con.execute(sql, params)


def end(con: duckdb.DuckDBPyConnection, token: str) -> None:
    """End one session (logout)."""
    ensure_sessions_table(con)
    con.execute(f"DELETE FROM {SESSIONS_TABLE} WHERE token_hash = ?", [_digest(token or "")])


def end_all(con: duckdb.DuckDBPyConnection, name: str) -> None:
    """End every session of user ``name`` (password or role changed, user disabled)."""
    ensure_sessions_table(con)
    con.execute(f"DELETE FROM {SESSIONS_TABLE} WHERE name = ?", [name])
