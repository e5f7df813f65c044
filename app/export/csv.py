"""CSV: one UTF-8 file a table with a header row, the CONTRACT section 5 layout.

``clusters.csv`` and ``members.csv`` hold the contract's columns in its
order (``members.csv`` then adds ``sub_group``, after them, so readers of
the contract's columns are unaffected); the other tables sit beside them. Empty cells are missing values,
timestamps are ISO 8601 UTC with a ``Z``, booleans ``true``/``false``, and
nested values (lists, JSON) are JSON text.
"""

from __future__ import annotations

import csv
import json
from datetime import datetime
from pathlib import Path

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
    """Write every table to ``OUT_DIR/<table>.csv``; returns the files written."""
    written = []
    for name, columns in TABLES.items():
        path = out_dir / f"{name}{SUFFIX}"
        with path.open("w", encoding="utf-8", newline="") as handle:
            writer = csv.writer(handle)
            writer.writerow([c.name for c in columns])
            for row in content.tables[name]:
                writer.writerow([cell(c, row.get(c.name)) for c in columns])
        written.append(path)
    return written
