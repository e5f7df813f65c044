"""The audit page's questions: who did what to the case, filtered, and as JSON Lines to take away."""

from __future__ import annotations

import json
from collections.abc import Iterable
from datetime import UTC, datetime

from graph.store.base import GraphStore

__all__ = ["audit_jsonl", "audit_log"]


def audit_log(
    store: GraphStore,
    *,
    user: str | None = None,
    action: str | None = None,
    target: str | None = None,
    limit: int | None = 2000,
) -> list[dict]:
    """Audit events, newest first, filtered by user, action prefix and target substring."""
    events = store.audit_events(limit=None)
    out = []
    for event in events:
        if user and event.get("user") != user:
            continue
        if action and not str(event.get("action", "")).startswith(action):
            continue
        if target and target.lower() not in str(event.get("target", "")).lower():
            continue
        out.append(event)
        if limit is not None and len(out) >= limit:
            break
    return out


def _jsonable(value):
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat().replace("+00:00", "Z")
    return str(value)


def audit_jsonl(events: Iterable[dict]) -> str:
    """Audit events as JSON Lines: one object a line, timestamps in ISO 8601 UTC."""
    return "".join(json.dumps(event, default=_jsonable, sort_keys=True) + "\n" for event in events)
