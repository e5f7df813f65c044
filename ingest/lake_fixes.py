"""A new ``ip_intel`` on the spark engine: the lake's events re-enriched as the embedded path updates its own.

On DuckDB, loading an ``ip_intel`` file updates the events of every address
whose enrichment it changed, in the file's transaction
(:meth:`ingest.lookups.Lookups.refresh_ips`). A lake's Parquet files cannot
take part in that transaction, so the refresh records its fixes
(``ingest_lake_ip_fixes``) and :func:`apply_fixes` rewrites the files that
hold those addresses before any new request is added, with the same rule:
a country or ASN equal to the address's old enrichment becomes the new one
(one the request carried itself stays), the kind is always the new one.
Fixes apply in the order the files were loaded, as the updates did.

A rewrite is as safe to kill as an ingest: the rewritten files are written
to a ``_fix-`` folder (readers skip ``_`` folders), then the plan (which
file replaces which) is committed with the fixes' removal in one
transaction, and only then are files moved and removed. A kill before the
commit leaves the fixes to redo; after it, :func:`finish_rewrites` (run
first by every lake ingest) completes the plan.
"""

from __future__ import annotations

import shutil
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import unquote, urlparse

import pyarrow.parquet as pq

from graph.warehouse_schema import LAKE_FIXES_TABLE, LAKE_REWRITES_TABLE

__all__ = ["apply_fixes", "finish_rewrites"]

#: a rewrite's work folder inside the events folder (``_``: Spark readers skip it)
WORK_PREFIX = "_fix-"
#: the event columns a fix changes
_COUNTRY, _ASN, _KIND = "ip_country", "ip_asn", "ip_kind"


def finish_rewrites(cur, events_dir: Path) -> None:
    """Complete a committed rewrite a killed run left half done; remove an uncommitted one's work."""
    plan = cur.execute(f"SELECT old_file, staged_file, new_file FROM {LAKE_REWRITES_TABLE} "
                       "ORDER BY old_file, new_file").fetchall()
    # file by file, its parts in and then it out: a kill leaves at most one file's rows twice, until rerun
    for number, (old, staged, new) in enumerate(plan):
        if (events_dir / staged).exists():
            (events_dir / staged).replace(events_dir / new)
        if number + 1 == len(plan) or plan[number + 1][0] != old:
            (events_dir / old).unlink(missing_ok=True)
    if plan:
        cur.execute(f"DELETE FROM {LAKE_REWRITES_TABLE}")
    for work in events_dir.glob(f"{WORK_PREFIX}*"):
        shutil.rmtree(work, ignore_errors=True)


def apply_fixes(session, events_dir: Path, cur, run_mark: str) -> int:
    """Rewrite the lake files holding an address a new ``ip_intel`` re-enriched; returns the files rewritten.

    ``run_mark`` separates a published file's run id from the rest of its
    name: a rewritten file keeps its run's id, so the ledger still owns it.
    """
    from pyspark.sql import functions as F
    from pyspark.sql.pandas.types import from_arrow_schema

    finish_rewrites(cur, events_dir)
    fixes = cur.sql(f"SELECT seq, ip, old_country, country, old_asn, asn, kind FROM {LAKE_FIXES_TABLE} "
                    "ORDER BY seq, ip").to_arrow_table()
    if fixes.num_rows == 0:
        return 0
    fix_frame = session.createDataFrame(fixes, schema=from_arrow_schema(fixes.schema)).withColumnRenamed("ip", "_ip")
    files = _files_with(session, events_dir, fix_frame) if any(events_dir.glob("day=*")) else []
    if files:
        rewrite = f"{WORK_PREFIX}{datetime.now(UTC).strftime('%Y%m%dT%H%M%S.%fZ')}"
        frame = session.read.parquet(*(str(events_dir / path) for _, path in files))
        columns, types = frame.columns, dict(frame.dtypes)
        index = session.createDataFrame([(uri, i) for i, (uri, _) in enumerate(files)], "_uri string, _file int")
        frame = frame.withColumn("_uri", F.input_file_name()).join(F.broadcast(index), "_uri")
        for seq in sorted(set(fixes.column("seq").to_pylist())):
            fix = fix_frame.where(F.col("seq") == seq).drop("seq")
            frame = frame.join(F.broadcast(fix), frame["ip"] == fix["_ip"], "left")
            hit = F.col("_ip").isNotNull()
            fixed = {
                _COUNTRY: F.when(hit & F.col(_COUNTRY).eqNullSafe(F.col("old_country")), F.col("country"))
                .otherwise(F.col(_COUNTRY)),
                _ASN: F.when(hit & F.col(_ASN).eqNullSafe(F.col("old_asn")), F.col("asn")).otherwise(F.col(_ASN)),
                _KIND: F.when(hit, F.col("kind")).otherwise(F.col(_KIND)),
            }
            frame = frame.select(*(fixed[c].cast(types[c]).alias(c) if c in fixed else F.col(c) for c in columns),
                                 "_file")
        frame.write.partitionBy("_file").parquet(str(events_dir / rewrite))
        plan = _plan(events_dir, rewrite, [path for _, path in files], run_mark)
    else:
        plan = []
    cur.execute("BEGIN TRANSACTION")
    try:
        if plan:
            cur.executemany(f"INSERT INTO {LAKE_REWRITES_TABLE} VALUES (?, ?, ?)", plan)
        cur.execute(f"DELETE FROM {LAKE_FIXES_TABLE}")
        cur.execute("COMMIT")
    except BaseException:
        cur.execute("ROLLBACK")
        raise
    finish_rewrites(cur, events_dir)
    return len(files)


def _files_with(session, events_dir: Path, fix_frame) -> list[tuple[str, str]]:
    """The lake files holding an event of a fixed address: (Spark's URI for it, path inside ``events_dir``)."""
    from pyspark.sql import functions as F

    lake = session.read.parquet(str(events_dir)).select("ip", F.input_file_name().alias("_uri"))
    found = lake.join(F.broadcast(fix_frame.select("_ip").distinct()), F.col("ip") == F.col("_ip"), "left_semi")
    root = events_dir.resolve()
    uris = sorted(row[0] for row in found.select("_uri").distinct().collect())
    return [(uri, str(Path(unquote(urlparse(uri).path)).relative_to(root))) for uri in uris]


def _plan(events_dir: Path, rewrite: str, files: list[str], run_mark: str) -> list[tuple[str, str, str]]:
    """(old file, staged part, new file) rows: each file's rewritten parts, named for its run, in its folder."""
    work = events_dir / rewrite
    for checksum in work.rglob(".*.crc"):
        checksum.unlink()
    plan = []
    for number, old in enumerate(files):
        old_path = Path(old)
        run = old_path.name.split(run_mark)[0]
        parts = sorted((work / f"_file={number}").glob("*.parquet"))
        rows = sum(pq.read_metadata(part).num_rows for part in parts)
        if rows != pq.read_metadata(events_dir / old).num_rows:  # never replace a file by fewer rows
            raise RuntimeError(f"rewriting {old} gave {rows:,} rows, not its "
                               f"{pq.read_metadata(events_dir / old).num_rows:,}: the lake is left as it was")
        for j, part in enumerate(parts):
            new = old_path.parent / f"{run}{run_mark}{rewrite.removeprefix(WORK_PREFIX)}-{number:05d}-{j:05d}.parquet"
            plan.append((old, str(part.relative_to(events_dir)), str(new)))
    if len({new for _, _, new in plan}) < len(plan):  # two parts to one name would lose one
        raise RuntimeError(f"rewriting the lake's files at {events_dir} named two parts alike: the lake is left as it was")
    return plan
