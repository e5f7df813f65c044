"""The workspace's embedded DuckDB database: one instance a process, a cursor a thread.

DuckDB allows one writing process per database file. Inside that process
many threads may read and write through their own cursors (MVCC), which is
how the web UI reads while a label is written.

Several processes share a workspace by taking turns (the web server and the
CLI beside it: ``ingest``, ``detect``, ``export``, ``brief``, ...):

* a process that finds the file locked waits for it, retrying with a
  growing pause (:func:`connect`), and leaves a note (``<db>.waiting-<pid>``)
  while it waits; only after ``$SYBILSCOPE_LOCK_WAIT`` seconds (default
  :data:`DEFAULT_LOCK_WAIT`) does it give up with
  :class:`~graph.errors.WorkspaceBusy`, naming the process that holds the
  file and for how long it waited;
* a long-lived process (``serve``) calls :func:`share`: from then on it holds
  the file only while a :func:`lease` is open (one a web request) and lets
  go of it :data:`LINGER` seconds after the last one ends, at once when
  another process is waiting. New leases wait while another process waits,
  so a busy browser cannot starve a command.

A CLI command holds the file from its first read to its end, so its
changes (a whole ingest batch, a whole detection run) appear to the others
at once, never half done.

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
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

import duckdb

from graph.errors import StoreError, WorkspaceBusy
from graph.warehouse_schema import EVENT_COLUMNS, EVENTS_TABLE

__all__ = ["connect", "close_all", "lease", "share", "read_only", "unwritable", "lock_wait", "EVENTS_TABLE",
           "EVENT_COLUMNS", "DEFAULT_LOCK_WAIT", "LOCK_WAIT_ENV"]

#: seconds a process waits for another to let go of the workspace database before giving up
DEFAULT_LOCK_WAIT = 120.0
LOCK_WAIT_ENV = "SYBILSCOPE_LOCK_WAIT"
#: seconds a sharing process keeps the file after its last lease, for the next request of the same page
LINGER = 0.3
_FIRST_PAUSE, _LONGEST_PAUSE = 0.02, 0.5

_LOCK = threading.Lock()
_DATABASES: dict[Path, duckdb.DuckDBPyConnection] = {}
_READ_ONLY: set[Path] = set()
_SHARED: set[Path] = set()
_LEASES: dict[Path, int] = {}
_RELEASES: dict[Path, threading.Timer] = {}
_THREAD = threading.local()


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


def lock_wait() -> float:
    """Seconds to wait for another process to let go of a database: ``$SYBILSCOPE_LOCK_WAIT`` or the default."""
    try:
        return max(0.0, float(os.environ.get(LOCK_WAIT_ENV) or DEFAULT_LOCK_WAIT))
    except ValueError:
        return DEFAULT_LOCK_WAIT


def connect(path: Path) -> duckdb.DuckDBPyConnection:
    """A cursor on the process-wide connection to ``path`` (opened on first use, waiting for its lock).

    Each caller (and each thread) should use its own cursor; cursors share the
    database instance and see each other's committed writes. In a sharing
    process (:func:`share`) a cursor taken outside a :func:`lease` is good for
    :data:`LINGER` seconds only.
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
            conn = _open_waiting(path, refused)
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
        if path in _SHARED and not _LEASES.get(path):
            _release_later(path)
        return conn.cursor()


def _open_waiting(path: Path, read_only: bool) -> duckdb.DuckDBPyConnection:
    """Open ``path``, waiting (with a note saying so) while another process holds its lock."""
    deadline = time.monotonic() + lock_wait()
    pause = _FIRST_PAUSE
    note = _waiting_note(path, os.getpid())
    try:
        while True:
            try:
                return duckdb.connect(str(path), read_only=read_only)
            except duckdb.IOException as exc:
                if "lock" not in str(exc).lower():
                    raise
                if time.monotonic() >= deadline:
                    raise WorkspaceBusy(
                        f"the workspace database {path} is in use by {_holder(str(exc))}, which kept it for "
                        f"over {lock_wait():g} s: wait for it to finish (or stop it), then retry; "
                        f"${LOCK_WAIT_ENV} sets how many seconds to wait"
                    ) from exc
                with suppress(OSError):
                    note.touch()
                time.sleep(pause)
                pause = min(pause * 1.5, _LONGEST_PAUSE)
    finally:
        with suppress(OSError):
            note.unlink()


