"""Request events in the lake: a Spark ingest writing day-partitioned Parquet at the workspace's events folder.

On the ``spark`` engine :func:`ingest.pipeline.ingest` hands the requests
files to an :class:`EventLake`. The reference tables (accounts, labels,
``ip_intel``) stay in the workspace database, as does the ledger.

1. **Check** on the executors: one task a file, the embedded path's own
   reader and loader (:mod:`ingest.lake_checks`, through ``mapInArrow``).
   The pseudonym secret and ``ip_intel`` reach them as broadcasts (classic
   Spark) or as files read on the executor (Spark Connect): never inside
   the plan or a log line.
2. **Duplicates across files and runs**, on Spark: a row another file of
   the run brought first (by file order, then line) is quarantined as the
   embedded path quarantines it; a row already in the lake is counted as
   already loaded. Neither is written.
3. **Re-enrichment**: addresses an ``ip_intel`` loaded before the requests
   changed are fixed in the files already published (:mod:`ingest.lake_fixes`).
4. **Publish**: the run's events are written day-partitioned into a folder
   of their own inside the events folder (``_``-prefixed, so readers skip
   it), then moved into place, a new day's folder by one rename, a file
   into an existing day by one rename each. Only then do the files' ledger
   rows and quarantine commit, in one transaction. A file of a run the
   ledger does not know (a killed run) is removed before the next run
   publishes: a killed run re-runs cleanly, and re-ingesting the same files
   (the ledger knows their sha256) changes nothing.
5. **Graph sync**: :func:`ingest.aggregate.sync_graph` with its event
   aggregates run on Spark (:meth:`EventLake.aggregates`), the reduced
   tables loaded into the configured store.

The run's quarantine is also written beside the events, as
``_quarantine/<run>.parquet``.
"""

from __future__ import annotations

import json
import os
import shutil
import uuid
from collections.abc import Callable, Sequence
from functools import partial
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from graph.errors import ConfigError
from graph.warehouse_schema import (
    BATCHES_TABLE,
    DIRTY_IPS_TABLE,
    EVENTS_TABLE,
    INTEL_TABLE,
    IP_LOOKUP_TABLE,
    QUARANTINE_TABLE,
)
from graph.workspace import SECRET_FILE, SETTINGS_FILE, Workspace
from ingest import batches, lake_fixes, quarantine
from ingest.arrow_sql import arrow_sql
from ingest.lake_checks import FILES, OUTPUT, check_files, read_side, secret_file_reader
from ingest.loader import FileLoad
from ingest.readers import SourceFile

__all__ = ["EventLake", "QUARANTINE_FOLDER"]

#: beside the day partitions: the quarantine of each run, as Parquet
QUARANTINE_FOLDER = "_quarantine"
#: between a run's id and the part's own name in a published file's name
_RUN_MARK = "--"
#: rows the executor checks a pass (as :data:`ingest.pipeline.CHUNK_TARGET_ROWS`)
_CHUNK_ROWS = 500_000


