"""Parquet: one file a table with a typed Arrow schema.

Timestamps are ``timestamp[us, UTC]``, lists ``list<string>``; JSON values
are JSON text (``string``), because their shape differs row to row and a
Parquet struct cannot hold that.
"""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from app.export.files import replacing
from app.export.tables import TABLES, Column, ExportContent
from graph.schema import ARROW_TYPES

__all__ = ["write", "arrow_schema"]

SUFFIX = ".parquet"

_TYPES = {**ARROW_TYPES, "list": pa.list_(pa.string())}


def arrow_schema(columns: tuple[Column, ...]) -> pa.Schema:
    """The Arrow schema of a table."""
    return pa.schema([pa.field(c.name, _TYPES[c.type]) for c in columns])


def _value(column: Column, value: object) -> object:
    if value is not None and column.type == "json":
        return json.dumps(value, sort_keys=True, ensure_ascii=False, default=str)
    return value


def write(content: ExportContent, out_dir: Path) -> list[Path]:
    """Write every table to ``OUT_DIR/<table>.parquet``; returns the files written."""
    written = []
    for name, columns in TABLES.items():
        rows = content.tables[name]
        arrays = {c.name: [_value(c, row.get(c.name)) for row in rows] for c in columns}
        table = pa.Table.from_pydict(arrays, schema=arrow_schema(columns))
        path = out_dir / f"{name}{SUFFIX}"
        with replacing(path, "wb") as handle:
            pq.write_table(table, handle)
        written.append(path)
    return written
