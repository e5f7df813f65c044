"""The workspace's request events as the app reads them: :class:`graph.detect.frames.Events` on a cursor.

The web UI's questions, the exports' per-account activity and the briefings'
numbers are aggregate SQL over the ``events`` table, asked through the same
object detection asks (``{events}`` and ``{name}`` relations, frames handed
in by keyword, ``$name`` parameters, rows by column name), so that another
engine plugs in at one place. An :class:`EventReader` is that object on one
cursor of the workspace database, with the app's one rule added: a workspace
without events (never ingested, or a graph restored without its warehouse)
reads as empty instead of failing.

A ``spark`` workspace keeps its events as day-partitioned Parquet in its
events folder, not in its database: :func:`read_lake` makes a cursor read
them there as ``events`` (DuckDB reads the lake directly, which is all a UI
on one machine needs), so the pages, exports and briefings see the events
the run used without a Spark session.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path

import duckdb
import pandas as pd
import pyarrow as pa

from graph.detect.frames import Events
from graph.warehouse import EVENT_COLUMNS, EVENTS_TABLE
from graph.warehouse_schema import LAKE_REWRITES_TABLE

__all__ = ["EventReader", "as_utc", "events_present", "read_lake"]


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


def read_lake(cursor: duckdb.DuckDBPyConnection, events_dir: Path) -> duckdb.DuckDBPyConnection:
    """``cursor``, reading the Parquet events under ``events_dir`` (``day=*/``) as ``events``; returned.

    A temporary view on this cursor only, in front of the database's own
    (empty) table; a lake without events yet leaves that table. Columns are
    the warehouse's, typed as it types them: Spark writes ``ts`` as a
    timestamp without zone, holding UTC.
    """
    files = sorted(Path(events_dir).glob("day=*/*.parquet"))
    if not files:
        return cursor
    columns = ", ".join("make_timestamptz(epoch_us(ts)) AS ts" if sql_type == "TIMESTAMPTZ"
                        else f"CAST({name} AS {sql_type}) AS {name}" for name, sql_type in EVENT_COLUMNS.items())
    hidden = _half_swapped(cursor, Path(events_dir))
    paths = [Path(events_dir) / "day=*" / "*.parquet"] if not hidden else [f for f in files if f not in hidden]
    listed = ", ".join("'" + str(path).replace("'", "''") + "'" for path in paths)
    cursor.execute(f"CREATE OR REPLACE TEMP VIEW {EVENTS_TABLE} AS SELECT {columns} "
                   f"FROM read_parquet([{listed}], hive_partitioning = false)")
    return cursor


def _half_swapped(cursor: duckdb.DuckDBPyConnection, events_dir: Path) -> set[Path]:
    """Rewritten lake files already in place while the file they replace is still there (a killed re-enrichment).

    Until the next ingest finishes the swap (:mod:`ingest.lake_fixes`), the
    old file is read and these are not: the events as they were, each once.
    """
    present = cursor.execute("SELECT count(*) FROM information_schema.tables WHERE table_name = ?",
                             [LAKE_REWRITES_TABLE]).fetchone()[0]
    if not present:
        return set()
    plan = cursor.execute(f"SELECT old_file, new_file FROM {LAKE_REWRITES_TABLE}").fetchall()
    return {events_dir / new for old, new in plan if (events_dir / old).exists() and (events_dir / new).exists()}


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
