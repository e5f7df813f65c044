"""Request events as detection reads them: a DuckDB relation with the event columns.

Detection aggregates tens of millions of request rows. Doing that in pandas
would hold every row in memory as Python objects; DuckDB aggregates the same
rows columnar and in parallel, and hands pandas only the small per-account,
per-IP or per-pair results. :class:`Events` wraps "a DuckDB connection plus
the name of a relation holding :data:`graph.warehouse.EVENT_COLUMNS`": the
workspace's ``events`` table in production, an in-memory DataFrame in tests
and benchmarks. Algorithm functions take an :class:`Events` (or a DataFrame,
converted on the way in) and return DataFrames; they never open files.

It is the one way into the events, for detection and for the app's pages,
briefings and exports (:class:`app.events.EventReader` is this object on a
workspace cursor), so that another engine plugs in at one place:
:meth:`Events.for_accounts` and :meth:`Events.window` narrow them to some
accounts or a time range (what a cluster's briefing or a page of the UI
reads), :meth:`Events.exists` says whether a workspace has any yet, the
frames a query reads beside them are registered explicitly
(:meth:`Events.register`, or :meth:`Events.query`'s keyword arguments),
values go in as named parameters (``$name``), and rows come back as a
DataFrame (:meth:`Events.query`) or as dicts keyed by column name
(:meth:`Events.rows`, :meth:`Events.one`).

Most signals and most of each cluster's evidence are about *lookups*: which
distinct numbers an account tried, in which blocks, and whether they matched.
Computing that distinct set from the raw rows (64-character pseudonyms,
tens of millions of them) is the most expensive step of detection, so
:meth:`Events.lookups` computes it once per :class:`Events` as a temporary
table of 64-bit keys that every later query reads instead.
"""

from __future__ import annotations

import copy
import itertools
import tempfile
from collections.abc import Collection, Iterable, Iterator, Mapping
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from graph.warehouse import EVENT_COLUMNS, EVENTS_TABLE

__all__ = ["Events", "among", "as_events", "events_frame", "scratch_connection", "EventsLike"]

_PANDAS_TYPES = {
    "VARCHAR": "object",
    "INTEGER": "Int32",
    "SMALLINT": "Int16",
    "TIMESTAMPTZ": "datetime64[us, UTC]",
}

_NAMES = itertools.count()


def scratch_connection(memory_limit: str = "768MB") -> duckdb.DuckDBPyConnection:
    """An in-memory DuckDB for pairwise self-joins of small frames (ties between accounts).

    Bounded, because the pairs of a busy bucket or address can run to
    gigabytes, and a connection's default is most of the machine's memory
    on top of what detection already holds; past the bound DuckDB spills to
    disk instead.
    """
    spill = Path(tempfile.gettempdir()) / "sybilscope-duckdb"
    return duckdb.connect(config={"memory_limit": memory_limit, "temp_directory": str(spill),
                                  "preserve_insertion_order": False})


def among(column: pd.Series | pd.Index, values: Collection) -> pd.Series | np.ndarray:
    """``column.isin(values)``: which of the column's values are among ``values``, as pandas returns it.

    pandas (3.x) looks string values up in an Arrow-backed column by turning
    each of ``values`` into an Arrow scalar in Python, which for the tens of
    thousands of accounts a run asks about costs a tenth of a second a
    call, seconds a run; Arrow's own set lookup takes milliseconds. Other
    columns, and values that are not all strings, go to ``isin`` itself.

    Examples
    --------
    >>> among(pd.Series(["a", "b", None]), {"b", "c"}).tolist()
    [False, True, False]
    >>> among(pd.Index(["a", "b"]), ["a"]).tolist()
    [True, False]
    """
    dtype = column.dtype
    if isinstance(values, (pd.Series, pd.Index)):
        wanted = values.tolist()  # iterating one boxes each value, as slowly
    else:
        wanted = values if isinstance(values, (list, set, frozenset, tuple)) else list(values)
    if not (isinstance(dtype, pd.StringDtype) and dtype.storage == "pyarrow") or not all(
            isinstance(v, str) for v in wanted):
        return column.isin(wanted)
    found = pc.is_in(pa.array(column), value_set=pa.array(list(wanted), type=pa.large_string()))
    found = found.to_numpy(zero_copy_only=False).astype(bool)
    return pd.Series(found, index=column.index, name=column.name) if isinstance(column, pd.Series) else found


