"""Ingest and detection on Spark (a local cluster) against DuckDB, and the executors 2 billion lookups a day need.

A simulated case (``sybilscope simulate --scale N``, requests split into
part files so the Spark ingest has a task a core) is ingested and detected
twice, each engine in a fresh process:

* **DuckDB**: the embedded path, on the machine's cores;
* **Spark**: ``ingest --engine spark`` into a Parquet lake and detection on
  it, on ``local-cluster[2,1,1024]`` (two executor processes of one core
  each: real executors, as on a cluster). Starting Spark is timed apart.

Both workspaces share one pseudonym key, so their exports compare: the run
checks that ``clusters.csv`` and ``members.csv`` are identical between the
engines (the issue's scale-20 identity check). From the Spark rates per
core it prints the cores (and 4-core executors) needed to ingest, and to
detect on, 2 billion lookups a day within an hour. Detection's candidate
graph runs on the driver (NetworkX), so its projection holds only while
that part stays small; the statistics over all events are what scale out.

Run: ``.venv/bin/python benchmarks/spark.py [--scale 20] [--cache DIR] [--master local-cluster[2,1,1024]]``
"""

from __future__ import annotations

import argparse
import json
import math
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SYBILSCOPE = str(Path(sys.executable).parent / "sybilscope")
#: what the projection is for: lookups a day, processed within this many seconds
DAILY_LOOKUPS, WITHIN_SECONDS = 2_000_000_000, 3600
EXECUTOR_CORES = 4

_CHILD = """
import json, sys, time
from pathlib import Path
from graph import warehouse
from graph.detect.run import detect
from graph.store import open_store
from graph.workspace import Workspace
from ingest.pipeline import ingest
from ingest.readers import discover
engine, root, case, lake = sys.argv[1:5]
ws = Workspace.open(Path(root), **({"engine": "spark", "events_dir": lake} if engine == "spark" else {}))
out = {}
lake_of = None
if engine == "spark":
    from graph.spark.session import spark_session
    from ingest.lake import EventLake
    started = time.perf_counter()
    spark_session(ws.settings.spark_master).range(1).count()
    out["startup"] = time.perf_counter() - started
    lake_of = EventLake.of
store = open_store(ws)
sources, _ = discover(Path(case))
started = time.perf_counter()
summary = ingest(ws, store, sources, lake=lake_of(ws) if lake_of else None)
out["ingest"] = time.perf_counter() - started
out["rows"] = summary.tables["requests"].loaded
started = time.perf_counter()
result = detect(ws, store)
out["detect"] = time.perf_counter() - started
out["clusters"] = len(result.clusters)
store.close()
warehouse.close_all()
print(json.dumps(out))
"""


def _cli(*args: str, env: dict[str, str] | None = None) -> None:
    done = subprocess.run([SYBILSCOPE, *args], capture_output=True, text=True, cwd=ROOT, env=env)
    if done.returncode:
        raise SystemExit(f"sybilscope {' '.join(args)} failed:\n{done.stdout}\n{done.stderr[-3000:]}")


def build_case(cache: Path, scale: float, part_rows: int) -> Path:
    """The simulated case at ``scale`` (seed 1, Parquet, requests in parts), made once in ``cache``."""
    case = cache / f"scale{scale:g}-case"
    if not (case / ".ready").exists():
        shutil.rmtree(case, ignore_errors=True)
        _cli("simulate", str(case), "--scale", str(scale), "--format", "parquet", "--seed", "1",
             "--part-rows", str(part_rows), "--truth", str(cache / f"scale{scale:g}-truth.json"))
        (case / ".ready").touch()
    return case


