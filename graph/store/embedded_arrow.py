"""Rows to and from Arrow in the schema's types: how the embedded store moves data in and out of DuckDB.

Writes hand DuckDB one Arrow table a batch (checked and typed here, so a
bad value is refused with the property's name before anything is written);
reads come back as Arrow and are turned into dicts a column at a time.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from graph.schema import ARROW_TYPES, NodeKind, RelKind
from graph.store import _rows

__all__ = ["arrow_batch", "decode_json", "py_rows"]

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)


def _py_column(column: pa.Array | pa.ChunkedArray) -> list:
    """One Arrow column as Python values; timestamps as aware UTC datetimes.

    Arrow's own conversion of zoned timestamps costs about 6 us a value (it
    goes through zoneinfo); epoch arithmetic is ten times faster and exact.
    """
    if pa.types.is_timestamp(column.type):
        micros = column.cast(pa.timestamp("us", tz="UTC")).cast(pa.int64()).to_pylist()
        return [None if value is None else _EPOCH + value * _MICROSECOND for value in micros]
    return column.to_pylist()


def py_rows(data: pa.Table | pa.RecordBatch) -> list[dict]:
    """Arrow rows as dicts, converted column by column (see :func:`_py_column`)."""
    names = data.schema.names
    columns = [_py_column(data.column(i)) for i in range(len(names))]
    return [dict(zip(names, values, strict=True)) for values in zip(*columns, strict=True)]


def decode_json(kind: NodeKind | RelKind, rows: list[dict]) -> list[dict]:
    """Decode the ``json`` properties of rows read with :func:`~graph.store.embedded_sql.column_list`, in place."""
    for name in [p.name for p in kind.properties if p.type == "json"]:
        for row in rows:
            row[name] = _rows.decode_json(row[name])
    return rows


def arrow_batch(kind: NodeKind | RelKind, rows: _rows.Rows) -> tuple[pa.Table, list[str]]:
    """The rows as an Arrow table of the schema's types plus a row ordinal ``_ord``; keys checked.

    Returns the table and the kind's columns the rows carry.
    """
    what, keys = _rows.kind_name(kind), _rows.row_keys(kind)
    types = {p.name: p.type for p in kind.properties}
    columns = _rows.columns_of(what, [*keys, *[n for n in types if n not in keys]], rows, keys)
    types = {name: "str" if name in keys else types[name] for name in columns}
    if isinstance(rows, pa.Table):
        arrays = {name: _arrow_column(what, name, types[name], rows.column(name)) for name in columns}
    else:
        arrays = _arrow_columns(what, types, rows)
    for key in keys:
        array = arrays[key]
        missing = array.null_count + (pc.sum(pc.equal(array, "")).as_py() or 0)
        if missing:
            raise ValueError(f"{what}: {missing} row(s) have no {key!r}; every row needs its key")
    size = len(rows)
    arrays["_ord"] = pa.array(np.arange(size, dtype=np.int64))
    return pa.table(arrays), columns


def _arrow_column(what: str, name: str, type_: str, column: pa.ChunkedArray | list) -> pa.Array:
    """One column in its schema type; ``ValueError`` naming the property when a value does not fit."""
    try:
        if type_ == "json":
            values = column.to_pylist() if isinstance(column, pa.ChunkedArray) else column
            return pa.array([_rows.encode_json(v) for v in values], pa.string())
        if isinstance(column, pa.ChunkedArray):
            return column.cast(ARROW_TYPES[type_])
        return pa.array(column, ARROW_TYPES[type_])
    except (pa.ArrowException, TypeError, ValueError, OverflowError) as exc:
        raise ValueError(f"{what}.{name} must hold {type_} values: {exc}") from exc


def _arrow_columns(what: str, types: Mapping[str, str], rows: Sequence[Mapping]) -> dict:
    """Dict rows as Arrow columns: converted in one pass by Arrow, ``json`` columns encoded here."""
    plain = [name for name, type_ in types.items() if type_ != "json"]
    schema = pa.schema([(name, ARROW_TYPES[types[name]]) for name in plain])
    try:
        table = pa.Table.from_pylist(rows, schema=schema)
    except (pa.ArrowException, TypeError, ValueError, OverflowError):
        # find the column at fault, to name it
        for name in plain:
            _arrow_column(what, name, types[name], [row.get(name) for row in rows])
        raise
    arrays = {name: table.column(name) for name in plain}
    for name, type_ in types.items():
        if type_ == "json":
            arrays[name] = _arrow_column(what, name, type_, [row.get(name) for row in rows])
    return {name: arrays[name] for name in types}
