"""CSV files: a fast path through pyarrow's blocks, and an exact path through :mod:`csv`.

The fast path derives each row's line from the row count and the newlines
inside quoted values; the exact path takes over when pyarrow meets a row it
cannot place, and decides what a stray quote swallowed
(:class:`_PhysicalLines`).
"""

from __future__ import annotations

import csv
import sys
from collections import deque
from collections.abc import Iterator

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pa_csv

from ingest.readers.chunks import (
    CHUNK_ROWS,
    Chunk,
    RowProblem,
    binary_to_text,
    clip_text,
    drop_blank_rows,
    shown_text,
)
from ingest.readers.files import ExactReadNeeded, Header, SourceFile, TruncatedInput
from ingest.readers.streams import BlockReader, damage_of, open_binary

__all__ = ["MAX_VALUE_LINES", "UNBALANCED_QUOTE", "read_csv"]

#: lines a quoted CSV value may span; an opening quote whose value runs longer is a stray one
MAX_VALUE_LINES = 100
#: the reason a CSV line whose opening quote never closes where a row could end is quarantined for
UNBALANCED_QUOTE = "unbalanced quote"


def read_csv(source: SourceFile, header: Header, *, exact: bool, block_bytes: int) -> Iterator[Chunk]:
    """The file's rows as chunks, on the exact path when ``exact`` (see :mod:`ingest.readers`)."""
    return _csv_exact(source, header) if exact else _csv_fast(source, header, block_bytes)


def _csv_fast(source: SourceFile, header: Header, block_bytes: int) -> Iterator[Chunk]:
    blocks = BlockReader(source, 2, "{count} row(s) with a wrong number of fields")  # the header is line 1
    names = header.raw_columns or header.columns
    for batch in blocks.batches(
        pa_csv.ReadOptions(block_size=block_bytes, use_threads=True),
        {"newlines_in_values": True, "ignore_empty_lines": False},
        pa_csv.ConvertOptions(
            column_types={name: pa.binary() for name in names},
            strings_can_be_null=False,
            quoted_strings_can_be_null=False,
        ),
    ):
        table = pa.Table.from_batches([batch]).rename_columns(header.columns)
        lines = np.ones(table.num_rows, dtype=np.int64)
        for column in table.columns:
            lines += pc.fill_null(pc.count_substring(column, "\n"), 0).to_numpy(zero_copy_only=False)
        _check_quoted_values(table, lines, len(names))
        positions = blocks.cursor + np.cumsum(lines) - lines
        blocks.cursor += int(lines.sum())
        table, positions = drop_blank_rows(table, positions)
        table, positions, problems = binary_to_text(table, positions)
        if table.num_rows or problems:
            yield Chunk(table, positions, problems)


class _PhysicalLines:
    """A CSV file's lines for :func:`csv.reader`, which cannot let one stray quote swallow the rest.

    :mod:`csv` asks for another line only while a quoted value is open.
    This iterator then refuses it (the record ends early and ``starved`` is
    set) when the value already spans :data:`MAX_VALUE_LINES` lines, when
    the file ends, or when the next line is a whole row on its own (the
    header's number of fields, no quote in it): a value that runs over a
    row means its opening quote was a stray one. The caller quarantines
    the record's first line and hands the others back (:meth:`push_back`)
    to be read again as rows of their own.

    Lines are split at ``\\n`` only (``\\r\\n`` endings keep their
    ``\\r`` for :mod:`csv` to drop) and decoded with ``surrogateescape``, so
    bytes that are not UTF-8 reach the row checks instead of failing here.
    """

    def __init__(self, raw, width: int):
        self._raw = raw
        self._width = width
        self._pending: deque[tuple[int, str]] = deque()
        #: lines read from the file so far (the last one is the last whole line)
        self.count = 0
        self.record: list[tuple[int, str]] = []
        self.starved = False

    def __iter__(self):
        return self

    def start_record(self) -> None:
        self.record = []
        self.starved = False

    def read(self) -> tuple[int, str] | None:
        """The next line and its number, handed-back lines first; ``None`` at the end."""
        if self._pending:
            return self._pending.popleft()
        line = self._raw.readline()
        if not line:
            return None
        self.count += 1
        return self.count, line.decode("utf-8", "surrogateescape")

    def __next__(self) -> str:
        if len(self.record) >= MAX_VALUE_LINES:
            self.starved = True
            raise StopIteration
        item = self.read()
        if item is None:
            self.starved = bool(self.record)
            raise StopIteration
        if self.record and _whole_row(item[1], self._width):
            self._pending.appendleft(item)
            self.starved = True
            raise StopIteration
        self.record.append(item)
        return item[1]

    def push_back(self, lines: list[tuple[int, str]]) -> None:
        self._pending.extendleft(reversed(lines))


