"""Writing one table of a case folder, chunk by chunk, as CSV, JSON Lines or Parquet.

The simulator emits a day at a time, so a table arrives in slices; a sink
appends each slice to the open file, starts a new part file when
``part_rows`` is reached, and keeps every byte a function of the rows alone
(gzip without a timestamp), so the same seed gives the same files.
"""

from __future__ import annotations

import gzip
import io
import json
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pcsv
import pyarrow.parquet as pq

__all__ = ["TableSink"]


class TableSink:
    """Writes one table, chunk by chunk, in one format, optionally split into parts."""

    def __init__(
        self, out_dir: Path, stem: str, fmt: str, compress: bool, part_rows: int | None
    ) -> None:
        self.out_dir, self.stem, self.fmt, self.compress, self.part_rows = (
            out_dir,
            stem,
            fmt,
            compress,
            part_rows,
        )
        self.files: list[Path] = []
        self.rows = 0
        self._part_rows = 0
        self._handle = None
        self._raw = None
        self._parquet: pq.ParquetWriter | None = None
        self._header = True

    def _suffix(self) -> str:
        if self.fmt == "parquet":
            return ".parquet"
        return f".{self.fmt}" + (".gz" if self.compress else "")

    def _open(self, schema: pa.Schema) -> None:
        name = self.stem if self.part_rows is None else f"{self.stem}-{len(self.files) + 1:04d}"
        path = self.out_dir / f"{name}{self._suffix()}"
        self.files.append(path)
        self._part_rows = 0
        self._header = True
        if self.fmt == "parquet":
            self._parquet = pq.ParquetWriter(path, schema, compression="zstd")
            return
        self._raw = open(path, "wb")  # noqa: SIM115 - closed in _close_part
        # mtime=0 and no file name keep gzip output byte-identical between runs
        self._handle = (
            gzip.GzipFile(filename="", mode="wb", fileobj=self._raw, mtime=0, compresslevel=6)
            if self.compress
            else self._raw
        )

    def _close_part(self) -> None:
        if self._parquet is not None:
            self._parquet.close()
            self._parquet = None
        if self._handle is not None:
            if self._handle is not self._raw:
                self._handle.close()
            self._raw.close()
            self._handle = self._raw = None

    def write(self, table: pa.Table) -> None:
        while table.num_rows or not self.files:
            if not self.files or (self.part_rows is not None and self._part_rows >= self.part_rows):
                self._close_part()
                self._open(table.schema)
            room = table.num_rows if self.part_rows is None else self.part_rows - self._part_rows
            piece, table = table.slice(0, room), table.slice(room)
            self._write_piece(piece)
            if not table.num_rows:
                break

    def _write_piece(self, table: pa.Table) -> None:
        if self.fmt == "parquet":
            self._parquet.write_table(table)
        elif self.fmt == "csv":
            buf = io.BytesIO()
            pcsv.write_csv(table, buf, pcsv.WriteOptions(include_header=self._header))
            self._handle.write(buf.getvalue())
        elif table.num_rows:
            self._handle.write(_json_lines(table))
        self._header = False
        self._part_rows += table.num_rows
        self.rows += table.num_rows

    def close(self) -> list[Path]:
        self._close_part()
        return self.files


def _json_value(column: pa.ChunkedArray) -> pa.Array:
    """Each value of ``column`` as JSON text (``null`` for nulls)."""
    column = column.combine_chunks()
    if pa.types.is_string(column.type):
        escaped = column
        if pc.any(pc.match_substring_regex(column, r'["\\\x00-\x1f]')).as_py():
            escaped = pc.replace_substring(escaped, "\\", "\\\\")
            escaped = pc.replace_substring(escaped, '"', '\\"')
            for code in range(32):  # control characters, as JSON requires
                escaped = pc.replace_substring(escaped, chr(code), f"\\u{code:04x}")
        text = pc.binary_join_element_wise('"', escaped, '"', "")
    elif pa.types.is_boolean(column.type):
        text = pc.if_else(column, "true", "false")
    else:
        text = column.cast(pa.string())
    return pc.fill_null(text, "null")


def _json_lines(table: pa.Table) -> bytes:
    """The table as JSON Lines, built column-wise in Arrow (no per-row Python)."""
    parts: list = []
    for i, name in enumerate(table.column_names):
        parts.append(("{" if i == 0 else ",") + json.dumps(name) + ":")
        parts.append(_json_value(table.column(name)))
    parts.append("}\n")
    lines = pc.binary_join_element_wise(*parts, "").cast(pa.large_string())
    offsets = np.frombuffer(lines.buffers()[1], dtype=np.int64)[
        lines.offset : lines.offset + len(lines) + 1
    ]
    return lines.buffers()[2].to_pybytes()[offsets[0] : offsets[-1]]
