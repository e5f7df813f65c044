"""What one running web app holds: its workspace, one graph store, and per-run caches.

Dash serves callbacks from several threads. DuckDB reads go through a fresh
cursor per call (:func:`graph.warehouse.connect`), which is thread-safe; the
graph store is one object for the app. The embedded store reads through a
cursor per thread and serialises its own writes, so it is used as is; any
other backend is wrapped in :class:`LockedStore`, which runs its calls one at
a time (a Bolt session must not be shared between threads). Data that only changes with a new detection run (the
members of every cluster, each cluster's country mix) is computed once per
run and cached here.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import duckdb
import flask

from graph import warehouse
from graph.store.base import GraphStore
from graph.workspace import Workspace

__all__ = ["LockedStore", "WebState", "current"]

_EXTENSION = "sybilscope"


class LockedStore:
    """A graph store whose calls run one at a time; iterators are drained under the lock."""

    def __init__(self, store: GraphStore):
        self._store = store
        self._lock = threading.RLock()
        self.backend = store.backend

    @classmethod
    def wrap(cls, store: GraphStore) -> GraphStore | LockedStore:
        """The store itself when it is safe across threads (embedded), else a locked proxy."""
        return store if store.backend == "embedded" else cls(store)

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self._store, name)
        if not callable(attr):
            return attr
        drain = name.startswith("iter_")

        def locked(*args: Any, **kwargs: Any) -> Any:
            with self._lock:
                result = attr(*args, **kwargs)
                return iter(list(result)) if drain else result

        return locked


@dataclass
class WebState:
    """The app's workspace, its (locked) store and caches keyed by detection run."""

    workspace: Workspace
    store: GraphStore | LockedStore
    _cache: dict[tuple, Any] = field(default_factory=dict)
    _cache_lock: threading.Lock = field(default_factory=threading.Lock)

    def con(self) -> duckdb.DuckDBPyConnection:
        """A fresh cursor on the workspace database for this call."""
        return warehouse.connect(self.workspace.db_path)

    def cached(self, key: tuple, compute: Callable[[], Any]) -> Any:
        """The cached value for ``key`` (which should include the run id), computed once."""
        with self._cache_lock:
            if key in self._cache:
                return self._cache[key]
        value = compute()
        with self._cache_lock:
            self._cache.setdefault(key, value)
            if len(self._cache) > 64:  # runs come and go; keep memory bounded
                self._cache.pop(next(iter(self._cache)))
            return self._cache[key]


def current() -> WebState:
    """The state of the app serving the current request."""
    return flask.current_app.extensions[_EXTENSION]


def install(server: flask.Flask, state: WebState) -> None:
    """Attach the state to the Flask server so callbacks can reach it."""
    server.extensions[_EXTENSION] = state
