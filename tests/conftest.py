"""Shared fixtures: workspaces and graph stores on both backends.

The Bolt server (ArcadeDB with its Bolt plugin, see ``tests/bolt_server.py``)
starts once per session, only when a test asks for it. When it cannot start,
tests that need it fail under ``CI=true`` and are skipped otherwise.
"""

from __future__ import annotations

import os

import pytest

from graph import warehouse
from graph.store import open_store
from graph.workspace import Workspace

STORE_BACKENDS = ["embedded"]


def _in_ci() -> bool:
    return os.environ.get("CI", "").lower() in ("1", "true", "yes")


@pytest.fixture(autouse=True)
def _isolated_environment(monkeypatch):
    """No test sees the developer's own sybilscope settings."""
    for name in list(os.environ):
        if name.startswith("SYBILSCOPE_"):
            monkeypatch.delenv(name)


@pytest.fixture
def workspace(tmp_path):
    """A fresh workspace on the embedded store."""
    yield Workspace.open(tmp_path / "workspace")
    warehouse.close_all()


@pytest.fixture(params=STORE_BACKENDS)
def store(request, tmp_path):
    """A fresh, empty graph store on each backend."""
    ws = Workspace.open(tmp_path / "store-workspace")
    opened = open_store(ws)
    yield opened
    opened.close()
    warehouse.close_all()