def events_frame(rows: pd.DataFrame | Iterable[Mapping] | None = None) -> pd.DataFrame:
    """A DataFrame with exactly the event columns and their types, missing ones empty.

    Parameters
    ----------
    rows : DataFrame or iterable of mappings, optional
        Events with any subset of :data:`graph.warehouse.EVENT_COLUMNS`;
        ``ts`` may be ISO 8601 strings, epoch milliseconds or datetimes.

    Returns
    -------
    DataFrame
        Columns in the warehouse's order, typed as the warehouse types them.

    Examples
    --------
    >>> frame = events_frame([{"ts": "2019-12-24T06:00:00Z", "ip": "1.2.3.4", "account_id": "a"}])
    >>> frame.loc[0, "ts"].isoformat()
    '2019-12-24T06:00:00+00:00'
    >>> frame["phone_hash"].isna().all()
    np.True_
    """
    frame = rows.copy() if isinstance(rows, pd.DataFrame) else pd.DataFrame(list(rows or []))
    out = {}
    for name, sql_type in EVENT_COLUMNS.items():
        dtype = _PANDAS_TYPES[sql_type]
        if name not in frame.columns:
            if sql_type == "TIMESTAMPTZ":
                out[name] = pd.Series(pd.NaT, index=frame.index, dtype=dtype)
            else:
                out[name] = pd.Series(None, index=frame.index, dtype=dtype)
            continue
        column = frame[name]
        if sql_type == "TIMESTAMPTZ":
            if pd.api.types.is_integer_dtype(column):
                column = pd.to_datetime(column, unit="ms", utc=True)
            else:
                column = pd.to_datetime(column, utc=True, format="ISO8601")
            out[name] = column.astype(dtype)
        elif dtype == "object":
            out[name] = column.astype(object).where(column.notna(), None)
        else:
            out[name] = pd.array(column, dtype=dtype)
    return pd.DataFrame(out, index=frame.index).reset_index(drop=True)


