"""JSON Lines files: one JSON object a line, parsed by DuckDB, values as text.

The fast path splits lines with pyarrow's blocks; the exact path reads
line by line when a line holds the byte pyarrow splits fields at.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterator

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.csv as pa_csv

from ingest.readers.chunks import (
    CHUNK_ROWS,
    Chunk,
    RowProblem,
    binary_to_text,
    drop_blank_rows,
    mask_digit_runs,
    shown_text,
)
from ingest.readers.files import SourceFile, TruncatedInput
from ingest.readers.streams import BlockReader, damage_of, open_binary

__all__ = ["read_json_lines"]

def _json_pointer(key: str) -> str:
    """The JSON Pointer (RFC 6901) of a top-level key: any key, the empty one included."""
    return "/" + key.replace("~", "~0").replace("/", "~1")


def _parse_json_lines(lines: pa.Array, positions: np.ndarray, problems: list[RowProblem]) -> Chunk:
    """JSON objects to text columns (one per key seen); other lines become problems.

    DuckDB parses the lines (in parallel, in C++); values come back as
    text the way the CSV readers give them, nested values as JSON text.
    """
    con = duckdb.connect()
    try:
        con.register("lines", pa.table({"line": lines, "pos": positions}))
        con.execute(
            "CREATE TEMP TABLE parsed AS SELECT pos, line, "
            "CASE WHEN NOT json_valid(line) THEN 'not valid JSON' "
            "WHEN json_type(line) <> 'OBJECT' THEN 'not a JSON object' END AS problem FROM lines"
        )
        keys = [
            row[0]
            for row in con.execute(
                "SELECT k FROM (SELECT unnest(json_keys(line)) AS k, pos FROM parsed "
                "WHERE problem IS NULL) GROUP BY k ORDER BY min(pos), k"
            ).fetchall()
        ]
        for pos, line, problem in con.execute(
            "SELECT pos, line, problem FROM parsed WHERE problem IS NOT NULL ORDER BY pos"
        ).fetchall():
            problems.append(RowProblem(int(pos), problem, text=shown_text(line)))
        # keys are data: they reach the SQL as parameters only
        select = ", ".join(f"json_extract_string(line, $k{i}) AS \"{i}\"" for i in range(len(keys)))
        result = con.sql(
            f"SELECT pos{', ' + select if select else ''} FROM parsed WHERE problem IS NULL ORDER BY pos",
            params={f"k{i}": _json_pointer(k) for i, k in enumerate(keys)},
        ).to_arrow_table()
    finally:
        con.close()
    data = pa.table({k: result.column(str(i)) for i, k in enumerate(keys)}) if keys else pa.table(
        {"__empty__": pa.nulls(result.num_rows)}
    ).drop(["__empty__"])
    return Chunk(data, result.column("pos").to_numpy(), problems)


def read_json_lines(source: SourceFile, *, exact: bool, block_bytes: int) -> Iterator[Chunk]:
    """The file's rows as chunks, on the exact path when ``exact`` (see :mod:`ingest.readers`)."""
    return _jsonl_exact(source) if exact else _jsonl_fast(source, block_bytes)


def _jsonl_fast(source: SourceFile, block_bytes: int) -> Iterator[Chunk]:
    blocks = BlockReader(source, 1, "a line holds the record separator byte")
    for batch in blocks.batches(
        pa_csv.ReadOptions(block_size=block_bytes, column_names=["line"]),
        {"delimiter": "\x1e", "quote_char": False, "double_quote": False, "escape_char": False,
         "newlines_in_values": False, "ignore_empty_lines": False},
        pa_csv.ConvertOptions(column_types={"line": pa.binary()}, strings_can_be_null=False),
    ):
        table = pa.Table.from_batches([batch])
        positions = np.arange(blocks.cursor, blocks.cursor + table.num_rows, dtype=np.int64)
        blocks.cursor += table.num_rows
        table, positions = drop_blank_rows(table, positions)
        table, positions, problems = binary_to_text(table, positions)
        # a JSON line has no columns yet: show its text instead
        problems = [
            RowProblem(p.position, p.reason, text=mask_digit_runs(p.record["line"] or ""))
            for p in problems
        ]
        if table.num_rows or problems:
            yield _parse_json_lines(table.column("line").combine_chunks(), positions, problems)


def _jsonl_exact(source: SourceFile) -> Iterator[Chunk]:
    lines: list[str] = []
    positions: list[int] = []
    problems: list[RowProblem] = []
    number = 0
    with open_binary(source) as raw:
        try:
            for number, line in enumerate(raw, start=1):  # noqa: B007 - kept for the error below
                line = line.rstrip(b"\r\n")
                if not line.strip():
                    continue
                try:
                    lines.append(line.decode("utf-8"))
                    positions.append(number)
                except UnicodeDecodeError:
                    problems.append(RowProblem(
                        number, "not UTF-8",
                        text=shown_text(line.decode("utf-8", "replace")),
                    ))
                if len(lines) + len(problems) >= CHUNK_ROWS:
                    yield _parse_json_lines(pa.array(lines, pa.string()),
                                            np.asarray(positions, np.int64), problems)
                    lines, positions, problems = [], [], []
        except (EOFError, OSError, zlib.error) as exc:
            if lines or problems:
                yield _parse_json_lines(pa.array(lines, pa.string()),
                                        np.asarray(positions, np.int64), problems)
            raise TruncatedInput.after(source, number, exc) from exc
        if lines or problems:
            yield _parse_json_lines(pa.array(lines, pa.string()), np.asarray(positions, np.int64), problems)
        if damage_of(raw) is not None:
            raise TruncatedInput.after(source, number, damage_of(raw))