def _whole_row(line: str | bytes, width: int) -> bool:
    """Whether a line inside a quoted value would be a row of ``width`` fields on its own.

    Without a quote in it a line's fields are its commas plus one.
    """
    if isinstance(line, bytes):
        return b'"' not in line and line.count(b",") == width - 1
    return '"' not in line and line.count(",") == width - 1


def _shown(line: str) -> str:
    """A physical line as quarantine text: no line ending, bytes that are not UTF-8 replaced."""
    text = line.rstrip("\r\n").encode("utf-8", "surrogateescape").decode("utf-8", "replace")
    return shown_text(text)


def _check_quoted_values(table: pa.Table, lines: np.ndarray, width: int) -> None:
    """Send the file to the exact path when a value spanning lines may hold a stray quote's run.

    pyarrow takes an opening quote's value up to the next quote, however
    many rows that swallows. The exact path (:class:`_PhysicalLines`) decides;
    here any value over :data:`MAX_VALUE_LINES` lines, with an inner line
    that is a whole row, or running to the end of the file, is enough to go there.
    """
    multi = np.flatnonzero(lines > 1)
    if len(multi) == 0:
        return
    if int(lines.max()) > MAX_VALUE_LINES:
        raise ExactReadNeeded(f"a quoted value spans more than {MAX_VALUE_LINES} lines")
    for column in table.columns:
        for value in column.take(pa.array(multi)).to_pylist():
            if not value or b"\n" not in value:
                continue
            inner = value.split(b"\n")[1:-1]
            if value.endswith(b"\n") or any(_whole_row(line.rstrip(b"\r"), width) for line in inner):
                raise ExactReadNeeded("a quoted value runs over a whole row")


def _csv_exact(source: SourceFile, header: Header) -> Iterator[Chunk]:
    csv.field_size_limit(min(sys.maxsize, 1 << 31))
    names = header.columns
    width = len(names)
    with open_binary(source) as raw:
        lines = _PhysicalLines(raw, width)
        reader = csv.reader(lines)
        values: list[list[str]] = [[] for _ in names]
        positions: list[int] = []
        problems: list[RowProblem] = []
        try:
            lines.read()  # the header, read on its own by read_header
            while True:
                lines.start_record()
                try:
                    row = next(reader)
                except StopIteration:
                    break
                except csv.Error as exc:
                    problems.append(RowProblem(lines.record[0][0], f"unreadable CSV line ({exc})",
                                               text=_shown(lines.record[0][1])))
                    lines.push_back(lines.record[1:])
                    continue
                start = lines.record[0][0]
                if lines.starved or (len(lines.record) > 1 and len(row) != width):
                    problems.append(RowProblem(start, UNBALANCED_QUOTE, text=_shown(lines.record[0][1])))
                    lines.push_back(lines.record[1:])
                elif not row or all(not v for v in row):
                    continue
                elif len(row) != width:
                    problems.append(RowProblem(
                        start, f"wrong number of fields: expected {width}, found {len(row)}",
                        text=_shown(lines.record[0][1]),
                    ))
                elif any(_has_surrogate(v) for v in row):
                    column = next(n for n, v in zip(names, row, strict=True) if _has_surrogate(v))
                    record = {n: clip_text(v.encode("utf-8", "surrogateescape").decode("utf-8", "replace"))
                              for n, v in zip(names, row, strict=True)}
                    problems.append(RowProblem(start, "not UTF-8", column, record=record))
                else:
                    for index, value in enumerate(row):
                        values[index].append(value)
                    positions.append(start)
                if len(positions) + len(problems) >= CHUNK_ROWS:
                    yield _text_chunk(names, values, positions, problems)
                    values, positions, problems = [[] for _ in names], [], []
        except OSError as exc:
            if positions or problems:
                yield _text_chunk(names, values, positions, problems)
            raise TruncatedInput.after(source, lines.count, exc) from exc
        if positions or problems:
            yield _text_chunk(names, values, positions, problems)
        if damage_of(raw) is not None:
            raise TruncatedInput.after(source, lines.count, damage_of(raw))


def _has_surrogate(value: str) -> bool:
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


def _text_chunk(names, values, positions, problems) -> Chunk:
    table = pa.table({name: pa.array(col, pa.string()) for name, col in zip(names, values, strict=True)})
    return Chunk(table, np.asarray(positions, dtype=np.int64), list(problems))
