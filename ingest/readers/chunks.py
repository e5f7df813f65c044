"""What a reader yields: chunks of rows with their positions, and the rows that failed to parse.

Also the conversions every format shares: binary columns to UTF-8 text
(rows with other bytes become :class:`RowProblem`), blank rows dropped,
and rejected text clipped and its digit runs masked for the quarantine.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from ingest.pseudonymize import mask_phone

__all__ = [
    "CHUNK_ROWS",
    "TEXT_KEEP",
    "RowProblem",
    "Chunk",
    "mask_digit_runs",
    "clip_text",
    "shown_text",
    "binary_to_text",
    "drop_blank_rows",
]

#: rows a chunk of the exact path or of Parquet holds
CHUNK_ROWS = 131_072
#: how much of a rejected row's text is kept for the quarantine
TEXT_KEEP = 1_000


@dataclass(frozen=True)
class RowProblem:
    """A row that could not become a record, with where it is and why."""

    position: int
    reason: str
    column: str | None = None
    record: dict[str, str | None] | None = None
    text: str | None = None


@dataclass
class Chunk:
    """Rows of one file: the data, each row's position, and the rows that failed to parse."""

    data: pa.Table
    positions: np.ndarray
    problems: list[RowProblem] = field(default_factory=list)

    @property
    def rows_read(self) -> int:
        return self.data.num_rows + len(self.problems)


_DIGIT_RUN = re.compile(r"\+?\d{8,}")


def mask_digit_runs(text: str) -> str:
    """Hide every run of 8+ digits (an E.164 number is one) but its first two digits.

    Applied to the raw text of rows that could not be split into fields,
    where nobody can tell the phone column from the others.
    """

    return _DIGIT_RUN.sub(lambda match: mask_phone(match.group(0)), text)


def clip_text(value: str | None) -> str | None:
    if value is None or len(value) <= TEXT_KEEP:
        return value
    return value[:TEXT_KEEP] + f"... ({len(value):,} characters)"


def shown_text(text: str) -> str:
    """A rejected row's raw text as the quarantine keeps it: clipped, digit runs masked."""
    return mask_digit_runs(clip_text(text))


def _row_record(columns: list[str], values: list[bytes | str | None]) -> dict[str, str | None]:
    record = {}
    for name, value in zip(columns, values, strict=False):
        if isinstance(value, bytes):
            value = value.decode("utf-8", errors="replace")
        record[name] = clip_text(value)
    return record


def binary_to_text(table: pa.Table, positions: np.ndarray) -> tuple[pa.Table, np.ndarray, list[RowProblem]]:
    """Binary columns as UTF-8 text; rows with bytes that are not UTF-8 become problems."""
    bad = np.zeros(table.num_rows, dtype=bool)
    first_bad_column: dict[int, str] = {}
    for name in table.column_names:
        column = table.column(name)
        if not (pa.types.is_binary(column.type) or pa.types.is_large_binary(column.type)):
            continue
        try:
            column.cast(pa.string())
        except pa.ArrowInvalid:
            for index, value in enumerate(column.to_pylist()):
                if value is None:
                    continue
                try:
                    value.decode("utf-8")
                except UnicodeDecodeError:
                    bad[index] = True
                    first_bad_column.setdefault(index, name)
    problems = []
    if bad.any():
        rows = table.filter(pa.array(bad)).to_pylist()
        for index, row in zip(np.flatnonzero(bad), rows, strict=True):
            column = first_bad_column[int(index)]
            problems.append(
                RowProblem(int(positions[index]), "not UTF-8", column,
                           record=_row_record(list(row), list(row.values())))
            )
        keep = pa.array(~bad)
        table = table.filter(keep)
        positions = positions[~bad]
    casts = {}
    for name in table.column_names:
        column = table.column(name)
        if pa.types.is_binary(column.type):
            casts[name] = column.cast(pa.string())
        elif pa.types.is_large_binary(column.type):
            casts[name] = column.cast(pa.large_string())
    for name, column in casts.items():
        table = table.set_column(table.column_names.index(name), name, column)
    return table, positions, problems


def drop_blank_rows(table: pa.Table, positions: np.ndarray) -> tuple[pa.Table, np.ndarray]:
    """Remove rows whose every field is empty: blank lines, not records."""
    if table.num_columns == 0 or table.num_rows == 0:
        return table, positions
    blank = None
    for column in table.columns:
        empty = pc.fill_null(pc.equal(pc.binary_length(column), 0), True)
        blank = empty if blank is None else pc.and_(blank, empty)
    mask = blank.to_numpy(zero_copy_only=False) if isinstance(blank, pa.Array) else np.asarray(
        blank.combine_chunks().to_numpy(zero_copy_only=False)
    )
    if not mask.any():
        return table, positions
    return table.filter(pa.array(~mask)), positions[~mask]
