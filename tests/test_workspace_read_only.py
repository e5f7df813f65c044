"""A workspace nobody may write to can still be read: status, export and briefings work, writes say why not (#13.14).

Making a folder read-only takes different means by who runs the tests:
file modes for an ordinary user, the immutable attribute (``chattr +i``)
for root, whom file modes do not stop. Both make the kernel refuse writes
for real. Where neither is possible the test that needs it is skipped and
says why (under ``CI=true`` it fails instead: a green CI means it ran);
:func:`test_a_workspace_reported_unwritable_opens_read_only` still runs the
read-only path (a real read-only DuckDB open) everywhere.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest
from conftest import in_ci
from hostilecase import build_hostile
from ingestcase import run_cli

from app.brief import brief
from app.export import export
from graph import triage, warehouse
from graph.errors import StoreError
from graph.store import open_store
from graph.workspace import Workspace


def _refuses_writes(folder: Path) -> bool:
    try:
        (folder / ".probe").touch()
    except OSError:
        return True
    (folder / ".probe").unlink()
    return False


def _cannot(reason: str) -> None:
    """Skip where a folder cannot be made read-only for real; under ``CI=true`` that is a failure."""
    if in_ci():
        pytest.fail(f"{reason} (CI=true: this is a failure, not a skip)", pytrace=False)
    pytest.skip(reason)


@contextlib.contextmanager
def frozen(folder: Path):
    """Make ``folder`` and everything in it unwritable for this process, for real; undo on exit."""
    paths = [folder, *folder.rglob("*")]
    if os.geteuid() != 0:
        modes = {p: p.stat().st_mode for p in paths}
        for path in paths:
            path.chmod(modes[path] & ~0o222)
        undo = lambda: [p.chmod(m) for p, m in modes.items()]  # noqa: E731
    else:
        chattr = shutil.which("chattr")
        if chattr is None or subprocess.run([chattr, "-R", "+i", str(folder)], capture_output=True).returncode:
            _cannot("running as root, where file modes do not stop writes, and `chattr +i` is not available "
                    "here (e2fsprogs missing or the filesystem has no immutable attribute)")
        undo = lambda: subprocess.run([chattr, "-R", "-i", str(folder)], check=True)  # noqa: E731
    try:
        if not _refuses_writes(folder):
            _cannot(f"{folder} still takes writes after being made read-only on this machine")
        yield folder
    finally:
        undo()


@pytest.fixture
def hostile(tmp_path):
    return build_hostile(tmp_path / "workspace")


def _audit_count(root: Path) -> int:
    store = open_store(Workspace.open(root))
    try:
        return len(store.audit_events())
    finally:
        store.close()
        warehouse.close_all()


def test_status_export_and_brief_read_a_read_only_workspace(hostile, tmp_path):
    before = _audit_count(hostile.root)
    with frozen(hostile.root):
        code, out, err = run_cli("--workspace", str(hostile.root), "status", "--json")
        assert code == 0, err
        report = json.loads(out)
        assert report["read_only"] is True and report["latest_run"] == "run-hostile"
        assert report["counts"]["Account"] >= 3
        assert "read-only" in err  # said once, on stderr

        code, out, err = run_cli("--workspace", str(hostile.root), "export", "--format", "csv",
                                 "--out", str(tmp_path / "out"))
        assert code == 0, err
        assert "read-only" in err + out
        manifest = json.loads((tmp_path / "out" / "manifest.json").read_text(encoding="utf-8"))
        assert manifest["counts"]["members"] == 5 and manifest["audit"].startswith("not recorded")

        code, _, err = run_cli("--workspace", str(hostile.root), "brief", hostile.cluster,
                               "--out", str(tmp_path / "b.md"))
        assert code == 0, err
        assert hostile.cluster in (tmp_path / "b.md").read_text(encoding="utf-8")

        for command in (["detect"], ["ingest", str(hostile.root.parent / "hostile-case")]):
            code, _, err = run_cli("--workspace", str(hostile.root), *command)
            assert code == 2 and "read-only" in err and "Traceback" not in err, (command, err)
    assert _audit_count(hostile.root) == before  # nothing could be recorded, nothing half-written


def test_a_workspace_reported_unwritable_opens_read_only(hostile, tmp_path, monkeypatch):
    """The decision and the real read-only open, wherever the tests run (even as root)."""
    database = str(hostile.workspace().db_path)
    real_access = os.access
    monkeypatch.setattr(os, "access", lambda path, mode, **kw: False if mode & os.W_OK and str(path).startswith(
        str(hostile.root)) else real_access(path, mode, **kw))
    workspace = Workspace.open(hostile.root)
    assert workspace.read_only
    store = open_store(workspace)
    try:
        assert store.read_only
        assert warehouse.connect(Path(database)).execute("SELECT current_setting('access_mode')").fetchone()[0] == "read_only"
        assert store.latest_run()["run_id"] == "run-hostile"
        result = export(workspace, store, "jsonl", tmp_path / "out", user="tester")
        assert result.manifest["audit"].startswith("not recorded")
        brief(workspace, store, [hostile.cluster], tmp_path / "b.html", user="tester")
        with pytest.raises(StoreError, match="read-only"):
            triage.add_comment(store, "cluster", hostile.cluster, "noted", "alice")
    finally:
        store.close()
        warehouse.close_all()
