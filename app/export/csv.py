"""CSV: one UTF-8 file a table with a header row, the CONTRACT section 5 layout.

``clusters.csv`` and ``members.csv`` hold the contract's columns in its
order (``members.csv`` then adds ``sub_group``, after them, so readers of
the contract's columns are unaffected); the other tables sit beside them. Empty cells are missing values,
timestamps are ISO 8601 UTC with a ``Z``, booleans ``true``/``false``, and
nested values (lists, JSON) are JSON text.

Every cell a spreadsheet would run as a formula gets a leading ``'``
(:mod:`app.export.formulas`); the manifest's ``value_encoding`` says so and
counts the cells of each table that got one.
"""

from __future__ import annotations

import csv
import json
from datetime import datetime
from pathlib import Path

from app.export.files import replacing
from app.export.formulas import PREFIX, TRIGGERS, neutralize
from app.export.tables import TABLES, Column, ExportContent

__all__ = ["write", "cell", "iso_z"]

SUFFIX = ".csv"


def iso_z(moment: datetime) -> str:
    """ISO 8601 in UTC with a ``Z``, the form the contract's inputs use."""
    return moment.isoformat().replace("+00:00", "Z")


def cell(column: Column, value: object) -> str:
    """One value as CSV text in this module's convention."""
    if value is None:
        return ""
    if column.type == "timestamp" and isinstance(value, datetime):
        return iso_z(value)
    if column.type == "bool":
        return "true" if value else "false"
    if column.type in ("json", "list"):
        return json.dumps(value, sort_keys=True, ensure_ascii=False, default=str)
    if column.type == "float":
        return repr(float(value))
    return str(value)


def write(content: ExportContent, out_dir: Path) -> list[Path]:
    """Write every table to ``OUT_DIR/<table>.csv``; returns the files written.

    Records the formula rule and how many cells of each table it changed in
    ``content.value_encoding["csv_formulas"]``, for the manifest.
    """
    written = []
    changed = {}
    for name, columns in TABLES.items():
        path = out_dir / f"{name}{SUFFIX}"
        count = 0
        with replacing(path, "w", encoding="utf-8", newline="") as handle:
            writer = csv.writer(handle)
            writer.writerow([c.name for c in columns])
            for row in content.tables[name]:
                cells = [cell(c, row.get(c.name)) for c in columns]
                safe = [neutralize(text) for text in cells]
                count += sum(a != b for a, b in zip(cells, safe, strict=True))
                writer.writerow(safe)
        changed[name] = count
        written.append(path)
    content.value_encoding["csv_formulas"] = {
        "rule": "OWASP CSV injection: a cell beginning with one of the triggers gets the prefix, unless it is "
                "a plain decimal number; a cell beginning with the prefix followed by a trigger or another "
                "prefix gets one more, so dropping one leading prefix before a trigger or a prefix restores "
                "every value",
        "prefix": PREFIX,
        "triggers": list(TRIGGERS),
        "cells": changed,
    }
    return written
