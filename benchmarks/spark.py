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

Each step (ingest, then detection, per engine) runs in a process of its
own and its figures are kept in ``CACHE/runs/measured.json``. At scale 250
the Spark steps take hours on two cores: ``--resume`` keeps the workspaces,
the lake and the steps measured so far, and ``--engine``/``--step`` limit a
sitting to part of the work, e.g.::

    .venv/bin/python benchmarks/spark.py --scale 250 --cache /data/bench --engine spark --step ingest
    .venv/bin/python benchmarks/spark.py --scale 250 --cache /data/bench --resume --engine spark --step detect
    .venv/bin/python benchmarks/spark.py --scale 250 --cache /data/bench --resume --engine duckdb

The table, the projection and the identity check are printed once all
four steps are measured.
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
engine, root, case, lake, step = sys.argv[1:6]
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
started = time.perf_counter()
if step == "ingest":
    sources, _ = discover(Path(case))
    summary = ingest(ws, store, sources, lake=lake_of(ws) if lake_of else None)
    out["rows"] = summary.tables["requests"].loaded
else:
    out["clusters"] = len(detect(ws, store).clusters)
out[step] = time.perf_counter() - started
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


ENGINES, STEPS = ("duckdb", "spark"), ("ingest", "detect")


def run_step(engine: str, step: str, workspace: Path, case: Path, lake: Path, master: str) -> dict:
    """``step`` (ingest or detect) of ``case`` on ``engine`` in a fresh process: its seconds, rows or clusters
    (and Spark's start)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("SYBILSCOPE_")}
    if engine == "spark":
        env["SYBILSCOPE_SPARK_MASTER"] = master
    done = subprocess.run([sys.executable, "-c", _CHILD, engine, str(workspace), str(case), str(lake), step],
                          capture_output=True, text=True, cwd=ROOT, env=env)
    log = workspace.parent / f"{engine}-{step}.log"  # Spark's whole log: a failure's cause is rarely in its tail
    log.write_text(done.stdout + done.stderr)
    if done.returncode:
        raise SystemExit(f"{engine} {step} failed (the whole log: {log}):\n{done.stdout}\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def prepare_runs(runs: Path, resume: bool) -> dict:
    """The workspaces' folder (both engines' workspaces sharing one pseudonym key, so their exports compare)
    and the steps measured in it so far (none unless ``resume``)."""
    if not resume:
        shutil.rmtree(runs, ignore_errors=True)
    record = runs / "measured.json"
    if record.exists():
        return json.loads(record.read_text())
    shutil.rmtree(runs, ignore_errors=True)
    (runs / "ws-spark").mkdir(parents=True, mode=0o700)
    subprocess.run([sys.executable, "-c", "import sys; from graph.workspace import Workspace; Workspace.open(sys.argv[1]).secret()",
                    str(runs / "ws-duckdb")], check=True, cwd=ROOT)
    shutil.copy(runs / "ws-duckdb" / "secret.key", runs / "ws-spark" / "secret.key")  # the same pseudonyms
    record.write_text("{}")
    return {}


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
    parser.add_argument("--resume", action="store_true",
                        help="keep the workspaces and the steps already measured in the cache (else start afresh)")
    parser.add_argument("--engine", choices=ENGINES, action="append", help="only this engine's steps (repeatable)")
    parser.add_argument("--step", choices=STEPS, action="append", help="only this step (repeatable)")
    args = parser.parse_args()
    cache = args.cache or Path(tempfile.mkdtemp(prefix="sybilscope-spark-bench-"))
    cache.mkdir(parents=True, exist_ok=True)
    case = build_case(cache, args.scale, args.part_rows)
    runs = cache / "runs"
    measured = prepare_runs(runs, args.resume)
    for engine in args.engine or ENGINES:
        for step in args.step or STEPS:
            if step in measured.get(engine, {}):
                continue
            if step == "detect" and "ingest" not in measured.get(engine, {}):
                raise SystemExit(f"{engine}: ingest before detect (--step ingest, then --resume --step detect)")
            load = os.getloadavg()
            print(f"scale {args.scale:g}, {engine} {step}, {os.cpu_count()} CPUs, load average at start "
                  f"{load[0]:.2f} {load[1]:.2f} {load[2]:.2f}", flush=True)
            found = run_step(engine, step, runs / f"ws-{engine}", case, runs / "lake", args.master)
            found["load_after"] = os.getloadavg()[0]
            measured.setdefault(engine, {})[step] = found
            (runs / "measured.json").write_text(json.dumps(measured, indent=1))
            print(f"{engine} {step}{f' on {args.master}' if engine == 'spark' else ''}: {found}", flush=True)
    left = [f"{engine} {step}" for engine in ENGINES for step in STEPS if step not in measured.get(engine, {})]
    if left:
        print(f"still to measure (run again with --resume): {', '.join(left)}")
        return
    identical = same_exports(runs / "ws-duckdb", runs / "ws-spark", runs / "exports")
    print("identity check (Spark's export against DuckDB's): "
          + ", ".join(f"{name} {'identical' if same else 'DIFFERENT'}" for name, same in identical.items()))
    print(f"load average at end {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    print()
    print(f"| step | engine | rows | wall s | rows/s | rows/s per core | cores for {DAILY_LOOKUPS:,}/day in 1 h "
          f"| {EXECUTOR_CORES}-core executors |")
    print("|---|---|---:|---:|---:|---:|---:|---:|")
    for step in STEPS:
        for engine in ENGINES:
            rows, seconds = measured[engine]["ingest"]["rows"], measured[engine][step][step]
            rate = rows / seconds
            cores, executors = projection(rate / args.cores)
            print(f"| {step} | {engine} | {rows:,} | {seconds:.1f} | {rate:,.0f} | {rate / args.cores:,.0f} "
                  f"| {cores:,} | {executors:,} |")
    starts = ", ".join(f"{measured['spark'][step]['startup']:.1f} s before {step}" for step in STEPS)
    print(f"\nSpark start (not in the times above): {starts}")
    if not all(identical.values()):
        raise SystemExit("the engines' exports differ")


if __name__ == "__main__":
    main()
