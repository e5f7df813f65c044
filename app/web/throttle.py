"""Slowing down password guessing: per user name and per client address.

Each failed sign-in is kept (user name, address, time) in the workspace
database, so a restart does not reset the count. After ``free`` failures
within ``window`` on one name or from one address, the next attempt must
wait ``base_delay`` doubled for every further failure; after ``lockout_after``
failures the name or address is locked out for ``lockout``. An attempt made
while waiting is refused without looking at the password and does not count,
so a guesser gains nothing by hammering and cannot extend a lockout forever.
Counting by address as well as by name stops one address trying one password
on many names.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta

import duckdb

__all__ = ["ThrottlePolicy", "ensure_failures_table", "wait", "record_failure", "forget_user"]

FAILURES_TABLE = "login_failures"


@dataclass(frozen=True)
class ThrottlePolicy:
    """When failed sign-ins start to cost time, and when they lock out."""

    free: int = 3
    base_delay: timedelta = timedelta(seconds=1)
    lockout_after: int = 10
    lockout: timedelta = timedelta(minutes=15)
    window: timedelta = timedelta(minutes=15)

    def delay(self, failures: int) -> timedelta:
        """How long after the last of ``failures`` recent failures the next attempt must wait."""
        if failures >= self.lockout_after:
            return self.lockout
        if failures < self.free:
            return timedelta(0)
        return self.base_delay * (2 ** (failures - self.free))


def ensure_failures_table(con: duckdb.DuckDBPyConnection) -> None:
    """Create the failed sign-in table when missing (idempotent)."""
    con.execute(
        f"CREATE TABLE IF NOT EXISTS {FAILURES_TABLE} ("
        "scope VARCHAR NOT NULL, key VARCHAR NOT NULL, failed_at TIMESTAMPTZ NOT NULL)"
    )


def _keys(name: str, address: str) -> list[tuple[str, str]]:
    return [("user", (name or "").lower()), ("address", address or "")]


def wait(con: duckdb.DuckDBPyConnection, name: str, address: str, policy: ThrottlePolicy,
         now: datetime) -> int:
    """Whole seconds before ``name`` may try again from ``address`` (0: now)."""
    ensure_failures_table(con)
    longest = timedelta(0)
    for scope, key in _keys(name, address):
        failures, last = con.execute(
            f"SELECT count(*), max(failed_at) FROM {FAILURES_TABLE} WHERE scope = ? AND key = ? AND failed_at > ?",
            [scope, key, now - max(policy.window, policy.lockout)],
        ).fetchall()[0]
        if failures:
            longest = max(longest, last + policy.delay(failures) - now)
    return math.ceil(longest.total_seconds()) if longest > timedelta(0) else 0


def record_failure(con: duckdb.DuckDBPyConnection, name: str, address: str, policy: ThrottlePolicy,
                   now: datetime) -> None:
    """Count one failed sign-in against the name and the address; forget what is too old to count."""
    ensure_failures_table(con)
    con.execute(f"DELETE FROM {FAILURES_TABLE} WHERE failed_at <= ?", [now - max(policy.window, policy.lockout)])
    con.executemany(f"INSERT INTO {FAILURES_TABLE} VALUES (?, ?, ?)",
                    [[scope, key, now] for scope, key in _keys(name, address)])


def forget_user(con: duckdb.DuckDBPyConnection, name: str) -> None:
    """A successful sign-in clears the name's count (never the address's: one valid account
    must not reset a guesser's address)."""
    ensure_failures_table(con)
    con.execute(f"DELETE FROM {FAILURES_TABLE} WHERE scope = 'user' AND key = ?", [(name or "").lower()])
