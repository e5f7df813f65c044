"""SQL text the embedded store builds from schema names, and the one way it runs a statement.

Table and column names come only from :mod:`graph.schema` and are quoted
here; values always travel as ``?`` parameters.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import duckdb

from graph.schema import NodeKind, Property, RelKind
from graph.store import _rows

__all__ = [
    "SQL_TYPES",
    "add_column",
    "column_list",
    "create_table",
    "execute",
    "ident",
    "label_filter",
    "side_and_window",
    "window",
]

#: portable property type -> DuckDB column type
SQL_TYPES = {
    "str": "VARCHAR",
    "int": "BIGINT",
    "float": "DOUBLE",
    "bool": "BOOLEAN",
    "timestamp": "TIMESTAMPTZ",
    "json": "VARCHAR",
}

#: the SQL condition of each bound of :func:`graph.store._rows.window_bounds`
_WINDOW_SQL = {"since": "last_seen >= ?", "until": "first_seen <= ?"}


def ident(name: str) -> str:
    """A quoted identifier (schema names only; ``count``, ``user``, ``at`` are keywords)."""
    return '"' + name.replace('"', '""') + '"'


def execute(cur: duckdb.DuckDBPyConnection, sql: str, params: object = None) -> list[tuple]:
    """Execute a statement to its end (DuckDB keeps a cursor busy until its result is read)."""
    return cur.execute(sql, params).fetchall() if params is not None else cur.execute(sql).fetchall()


def column_list(kind: NodeKind | RelKind, alias: str = "") -> str:
    """The kind's columns, named (a table may keep a column the schema dropped)."""
    prefix = f"{alias}." if alias else ""
    return ", ".join(prefix + ident(name) for name in _rows.row_columns(kind))


def create_table(kind: NodeKind | RelKind) -> str:
    """``CREATE TABLE IF NOT EXISTS`` for the kind: key columns ``NOT NULL``, no primary key."""
    keys = _rows.row_keys(kind)
    columns = [f"{ident(k)} VARCHAR NOT NULL" for k in keys if k not in kind.names]
    columns += [
        f"{ident(p.name)} {SQL_TYPES[p.type]}{' NOT NULL' if p.name in keys else ''}" for p in kind.properties
    ]
    return f"CREATE TABLE IF NOT EXISTS {ident(kind.table)} ({', '.join(columns)})"


def add_column(kind: NodeKind | RelKind, prop: Property) -> str:
    """``ALTER TABLE`` adding a property the schema gained since the table was made."""
    return f"ALTER TABLE {ident(kind.table)} ADD COLUMN {ident(prop.name)} {SQL_TYPES[prop.type]}"


def window(kind: RelKind, since: datetime | None, until: datetime | None) -> tuple[str, list]:
    """SQL condition for "``[first_seen, last_seen]`` overlaps the window" (types without them: none)."""
    bounds = _rows.window_bounds(kind, since, until)
    return (" AND ".join(_WINDOW_SQL[name] for name in bounds) or "TRUE"), list(bounds.values())


def side_and_window(
    rel: RelKind, label: str, key: str, since: datetime | None, until: datetime | None
) -> tuple[str, list]:
    """SQL condition and its parameters: the relationship touches the node (either end) and overlaps the window."""
    ends = [end for end, end_label in (("src", rel.src), ("dst", rel.dst)) if end_label == label]
    side = "(" + " OR ".join(f"{end} = ?" for end in ends) + ")"
    condition, params = window(rel, since, until)
    return f"{side} AND {condition}", [key] * len(ends) + params


def label_filter(entity: str | None, entity_id: str | None) -> tuple[str, Sequence[str]]:
    """SQL condition and parameters for the labels of one entity kind, one entity, or all."""
    wanted = _rows.label_conditions(entity, entity_id)
    return (" AND ".join(f"{name} = ?" for name in wanted) or "TRUE"), list(wanted.values())
