"""SQL over Arrow tables handed in by name: how ingest reads its chunks and lookups beside the warehouse.

A statement names each table it reads in braces (``FROM {chunk} c``) and the
caller hands the table in under that keyword, so no query depends on the
name of a Python variable (a DuckDB replacement scan reads ``FROM chunk``
from the caller's local ``chunk``: renaming the variable breaks the query
silently). The tables are not registered with the connection either: inside
a file's transaction DuckDB keeps a registered object until the transaction
ends (so a rollback could restore it), which held every chunk of the file in
memory. Each table is read through a relation of its own
(:meth:`duckdb.DuckDBPyConnection.from_arrow`) that lives for the one
statement, and its rows are freed chunk by chunk.
"""

from __future__ import annotations

from collections.abc import Mapping

import duckdb
import pyarrow as pa

__all__ = ["arrow_sql"]


def arrow_sql(cur: duckdb.DuckDBPyConnection, sql: str, params: Mapping[str, object] | None = None,
              **tables: pa.Table) -> pa.Table:
    """Run ``sql``, reading each keyword's table as ``{keyword}``, and return what it gives.

    Parameters
    ----------
    cur : duckdb.DuckDBPyConnection
    sql : str
        One statement. Only ``{keyword}`` of a table handed in is replaced,
        so other braces (a regular expression's ``{64}``) stay as they are.
    params : mapping, optional
        The values of its ``$name`` parameters.
    **tables : pyarrow.Table
        The tables it reads, each named in ``sql``.

    Returns
    -------
    pyarrow.Table
        The rows a query selects, or the count a write reports.

    Examples
    --------
    >>> import duckdb
    >>> arrow_sql(duckdb.connect(), "SELECT max(n) + $more AS top FROM {numbers}", {"more": 1},
    ...           numbers=pa.table({"n": [1, 2]})).to_pylist()
    [{'top': 3}]
    """
    relations = {key: cur.from_arrow(table) for key, table in tables.items()}
    for key, relation in relations.items():
        placeholder = "{" + key + "}"
        if placeholder not in sql:
            raise ValueError(f"the SQL reads no {placeholder}: name each table it is handed where it reads it")
        sql = sql.replace(placeholder, f"({relation.sql_query()})")
    # read while the relations (and so their tables) are alive
    return cur.sql(sql, params=dict(params) if params else None).to_arrow_table()
