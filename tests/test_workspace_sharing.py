"""Processes taking turns on one workspace database (issue #15, item 8): waiting, giving up, sharing.

Real DuckDB files and real second processes: the lock DuckDB takes is per
process, so only another process can show it.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
import time

import duckdb
import pytest

from graph import warehouse
from graph.errors import WorkspaceBusy


def _child(code: str, *args: str) -> subprocess.Popen:
    """A Python process running ``code``; it prints ``ready`` once it holds what it takes."""
    child = subprocess.Popen([sys.executable, "-c", textwrap.dedent(code), *args], stdout=subprocess.PIPE, text=True)
    return child


def _hold(path, seconds: float) -> subprocess.Popen:
    """Another process holding ``path`` for writing for ``seconds``."""
    child = _child("""
        import sys, time, duckdb
        con = duckdb.connect(sys.argv[1])
        con.execute("CREATE TABLE IF NOT EXISTS t (who VARCHAR)")
        print("ready", flush=True)
        time.sleep(float(sys.argv[2]))
        con.execute("INSERT INTO t VALUES ('holder')")
        con.close()
    """, str(path), str(seconds))
    assert child.stdout.readline().strip() == "ready"
    return child


@pytest.fixture
def database(tmp_path):
    path = tmp_path / "sybilscope.duckdb"
    yield path
    warehouse.close_all()


def test_a_process_waits_for_another_to_let_go_and_then_sees_its_writes(database):
    holder = _hold(database, 1.5)
    started = time.monotonic()
    cursor = warehouse.connect(database)
    assert time.monotonic() - started > 0.8
    assert cursor.execute("SELECT who FROM t").fetchall() == [("holder",)]
    assert holder.wait(10) == 0
    assert not list(database.parent.glob("*.waiting-*"))  # its note is gone


def test_a_process_gives_up_after_the_wait_naming_who_holds_the_file(database, monkeypatch):
    monkeypatch.setenv(warehouse.LOCK_WAIT_ENV, "0.5")
    holder = _hold(database, 5)
    try:
        with pytest.raises(WorkspaceBusy) as refused:
            warehouse.connect(database)
        message = str(refused.value)
        assert f"(process {holder.pid})" in message and "for over 0.5 s" in message
        assert warehouse.LOCK_WAIT_ENV in message and "wait for it to finish" in message
    finally:
        holder.kill()
        holder.wait()


def _open_elsewhere(path) -> bool:
    """Whether another process can open ``path`` for writing right now."""
    done = subprocess.run([sys.executable, "-c", "import duckdb, sys; duckdb.connect(sys.argv[1]).close()",
                           str(path)], capture_output=True, text=True)
    return done.returncode == 0


def test_a_sharing_process_holds_the_file_only_during_leases(database):
    warehouse.connect(database).execute("CREATE TABLE t (who VARCHAR)")
    assert not _open_elsewhere(database)  # a command holds it to its end
    warehouse.share(database)
    with warehouse.lease(database):
        with warehouse.lease(database):  # a lease inside a lease
            warehouse.connect(database).execute("INSERT INTO t VALUES ('server')")
        assert not _open_elsewhere(database)
    time.sleep(warehouse.LINGER + 0.3)
    assert _open_elsewhere(database)


def test_a_waiting_process_gets_its_turn_before_the_next_lease(database):
    warehouse.connect(database).execute("CREATE TABLE t (who VARCHAR)")
    warehouse.share(database)
    with warehouse.lease(database):
        writer = _child("""
            import sys, time
            from graph import warehouse
            print("ready", flush=True)
            cursor = warehouse.connect(sys.argv[1])  # waits: the lease below holds the file
            cursor.execute("INSERT INTO t VALUES ('command')")
            time.sleep(0.5)
            warehouse.close_all()
        """, str(database))
        assert writer.stdout.readline().strip() == "ready"
        deadline = time.monotonic() + 10
        while not list(database.parent.glob("*.waiting-*")) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert list(database.parent.glob("*.waiting-*")), "the command left no note that it waits"
    with warehouse.lease(database):  # lets the command go first, then sees what it wrote
        rows = warehouse.connect(database).execute("SELECT who FROM t").fetchall()
    assert rows == [("command",)]
    assert writer.wait(10) == 0


def test_a_cursor_of_a_closed_database_says_so(database):
    cursor = warehouse.connect(database)
    warehouse.close_all()
    with pytest.raises(duckdb.ConnectionException):
        cursor.execute("SELECT 1")
