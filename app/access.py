"""Who opens an investigation's database and graph store, how, and who may write.

The workspace database (DuckDB) allows one writing process; inside it every
caller and every thread reads and writes through a cursor of its own
(:func:`graph.warehouse.connect`). :class:`WorkspaceAccess` is the one place
in ``app`` that hands those cursors out: :meth:`~WorkspaceAccess.reader` for
a read, :meth:`~WorkspaceAccess.writer` for a change, which a workspace this
process may not write refuses up front with a sentence saying what to do.
Work on concurrent readers (a read path apart from the writer's) belongs
here, so no other module in ``app`` calls :func:`graph.warehouse.connect`.

Processes take turns on the file (:mod:`graph.warehouse`): a CLI command
opens it on first use, waiting while another process holds it, and keeps it
to its end, so what it writes appears to the others all at once. The web
server (:meth:`WorkspaceAccess.share`) holds it only for the length of each
request (:meth:`WorkspaceAccess.lease`), so ``ingest``, ``detect``,
``export`` and ``brief`` run beside a UI that stays open all day: each
waits at most for the requests in flight, and the UI's requests wait, in
turn, while a command runs.

The graph store is opened on first use. A store used from several threads
(the web UI) is wrapped in :class:`LockedStore` unless it is the embedded
one, which reads through a cursor per thread and serialises its own writes.
:class:`app.investigation.Investigation` builds its operations on this.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any

import duckdb

from app.events import read_lake
from graph import warehouse
from graph.errors import StoreError
from graph.store import GraphStore, open_store
from graph.workspace import Workspace

__all__ = ["LockedStore", "Reader", "WorkspaceAccess"]

#: what a function that reads the database is handed: :meth:`WorkspaceAccess.reader`
Reader = Callable[[], duckdb.DuckDBPyConnection]


class LockedStore:
    """A graph store whose calls run one at a time; iterators are drained under the lock.

    A Bolt session must not be shared between threads.
    """

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


class WorkspaceAccess:
    """One workspace, its graph store (opened on demand) and its database cursors.

    Parameters
    ----------
    workspace : Workspace
    store : GraphStore, optional
        A store already open (its opener closes it); else the workspace's
        own is opened on first use and closed by :meth:`close`.
    threaded : bool
        The store serves several threads (the web UI): a backend that is
        not safe across threads is wrapped in :class:`LockedStore`.
    """

    def __init__(self, workspace: Workspace, store: GraphStore | None = None, *, threaded: bool = False):
        self.workspace = workspace
        self._threaded = threaded
        self._opened: GraphStore | None = None
        self._store = self._shared(store) if store is not None else None
        self._opening = threading.Lock()

    def _shared(self, store: GraphStore) -> GraphStore | LockedStore:
        return LockedStore.wrap(store) if self._threaded else store

    @property
    def store(self) -> GraphStore | LockedStore:
        """The graph store, opened (schema ensured) on first use."""
        with self._opening:
            if self._store is None:
                self._opened = open_store(self.workspace)
                self._store = self._shared(self._opened)
            return self._store

    def require_writable(self, action: str) -> None:
        """Refuse ``action`` up front, with what to do, when the workspace is read-only here."""
        if self.workspace.read_only:
            raise StoreError(
                f"cannot {action}: workspace {self.workspace.root} is read-only here (its folder or database "
                "cannot be written): use a copy you may write to, or ask its owner"
            )

    def reader(self) -> duckdb.DuckDBPyConnection:
        """A fresh cursor on the workspace database for this call (one per call, so any thread may read).

        On a ``spark`` workspace it reads the events in the lake (:func:`app.events.read_lake`).
        """
        cursor = warehouse.connect(self.workspace.db_path)
        settings = self.workspace.settings
        if settings.engine == "spark" and settings.events_dir:
            return read_lake(cursor, Path(settings.events_dir))
        return cursor

    def writer(self, action: str) -> duckdb.DuckDBPyConnection:
        """A fresh cursor to change the database with, after refusing ``action`` on a read-only workspace."""
        self.require_writable(action)
        return warehouse.connect(self.workspace.db_path)

    def share(self) -> None:
        """Hold the workspace database only during :meth:`lease` from now on (a serving process)."""
        warehouse.share(self.workspace.db_path)

    def lease(self) -> AbstractContextManager[None]:
        """Keep the workspace database open for the block (one web request), taking turns with other processes."""
        return warehouse.lease(self.workspace.db_path)

    def close(self) -> None:
        """Close the store this object opened (a store handed in stays open) and the database."""
        if self._opened is not None:
            self._opened.close()
            self._opened = self._store = None
        warehouse.close_all()