def _waiting_note(path: Path, pid: int) -> Path:
    return path.with_name(f"{path.name}.waiting-{pid}")


def _holder(message: str) -> str:
    """Who holds the lock, from DuckDB's message ("... is held in /usr/bin/python3 (PID 123)")."""
    pid = message.rsplit("(PID ", 1)[-1].split(")", 1)[0]
    if not pid.isdigit():
        return "another process"
    try:
        argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return f"process {pid}"
    words = [Path(a.decode(errors="replace")).name if i < 2 else a.decode(errors="replace")
             for i, a in enumerate(argv[:8]) if a]
    command = " ".join(w for w in words if not w.startswith("python"))
    return f"`{command}` (process {pid})" if command else f"process {pid}"


def _others_waiting(path: Path) -> bool:
    """Whether another live process waits for ``path`` (its note is there)."""
    for note in path.parent.glob(f"{path.name}.waiting-*"):
        pid = note.name.rsplit("-", 1)[-1]
        if pid.isdigit() and int(pid) != os.getpid():
            try:
                os.kill(int(pid), 0)
            except ProcessLookupError:
                continue
            except OSError:
                pass
            return True
    return False


def share(path: Path) -> None:
    """From now on, hold ``path`` only during leases (see the module docstring): a serving process calls this."""
    path = Path(path).resolve()
    with _LOCK:
        _SHARED.add(path)
        if not _LEASES.get(path):
            _release_later(path, 0)


@contextmanager
def lease(path: Path) -> Iterator[None]:
    """Keep ``path`` open while the block runs (in a sharing process; elsewhere it is simply opened).

    A new lease waits while another process waits for the file, so that the
    file is let go of between leases and that process gets its turn.
    """
    path = Path(path).resolve()
    deadline = time.monotonic() + lock_wait()
    held = getattr(_THREAD, "leases", 0)  # a lease inside a lease must not wait for the outer one to end
    while not held and path in _SHARED and time.monotonic() < deadline and _others_waiting(path):
        time.sleep(_FIRST_PAUSE)
    _THREAD.leases = held + 1
    with _LOCK:
        _LEASES[path] = _LEASES.get(path, 0) + 1
        timer = _RELEASES.pop(path, None)
        if timer is not None:
            timer.cancel()
    try:
        connect(path).close()
        yield
    finally:
        _THREAD.leases = held
        with _LOCK:
            _LEASES[path] -= 1
            if path in _SHARED and not _LEASES[path]:
                _release_later(path, 0 if _others_waiting(path) else LINGER)


def _release_later(path: Path, delay: float = LINGER) -> None:
    """Close ``path`` after ``delay`` unless a lease starts meanwhile (call with ``_LOCK`` held)."""
    previous = _RELEASES.pop(path, None)
    if previous is not None:
        previous.cancel()
    timer = threading.Timer(delay, _release_if_idle, args=(path,))
    timer.daemon = True
    _RELEASES[path] = timer
    timer.start()


def _release_if_idle(path: Path) -> None:
    with _LOCK:
        if _RELEASES.get(path) is not threading.current_thread():
            return
        del _RELEASES[path]
        if _LEASES.get(path):
            return
        conn = _DATABASES.pop(path, None)
        _READ_ONLY.discard(path)
        if conn is not None:
            with suppress(duckdb.Error):
                conn.close()


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
        for timer in _RELEASES.values():
            timer.cancel()
        for conn in _DATABASES.values():
            conn.close()
        _DATABASES.clear()
        _READ_ONLY.clear()
        _SHARED.clear()
        _LEASES.clear()
        _RELEASES.clear()
