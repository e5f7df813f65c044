"""The workspace's request events as the app reads them: SQL with named relations, results by name.

The web UI's questions, the exports' per-account activity and the briefings'
numbers are aggregate SQL over the ``events`` table. An :class:`EventReader`
runs that SQL on one cursor. A query names what it reads in braces, as
:class:`graph.detect.frames.Events` queries do: ``{events}`` is the events
in the reader's scope (all of them, or those of some accounts, in a time
window) and ``{name}`` a DataFrame handed in as the keyword ``name=``,
registered for that query only. Nothing is read from a Python variable by
its name (a DuckDB replacement scan), so renaming one cannot silently change
a query. Values go in as named parameters (``$key``); rows come back as
DataFrames or as dicts keyed by the query's column names.

A workspace without events (never ingested, or a graph restored without its
warehouse) reads as empty; :func:`events_present` is the one check of that.
"""

from __future__ import annotations

import copy
import itertools
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from datetime import UTC, datetime

import duckdb
import pandas as pd

from graph.warehouse import EVENTS_TABLE

__all__ = ["EventReader", "as_utc", "events_present"]

_NAMES = itertools.count()


def as_utc(value: object) -> datetime | None:
    """A DuckDB or pandas timestamp as an aware UTC ``datetime`` (``None`` and ``NaT`` give ``None``)."""
    if value is None or pd.isna(value):
        return None
    if isinstance(value, pd.Timestamp):
        value = value.to_pydatetime()
    return value.astimezone(UTC) if value.tzinfo else value.replace(tzinfo=UTC)


def events_present(cursor: duckdb.DuckDBPyConnection) -> bool:
    """Whether the workspace database holds the events table."""
    ((found,),) = cursor.execute(
        "SELECT count(*) FROM information_schema.tables WHERE table_name = ?", [EVENTS_TABLE]
    ).fetchall()
    return bool(found)


class EventReader:
    """Queries over the request events one cursor sees, narrowed to some accounts or a window if asked.

    Parameters
    ----------
    cursor : duckdb.DuckDBPyConnection
        A cursor on the workspace database (:meth:`app.access.WorkspaceAccess.reader`).

    Examples
    --------
    >>> import duckdb
    >>> cursor = duckdb.connect()
    >>> _ = cursor.execute("CREATE TABLE events AS SELECT 'a' AS account_id, TIMESTAMPTZ '2019-12-24 06:00Z' AS ts")
    >>> reader = EventReader(cursor).for_accounts(["a", "b"])
    >>> reader.one("SELECT count(*) AS requests FROM {events}")
    {'requests': 1}
    """

    def __init__(self, cursor: duckdb.DuckDBPyConnection):
        self.cursor = cursor
        self.present = events_present(cursor)
        self._accounts: pd.DataFrame | None = None
        self._window: dict[str, datetime] = {}

    def for_accounts(self, accounts: Iterable[str]) -> EventReader:
        """A reader whose ``{events}`` are these accounts' requests only."""
        narrowed = copy.copy(self)
        narrowed._accounts = pd.DataFrame({"account_id": list(dict.fromkeys(accounts))}, dtype=object)
        return narrowed

    def within(self, since: datetime | None = None, until: datetime | None = None) -> EventReader:
        """A reader whose ``{events}`` fall in ``since <= ts < until`` (an end left ``None`` is open)."""
        narrowed = copy.copy(self)
        narrowed._window = {key: value for key, value in (("since", since), ("until", until)) if value is not None}
        return narrowed

    def frame(self, sql: str, params: Mapping[str, object] | None = None, **frames: pd.DataFrame) -> pd.DataFrame:
        """What ``sql`` selects, as a DataFrame (empty, without columns, when there are no events)."""
        if not self.present:
            return pd.DataFrame()
        with self._registered(frames) as names:
            return self.cursor.execute(self._sql(sql, names), self._params(params)).df()

    def rows(self, sql: str, params: Mapping[str, object] | None = None, **frames: pd.DataFrame) -> list[dict]:
        """What ``sql`` selects, one dict a row keyed by column name (none when there are no events)."""
        if not self.present:
            return []
        with self._registered(frames) as names:
            result = self.cursor.execute(self._sql(sql, names), self._params(params))
            columns = [column[0] for column in result.description]
            return [dict(zip(columns, row, strict=True)) for row in result.fetchall()]

    def one(self, sql: str, params: Mapping[str, object] | None = None, **frames: pd.DataFrame) -> dict:
        """The first row ``sql`` selects as a dict (empty when there is none)."""
        found = self.rows(sql, params, **frames)
        return found[0] if found else {}

    @contextmanager
    def _registered(self, frames: Mapping[str, pd.DataFrame]) -> Iterator[dict[str, str]]:
        """Register ``frames`` (and the scope's accounts) under private names for one query."""
        if self._accounts is not None:
            frames = {**frames, "scope_accounts": self._accounts}
        names = {key: f"_app_{key}_{next(_NAMES)}" for key in frames}
        for key, frame in frames.items():
            self.cursor.register(names[key], frame)
        try:
            yield names
        finally:
            for name in names.values():
                self.cursor.unregister(name)

    def _sql(self, sql: str, names: Mapping[str, str]) -> str:
        conditions = []
        if "scope_accounts" in names:
            conditions.append(f"account_id IN (SELECT account_id FROM {names['scope_accounts']})")
        conditions += [f"ts {'>=' if key == 'since' else '<'} $scope_{key}" for key in self._window]
        relation = f"(SELECT * FROM {EVENTS_TABLE} WHERE {' AND '.join(conditions)})" if conditions else EVENTS_TABLE
        return sql.format(events=relation, **names)

    def _params(self, params: Mapping[str, object] | None) -> dict[str, object]:
        return {**(params or {}), **{f"scope_{key}": value for key, value in self._window.items()}}