class Events:
    """Request events in DuckDB: a connection, the relation that holds them and the frames read beside them.

    Parameters
    ----------
    connection : duckdb.DuckDBPyConnection
        A connection (or cursor) that can read ``table``.
    table : str
        Name of a table or view with the event columns (for the views
        :meth:`for_accounts` and :meth:`window` make, the ``SELECT`` that
        scopes them).

    Notes
    -----
    SQL passed to :meth:`query`, :meth:`rows`, :meth:`one`, :meth:`scalar`
    and :meth:`derived` names the events as ``{events}``, the distinct
    lookups by account as ``{lookups}`` (:meth:`lookups`) and every other
    relation by a key in braces. Those relations are registered explicitly,
    never found by the name of a Python variable (as DuckDB's replacement
    scans would: renaming such a variable breaks its query silently):
    :meth:`register` makes a DataFrame or Arrow table readable until
    :meth:`release`, and the keyword arguments of :meth:`query` (and
    :meth:`rows`, :meth:`one`) for that query only. Either way it is
    registered under a private name, so two callers' keys never collide.
    Values are named parameters: ``$name`` in the SQL, ``{"name": value}``
    as ``params``.

    Examples
    --------
    >>> events = Events.from_frame(events_frame([
    ...     {"ts": "2019-12-24T06:00:00Z", "account_id": "a"}, {"ts": "2019-12-25T06:00:00Z", "account_id": "b"}]))
    >>> events.register("watched", pd.DataFrame({"account_id": ["b"]}))
    >>> events.query("SELECT count(*) AS n FROM {events} JOIN {watched} USING (account_id)")["n"].tolist()
    [1]
    >>> len(events.for_accounts(["a"])), len(events.window(since="2019-12-25T00:00:00Z"))
    (1, 1)
    >>> events.one("SELECT count(*) AS n FROM {events} WHERE account_id = $who", {"who": "a"})
    {'n': 1}
    >>> events.release()
    """

    def __init__(self, connection: duckdb.DuckDBPyConnection, table: str = EVENTS_TABLE):
        self.connection = connection
        self.table = table
        self._source_table = table
        self._frames: dict[str, str] = {}
        self._tables: dict[str, str] = {}
        # frames the relation itself reads (a view's accounts), by the private name it reads them under
        self._scope: dict[str, pd.DataFrame] = {}

    @classmethod
    def from_frame(cls, frame: pd.DataFrame) -> Events:
        """Events held in memory, e.g. built by :func:`events_frame` in a test."""
        connection = duckdb.connect()
        connection.register("events", events_frame(frame))
        return cls(connection, "events")

    def exists(self) -> bool:
        """Whether the events' table is there: a workspace nothing has been ingested into has none."""
        found = self.connection.execute(
            "SELECT count(*) FROM information_schema.tables WHERE table_name = ?", [self._source_table]
        ).fetchall()
        return bool(found[0][0])

    def for_accounts(self, accounts: Iterable[str]) -> Events:
        """The events of ``accounts`` only, as another :class:`Events` on the same connection.

        For what is read about some accounts (a cluster's members, one
        account's page, the accounts a briefing or an export covers): the
        accounts are a frame the view reads, registered for each query it
        runs, so the SQL stays short however many there are and nothing is
        left registered between queries.

        Examples
        --------
        >>> events = Events.from_frame(events_frame([{"ts": 0, "account_id": "a"}, {"ts": 0, "account_id": "o'b"}]))
        >>> events.for_accounts(["o'b"]).query("SELECT account_id FROM {events}")["account_id"].tolist()
        ["o'b"]
        """
        ids = list(dict.fromkeys(accounts))
        if not ids:
            return self._view("FALSE")
        name = _private_name("accounts")
        view = self._view(f"account_id IN (SELECT account_id FROM {name})")
        view._scope[name] = pd.DataFrame({"account_id": ids}, dtype=object)
        return view

    def window(self, since: datetime | str | None = None, until: datetime | str | None = None) -> Events:
        """The events from ``since`` (included) until ``until`` (excluded), either end open when None.

        Ends are datetimes or ISO 8601 strings; one without a time zone is
        UTC, as every event time is.

        Examples
        --------
        >>> events = Events.from_frame(events_frame([{"ts": f"2019-12-{d}T06:00:00Z"} for d in (24, 25, 26)]))
        >>> len(events.window("2019-12-25", "2019-12-26T06:00:00Z"))
        1
        """
        start, end = _utc(since), _utc(until)
        if start is not None and end is not None and start > end:
            raise ValueError(f"the window must not end ({end.isoformat()}) before it starts ({start.isoformat()})")
        parts = [f"ts {op} TIMESTAMPTZ {_literal(moment.isoformat())}"
                 for op, moment in ((">=", start), ("<", end)) if moment is not None]
        return self._view(" AND ".join(parts) or "TRUE")

    def _view(self, condition: str) -> Events:
        """These events where ``condition`` holds: another object of the same kind, with its own derived
        tables and frames."""
        view = copy.copy(self)
        view.table = f"(SELECT * FROM {self.table} WHERE {condition})"
        view._frames, view._tables, view._scope = {}, {}, dict(self._scope)
        return view

    def register(self, key: str, frame: pd.DataFrame | pa.Table) -> None:
        """Make ``frame`` readable as ``{key}`` in this object's SQL until :meth:`release`.

        Registering a key again replaces its frame.
        """
        if key in ("events", "lookups"):
            raise ValueError(f"{{{key}}} names the events themselves: register the frame under another key")
        self.unregister(key)
        self._frames[key] = self._attach(key, frame)

    def unregister(self, key: str) -> None:
        """Stop reading ``{key}`` (nothing happens when it is not registered)."""
        name = self._frames.pop(key, None)
        if name is not None:
            self.connection.unregister(name)

    def _attach(self, key: str, frame: pd.DataFrame | pa.Table) -> str:
        name = _private_name(key)
        self.connection.register(name, frame)
        return name

    def query(self, sql: str, params: Mapping[str, object] | None = None,
              **frames: pd.DataFrame | pa.Table) -> pd.DataFrame:
        """Run ``sql`` (with ``{events}``, ``{lookups}`` and ``{key}`` placeholders) and return a DataFrame.

        ``params`` are the values of its ``$name`` parameters. Each keyword
        argument is a frame read as ``{its keyword}`` by this query only.
        """
        with self._executed(sql, params, frames) as result:
            return result.df()

    def rows(self, sql: str, params: Mapping[str, object] | None = None,
             **frames: pd.DataFrame | pa.Table) -> list[dict]:
        """What ``sql`` selects, one dict a row keyed by column name (arguments as :meth:`query` takes them)."""
        with self._executed(sql, params, frames) as result:
            columns = [column[0] for column in result.description]
            return [dict(zip(columns, row, strict=True)) for row in result.fetchall()]

    def one(self, sql: str, params: Mapping[str, object] | None = None,
            **frames: pd.DataFrame | pa.Table) -> dict:
        """The first row ``sql`` selects as a dict (empty when there is none)."""
        found = self.rows(sql, params, **frames)
        return found[0] if found else {}

    @contextmanager
    def _executed(self, sql: str, params: Mapping[str, object] | None = None,
                  frames: Mapping[str, pd.DataFrame | pa.Table] | None = None) -> Iterator[duckdb.DuckDBPyConnection]:
        """``sql`` run with ``frames`` and the view's own frames readable, until the block ends.

        The SQL is filled in first: a ``{lookups}`` it reads is built then,
        and registers the view's frames for itself.
        """
        names = {key: _private_name(key) for key in frames or {}}
        text = self._format(sql, **names)
        readable = {**self._scope, **{names[key]: frame for key, frame in (frames or {}).items()}}
        for name, frame in readable.items():
            self.connection.register(name, frame)
        try:
            yield self.connection.execute(text, dict(params) if params else None)
        finally:
            for name in readable:
                self.connection.unregister(name)

    def _format(self, sql: str, **names: str) -> str:
        """``sql`` with ``{events}``, ``{lookups}`` (built when named), the registered frames and ``names`` filled in."""
        if "{lookups}" in sql:
            names["lookups"] = self.lookups()
        return sql.format(events=self.table, **{**self._frames, **names})

    def lookups(self, by: str = "account_id") -> str:
        """The name of a temporary table of distinct lookups by ``by``, built on first use.

        One row per (``by``, number looked up): ``{by}``, ``phone`` (a
        64-bit hash of ``phone_hash``), ``block`` (of ``block_hash``; NULL
        when the number has none), ``ordinal`` (``block_ordinal``),
        ``matched`` (whether any of those lookups matched an account) and
        ``requests`` (how many rows). Built as :meth:`derived` tables are.

        Notes
        -----
        64-bit keys make grouping and joining several times faster than on
        the 64-character pseudonyms; two of tens of millions of numbers
        colliding (counted as one number) has a probability around 1e-5.
        """
        if by not in ("account_id", "ip", "device_id"):
            raise ValueError(f"by must be account_id, ip or device_id, not {by!r}")
        return self.derived(f"lookups_{by}", f"""
            SELECT {by}, phone, any_value(block) AS block, any_value(ordinal) AS ordinal,
                   bool_or(matched) AS matched, count(*) AS requests
            FROM (
                SELECT {by}, hash(phone_hash) AS phone,
                       CASE WHEN block_hash IS NOT NULL THEN hash(block_hash) END AS block,
                       block_ordinal AS ordinal, matched_account_id IS NOT NULL AS matched
                FROM {{events}} WHERE {by} IS NOT NULL AND phone_hash IS NOT NULL
            )
            GROUP BY 1, 2
        """)

    def derived(self, key: str, sql: str) -> str:
        """The name of a temporary table holding what ``sql`` selects, built on first use of ``key``.

        For intermediate results that several queries read. ``sql`` takes
        the ``{events}`` and ``{lookups}`` placeholders. The table is a
        snapshot of the events when first asked for; :meth:`release` drops
        it. Insertion order is not kept while it is built (DuckDB then
        aggregates in parallel without a final ordering pass): every reader
        groups or sorts.
        """
        if key not in self._tables:
            name = _private_name(key)
            preserve = self.connection.execute("SELECT current_setting('preserve_insertion_order')").fetchall()[0][0]
            self.connection.execute("SET preserve_insertion_order = false")
            try:
                with self._executed(f"CREATE TEMP TABLE {name} AS {sql}"):
                    pass
            finally:
                self.connection.execute(f"SET preserve_insertion_order = {bool(preserve)}")
            self._tables[key] = name
        return self._tables[key]

    def release(self) -> None:
        """Drop the temporary tables :meth:`lookups` and :meth:`derived` built and forget the registered frames.

        Their memory goes back to DuckDB; the object stays usable (tables
        are built again when next asked for).
        """
        for name in self._tables.values():
            self.connection.execute(f"DROP TABLE IF EXISTS {name}")
        self._tables.clear()
        for key in list(self._frames):
            self.unregister(key)

    def scalar(self, sql: str, params: Mapping[str, object] | None = None) -> object:
        """The single value ``sql`` (with ``{events}`` and ``{lookups}``, and ``params``) returns."""
        with self._executed(sql, params) as result:
            rows = result.fetchall()
        return rows[0][0] if rows else None

    def __len__(self) -> int:
        return int(self.scalar("SELECT count(*) FROM {events}"))


EventsLike = Events | pd.DataFrame


def _private_name(key: str) -> str:
    """A name no other frame or table of any :class:`Events` has, that says which ``key`` it serves."""
    return f"_detect_{''.join(c if c.isalnum() else '_' for c in key)}_{next(_NAMES)}"


def _literal(text: str) -> str:
    """``text`` as a SQL string literal."""
    return "'" + text.replace("'", "''") + "'"


def _utc(moment: datetime | str | None) -> pd.Timestamp | None:
    """A window's end as a UTC timestamp (one without a time zone is taken as UTC)."""
    if moment is None:
        return None
    stamp = pd.Timestamp(moment)
    return stamp.tz_localize("UTC") if stamp.tzinfo is None else stamp.tz_convert("UTC")


def as_events(events: EventsLike) -> Events:
    """Accept either :class:`Events` or a DataFrame of events."""
    if isinstance(events, Events):
        return events
    if isinstance(events, pd.DataFrame):
        return Events.from_frame(events)
    raise TypeError(f"events must be an Events or a pandas DataFrame, not {type(events).__name__}")