class EventLake:
    """The Parquet events folder of a ``spark`` workspace, and the Spark session that writes and reads it."""

    def __init__(self, session, events_dir: Path, workspace: Workspace):
        self.session = session
        self.events_dir = events_dir
        self.workspace = workspace

    @classmethod
    def of(cls, workspace: Workspace) -> EventLake:
        """The workspace's lake (its ``events_dir``, recorded in its settings) on the configured session."""
        from graph.spark.session import spark_session

        settings = workspace.settings
        if not settings.events_dir:
            raise ConfigError("ingest on the spark engine writes Parquet: give --events-dir DIR "
                              "(or $SYBILSCOPE_EVENTS_DIR)")
        events_dir = Path(settings.events_dir).expanduser().resolve()
        events_dir.mkdir(parents=True, exist_ok=True)
        _record_settings(workspace, events_dir)
        return cls(spark_session(settings.spark_master, settings.spark_remote), events_dir, workspace)

    @property
    def _remote(self) -> bool:
        return type(self.session).__module__.startswith("pyspark.sql.connect")

    def load(self, cur, sources: Sequence[SourceFile], run_id: str, run_batches: list[str]
             ) -> tuple[list[tuple[FileLoad, str | None]], int]:
        """Check, de-duplicate and publish the requests files; their ledger rows committed after.

        Returns each loaded file's load and truncation message (``None``
        when whole), and how many files were skipped (loaded before).
        """
        self._discard_unrecorded(cur)
        todo = []
        for source in sources:
            batch_id, sha = batches.batch_of(source)
            if batches.needs_loading(cur, batch_id):
                todo.append((source, batch_id, sha))
                run_batches.append(batch_id)
        if not todo:
            return [], len(sources)
        work = self.events_dir / f"_run-{run_id}"
        shutil.rmtree(work, ignore_errors=True)
        try:
            checked = self._check(cur, todo, work)
            loads = self._deduplicate_and_write(cur, checked, todo, work)
            self._publish(work / "events", run_id)
            self._commit(cur, loads, todo, run_id)
        finally:
            shutil.rmtree(work, ignore_errors=True)
        return [(load, truncated) for load, truncated, _, _ in loads], len(sources) - len(todo)

    def _readers(self, cur, work: Path) -> tuple[Callable[[], bytes], Callable[[], pa.Table]]:
        """How the executors get the secret and ``ip_intel``: broadcasts, or files on Spark Connect."""
        intel = cur.sql(f"SELECT * FROM {INTEL_TABLE}").to_arrow_table()
        if not self._remote:
            context = self.session.sparkContext
            secret, rows = context.broadcast(self.workspace.secret()), context.broadcast(intel)
            return (lambda: secret.value), (lambda: rows.value)
        work.mkdir(parents=True, exist_ok=True)
        pq.write_table(intel, work / "ip_intel.parquet")
        return secret_file_reader(self.workspace.root / SECRET_FILE), partial(pq.read_table, work / "ip_intel.parquet")

    def checked_frame(self, cur, todo: Sequence[tuple[SourceFile, str, str]], work: Path):
        """The Spark DataFrame of every file's checked rows (:data:`ingest.lake_checks.OUTPUT`), not run yet."""
        from pyspark.sql.pandas.types import from_arrow_schema

        files = pa.table({"file_no": pa.array(range(len(todo)), pa.int32()),
                          "path": [str(source.path.resolve()) for source, _, _ in todo],
                          "batch_id": [batch_id for _, batch_id, _ in todo]}, schema=FILES)
        secret, intel = self._readers(cur, work)
        frame = self.session.createDataFrame(files).repartition(len(todo), "file_no")
        return frame.mapInArrow(check_files(secret, intel, _CHUNK_ROWS), from_arrow_schema(OUTPUT))

    def _check(self, cur, todo, work: Path):
        """Run the checks once, kept as Parquet in ``work`` (the later steps read them several times)."""
        self.checked_frame(cur, todo, work).write.parquet(str(work / "checked"))
        return self.session.read.parquet(str(work / "checked"))

    def _deduplicate_and_write(self, cur, checked, todo, work: Path) -> list[tuple[FileLoad, str | None, pa.Table,
                                                                                  dict]]:
        """Each file's load, truncation, copies of an earlier file's rows and side outputs; new events in ``work``.

        Copies are found across the run's files, rows already in the lake
        across runs; the events left are written day-partitioned to ``work``.
        """
        from pyspark.sql import Window
        from pyspark.sql import functions as F

        sides = _side_outputs(checked.where(F.col("_kind").isNotNull()).select("_file_no", "_kind", "_side"))
        events = checked.where(F.col("_kind").isNull()).drop("_kind", "_side")
        order = Window.partitionBy("event_id").orderBy("_file_no", "source_row")
        ranked = events.select("*", F.row_number().over(order).alias("_rank"),
                               F.first("_file_no").over(order).alias("_first_file"),
                               F.first("source_row").over(order).alias("_first_row"))
        repeats = ranked.where("_rank > 1").select("_file_no", "source_row", "_first_file", "_first_row").toArrow()
        firsts = ranked.where("_rank = 1").drop("_rank", "_first_file", "_first_row")
        existing: dict[int, int] = {}
        if any(self.events_dir.glob("day=*")):
            lake_ids = self.session.read.parquet(str(self.events_dir)).select("event_id")
            existing = {r["_file_no"]: r["count"] for r in
                        firsts.join(lake_ids, "event_id", "left_semi").groupBy("_file_no").count().collect()}
            firsts = firsts.join(lake_ids, "event_id", "left_anti")
        written = firsts.select(*[F.col(f.name) for f in OUTPUT if not f.name.startswith("_")],
                                F.date_format("ts", "yyyy-MM-dd").alias("day"))
        written.write.partitionBy("day").parquet(str(work / "events"))
        inserted = {r["_file_no"]: r["count"] for r in firsts.groupBy("_file_no").count().collect()}
        loads = []
        for file_no, (source, batch_id, _) in enumerate(todo):
            side = sides[file_no]
            counters = side["file"]
            load = FileLoad(source, batch_id, counters["unknown"], read=counters["read"],
                            quarantined=counters["quarantined"], inserted=inserted.get(file_no, 0),
                            existing=existing.get(file_no, 0), forbidden=counters["forbidden"])
            loads.append((load, counters["truncated"], _repeats_of(repeats, file_no, todo), side))
        return loads

    def _publish(self, staged: Path, run_id: str) -> None:
        """Move the run's day partitions into the events folder: a new day by one rename, else file by file."""
        if not staged.exists():
            return
        for checksum in staged.rglob(".*.crc"):  # Hadoop's, named after the part: stale once it is renamed
            checksum.unlink()
        for day in sorted(staged.glob("day=*")):
            parts = sorted(day.glob("*.parquet"))
            for part in parts:
                part.rename(part.with_name(f"{run_id}{_RUN_MARK}{part.name}"))
            target = self.events_dir / day.name
            if not target.exists():
                day.rename(target)
                continue
            for part in sorted(day.glob("*.parquet")):
                part.rename(target / part.name)

    def _commit(self, cur, loads, todo, run_id: str) -> None:
        """The files' quarantine, enrichment and ledger rows, in one transaction; the quarantine beside the events."""
        cur.execute("BEGIN TRANSACTION")
        try:
            for (load, truncated, repeats, side), (_, batch_id, sha) in zip(loads, todo, strict=True):
                cur.execute(f"DELETE FROM {QUARANTINE_TABLE} WHERE batch_id = ?", [batch_id])
                if side["quarantine"].num_rows:
                    cur.from_arrow(side["quarantine"]).insert_into(QUARANTINE_TABLE)
                if repeats.num_rows:
                    load.quarantined += quarantine.add_duplicates(cur, batch_id, load.source, repeats)
                fresh = side["ip_lookup"]
                if fresh.num_rows:
                    arrow_sql(cur, f"INSERT OR IGNORE INTO {IP_LOOKUP_TABLE} SELECT * FROM {{fresh}}", fresh=fresh)
                batches.record(cur, load, sha, truncated is not None, run_id)
            self._write_quarantine(cur, [batch_id for _, batch_id, _ in todo], run_id)
            cur.execute("COMMIT")
        except BaseException:
            cur.execute("ROLLBACK")
            raise

    def _write_quarantine(self, cur, batch_ids: list[str], run_id: str) -> None:
        rows = cur.sql(f"SELECT * FROM {QUARANTINE_TABLE} WHERE list_contains($ids, batch_id)",
                       params={"ids": batch_ids}).to_arrow_table()
        folder = self.events_dir / QUARANTINE_FOLDER
        folder.mkdir(exist_ok=True)
        tmp = folder / f".{run_id}.parquet.tmp"
        pq.write_table(rows, tmp)
        tmp.replace(folder / f"{run_id}.parquet")

    def apply_fixes(self, cur) -> int:
        """Re-enrich the events of addresses a new ``ip_intel`` changed (:mod:`ingest.lake_fixes`); files rewritten."""
        return lake_fixes.apply_fixes(self.session, self.events_dir, cur, _RUN_MARK)

    def _discard_unrecorded(self, cur) -> None:
        """Remove what a killed run left: work folders, and published files of runs the ledger does not know."""
        lake_fixes.finish_rewrites(cur, self.events_dir)  # its files keep their runs' names
        # the reference tables' rows commit before the requests': their run is not proof of the requests'
        runs = {r[0] for r in cur.execute(
            f"SELECT DISTINCT run_id FROM {BATCHES_TABLE} WHERE table_name = 'requests'").fetchall()}
        for leftover in [*self.events_dir.glob("_run-*"), *self.events_dir.glob("_answer-*")]:
            shutil.rmtree(leftover, ignore_errors=True)
        for part in [*self.events_dir.glob("day=*/*.parquet"), *self.events_dir.glob(f"{QUARANTINE_FOLDER}/*")]:
            run = part.name.split(_RUN_MARK)[0] if _RUN_MARK in part.name else part.name.removesuffix(".parquet")
            if run not in runs:
                part.unlink()
        for day in self.events_dir.glob("day=*"):
            if not any(day.iterdir()):
                day.rmdir()

    def aggregates(self, cur) -> Callable[[str, dict], pa.RecordBatchReader]:
        """The graph sync's event aggregates on Spark: the lake as ``events``, the address lookups beside it.

        Each answer is streamed (:func:`_streamed`): a first load's
        ``LOOKED_UP`` rows are as many as its distinct lookups.
        """
        from pyspark.sql.pandas.types import from_arrow_schema

        from graph.spark.translate import to_spark

        self.session.read.parquet(str(self.events_dir)).drop("day").createOrReplaceTempView(EVENTS_TABLE)
        for name in (IP_LOOKUP_TABLE, DIRTY_IPS_TABLE):
            table = cur.sql(f"SELECT * FROM {name}").to_arrow_table()
            table = table.cast(pa.schema([f.with_type(pa.int16()) if pa.types.is_int8(f.type) else f
                                          for f in table.schema]))
            # with its schema: Spark Connect infers none from an empty table (a case without dirty IPs)
            self.session.createDataFrame(table, schema=from_arrow_schema(table.schema)).createOrReplaceTempView(name)

        def run(sql: str, params: dict) -> pa.RecordBatchReader:
            return _streamed(self.session.sql(to_spark(sql, params)), self.events_dir / f"_answer-{uuid.uuid4().hex}")
        return run


