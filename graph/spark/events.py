"""Request events on Spark: :class:`graph.detect.frames.Events` with Spark SQL behind it.

Detection reads events only through :class:`~graph.detect.frames.Events`
(query, rows, one, scalar, derived, for_accounts, window, register,
release). :class:`SparkEvents` answers the same calls with the same SQL,
translated (:func:`graph.spark.translate.to_spark`), so ``find_networks``
and the algorithm modules run unchanged: statistics over all events run on
the cluster and only the reduced frames they select come to the driver.

Answers come back as DuckDB would give them: DECIMAL columns as floats,
timestamps as UTC. Frames the SQL reads beside the events become temporary
views for the statement; derived tables are checkpointed (computed once,
lineage cut) until :meth:`SparkEvents.release`.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd
import pyarrow as pa

from graph.detect.frames import Events, _private_name
from graph.spark.translate import to_spark
from graph.warehouse import EVENT_COLUMNS

__all__ = ["SparkEvents", "EVENTS_VIEW"]

EVENTS_VIEW = "sybilscope_events"


class SparkEvents(Events):
    """Request events in a Spark session: a temporary view with the event columns.

    Parameters
    ----------
    session : pyspark.sql.SparkSession
        Classic or Spark Connect.
    table : str
        A temporary view (or table) with the event columns.
    """

    def __init__(self, session, table: str = EVENTS_VIEW):
        super().__init__(connection=None, table=table)
        self.session = session
        self._checkpoints: dict[str, object] = {}

    @classmethod
    def from_parquet(cls, session, path: str | Path, view: str = EVENTS_VIEW) -> SparkEvents:
        """The events of a (day-partitioned) Parquet folder, as the view ``view`` with the event columns only."""
        frame = session.read.parquet(str(path)).select(*EVENT_COLUMNS)
        frame.createOrReplaceTempView(view)
        return cls(session, view)

    def exists(self) -> bool:
        return bool(self.session.catalog.tableExists(self._source_table))

    def _attach(self, key: str, frame: pd.DataFrame | pa.Table) -> str:
        name = _private_name(key)
        self._spark_frame(frame).createOrReplaceTempView(name)
        return name

    def unregister(self, key: str) -> None:
        name = self._frames.pop(key, None)
        if name is not None:
            self.session.catalog.dropTempView(name)

    def _spark_frame(self, frame: pd.DataFrame | pa.Table):
        """``frame`` as a Spark DataFrame (an empty one keeps its columns' types)."""
        from pyspark.sql.pandas.types import from_arrow_schema

        table = frame if isinstance(frame, pa.Table) else pa.Table.from_pandas(frame, preserve_index=False)
        table = table.cast(pa.schema([_spark_type(f) for f in table.schema]))
        # with its schema: Spark Connect infers none from an empty table (no hot address, say)
        return self.session.createDataFrame(table, schema=from_arrow_schema(table.schema))

    @contextmanager
    def _executed(self, sql: str, params: Mapping[str, object] | None = None,
                  frames: Mapping[str, pd.DataFrame | pa.Table] | None = None) -> Iterator[object]:
        """The Spark DataFrame of ``sql``, its frames readable until the block ends (collect inside it)."""
        names = {key: _private_name(key) for key in frames or {}}
        text = to_spark(self._format(sql, **names), params)
        readable = {**self._scope, **{names[key]: frame for key, frame in (frames or {}).items()}}
        for name, frame in readable.items():
            self._spark_frame(frame).createOrReplaceTempView(name)
        try:
            yield _as_duckdb_types(self.session.sql(text))
        finally:
            for name in readable:
                self.session.catalog.dropTempView(name)

    def query(self, sql: str, params: Mapping[str, object] | None = None,
              **frames: pd.DataFrame | pa.Table) -> pd.DataFrame:
        with self._executed(sql, params, frames) as result:
            table = result.toArrow()
        return _pandas(table)

    def rows(self, sql: str, params: Mapping[str, object] | None = None,
             **frames: pd.DataFrame | pa.Table) -> list[dict]:
        with self._executed(sql, params, frames) as result:
            table = result.toArrow()
        return [{k: _utc(v) for k, v in row.items()} for row in table.to_pylist()]

    def scalar(self, sql: str, params: Mapping[str, object] | None = None) -> object:
        found = self.rows(sql, params)
        return next(iter(found[0].values())) if found else None

    def derived(self, key: str, sql: str) -> str:
        """As :meth:`Events.derived`: computed once (a local checkpoint, lineage cut) and read by name."""
        if key not in self._tables:
            name = _private_name(key)
            with self._executed(sql) as result:
                table = result.localCheckpoint(eager=True)
            table.createOrReplaceTempView(name)
            self._tables[key] = name
            self._checkpoints[name] = table
        return self._tables[key]

    def release(self) -> None:
        for name in self._tables.values():
            self.session.catalog.dropTempView(name)
            self._checkpoints.pop(name).unpersist()
        self._tables.clear()
        for key in list(self._frames):
            self.unregister(key)


def _spark_type(field: pa.Field) -> pa.Field:
    """Arrow types Spark reads: unsigned integers (DuckDB's hashes) as signed 64-bit, nulls as strings."""
    if pa.types.is_unsigned_integer(field.type):
        return field.with_type(pa.int64())
    if pa.types.is_null(field.type):
        return field.with_type(pa.string())
    return field


def _as_duckdb_types(frame):
    """``frame`` with DECIMAL columns as DOUBLE, the type DuckDB's answer has."""
    from pyspark.sql.types import DecimalType

    if not any(isinstance(f.dataType, DecimalType) for f in frame.schema.fields):
        return frame
    return frame.select(*[frame[f.name].cast("double").alias(f.name) if isinstance(f.dataType, DecimalType)
                          else frame[f.name] for f in frame.schema.fields])


def _pandas(table: pa.Table) -> pd.DataFrame:
    """An Arrow answer as DuckDB's ``df()`` gives it: timestamps UTC, nullable integers as floats."""
    columns = {}
    for field, column in zip(table.schema, table.columns, strict=True):
        if pa.types.is_timestamp(field.type):
            series = column.to_pandas()
            stamps = pd.to_datetime(series)
            columns[field.name] = (stamps.dt.tz_localize("UTC") if stamps.dt.tz is None
                                   else stamps.dt.tz_convert("UTC")).astype("datetime64[us, UTC]")
        else:
            columns[field.name] = column.to_pandas()
    return pd.DataFrame(columns, index=pd.RangeIndex(table.num_rows))


def _utc(value: object) -> object:
    """A timestamp from Spark (naive, in the session's UTC) as an aware UTC datetime, as DuckDB returns it."""
    if isinstance(value, datetime):
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    return value


def lake_events(workspace) -> SparkEvents:
    """A workspace's events on the ``spark`` engine: its Parquet ``events_dir`` in the configured session."""
    from graph.errors import SybilscopeError
    from graph.spark.session import spark_session

    settings = workspace.settings
    path = Path(settings.events_dir) if settings.events_dir else None
    if path is None or not any(path.glob("day=*")):
        raise SybilscopeError(
            f"the workspace {workspace.root} has no request events in Parquet yet ({path or 'no --events-dir'}): "
            "run `sybilscope ingest --engine spark --events-dir DIR CASE_DIR` first"
        )
    if _unfinished_fixes(workspace.db_path):
        raise SybilscopeError(
            f"an ingest re-enriching the events at {path} with a new ip_intel did not finish: run `sybilscope "
            "ingest` on the workspace again (with files already loaded it only finishes that) before detecting"
        )
    return SparkEvents.from_parquet(spark_session(settings.spark_master, settings.spark_remote), path)


def _unfinished_fixes(db_path: Path) -> bool:
    """Whether re-enrichment a new ``ip_intel`` owes the lake's events is still pending (a killed ingest)."""
    from graph import warehouse
    from graph.warehouse_schema import LAKE_FIXES_TABLE, LAKE_REWRITES_TABLE

    con = warehouse.connect(db_path)
    tables = {r[0] for r in con.execute("SELECT table_name FROM information_schema.tables").fetchall()}
    return any(con.execute(f"SELECT count(*) FROM {name}").fetchone()[0]
               for name in (LAKE_FIXES_TABLE, LAKE_REWRITES_TABLE) if name in tables)
