"""The workspace's request events as the app reads them: :class:`graph.detect.frames.Events` on a cursor.

The web UI's questions, the exports' per-account activity and the briefings'
numbers are aggregate SQL over the ``events`` table, asked through the same
object detection asks (``{events}`` and ``{name}`` relations, frames handed
in by keyword, ``$name`` parameters, rows by column name), so that another
engine plugs in at one place. An :class:`EventReader` is that object on one
cursor of the workspace database, with the app's one rule added: a workspace
without events (never ingested, or a graph restored without its warehouse)
reads as empty instead of failing.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime

import duckdb
import pandas as pd
import pyarrow as pa

from graph.detect.frames import Events

__all__ = ["EventReader", "as_utc", "events_present"]


def as_utc(value: object) -> datetime | None:
    """A DuckDB or pandas timestamp as an aware UTC ``datetime`` (``None`` and ``NaT`` give ``None``)."""
    if value is None or pd.isna(value):
        return None
    if isinstance(value, pd.Timestamp):
        value = value.to_pydatetime()
    return value.astimezone(UTC) if value.tzinfo else value.replace(tzinfo=UTC)


def events_present(cursor: duckdb.DuckDBPyConnection) -> bool:
    """Whether the workspace database ``cursor`` reads holds the events table (:meth:`Events.exists`)."""
    return Events(cursor).exists()


class EventReader(Events):
    """The request events one cursor sees, as :class:`~graph.detect.frames.Events`; none reads as empty.

    Narrow it with :meth:`~graph.detect.frames.Events.for_accounts` and
    :meth:`~graph.detect.frames.Events.window` (``since <= ts < until``);
    ``present`` says whether there are events at all. Without them
    :meth:`query` gives an empty DataFrame without columns and :meth:`rows`
    no rows (so :meth:`~graph.detect.frames.Events.one` an empty dict).

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
    >>> EventReader(duckdb.connect()).one("SELECT count(*) AS requests FROM {events}")
    {}
    """

    def __init__(self, cursor: duckdb.DuckDBPyConnection):
        super().__init__(cursor)
        self.present = self.exists()

    def query(self, sql: str, params: Mapping[str, object] | None = None,
              **frames: pd.DataFrame | pa.Table) -> pd.DataFrame:
        """What ``sql`` selects, as a DataFrame (empty, without columns, when there are no events)."""
        return super().query(sql, params, **frames) if self.present else pd.DataFrame()

    def rows(self, sql: str, params: Mapping[str, object] | None = None,
             **frames: pd.DataFrame | pa.Table) -> list[dict]:
        """What ``sql`` selects, one dict a row keyed by column name (none when there are no events)."""
        return super().rows(sql, params, **frames) if self.present else []

    # The names this reader had before it was an Events: the same operations.
    frame = query
    within = Events.window

    @property
    def cursor(self) -> duckdb.DuckDBPyConnection:
        """The cursor it reads (:attr:`~graph.detect.frames.Events.connection`)."""
        return self.connection
