"""API tokens: what a script shows the JSON API instead of a password.

An admin creates a token for a user (``sybilscope users token create
NAME``); it is printed once and acts as that user, with that user's role,
until it is revoked or the user is disabled. The workspace keeps only its
SHA-256, like the web sessions (:mod:`app.web.sessions`): a token is 256
random bits, so a fast hash is as safe as the slow one passwords need
(passwords are guessable, tokens are not) and checking it costs nothing per
request. Each token has a short public id (``ssk_<id>_...``) to list and
revoke it by. Revoking keeps the row, with when and by whom, so the audit
log's token ids stay explained.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import UTC, datetime

import duckdb

from app.web.auth import USERS_TABLE, User, ensure_users_table

__all__ = ["TOKENS_TABLE", "PREFIX", "ensure_tokens_table", "create", "revoke", "verify", "list_tokens"]

TOKENS_TABLE = "api_tokens"
PREFIX = "ssk_"


def ensure_tokens_table(con: duckdb.DuckDBPyConnection) -> None:
    """Create the tokens table (and the users table it refers to) when missing (idempotent)."""
    ensure_users_table(con)
    con.execute(
        f"CREATE TABLE IF NOT EXISTS {TOKENS_TABLE} ("
        "token_id VARCHAR PRIMARY KEY, token_hash VARCHAR NOT NULL UNIQUE, name VARCHAR NOT NULL, "
        "created_at TIMESTAMPTZ NOT NULL, created_by VARCHAR NOT NULL, "
        "revoked_at TIMESTAMPTZ, revoked_by VARCHAR)"
    )


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def create(con: duckdb.DuckDBPyConnection, name: str, created_by: str) -> tuple[str, str]:
    """A new token for user ``name``: ``(token_id, token)``; the token is shown nowhere else.

    Raises
    ------
    KeyError
        When there is no user ``name``.
    """
    ensure_tokens_table(con)
    if not con.execute(f"SELECT 1 FROM {USERS_TABLE} WHERE name = ?", [name]).fetchall():
        raise KeyError(name)
    token_id = secrets.token_hex(4)
    token = f"{PREFIX}{token_id}_{secrets.token_urlsafe(32)}"
    con.execute(f"INSERT INTO {TOKENS_TABLE} VALUES (?, ?, ?, ?, ?, NULL, NULL)",
                [token_id, _digest(token), name, datetime.now(UTC), created_by])
    return token_id, token


def revoke(con: duckdb.DuckDBPyConnection, token_id: str, revoked_by: str) -> str:
    """Revoke the token ``token_id``; returns the name of the user it acted as.

    Raises
    ------
    KeyError
        When no live token has this id (unknown, or revoked already).
    """
    ensure_tokens_table(con)
    rows = con.execute(f"SELECT name FROM {TOKENS_TABLE} WHERE token_id = ? AND revoked_at IS NULL",
                       [token_id]).fetchall()
    if not rows:
        raise KeyError(token_id)
    con.execute(f"UPDATE {TOKENS_TABLE} SET revoked_at = ?, revoked_by = ? WHERE token_id = ?",
                [datetime.now(UTC), revoked_by, token_id])
    return rows[0][0]


def verify(con: duckdb.DuckDBPyConnection, token: str) -> User | None:
    """The user a live token acts as (enabled, with their current role), or ``None``."""
    if not token.startswith(PREFIX):
        return None
    ensure_tokens_table(con)
    rows = con.execute(
        f"SELECT u.name, u.role FROM {TOKENS_TABLE} t JOIN {USERS_TABLE} u ON u.name = t.name "
        "WHERE t.token_hash = ? AND t.revoked_at IS NULL AND NOT coalesce(u.disabled, false)",
        [_digest(token)],
    ).fetchall()
    return User(*rows[0]) if rows else None


def list_tokens(con: duckdb.DuckDBPyConnection) -> list[dict]:
    """Every token's id, user, creation and revocation (never the token or its hash), oldest first."""
    if not con.execute("SELECT 1 FROM information_schema.tables WHERE table_name = ?", [TOKENS_TABLE]).fetchall():
        return []  # none made yet (and a read-only workspace must not be changed to say so)
    rows = con.execute(
        f"SELECT token_id, name, created_at, created_by, revoked_at, revoked_by FROM {TOKENS_TABLE} "
        "ORDER BY created_at, token_id"
    ).fetchall()
    keys = ("token_id", "name", "created_at", "created_by", "revoked_at", "revoked_by")
    return [dict(zip(keys, row, strict=True)) for row in rows]
