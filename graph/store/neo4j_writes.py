"""The Neo4j store's writes: rows checked and prepared, and the Cypher that writes them in batches.

Nothing here opens a session: the functions that take a transaction run
inside the one managed write transaction the store opened
(:meth:`graph.store.neo4j.Neo4jStore._write`, which names the database and
lets the driver retry), so a call's rows land whole or not at all. Large
batches go in chunks, one ``UNWIND $rows`` statement a chunk.

``None`` never reaches ``SET n += row``: there it would delete the
property, and the contract says ``None`` leaves stored values alone.
Timestamps travel as ISO text and are stored as native DateTime values
with ``datetime()``.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable, Iterator, Mapping, Sequence
from numbers import Integral, Real

import neo4j
import pyarrow as pa
import pyarrow.compute as pc

from graph.schema import (
    ACCOUNT,
    CLUSTER,
    FOUND_IN,
    MEMBER_OF,
    RUN,
    NodeKind,
    RelKind,
    node_kind,
    rel_kind,
)
from graph.store import _rows
from graph.store.neo4j_cypher import REL_KEY, ident

__all__ = [
    "append_in",
    "check_value",
    "create_node_statement",
    "edge_statement",
    "lower_degree_starts",
    "node_statement",
    "prepare",
    "prepare_nodes",
    "rel_key",
    "run_chunks",
    "save_run_work",
    "update_statement",
    "upsert_from",
    "with_rel_keys",
]


def check_value(what: str, type_: str, value: object) -> object:
    """A property value as sent to the server, or ``ValueError`` (the embedded store refuses the same)."""
    if type_ == "str":
        if isinstance(value, str):
            return value
    elif type_ == "int":
        if isinstance(value, Integral) and not isinstance(value, bool):
            return int(value)
    elif type_ == "float":
        if isinstance(value, Real) and not isinstance(value, bool):
            return float(value)
    elif type_ == "bool":
        if isinstance(value, bool) or type(value).__name__ == "bool_":
            return bool(value)
    elif type_ == "timestamp":
        # ISO text, parsed by the server's datetime(): the driver's own temporal encoding
        # costs about 100 us a value in Python, more than the rest of a row
        return _rows.as_utc(value, what).isoformat()
    elif type_ == "json":
        try:
            return _rows.encode_json(value)
        except (TypeError, ValueError) as exc:
            raise ValueError(f"{what} must be JSON-serialisable: {exc}") from exc
    raise ValueError(f"{what} must hold {type_} values, not {type(value).__name__} {value!r}")


def _set_timestamps(var: str, source: str, prepared: Sequence[Mapping], *, created: bool = False) -> str:
    """A ``SET`` clause storing the rows' ISO timestamps as native DateTime values.

    Only names that some row carries; ``coalesce`` keeps the stored value
    where a row has none (``datetime(null)`` is null). It is left out where
    there is nothing to keep: a name every row carries, or every name when
    ``var`` was created by this statement (reading the entity's property
    back made writing relationships on the ArcadeDB Bolt server a third
    slower).
    """
    names = sorted({name for row in prepared for name in row["ts"]})
    if not names:
        return ""
    everywhere = set(names) if created else {name for name in names if all(name in row["ts"] for row in prepared)}
    sets = ", ".join(
        f"{var}.{ident(n)} = datetime({source}.{ident(n)})" if n in everywhere
        else f"{var}.{ident(n)} = coalesce(datetime({source}.{ident(n)}), {var}.{ident(n)})"
        for n in names
    )
    return f" SET {sets}"


def prepare(kind: NodeKind | RelKind, rows: _rows.Rows) -> list[dict]:
    """Rows checked and merged by key, as ``{keys..., "props": {...}, "ts": {...}}``.

    ``props`` holds the non-``None`` values, except timestamps, which go
    in ``ts`` as ISO text for :func:`_set_timestamps`. An Arrow table with
    unique keys and the schema's column types (what ingest's aggregates
    are) is converted a column at a time (:func:`_prepare_table`). Other
    rows go a row and a value at a time: that path merges repeated keys
    and names a bad value.
    """
    what, keys = _rows.kind_name(kind), _rows.row_keys(kind)
    types = {p.name: p.type for p in kind.properties}
    _rows.columns_of(what, [*keys, *[n for n in types if n not in keys]], rows)
    if isinstance(rows, pa.Table) and (fast := _prepare_table(rows, keys, types)) is not None:
        return fast
    prepared = []
    for row in _rows.merge_by_key(_rows.row_dicts(rows), keys).values():
        out: dict = {}
        for key in keys:
            out[key] = _rows.check_key(what, row.get(key))
        values = {
            name: check_value(f"{what}.{name}", types[name], value)
            for name, value in row.items()
            if name not in keys
        }
        out["props"] = {n: v for n, v in values.items() if types[n] != "timestamp"}
        out["ts"] = {n: v for n, v in values.items() if types[n] == "timestamp"}
        prepared.append(out)
    return prepared


def _is_text(type_: pa.DataType) -> bool:
    """Arrow text, of either offset width (Spark's Arrow batches may use large strings)."""
    return pa.types.is_string(type_) or pa.types.is_large_string(type_)


def _arrow_values(column: pa.ChunkedArray, type_: str) -> pa.Array | None:
    """A column as :func:`check_value` would send its values, or ``None`` when its Arrow type is not the property's.

    Timestamps become ISO text with microseconds and ``+00:00`` (naive
    ones are UTC, as :func:`graph.store._rows.as_utc` takes them).
    """
    kind = column.type
    try:
        if type_ == "str" and _is_text(kind):
            return column.combine_chunks()
        if type_ == "int" and pa.types.is_integer(kind):
            return column.cast(pa.int64()).combine_chunks()
        if type_ == "float" and (pa.types.is_floating(kind) or pa.types.is_integer(kind)):
            return column.cast(pa.float64()).combine_chunks()
        if type_ == "bool" and pa.types.is_boolean(kind):
            return column.combine_chunks()
        if type_ == "timestamp" and pa.types.is_timestamp(kind):
            utc = column.cast(pa.timestamp("us", tz="UTC"))  # refuses to drop nanoseconds
            return pc.binary_join_element_wise(pc.strftime(utc, format="%Y-%m-%dT%H:%M:%S"), "+00:00", "").combine_chunks()
    except pa.ArrowInvalid:  # out of range for the target type: the row path says which value
        return None
    return None


def _prepare_table(table: pa.Table, keys: Sequence[str], types: Mapping[str, str]) -> list[dict] | None:
    """:func:`prepare` of an Arrow table a column at a time, or ``None`` when the row path must look at the rows.

    That is when a key is missing, NULL, empty, not text or repeated (rows
    with one key are merged), or a column's type is not its property's.
    Converting a lookup row one value at a time cost 25-30 us of Python
    on a quiet machine and about 45 us during an ingest, while the server
    waited; a column at a time, 4-8 us. Three interleaved 30% first loads
    of a 1.12M-row case over the ArcadeDB Bolt server went from 101 s to
    93 s on average.
    """
    rows = table.num_rows
    for key in keys:
        column = table.column(key) if key in table.column_names else None
        if column is None or not _is_text(column.type) or column.null_count:
            return None
        if rows and pc.min(pc.utf8_length(column)).as_py() == 0:
            return None
    if table.group_by(list(keys)).aggregate([]).num_rows != rows:
        return None
    props: dict[str, pa.Array] = {}
    stamps: dict[str, pa.Array] = {}
    for name, type_ in types.items():
        if name in keys or name not in table.column_names or table.column(name).null_count == rows:
            continue  # a column of NULLs only writes nothing
        values = _arrow_values(table.column(name), type_)
        if values is None:
            return None
        (stamps if type_ == "timestamp" else props)[name] = values
    columns = {key: table.column(key) for key in keys}
    for field, values in (("props", props), ("ts", stamps)):
        columns[field] = (pa.StructArray.from_arrays(list(values.values()), names=list(values))
                          if values else pa.array([{}] * rows, pa.struct([])))
    prepared = pa.table(columns).to_pylist()
    for field, values in (("props", props), ("ts", stamps)):
        nullable = [name for name, array in values.items() if array.null_count]
        for row in prepared if nullable else ():
            found = row[field]
            for name in nullable:
                if found[name] is None:
                    del found[name]
    return prepared


def prepare_nodes(kind: NodeKind, rows: _rows.Rows) -> list[dict]:
    """:func:`prepare` for nodes, the key as ``key`` beside the properties, so it never hits ``SET``."""
    return [{"key": row[kind.key], "props": row["props"], "ts": row["ts"]} for row in prepare(kind, rows)]


def node_statement(kind: NodeKind, prepared: Sequence[Mapping]) -> str:
    """Upsert of :func:`prepare_nodes` rows: ``MERGE`` on the key, then the given properties."""
    return (
        f"UNWIND $rows AS row MERGE (n:{ident(kind.label)} {{{ident(kind.key)}: row.key}}) SET n += row.props"
        + _set_timestamps("n", "row.ts", prepared)
    )


def create_node_statement(kind: NodeKind, prepared: Sequence[Mapping]) -> str:
    """``CREATE`` of :func:`prepare_nodes` rows known to be new: no look for the key (the constraint refuses one)."""
    return (
        f"UNWIND $rows AS row CREATE (n:{ident(kind.label)}) SET n = row.props, n.{ident(kind.key)} = row.key"
        + _set_timestamps("n", "row.ts", prepared, created=True)
    )


def rel_key(src: str, dst: str) -> str:
    """A relationship's :data:`~graph.store.neo4j_cypher.REL_KEY` value: ``[src, dst]`` as JSON text, unambiguous."""
    return json.dumps([src, dst], ensure_ascii=False)


def with_rel_keys(prepared: list[dict]) -> list[dict]:
    """:func:`prepare` relationship rows with their relationship key as ``rel_key``."""
    for row in prepared:
        row["rel_key"] = rel_key(row["src"], row["dst"])
    return prepared


def edge_statement(kind: RelKind, prepared: Sequence[Mapping]) -> str:
    """``CREATE`` :func:`with_rel_keys` rows, their endpoints ``MERGE``d by their keys.

    No look through an endpoint's relationships, whose cost grows with its
    degree (an enumerating account holds tens of thousands). The uniqueness
    constraint on :data:`REL_KEY` refuses a relationship that exists already.
    """
    src, dst = node_kind(kind.src), node_kind(kind.dst)
    return (
        f"UNWIND $rows AS row "
        f"MERGE (a:{ident(src.label)} {{{ident(src.key)}: row.src}}) "
        f"MERGE (b:{ident(dst.label)} {{{ident(dst.key)}: row.dst}}) "
        f"CREATE (a)-[r:{ident(kind.type)} {{{ident(REL_KEY)}: row.rel_key}}]->(b) SET r += row.props"
        + _set_timestamps("r", "row.ts", prepared, created=True)
    )


def update_statement(kind: RelKind, prepared: Sequence[Mapping], start: str, *, keys: bool = True) -> str:
    """Set the properties of existing relationships, found from their ``start`` endpoint.

    Returns the keys found (``key``), or with ``keys=False`` only how many
    (``found``): streaming every key back cost about a third of an update on
    the ArcadeDB Bolt server, and usually every relationship is there.

    The ``start`` node is matched by its key first and the relationship is
    then expanded from it alone (``WITH`` ends the first ``MATCH``), so the
    look costs that node's degree, whatever the planner would prefer. A
    lookup by the relationship's own property is not used: not every server
    indexes relationship properties (ArcadeDB's Bolt server scans).
    """
    _rows.check_start(start)
    src, dst = node_kind(kind.src), node_kind(kind.dst)
    near, far = (src, dst) if start == "src" else (dst, src)
    far_side = "dst" if start == "src" else "src"
    arrow = f"-[r:{ident(kind.type)}]->" if start == "src" else f"<-[r:{ident(kind.type)}]-"
    return (
        f"UNWIND $rows AS row MATCH (n:{ident(near.label)} {{{ident(near.key)}: row.{start}}}) WITH row, n "
        f"MATCH (n){arrow}(m:{ident(far.label)}) WHERE m.{ident(far.key)} = row.{far_side} "
        f"SET r += row.props" + _set_timestamps("r", "row.ts", prepared)
        + (" RETURN row.rel_key AS key" if keys else " RETURN count(DISTINCT row.rel_key) AS found")
    )


def upsert_from(
    tx: neo4j.ManagedTransaction, kind: RelKind, prepared: Sequence[Mapping], start: str, chunk_size: int
) -> int:
    """Update the relationships that exist (found from ``start``), create the rest; returns how many were created.

    All in the caller's one transaction: nothing is rolled back to learn
    which rows exist. A chunk is updated counting what was found; only when
    some are missing is it updated again (setting the same values) to learn
    which, and those are created.
    """
    counted = update_statement(kind, prepared, start, keys=False)
    update, create = update_statement(kind, prepared, start), edge_statement(kind, prepared)
    created = 0
    for chunk in _chunks(prepared, chunk_size):
        if tx.run(counted, rows=chunk).single()["found"] == len(chunk):
            continue
        found = {record["key"] for record in tx.run(update, rows=chunk)}
        missing = [row for row in chunk if row["rel_key"] not in found]
        if missing:
            tx.run(create, rows=missing).consume()
            created += len(missing)
    return created


def lower_degree_starts(prepared: Sequence[Mapping]) -> dict[str, list[dict]]:
    """Rows grouped by the endpoint to find them from, when the caller knows no degrees.

    The endpoint whose key repeats less in the rows themselves: an
    enumerating account or a proxy exit shows as the key that repeats.
    """
    seen = {side: Counter(row[side] for row in prepared) for side in _rows.EDGE_KEYS}
    groups: dict[str, list[dict]] = {side: [] for side in _rows.EDGE_KEYS}
    for row in prepared:
        groups["dst" if seen["dst"][row["dst"]] < seen["src"][row["src"]] else "src"].append(row)
    return groups


def _chunks(rows: Sequence, size: int) -> Iterator[Sequence]:
    for start in range(0, len(rows), size):
        yield rows[start : start + size]


def run_chunks(
    tx: neo4j.ManagedTransaction, statement: str, prepared: Sequence, chunk_size: int, **params: object
) -> None:
    """Run ``statement`` over every prepared row, ``chunk_size`` rows (``$rows``) at a time."""
    for chunk in _chunks(prepared, chunk_size):
        tx.run(statement, rows=chunk, **params).consume()


def save_run_work(
    run_id: str, run_row: Mapping, clusters: Sequence[Mapping], members: Sequence[Mapping], chunk_size: int
) -> Callable[[neo4j.ManagedTransaction], None]:
    """The transaction function that replaces detection run ``run_id`` whole.

    ``run_row`` and ``clusters`` are :func:`prepare_nodes` rows, ``members``
    :func:`prepare` rows of MEMBER_OF relationships. The run's old clusters
    go with their memberships (``DETACH DELETE``).
    """
    run_kind, cluster_kind = node_kind(RUN), node_kind(CLUSTER)
    member_kind, found_in, account = rel_kind(MEMBER_OF), rel_kind(FOUND_IN), node_kind(ACCOUNT)
    delete = (
        f"MATCH (c:{ident(cluster_kind.label)} {{run_id: $run_id}}) DETACH DELETE c",
        f"MATCH (r:{ident(run_kind.label)} {{{ident(run_kind.key)}: $run_id}}) DETACH DELETE r",
    )
    create_run = (
        f"CREATE (r:{ident(run_kind.label)}) SET r = $props, r.{ident(run_kind.key)} = $run_id"
        + _set_timestamps("r", "$ts", [run_row])
    )
    create_clusters = (
        f"MATCH (r:{ident(run_kind.label)} {{{ident(run_kind.key)}: $run_id}}) "
        f"UNWIND $rows AS row CREATE (c:{ident(cluster_kind.label)}) "
        f"SET c = row.props, c.{ident(cluster_kind.key)} = row.key"
        + _set_timestamps("c", "row.ts", clusters)
        + f" CREATE (c)-[:{ident(found_in.type)}]->(r)"
    )
    create_members = (
        f"UNWIND $rows AS row MATCH (c:{ident(cluster_kind.label)} {{{ident(cluster_kind.key)}: row.dst}}) "
        f"MERGE (a:{ident(account.label)} {{{ident(account.key)}: row.src}}) "
        f"CREATE (a)-[m:{ident(member_kind.type)}]->(c) SET m = row.props"
        + _set_timestamps("m", "row.ts", members)
    )

    def work(tx: neo4j.ManagedTransaction) -> None:
        for statement in delete:
            tx.run(statement, run_id=run_id).consume()
        tx.run(create_run, props=run_row["props"], ts=run_row["ts"], run_id=run_id).consume()
        run_chunks(tx, create_clusters, clusters, chunk_size, run_id=run_id)
        run_chunks(tx, create_members, members, chunk_size)

    return work


def append_in(tx: neo4j.ManagedTransaction, kind: NodeKind, prepared: list[dict], chunk_size: int) -> None:
    """Create :func:`prepare_nodes` rows whose keys must all be new, inside the caller's transaction.

    ``ValueError`` when a key exists already: labels and audit events are never updated.
    """
    find = f"MATCH (n:{ident(kind.label)}) WHERE n.{ident(kind.key)} IN $keys RETURN n.{ident(kind.key)} AS key LIMIT 1"
    create = create_node_statement(kind, prepared)
    for chunk in _chunks(prepared, chunk_size):
        clash = tx.run(find, keys=[row["key"] for row in chunk]).single()
        if clash is not None:
            raise ValueError(f"{kind.label} {clash['key']!r} exists already: {kind.label}s are append-only")
        tx.run(create, rows=chunk).consume()
