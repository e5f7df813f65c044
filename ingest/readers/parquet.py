"""Parquet files: read in row batches, with their own types; binary columns become text."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from ingest.readers.chunks import CHUNK_ROWS, Chunk, binary_to_text
from ingest.readers.files import InputError, SourceFile, TruncatedInput

__all__ = ["read_parquet"]


def read_parquet(source: SourceFile) -> Iterator[Chunk]:
    """The file's rows as chunks of :data:`~ingest.readers.chunks.CHUNK_ROWS`, numbered from 1."""
    try:
        parquet = pq.ParquetFile(source.path)
    except (pa.ArrowException, OSError) as exc:
        raise InputError(f"{source}: not a readable Parquet file ({exc})") from exc
    row = 1
    try:
        for batch in parquet.iter_batches(batch_size=CHUNK_ROWS):
            table = pa.Table.from_batches([batch])
            positions = np.arange(row, row + table.num_rows, dtype=np.int64)
            row += table.num_rows
            table, positions, problems = binary_to_text(table, positions)
            yield Chunk(table, positions, problems)
    except (pa.ArrowException, OSError) as exc:
        raise TruncatedInput.after(source, row - 1, exc) from exc
