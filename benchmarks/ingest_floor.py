"""The least time any ingest of a case can take on this machine: its unavoidable work, each done the fastest way we know.

``benchmarks/ingest.py`` measures sybilscope's ingest against the target of
500k rows/s on 2 cores. This benchmark asks whether *any* design could meet
it here. It times the work the ingest issue itself requires, each step on
its own with the fastest native path available (no Python a row, no
validation logic, no transactions, no bookkeeping), on the case and
workspace of a ``benchmarks/ingest.py`` run:

``read``
    Every request file, all columns, streamed with pyarrow in one pass; the
    next three steps are timed on each batch of that pass.
``spread lookups``
    Dictionary-encoding the IP and user agent columns: the least any design
    pays to look each distinct value up once and give every row its answer.
``duplicates``
    DuckDB hashing every row's content and counting the distinct hashes
    (what finding exact duplicate rows needs at minimum).
``distinct numbers``
    The case's distinct phone values, normalized.
``pseudonymize``
    The keyed hash (HMAC-SHA256, CONTRACT section 4) of every distinct
    number and block of the whole case, each exactly once.
``classify numbers``
    Calling code, region and number type of every distinct number (our
    vectorized :func:`ingest.enrich.classify_phones`, ~25x phonenumbers).
``store events (DuckDB)`` / ``store events (Parquet)``
    Writing the workspace's finished event rows once: DuckDB's bulk
    ``CREATE TABLE AS`` from Parquet into a fresh database file, or
    pyarrow writing Parquet (only the writer's calls are timed).
``graph: <kind>``
    Each node label and relationship type the graph store needs, as one
    ``CREATE TABLE AS`` of its aggregate (:mod:`ingest.aggregate`'s SQL) over
    the events in Parquet, into a fresh database file: the same rows an
    ingest writes, without upsert logic.

It prints each step's wall and CPU seconds, and two floors: the sum of wall
times (steps one after another), and total CPU time over the cores (every
core busy all the time, the most generous bound) beside the time the
target allows. What the floor leaves out (validation, quarantine,
bookkeeping, crash safety) only adds to it.

Run: ``.venv/bin/python benchmarks/ingest_floor.py [--workdir DIR] [--scale 250]``;
with the ``--workdir`` of a ``benchmarks/ingest.py`` run it reuses that
run's case and workspace, otherwise it simulates and ingests them first.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as ds
import pyarrow.parquet as pq

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from graph.schema import ACCOUNT, DEVICE, IP, PHONE  # noqa: E402
from graph.workspace import SECRET_FILE  # noqa: E402
from ingest.aggregate import EDGES, edge_sql, node_sql  # noqa: E402
from ingest.enrich import classify_phones  # noqa: E402
from ingest.pseudonymize import BLOCK_DIGITS, hmac_hex_array, normalize_e164_array  # noqa: E402

TARGET_ROWS_PER_SECOND = 500_000
BATCH_ROWS = 500_000


class Steps:
    """Wall and CPU seconds (all threads of this process) of named steps."""

    def __init__(self) -> None:
        self.rows: list[tuple[str, float, float]] = []

    def time(self, name: str, work: Callable[[], object]) -> object:
        wall, cpu = time.perf_counter(), time.process_time()
        result = work()
        self.add(name, time.perf_counter() - wall, time.process_time() - cpu)
        return result

    def add(self, name: str, wall: float, cpu: float) -> None:
        self.rows.append((name, wall, cpu))
        print(f"  {wall:7.1f} s wall {cpu:7.1f} s CPU  {name}", flush=True)


def request_files(case: Path) -> tuple[list[Path], str]:
    files = sorted(case.glob("requests*.parquet"))
    if files:
        return files, "parquet"
    files = sorted(case.glob("requests*.csv*"))
    if files:
        return files, "csv"
    raise SystemExit(f"no request files in {case}")


def one_pass(dataset: ds.Dataset, steps: Steps) -> tuple[int, pa.Array]:
    """Read every request row once and time, batch by batch, what any design does with it.

    Returns the row count and the case's distinct phone values, normalized
    (raw numbers, in this process's memory only, as in ingest).
    """
    timer = {name: [0.0, 0.0] for name in ("read", "spread", "hash", "phones")}

    def timed(name: str, work: Callable[[], object]) -> object:
        wall, cpu = time.perf_counter(), time.process_time()
        result = work()
        timer[name][0] += time.perf_counter() - wall
        timer[name][1] += time.process_time() - cpu
        return result

    columns = ", ".join(f'"{name}"' for name in dataset.schema.names)
    batches = iter(dataset.to_batches(batch_size=BATCH_ROWS))
    rows, hashes, phones = 0, [], []
    with duckdb.connect() as db:
        while (batch := timed("read", lambda: next(batches, None))) is not None:
            rows += batch.num_rows
            timed("spread", lambda batch=batch: [pc.dictionary_encode(batch.column(name))
                                                 for name in ("ip", "user_agent")])
            db.register("batch", batch)
            hashes.append(timed("hash", lambda: db.sql(f"SELECT hash({columns}) AS h FROM batch")
                                .fetchnumpy()["h"]))
            phones.append(timed("phones", lambda batch=batch: pc.unique(batch.column("phone"))))
        db.register("all_hashes", pa.table({"h": np.concatenate(hashes)}))
        distinct = timed("hash", lambda: db.sql("SELECT count(DISTINCT h) FROM all_hashes").fetchall()[0][0])
    numbers = timed("phones", lambda: pc.unique(normalize_e164_array(
        pc.unique(pa.chunked_array(phones, pa.string()).combine_chunks()).drop_null()).drop_null()))
    steps.add("read (every column)", *timer["read"])
    steps.add("spread lookups (dictionary of IP and user agent)", *timer["spread"])
    steps.add(f"duplicates (content hash a row, {rows - distinct:,} repeats)", *timer["hash"])
    steps.add(f"distinct numbers ({len(numbers):,})", *timer["phones"])
    return rows, numbers


def pseudonymize(numbers: pa.Array, secret: bytes) -> int:
    blocks = pc.unique(pc.utf8_slice_codeunits(numbers, 0, -BLOCK_DIGITS))
    hmac_hex_array(secret, numbers)
    hmac_hex_array(secret, blocks)
    return len(numbers) + len(blocks)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workdir", type=Path,
                        help="the --workdir of a benchmarks/ingest.py run, whose case and workspace are used "
                             "(default: a temp dir where both are made first)")
    parser.add_argument("--scale", type=float, default=250.0)
    parser.add_argument("--format", choices=("parquet", "csv"), default="parquet")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--scratch", type=Path, help="room for the copies (default: a temp dir in --workdir)")
    args = parser.parse_args()

    temp = None
    if args.workdir is None:
        temp = tempfile.TemporaryDirectory(prefix="sybilscope-floor-")
        args.workdir = Path(temp.name)
    try:
        measure(args)
    finally:
        if temp is not None:
            temp.cleanup()


def _ingest_benchmark():
    """``benchmarks/ingest.py`` as a module (its name would shadow the ``ingest`` package)."""
    spec = importlib.util.spec_from_file_location("ingest_benchmark", Path(__file__).with_name("ingest.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def measure(args: argparse.Namespace) -> None:
    """The steps and floors for the case and workspace in ``args.workdir`` (made first when missing)."""
    workspace = args.workdir / "workspace"
    database = workspace / "sybilscope.duckdb"
    bench = _ingest_benchmark()
    case, _ = bench.build_case(args.workdir, args.scale, args.format, args.seed)
    if not database.exists():
        print("ingesting the case first (benchmarks/ingest.py does the same)", flush=True)
        bench.run_ingest(case, workspace)
    files, fmt = request_files(case)
    dataset = ds.dataset([str(f) for f in files], format=fmt)
    scratch = Path(tempfile.mkdtemp(prefix="floor-", dir=args.scratch or args.workdir))
    cores = os.cpu_count() or 1
    steps = Steps()
    try:
        print(f"case {case.name}, {cores} cores; steps:", flush=True)
        rows, numbers = one_pass(dataset, steps)
        secret = (workspace / SECRET_FILE).read_bytes()
        steps.time("pseudonymize (HMAC a distinct number and block)", partial(pseudonymize, numbers, secret))
        steps.time("classify numbers", partial(classify_phones, numbers))
        del numbers

        # setup, not timed: the finished events and reference tables as Parquet
        events = scratch / "events.parquet"
        with duckdb.connect(str(database), read_only=True) as db:
            db.execute(f"COPY events TO '{events}' (FORMAT parquet, COMPRESSION snappy)")
            for table in ("ip_lookup", "input_accounts"):
                db.execute(f"COPY {table} TO '{scratch / table}.parquet' (FORMAT parquet)")
        event_rows = pq.ParquetFile(events).metadata.num_rows

        with duckdb.connect(str(scratch / "floor.duckdb")) as db:
            db.execute("SET preserve_insertion_order = false")
            steps.time("store events (DuckDB table)", lambda: (
                db.execute(f"CREATE TABLE events_copy AS SELECT * FROM '{events}'"), db.execute("CHECKPOINT")))
            db.execute("DROP TABLE events_copy")
            db.execute("CHECKPOINT")
        parquet = pq.ParquetFile(events)
        wall = cpu = 0.0
        with pq.ParquetWriter(scratch / "events_copy.parquet", parquet.schema_arrow, compression="snappy") as out:
            for batch in parquet.iter_batches(BATCH_ROWS):
                started, started_cpu = time.perf_counter(), time.process_time()
                out.write_batch(batch)
                wall += time.perf_counter() - started
                cpu += time.process_time() - started_cpu
            started, started_cpu = time.perf_counter(), time.process_time()
        wall += time.perf_counter() - started  # closing writes the footer
        cpu += time.process_time() - started_cpu
        steps.add("store events (Parquet, pyarrow)", wall, cpu)

        with duckdb.connect(str(scratch / "graph.duckdb")) as db:
            db.execute("SET preserve_insertion_order = false")
            db.execute(f"CREATE VIEW events AS SELECT * FROM '{events}'")
            for table in ("ip_lookup", "input_accounts"):
                db.execute(f"CREATE TABLE {table} AS SELECT * FROM '{scratch / table}.parquet'")
            db.execute("CREATE TABLE ingest_dirty_ips (ip VARCHAR, batch_id VARCHAR)")
            steps.time(f"graph: {ACCOUNT}", lambda: db.execute(
                "CREATE TABLE g_account AS SELECT account_id, arg_max(handle, pos) AS handle, "
                "arg_max(created_at, pos) AS created_at, arg_max(status, pos) AS status "
                "FROM input_accounts GROUP BY account_id"))
            for name in (IP, DEVICE, PHONE, *EDGES):
                sql = node_sql(name, False) if name in (IP, DEVICE, PHONE) else edge_sql(name, False)
                steps.time(f"graph: {name}", lambda sql=sql, name=name: db.execute(
                    f'CREATE TABLE "g_{name}" AS {sql}'))
            steps.time("graph: checkpoint", lambda: db.execute("CHECKPOINT"))
    finally:
        shutil.rmtree(scratch, ignore_errors=True)

    budget = rows / TARGET_ROWS_PER_SECOND
    print(f"\n{rows:,} request rows ({event_rows:,} stored events): at {TARGET_ROWS_PER_SECOND:,} rows/s "
          f"the target allows {budget:.1f} s for them")
    for events_step, where in (("store events (DuckDB table)", "in a DuckDB table"),
                               ("store events (Parquet, pyarrow)", "in Parquet files")):
        chosen = [r for r in steps.rows if not r[0].startswith("store events") or r[0] == events_step]
        wall = sum(r[1] for r in chosen)
        cpu = sum(r[2] for r in chosen)
        print(f"  floor with the events {where}: {wall:.1f} s one step after another, "
              f"{cpu / cores:.1f} s with all {cores} cores busy all the time "
              f"({rows / max(cpu / cores, 1e-9):,.0f} rows/s at best)")
    graph_wall = sum(wall for name, wall, _ in steps.rows if name.startswith("graph:"))
    print(f"  of which the graph store's tables alone: {graph_wall:.1f} s")


if __name__ == "__main__":
    main()
