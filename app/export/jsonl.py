"""JSON Lines: one file a table, one JSON object a row.

Keys are the table's columns in order; missing values are ``null``,
timestamps ISO 8601 UTC strings with a ``Z``, lists and JSON values nested
as they are.
"""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path

from app.export.csv import iso_z
from app.export.files import replacing
from app.export.tables import TABLES, ExportContent

__all__ = ["write"]

SUFFIX = ".jsonl"


def _plain(value: object) -> object:
    if isinstance(value, datetime):
        return iso_z(value)
    return value


def write(content: ExportContent, out_dir: Path) -> list[Path]:
    """Write every table to ``OUT_DIR/<table>.jsonl``; returns the files written."""
    written = []
    for name, columns in TABLES.items():
        path = out_dir / f"{name}{SUFFIX}"
        with replacing(path, "w", encoding="utf-8") as handle:
            for row in content.tables[name]:
                record = {c.name: _plain(row.get(c.name)) for c in columns}
                handle.write(json.dumps(record, ensure_ascii=False, default=str) + "\n")
        written.append(path)
    return written
