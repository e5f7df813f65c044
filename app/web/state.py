"""What one running web app holds: one investigation, and per-run caches.

Dash serves callbacks from several threads. The app's
:class:`~app.investigation.Investigation` is opened for threads: database
reads go through a fresh cursor per call, and a graph store that is not safe
across threads is wrapped so its calls run one at a time (see
:mod:`app.access`). Under ``serve`` the database is held only while a
request runs (:meth:`~app.access.WorkspaceAccess.lease`, taken for every
request by :mod:`app.web.server`), so CLI commands take turns with the UI.
Data that only changes with a new detection run (the members of every
cluster, each cluster's country mix) is computed once per run and cached
here: a new run, saved by a command while the server runs, has a new id.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import duckdb
import flask

from app.access import LockedStore
from app.events import EventReader
from app.investigation import Investigation
from graph.store.base import GraphStore
from graph.workspace import Workspace

__all__ = ["WebState", "current", "data_version"]

_EXTENSION = "sybilscope"


def data_version(store: GraphStore | LockedStore, con: duckdb.DuckDBPyConnection) -> tuple:
    """What data-derived pages depend on: the latest detection run's id and how many request events there are.

    Both change only when a command writes (``detect``, ``ingest``), and
    both are read in a millisecond, so a page can cache what it computed
    from the events under this key and still never show stale data.
    """
    run = store.latest_run()
    events = EventReader(con).one("SELECT count(*) AS requests FROM {events}")
    return (run or {}).get("run_id"), events.get("requests", 0)


class WebState:
    """The app's investigation (its workspace and store) and caches keyed by detection run."""

    def __init__(self, workspace: Workspace, store: GraphStore | None = None):
        self.investigation = Investigation(workspace, store, threaded=True)
        self._cache: dict[tuple, Any] = {}
        self._cache_lock = threading.Lock()

    @property
    def workspace(self) -> Workspace:
        return self.investigation.workspace

    @property
    def store(self) -> GraphStore | LockedStore:
        return self.investigation.store

    def con(self) -> duckdb.DuckDBPyConnection:
        """A fresh cursor on the workspace database for this call (:meth:`Investigation.reader`)."""
        return self.investigation.reader()

    def data_version(self) -> tuple:
        """:func:`data_version` of this app's workspace."""
        return data_version(self.store, self.con())

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
