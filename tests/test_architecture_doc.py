"""docs/architecture.md names modules by path and classes by name: when they move, the page must move too."""

from __future__ import annotations

import importlib
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DOC = ROOT / "docs" / "architecture.md"


def test_every_path_the_page_names_exists():
    text = DOC.read_text(encoding="utf-8")
    named = set(re.findall(r"`((?:graph|ingest|app|tests|docs)/[\w/.]+)`", text))
    assert {"graph/detect/networks.py", "app/investigation.py", "ingest/pipeline.py"} <= named
    assert sorted(path for path in named if not (ROOT / path).exists()) == []


def test_the_objects_it_describes_are_where_it_says():
    for module, name in [("app.investigation", "Investigation"), ("graph.detect.frames", "Events"),
                         ("graph.detect.judging", "Judge"), ("graph.store.base", "GraphStore"),
                         ("graph.detect.networks", "find_networks"), ("app.context", "CliContext"),
                         ("app.web.state", "WebState"), ("ingest.validate", "SPECS")]:
        assert hasattr(importlib.import_module(module), name), f"{module}.{name}"
    for method in ("ingest", "detect", "queue", "cluster", "label", "export", "brief"):
        assert callable(getattr(importlib.import_module("app.investigation").Investigation, method, None)), method