def run_engine(engine: str, workspace: Path, case: Path, lake: Path, master: str) -> dict:
    """Ingest and detect ``case`` on ``engine`` in a fresh process: seconds of each step, rows, clusters."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("SYBILSCOPE_")}
    if engine == "spark":
        env["SYBILSCOPE_SPARK_MASTER"] = master
    done = subprocess.run([sys.executable, "-c", _CHILD, engine, str(workspace), str(case), str(lake)],
                          capture_output=True, text=True, cwd=ROOT, env=env)
    if done.returncode:
        raise SystemExit(f"{engine} run failed:\n{done.stdout}\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def same_exports(first: Path, second: Path, out: Path) -> dict[str, bool]:
    """Whether ``clusters.csv`` and ``members.csv`` exported from the two workspaces are byte for byte equal."""
    for workspace in (first, second):
        _cli("--workspace", str(workspace), "export", "--format", "csv", "--out", str(out / workspace.name))
    return {name: (out / first.name / name).read_bytes() == (out / second.name / name).read_bytes()
            for name in ("clusters.csv", "members.csv")}


def projection(rate_per_core: float) -> tuple[int, int]:
    """Cores, and executors of :data:`EXECUTOR_CORES` cores, for :data:`DAILY_LOOKUPS` within the hour."""
    cores = math.ceil(DAILY_LOOKUPS / WITHIN_SECONDS / rate_per_core)
    return cores, math.ceil(cores / EXECUTOR_CORES)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", type=float, default=20, help="simulator scale (20 ~ 2.86M request rows)")
    parser.add_argument("--part-rows", type=int, default=250_000, help="request rows a part file (a Spark task)")
    parser.add_argument("--master", default="local-cluster[2,1,1024]", help="Spark master of the Spark run")
    parser.add_argument("--cores", type=int, default=2, help="cores each engine ran on (for rows/s per core)")
    parser.add_argument("--cache", type=Path, default=None, help="keep the simulated case here and reuse it")
    args = parser.parse_args()
    cache = args.cache or Path(tempfile.mkdtemp(prefix="sybilscope-spark-bench-"))
    cache.mkdir(parents=True, exist_ok=True)
    case = build_case(cache, args.scale, args.part_rows)
    runs = cache / "runs"
    shutil.rmtree(runs, ignore_errors=True)
    (runs / "ws-spark").mkdir(parents=True, mode=0o700)
    load = os.getloadavg()
    print(f"scale {args.scale:g}, {os.cpu_count()} CPUs, load average at start {load[0]:.2f} {load[1]:.2f} "
          f"{load[2]:.2f}", flush=True)
    measured = {"duckdb": run_engine("duckdb", runs / "ws-duckdb", case, runs / "lake", args.master)}
    print(f"duckdb: {measured['duckdb']}", flush=True)
    shutil.copy(runs / "ws-duckdb" / "secret.key", runs / "ws-spark" / "secret.key")  # the same pseudonyms
    measured["spark"] = run_engine("spark", runs / "ws-spark", case, runs / "lake", args.master)
    print(f"spark on {args.master}: {measured['spark']}", flush=True)
    identical = same_exports(runs / "ws-duckdb", runs / "ws-spark", runs / "exports")
    print("identity check (Spark's export against DuckDB's): "
          + ", ".join(f"{name} {'identical' if same else 'DIFFERENT'}" for name, same in identical.items()))
    print(f"load average at end {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    print()
    print(f"| step | engine | rows | wall s | rows/s | rows/s per core | cores for {DAILY_LOOKUPS:,}/day in 1 h "
          f"| {EXECUTOR_CORES}-core executors |")
    print("|---|---|---:|---:|---:|---:|---:|---:|")
    for step in ("ingest", "detect"):
        for engine, run in measured.items():
            rate = run["rows"] / run[step]
            cores, executors = projection(rate / args.cores)
            print(f"| {step} | {engine} | {run['rows']:,} | {run[step]:.1f} | {rate:,.0f} | {rate / args.cores:,.0f} "
                  f"| {cores:,} | {executors:,} |")
    print(f"\nSpark start (not in the times above): {measured['spark']['startup']:.1f} s")
    if not all(identical.values()):
        raise SystemExit("the engines' exports differ")


if __name__ == "__main__":
    main()
