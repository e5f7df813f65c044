"""The graph as aggregates of the event table, written as SQL.

Every request edge of the schema (``USED_IP``, ``USED_DEVICE``,
``LOOKED_UP``, ``MATCHED``, ``DEVICE_ON_IP``) is a ``GROUP BY`` of the
``events`` table on its two endpoint columns, with the count and first/last
timestamp (and, for lookups, how many matched). Node properties are
aggregates too: a device's latest user agent, an address's enrichment, a
number's pseudonymized facts. Because they are plain SQL over one columnar
table (:func:`edge_sql`, :func:`node_sql`), a distributed engine (Spark SQL,
DuckDB on a bigger box, dask-sql) can run the same statements unchanged.

When the graph store lives in the workspace's own DuckDB file
(:meth:`GraphStore.shares_warehouse`: the embedded store), the aggregates
never leave DuckDB: :meth:`EmbeddedStore.upsert_query`
inserts them straight into empty graph tables or merges them set-based
(measured at 36M events: 120 s through Arrow batches and per-batch merges
before, 61 s in place). Other stores (Neo4j) receive them in
batches through ``upsert_nodes``/``upsert_edges``.

Incremental: only what the batches being synced touched is recomputed, but
always from the *whole* event table, and written with replace semantics
(``GraphStore.upsert_edges`` sets properties). So a later batch of logs
moves counts and last-seen forward correctly, and syncing the same batch
twice (a resumed run) writes the same values again.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Iterator, Sequence
from functools import partial

import pyarrow as pa
import pyarrow.compute as pc

from graph.schema import (
    ACCOUNT,
    DEVICE,
    DEVICE_ON_IP,
    IP,
    LOOKED_UP,
    MATCHED,
    PHONE,
    USED_DEVICE,
    USED_IP,
)
from graph.store.base import GraphStore
from graph.warehouse import EVENTS_TABLE
from graph.warehouse_schema import (
    ACCOUNTS_TABLE,
    BATCHES_TABLE,
    DIRTY_IPS_TABLE,
    IP_LOOKUP_TABLE,
    LABELS_TABLE,
)
from ingest.summary import Timings

__all__ = ["EDGES", "PLAN_COLUMNS", "edge_sql", "node_sql", "sync_graph", "write_planned"]

#: relationship type -> (source column, target column) of the event table
EDGES: dict[str, tuple[str, str]] = {
    USED_IP: ("account_id", "ip"),
    USED_DEVICE: ("account_id", "device_id"),
    LOOKED_UP: ("account_id", "phone_hash"),
    MATCHED: ("phone_hash", "matched_account_id"),
    DEVICE_ON_IP: ("device_id", "ip"),
}

# The touched scope: the event rows of the batches being synced.
_TOUCHED = f"(SELECT * FROM {EVENTS_TABLE} WHERE list_contains($batches, batch_id))"


def edge_sql(rel_type: str, incremental: bool, *, planned: bool = False) -> str:
    """SQL aggregating one relationship type from the events (``$batches`` bound when incremental).

    Parameters
    ----------
    rel_type : str
        A key of :data:`EDGES`.
    incremental : bool
        Only the (src, dst) pairs that appear in the batches ``$batches``,
        each aggregated over all of its events. Otherwise every pair.
    planned : bool
        Add what a store that pays for finding a relationship needs
        (:meth:`GraphStore.upsert_changed_edges`): ``is_new``, whether
        every event of the pair is in ``$batches`` (always true on a first
        load), and ``from_dst``, whether the target has fewer relationships
        of this type than the source (so the edge is found from it). Rows
        come ordered by both, so a batch of rows holds few groups, then by
        their keys, so a chunk's writes touch neighbouring index entries
        (about a sixth faster on the ArcadeDB Bolt server than random order).
    """
    src, dst = EDGES[rel_type]
    extra = ", count(e.matched_account_id) AS matched_count" if rel_type == LOOKED_UP else ""
    if planned:
        extra += ", bool_and(list_contains($batches, e.batch_id)) AS is_new" if incremental else ", true AS is_new"
    scope = ""
    if incremental:
        scope = (f"SEMI JOIN (SELECT DISTINCT {src}, {dst} FROM {_TOUCHED}) t "
                 f"ON e.{src} = t.{src} AND e.{dst} = t.{dst} ")
    pairs = (
        f"SELECT e.{src} AS src, e.{dst} AS dst, count(*) AS count, min(e.ts) AS first_seen, "
        f"max(e.ts) AS last_seen{extra} FROM {EVENTS_TABLE} e {scope}"
        f"WHERE e.{src} IS NOT NULL AND e.{dst} IS NOT NULL GROUP BY e.{src}, e.{dst}"
    )
    if not planned:
        return pairs
    degree = ("SELECT {one} AS {side}, count(DISTINCT {other}) AS n FROM " + EVENTS_TABLE
              + " WHERE {one} IN (SELECT {side} FROM pairs) AND {other} IS NOT NULL GROUP BY {one}")
    return (
        f"WITH pairs AS ({pairs}), "
        f"src_degree AS ({degree.format(one=src, other=dst, side='src')}), "
        f"dst_degree AS ({degree.format(one=dst, other=src, side='dst')}) "
        "SELECT pairs.*, coalesce(d.n, 0) < coalesce(s.n, 0) AS from_dst FROM pairs "
        # ON, not USING: Spark puts USING's keys first, DuckDB keeps the left side's order
        "LEFT JOIN src_degree s ON s.src = pairs.src LEFT JOIN dst_degree d ON d.dst = pairs.dst "
        "ORDER BY is_new, from_dst, src, dst"
    )


#: the columns :func:`edge_sql` adds when ``planned``: how to write a row, not what to write
PLAN_COLUMNS = ("is_new", "from_dst")


def write_planned(store: GraphStore, rel_type: str, batch: pa.Table, timings: Timings | None = None) -> int:
    """Write a batch of :func:`edge_sql` ``planned`` rows in groups: new edges, then existing ones by start.

    ``timings`` gets each group's time as ``graph sync TYPE new`` or ``graph sync TYPE existing``.
    """
    timings = timings or Timings()
    rows = batch.drop_columns(list(PLAN_COLUMNS))
    written = 0
    for new in (True, False):
        for start in ("src", "dst"):
            wanted = pc.and_(pc.equal(batch.column("is_new"), new), pc.equal(batch.column("from_dst"), start == "dst"))
            group = rows.filter(wanted)
            if group.num_rows:
                with timings.timed(f"graph sync {rel_type} {'new' if new else 'existing'}"):
                    written += store.upsert_changed_edges(rel_type, group, new=new, start=start)
    return written


#: a Device node's properties: the latest user agent's parts
_DEVICE_COLUMNS = ("user_agent_family", "app_version", "os_family", "device_family")


def node_sql(label: str, incremental: bool, ip_lookup: str = IP_LOOKUP_TABLE,
             dirty_ips: str = DIRTY_IPS_TABLE) -> str:
    """SQL computing the properties of one node label from the events.

    ``IPAddress``: the offline/``ip_intel`` enrichment, overridden by the
    country and ASN the requests themselves carried (the most common one;
    ``country_source`` says ``input`` then). ``Device``: its latest user
    agent. ``Phone``: its pseudonymized facts (never the number).

    Incremental, only the nodes these batches change: a node's properties
    are a function of its events, so one whose properties over the synced
    events equal those over all of them holds them already (every earlier
    sync wrote what its events gave). Rewriting the addresses and devices a
    batch merely touched was about 7% of a 10% batch's time over Bolt.
    """
    if label == IP:
        seen = ("SELECT ip, mode(ip_country) AS country, mode(ip_asn) AS asn FROM {events} "
                "SEMI JOIN scope USING (ip) GROUP BY ip")
        scope = f"SELECT DISTINCT ip FROM {_TOUCHED if incremental else EVENTS_TABLE} WHERE ip IS NOT NULL"
        written = "scope"
        if incremental:
            # an address whose requests' country and ASN come out as they did before these
            # batches holds them already; new ones and those ip_intel re-enriched are written
            dirty = f"SELECT ip FROM {dirty_ips} WHERE list_contains($batches, batch_id)"
            synced = f"(SELECT * FROM {EVENTS_TABLE} WHERE NOT list_contains($batches, batch_id)) e"
            scope += f" UNION {dirty}"
            written = "changed"
            changed = (
                f", synced AS ({seen.format(events=synced)}), "
                "changed AS (SELECT seen.ip FROM seen LEFT JOIN synced ON synced.ip = seen.ip "
                "WHERE synced.ip IS NULL OR seen.country IS DISTINCT FROM synced.country "
                f"OR seen.asn IS DISTINCT FROM synced.asn UNION {dirty})"
            )
        return (
            "WITH scope AS (" + scope + "), "
            f"seen AS ({seen.format(events=EVENTS_TABLE)})" + (changed if incremental else "") + ", "
            f"enriched AS (SELECT value AS ip, arg_min(raw, raw) AS raw FROM {ip_lookup} "
            "WHERE value IS NOT NULL GROUP BY value) "
            "SELECT s.ip, l.version::BIGINT AS version, l.prefix, "
            "coalesce(seen.country, l.country) AS country, "
            "CASE WHEN seen.country IS NOT NULL AND seen.country IS DISTINCT FROM l.country "
            "THEN 'input' ELSE l.country_source END AS country_source, "
            "coalesce(seen.asn, l.asn) AS asn, "
            "CASE WHEN seen.asn IS NOT NULL AND seen.asn IS DISTINCT FROM l.asn THEN NULL "
            "ELSE l.as_org END AS as_org, l.kind, l.kind_source "
            f"FROM {written} s JOIN enriched en ON en.ip = s.ip JOIN {ip_lookup} l ON l.raw = en.raw "
            "LEFT JOIN seen ON seen.ip = s.ip"
        )
    source = _TOUCHED if incremental else EVENTS_TABLE
    if label == DEVICE:
        latest = ("SELECT device_id, " + ", ".join(f"arg_max({c}, ts) AS {c}" for c in _DEVICE_COLUMNS)
                  + " FROM {events} {scope}WHERE device_id IS NOT NULL GROUP BY device_id")
        if not incremental:
            return latest.format(events=EVENTS_TABLE, scope="")
        # a device whose latest user agent is the one it had before these batches holds it already
        scope = f"SEMI JOIN (SELECT DISTINCT device_id FROM {_TOUCHED}) t USING (device_id) "
        synced = f"(SELECT * FROM {EVENTS_TABLE} WHERE NOT list_contains($batches, batch_id)) e"
        differs = " OR ".join(f"fresh.{c} IS DISTINCT FROM synced.{c}" for c in _DEVICE_COLUMNS)
        return (
            f"WITH fresh AS ({latest.format(events=EVENTS_TABLE, scope=scope)}), "
            f"synced AS ({latest.format(events=synced, scope=scope)}) "
            "SELECT fresh.* FROM fresh LEFT JOIN synced ON synced.device_id = fresh.device_id "
            f"WHERE synced.device_id IS NULL OR {differs}"
        )
    if label == PHONE:
        # The block's hash and ordinal are functions of the number, like its hash, so
        # grouping by all three gives one group a number; keeping the two long ones as
        # keys rather than any_value() states made this 40 s -> 18 s at 13M numbers.
        # Every fact of a number is a function of it: a number looked up before has its
        # node already, so an incremental sync writes only the numbers new in $batches.
        older = (f"ANTI JOIN (SELECT phone_hash FROM {EVENTS_TABLE} WHERE NOT list_contains($batches, batch_id)) o "
                 "USING (phone_hash) " if incremental else "")
        return (
            "SELECT phone_hash, block_hash, block_ordinal::BIGINT AS block_ordinal, "
            "any_value(phone_calling_code)::BIGINT AS calling_code, any_value(phone_region) AS region, "
            f"any_value(phone_type) AS number_type FROM {source} e {older}"
            "WHERE phone_hash IS NOT NULL GROUP BY phone_hash, block_hash, block_ordinal"
        )
    raise ValueError(f"no event aggregate for node label {label!r}; known: {IP}, {DEVICE}, {PHONE}")


#: the ``input_accounts`` columns an Account node takes as they are (``extra`` apart)
_ACCOUNT_COLUMNS = ("created_at", "handle", "phone_country", "discoverable_by_phone", "status", "signup_ip",
                    "signup_device_id", "lang", "followers")


def _write(cur, timings: Timings, phase: str, sql: str, params: dict, write, batch_rows: int) -> int:
    with timings.timed(f"{phase} sql"):
        reader = cur.sql(sql, params=params).to_arrow_reader(batch_rows)
    return _write_batches(timings, phase, reader, write)


def _write_batches(timings: Timings, phase: str, batches: Iterable[pa.RecordBatch], write) -> int:
    """Write each batch, the time spent computing them (``phase sql``) apart from writing them (``phase write``)."""
    written = 0
    for batch in timings.each(f"{phase} sql", batches):
        if batch.num_rows:
            with timings.timed(f"{phase} write"):
                written += write(pa.Table.from_batches([batch]))
    return written


def _rebatched(batches: Iterable[pa.RecordBatch], rows: int) -> Iterator[pa.RecordBatch]:
    """``batches`` regrouped ``rows`` rows a batch (the last fewer), in order: a store call per batch."""
    pending: list[pa.RecordBatch] = []
    held = 0
    for batch in batches:
        pending.append(batch)
        held += batch.num_rows
        while held >= rows:
            table = pa.Table.from_batches(pending)
            yield from table.slice(0, rows).combine_chunks().to_batches()
            rest = table.slice(rows)
            pending, held = rest.to_batches(), rest.num_rows
    if held:
        yield from pa.Table.from_batches(pending).combine_chunks().to_batches()


def _same_database(cur, store: GraphStore) -> bool:
    """Whether ``store`` keeps its graph in the DuckDB file ``cur`` is on (then SQL writes it in place)."""
    path = cur.execute("SELECT path FROM duckdb_databases() WHERE database_name = current_database()").fetchall()
    return bool(path) and path[0][0] is not None and store.shares_warehouse(path[0][0])


def sync_graph(cur, store: GraphStore, batch_ids: Sequence[str], *, batch_rows: int | None = None,
               events: Callable[[str, dict], pa.RecordBatchReader] | None = None,
               timings: Timings | None = None) -> dict[str, int]:
    """Bring the graph store up to date with the events and reference rows of ``batch_ids``.

    Parameters
    ----------
    cur : DuckDB cursor
        On the workspace database (events, ``input_accounts``,
        ``input_labels``, ``ip_lookup``).
    store : GraphStore
        Embedded or Neo4j.
    batch_ids : sequence of str
        Loaded batches not yet synced.
    batch_rows : int, optional
        Rows a store call; default 1,000,000 embedded (each call is one
        columnar merge) and 20,000 on Neo4j (each call is one transaction).
    events : callable, optional
        Where the event aggregates run when the events are not in the
        workspace database: ``events(sql, params)`` gives the answer of one
        statement of :func:`edge_sql`, :func:`node_sql` (the Spark lake,
        :meth:`ingest.lake.EventLake.aggregates`). The same statements go
        there, planned edges and new nodes included, so a lake's sync into
        Neo4j costs what changed too. Accounts and labels still come from
        ``cur``.
    timings : Timings, optional
        Receives each node label's and relationship type's time, computing
        its rows (``graph sync NAME sql``) apart from writing them
        (``graph sync NAME write``): where a batch's sync goes.

    Returns
    -------
    dict
        Rows written per node label and relationship type, plus ``labels``.
    """
    ids = list(batch_ids)
    timings = timings or Timings()
    size = batch_rows or (1_000_000 if store.backend == "embedded" else 20_000)
    params = {"batches": ids}
    older_sql = f"SELECT count(*) AS older FROM {EVENTS_TABLE} WHERE NOT list_contains($batches, batch_id)"
    older = (events(older_sql, params).read_all().column(0)[0].as_py() if events is not None
             else cur.execute(older_sql, params).fetchall()[0][0])
    incremental = older > 0
    counts: dict[str, int] = {}

    def upsert_accounts(batch: pa.Table, new: bool = False) -> int:
        rows = batch.to_pylist()
        for row in rows:
            row["extra"] = json.loads(row["extra"]) if row["extra"] else None
        return (store.upsert_new_nodes if new else store.upsert_nodes)(ACCOUNT, rows)

    in_place = _same_database(cur, store)
    accounts = (f"FROM {ACCOUNTS_TABLE} a JOIN {BATCHES_TABLE} b USING (batch_id) "
                "WHERE list_contains($batches, a.batch_id)")
    if in_place:
        # the latest non-NULL value of each column wins, as upserting the rows in file order does
        latest = ", ".join(
            f"arg_max(a.{c}, (b.loaded_at, a.pos)) FILTER (WHERE a.{c} IS NOT NULL) AS {c}" for c in _ACCOUNT_COLUMNS
        )
        with timings.timed(f"graph sync {ACCOUNT} write"):
            counts[ACCOUNT] = store.upsert_query(
                ACCOUNT, f"SELECT a.account_id, {latest} {accounts} GROUP BY a.account_id", params
            )
        # ``extra`` is free-form JSON, stored the way the store encodes it: through Python
        _write(cur, timings, f"graph sync {ACCOUNT}", f"SELECT a.account_id, a.extra {accounts} AND a.extra IS NOT NULL "
               "ORDER BY b.loaded_at, a.pos", params, upsert_accounts, min(size, 50_000))
    else:
        # streamed in modest batches: accounts become Python dicts (their ``extra`` is free-form JSON);
        # on a first load every one is new (one listed twice, in two batches, is upserted then)
        counts[ACCOUNT] = _write(
            cur, timings, f"graph sync {ACCOUNT}",
            f"SELECT a.account_id, {', '.join('a.' + c for c in _ACCOUNT_COLUMNS)}, a.extra {accounts} "
            "ORDER BY b.loaded_at, a.pos",
            params, partial(upsert_accounts, new=not incremental), min(size, 50_000),
        )

    for name in (IP, DEVICE, PHONE, *EDGES):
        sql = node_sql(name, incremental) if name in (IP, DEVICE, PHONE) else edge_sql(name, incremental)
        bound = params if incremental else {}
        phase = f"graph sync {name}"
        if in_place and events is None:
            # the IP, Device and Phone nodes of every value these events hold were just written
            with timings.timed(f"{phase} write"):
                counts[name] = store.upsert_query(name, sql, bound, present_endpoints=(IP, DEVICE, PHONE))
            continue
        if name in EDGES:
            # new edges created without a look, existing ones found from their lower-degree end
            sql = edge_sql(name, incremental, planned=True)
            write = partial(write_planned, store, name, timings=timings)
        else:
            # numbers a sync writes are new (node_sql), and on a first load every node is
            new = name == PHONE or not incremental
            write = partial(store.upsert_new_nodes if new else store.upsert_nodes, name)
        if events is None:
            counts[name] = _write(cur, timings, phase, sql, bound, write, size)
            continue
        with timings.timed(f"{phase} sql"):
            answer = events(sql, bound)  # on the lake's engine (Spark), rows in the order the SQL gives
        counts[name] = _write_batches(timings, phase, _rebatched(answer, size), write)

    labels = cur.execute(
        "SELECT label_id, entity, entity_id, kind, value, actor, source, note "
        f"FROM {LABELS_TABLE} l JOIN {BATCHES_TABLE} b USING (batch_id) "
        "WHERE list_contains($batches, l.batch_id) ORDER BY b.loaded_at, l.pos", params,
    ).fetchall()
    if labels:
        present = {row["label_id"] for row in store.labels()}
        rows = [
            dict(zip(("label_id", "entity", "entity_id", "kind", "value", "actor", "source", "note"),
                     row, strict=True))
            for row in labels if row[0] not in present
        ]
        counts["labels"] = store.append_labels(rows) if rows else 0
    else:
        counts["labels"] = 0
    return counts
