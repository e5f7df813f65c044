"""``docs/schema.md`` describes every name in ``graph/schema.py`` and ``graph/warehouse_schema.py``, each in its own section."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from graph.schema import NODES, RELATIONSHIPS
from graph.store.neo4j import index_name
from graph.warehouse_schema import TABLES

DOC = Path(__file__).resolve().parent.parent / "docs" / "schema.md"


def sections() -> dict[str, str]:
    """The document's ``### `Name`...`` sections, keyed by the name in the heading."""
    text = DOC.read_text(encoding="utf-8")
    found = {}
    for match in re.finditer(r"^### `([^`]+)`.*?(?=^### |^## |\Z)", text, flags=re.M | re.S):
        found[match.group(1)] = match.group(0)
    return found


@pytest.mark.parametrize("kind", NODES, ids=lambda k: k.label)
def test_every_label_has_a_section_naming_each_property(kind):
    section = sections().get(kind.label)
    assert section is not None, f"docs/schema.md has no section for label {kind.label}"
    for prop in kind.properties:
        assert f"| `{prop.name}`" in section, f"{kind.label}.{prop.name} is not described in docs/schema.md"
    assert kind.constraint_name in section
    assert kind.table in section


@pytest.mark.parametrize("kind", RELATIONSHIPS, ids=lambda k: k.type)
def test_every_relationship_type_has_a_section_naming_each_property(kind):
    section = sections().get(kind.type)
    assert section is not None, f"docs/schema.md has no section for relationship type {kind.type}"
    assert f"({kind.src})-[:{kind.type}]->({kind.dst})" in section
    for prop in kind.properties:
        assert f"| `{prop.name}`" in section, f"{kind.type}.{prop.name} is not described in docs/schema.md"
    assert kind.table in section


def test_every_index_is_listed():
    text = DOC.read_text(encoding="utf-8")
    for kind in NODES:
        for prop in kind.properties:
            if prop.indexed:
                assert index_name(kind, prop.name) in text


@pytest.mark.parametrize("table", TABLES, ids=lambda t: t.name)
def test_every_warehouse_table_has_a_section_naming_each_column_and_its_type(table):
    section = sections().get(table.name)
    assert section is not None, f"docs/schema.md has no section for warehouse table {table.name}"
    rows = {line.split("|")[1].strip(): line for line in section.splitlines() if line.startswith("| `")}
    for column in table.columns:
        row = rows.get(f"`{column.name}`")
        assert row is not None, f"{table.name}.{column.name} is not described in docs/schema.md"
        assert f"| {column.sql} |" in row, f"docs/schema.md gives {table.name}.{column.name} another type"
    assert set(rows) == {f"`{c.name}`" for c in table.columns}, f"docs/schema.md names columns {table.name} lacks"


def test_no_section_describes_a_name_the_schema_lacks():
    known = {k.label for k in NODES} | {r.type for r in RELATIONSHIPS} | {t.name for t in TABLES}
    assert set(sections()) <= known


def test_every_module_the_document_names_exists():
    """Where a table is written and read is named by path: a module that moves must move here too."""
    named = set(re.findall(r"`((?:graph|ingest|app|tests)/[\w/]+\.py)`", DOC.read_text(encoding="utf-8")))
    assert "graph/detect/frames.py" in named
    assert sorted(path for path in named if not (DOC.parent.parent / path).is_file()) == []
