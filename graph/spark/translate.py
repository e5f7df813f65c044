"""DuckDB SQL to Spark SQL: the one source of detection's SQL, run on a second engine.

Detection's statements are written once, in DuckDB's dialect, and stay the
truth. On Spark they are translated by sqlglot (pinned in the ``spark``
extra: another version may translate differently) plus explicit rewrites
where its translation would silently change the answer or fails:

* ``epoch_ms(ts)`` of a timestamp is milliseconds since the epoch; sqlglot
  reads it as DuckDB's other overload (milliseconds to a timestamp) and
  writes ``TIMESTAMP_MILLIS``, the inverse. It becomes ``unix_millis``.
* ``bit_count(bitstring_agg(x, lo, hi))`` counts the distinct ``x`` (DuckDB
  refuses values outside ``lo..hi``): ``count(DISTINCT x)``.
* ``first(x ORDER BY k DESC, j)`` becomes ``min_by(x, struct(-k, j))``.
* ``min_by(v, key, n)`` (with ``list_transform`` over it) becomes the first
  ``n`` of the values sorted by key: ``collect_list`` and ``array_sort``.
* ``hash(...)`` becomes ``xxhash64``: sqlglot keeps ``hash``, Spark's 32-bit
  hash, which collides about 20,000 times at 13M numbers. The values differ
  from DuckDB's; they are only ever keys.
* Decimal literals (``1.0``) become DOUBLE, as DuckDB computes with them.
* ``$name`` parameters become literals (Spark Connect and classic alike).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, datetime

import sqlglot
from sqlglot import exp

__all__ = ["to_spark", "UnsupportedSQL"]


class UnsupportedSQL(ValueError):
    """A DuckDB construct without a rewrite: add one here rather than a second copy of the statement."""


def to_spark(sql: str, params: Mapping[str, object] | None = None) -> str:
    """``sql`` (DuckDB's dialect, ``$name`` parameters) as one Spark SQL statement with ``params`` inlined.

    Examples
    --------
    >>> to_spark("SELECT epoch_ms(ts) // 60000 AS m, hash(p) AS h FROM t WHERE a = $who", {"who": "b"})
    "SELECT UNIX_MILLIS(ts) DIV 60000 AS m, XXHASH64(p) AS h FROM t WHERE a = 'b'"
    """
    tree = sqlglot.parse_one(sql, read="duckdb")
    tree = tree.transform(lambda node: _rewrite(node, params or {}))
    return tree.sql(dialect="spark")


def _rewrite(node: exp.Expression, params: Mapping[str, object]) -> exp.Expression:
    """One node of the DuckDB tree as Spark needs it (unchanged when nothing applies)."""
    if isinstance(node, exp.UnixToTime) and _scale(node) == 3:
        return exp.Anonymous(this="unix_millis", expressions=[node.this])
    if isinstance(node, exp.Anonymous):
        name = node.name.lower()
        if name == "hash":
            return exp.Anonymous(this="xxhash64", expressions=node.expressions)
        if name == "bit_count" and _is_call(node.expressions[0], "bitstring_agg"):
            return exp.Count(this=exp.Distinct(expressions=[node.expressions[0].expressions[0]]))
        if name == "bitstring_agg":
            raise UnsupportedSQL("bitstring_agg is rewritten only inside bit_count(bitstring_agg(...))")
    if isinstance(node, exp.First) and isinstance(node.this, exp.Order):
        return _first_ordered(node.this)
    if isinstance(node, exp.ArgMin) and node.args.get("count") is not None:
        return _smallest(node)
    if isinstance(node, exp.Literal) and not node.is_string and "." in node.this:
        return exp.cast(node.copy(), "DOUBLE")
    if isinstance(node, exp.Placeholder) and node.name:
        if node.name not in params:
            raise UnsupportedSQL(f"the statement names ${node.name} but no value was given for it")
        return _literal(params[node.name])
    return node


def _scale(node: exp.UnixToTime) -> int | None:
    scale = node.args.get("scale")
    return int(scale.this) if isinstance(scale, exp.Literal) else None


def _is_call(node: exp.Expression, name: str) -> bool:
    return isinstance(node, exp.Anonymous) and node.name.lower() == name


def _spark(node: exp.Expression) -> str:
    return node.sql(dialect="spark")


def _first_ordered(order: exp.Order) -> exp.Expression:
    """``first(x ORDER BY ...)``: the ``x`` of the smallest key, descending numeric keys negated."""
    keys = []
    for position, item in enumerate(order.expressions):
        key = _spark(item.this)
        keys.append(f"-({key}) AS k{position}" if item.args.get("desc") else f"{key} AS k{position}")
    return sqlglot.parse_one(f"min_by({_spark(order.this)}, struct({', '.join(keys)}))", read="spark")


def _smallest(node: exp.ArgMin) -> exp.Expression:
    """``min_by(v, key, n)``: the ``n`` values of the smallest keys, smallest first."""
    key = node.expression
    key_sql = (f"struct({', '.join(_spark(part) for part in key.expressions)})"
               if isinstance(key, exp.Tuple) else _spark(key))
    text = (f"slice(transform(array_sort(collect_list(struct({key_sql} AS k, {_spark(node.this)} AS v))), "
            f"p -> p.v), 1, {_spark(node.args['count'])})")
    return sqlglot.parse_one(text, read="spark")


def _literal(value: object) -> exp.Expression:
    """A parameter's value as a Spark literal."""
    if isinstance(value, list | tuple):
        return exp.Array(expressions=[_literal(item) for item in value])
    if isinstance(value, datetime):
        return exp.cast(exp.Literal.string(value.isoformat()), "TIMESTAMP")
    if isinstance(value, date):
        return exp.cast(exp.Literal.string(value.isoformat()), "DATE")
    return exp.convert(value)