def _streamed(frame, folder: Path) -> pa.RecordBatchReader:
    """``frame``'s rows as Arrow batches, in its order, read from Parquet files its executors write to ``folder``.

    Collected whole (``toArrow``), an answer must fit in the driver at
    once, under ``spark.driver.maxResultSize`` (1 GB by default): a 36M-row
    case's lookups do not. Written as files (one a partition, named in the
    order of the partitions, which a sorted answer's order follows) and
    read back a row group at a time, any answer streams. The batches have
    the types ``toArrow`` gives (timestamps in UTC). ``folder`` is removed
    once the batches are read; it is ``_``-prefixed, so readers of the lake
    skip it, and a killed run's is removed by the next run.
    """
    from pyspark.sql.pandas.types import to_arrow_schema

    schema = to_arrow_schema(frame.schema, timezone="UTC")
    frame.write.parquet(str(folder))

    def batches():
        try:
            for part in sorted(folder.glob("part-*.parquet")):
                for batch in pq.ParquetFile(part).iter_batches():
                    yield from pa.Table.from_batches([batch]).cast(schema).to_batches()
        finally:
            shutil.rmtree(folder, ignore_errors=True)

    return pa.RecordBatchReader.from_batches(schema, batches())


def _side_outputs(rows) -> dict[int, dict]:
    """Each file's side outputs (:data:`ingest.lake_checks.SIDE_KINDS`) from the Spark rows that carry them.

    Streamed a partition at a time (``toLocalIterator``), never collected
    whole: every file's enrichment lists the addresses it saw, so at scale
    they add up to more than the driver takes in one result (1 GB by
    default; a 36M-row case's 146 files sent 1.3 GB). An address already
    enriched by another file of the run is dropped from the later one:
    the enrichment of an address text is a function of it and of the
    run's ``ip_intel``, the same on every executor, and the workspace
    keeps an address's first row anyway.
    """
    sides: dict[int, dict] = {}
    enriched: set[str] = set()
    for row in rows.toLocalIterator():
        kind, side = row["_kind"], read_side(row["_kind"], bytes(row["_side"]))
        if kind == "ip_lookup" and side.num_rows:
            raw = side.column("raw").to_pylist()
            keep = [address not in enriched for address in raw]
            enriched.update(raw)
            side = side.filter(pa.array(keep, pa.bool_()))
        sides.setdefault(row["_file_no"], {})[kind] = side
    return sides


def _repeats_of(repeats: pa.Table, file_no: int, todo) -> pa.Table:
    """The rows of one file that copy an earlier file's row, as :func:`ingest.quarantine.add_duplicates` takes them."""
    mine = [r for r in repeats.to_pylist() if r["_file_no"] == file_no]
    sources = [source for source, _, _ in todo]
    return pa.table({
        "pos": pa.array([r["source_row"] for r in mine], pa.int64()),
        "first_pos": pa.array([r["_first_row"] for r in mine], pa.int64()),
        "first_file": pa.array([str(sources[r["_first_file"]].path) for r in mine], pa.string()),
        "first_key": pa.array([f"same_as_{sources[r['_first_file']].position_name}" for r in mine], pa.string()),
    })


def _record_settings(workspace: Workspace, events_dir: Path) -> None:
    """The workspace remembers its engine and events folder, so ``detect`` finds them without flags."""
    path = workspace.root / SETTINGS_FILE
    stored = json.loads(path.read_text(encoding="utf-8")) if path.exists() else {}
    stored.update(engine="spark", events_dir=str(events_dir))
    tmp = path.with_suffix(f".{os.getpid()}.tmp")
    tmp.write_text(json.dumps(stored, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    tmp.replace(path)
