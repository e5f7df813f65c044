"""The workspace's embedded DuckDB database: one instance a process, a cursor a thread.

DuckDB allows one writing process per database file. Inside that process
many threads may read and write through their own cursors (MVCC), which is
how the web UI reads while a label is written. A second process that finds
the file locked gets :class:`~graph.errors.WorkspaceBusy` naming what to do.

The request event table lives here whatever the graph store is: it is the
columnar source for timelines, synchrony and enumeration statistics. Its
name and columns, like every warehouse table's, are defined in
:mod:`graph.warehouse_schema` (and re-exported here for the readers of events).

A database this process may not write (a read-only folder or file: an
archived case, a colleague's workspace, a read-only mount) is opened
read-only, so it can still be read; every write is then refused by the
store with a sentence saying why (:func:`read_only`).
"""

from __future__ import annotations

import os
import stat
import threading
from contextlib import suppress
from pathlib import Path

import duckdb

from graph.errors import StoreError, WorkspaceBusy
from graph.warehouse_schema import EVENT_COLUMNS, EVENTS_TABLE

__all__ = ["connect", "close_all", "read_only", "unwritable", "EVENTS_TABLE", "EVENT_COLUMNS"]

_LOCK = threading.Lock()
_DATABASES: dict[Path, duckdb.DuckDBPyConnection] = {}
_READ_ONLY: set[Path] = set()


def unwritable(path: Path) -> bool:
    """Whether this process may not write the database at ``path``: the file or its folder refuses.

    DuckDB writes a ``.wal`` file beside the database, so the folder counts
    too. A missing file in a writable folder is writable (it gets created).
    """
    path = Path(path)
    if not os.access(path.parent, os.W_OK):
        return True
    return path.exists() and not os.access(path, os.W_OK)


def read_only(path: Path) -> bool:
    """Whether this process holds the database at ``path`` read-only (opening it if needed)."""
    path = Path(path).resolve()
    with _LOCK:
        if path in _DATABASES:
            return path in _READ_ONLY
    connect(path).close()
    return path in _READ_ONLY


def connect(path: Path) -> duckdb.DuckDBPyConnection:
    """A cursor on the process-wide connection to ``path`` (opened on first use).

    Each caller (and each thread) should use its own cursor; cursors share the
    database instance and see each other's committed writes.
    """
    path = Path(path).resolve()
    with _LOCK:
        conn = _DATABASES.get(path)
        if conn is None:
            refused = unwritable(path)
            if refused and not path.exists():
                raise StoreError(
                    f"the workspace folder {path.parent} cannot be written and holds no database "
                    f"{path.name} yet: choose a workspace you may write to"
                )
            try:
                conn = duckdb.connect(str(path), read_only=refused)
            except duckdb.IOException as exc:
                if "lock" in str(exc).lower():
                    raise WorkspaceBusy(
                        f"the workspace database {path} is in use by another sybilscope process "
                        "(a running `serve` or `ingest`?): stop it or wait for it, then retry"
                    ) from exc
                raise
            # No vacuum at checkpoints. Bulk inserts on several threads leave partly
            # filled row groups, and a checkpoint's vacuum merges them by rewriting the
            # table, at most 100 merges a checkpoint: after ingesting 36M events every
            # later checkpoint (a detection's, on closing) took 12-16 s and 3.7 GB more
            # until the debt was paid. Without it 1.6 s and 70 MB. The cost is a few
            # partly filled row groups and deleted rows' space kept (deletes are rare).
            conn.execute("SET max_vacuum_tasks = 0")
            _DATABASES[path] = conn
            if refused:
                _READ_ONLY.add(path)
            else:
                _make_private(path)
        return conn.cursor()


def _make_private(path: Path) -> None:
    """Owner-only access to the database (users, password hashes, sessions, labels) and its log.

    A file that is not ours to change (a shared, read-only workspace) is left as it is.
    """
    for name in (path, path.with_name(path.name + ".wal")):
        with suppress(OSError):
            if name.exists() and stat.S_IMODE(name.stat().st_mode) & 0o077:
                os.chmod(name, 0o600)


def close_all() -> None:
    """Close every database this process opened (tests and the end of a command)."""
    with _LOCK:
        for conn in _DATABASES.values():
            conn.close()
        _DATABASES.clear()
        _READ_ONLY.clear()
