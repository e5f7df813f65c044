"""Ingest speed and memory at the scale of the December 2019 incident, then the Bolt load.

1. **Case**: the simulator's default scenario at ``--scale`` (250 gives about
   17 million lookup rows among ~34 million request rows), written as
   Parquet split files (or ``--format csv``); kept in ``--workdir`` and
   reused when it is already there.
2. **Ingest**: ``sybilscope ingest --json`` into a fresh embedded workspace,
   in a child process, so its wall time, CPU time and peak memory (max RSS,
   DuckDB included; and sampled together with its phone helper process)
   are its own. Prints rows/s (all request rows and
   lookup rows) and where the time went (the summary's ``timings``).
   Targets on 2 cores: at least 500k rows/s end to end, at most 4 GB.
3. **Bolt load**: the first ``--bolt-edges`` aggregated edges of the
   workspace's graph written into the Bolt test server (ArcadeDB, see
   ``tests/bolt_server.py``) through the Neo4j store, in edges/s.

Run: ``.venv/bin/python benchmarks/ingest.py [--scale 250] [--format parquet]
[--workdir DIR] [--bolt-edges 200000]``. ``--scale 20`` gives a quick run
(about 2.7M rows).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import resource
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

from graph.schema import DEVICE_ON_IP, LOOKED_UP, MATCHED, USED_DEVICE, USED_IP  # noqa: E402


def build_case(workdir: Path, scale: float, fmt: str, seed: int) -> tuple[Path, dict]:
    """The simulated case folder (reused when a previous run left the same one)."""
    from ingest.simulate import simulate

    case = workdir / f"case-{fmt}-scale{scale:g}-seed{seed}"
    marker = case.with_suffix(".json")
    if marker.exists() and case.is_dir():
        print(f"reusing {case}", flush=True)
        return case, json.loads(marker.read_text())
    shutil.rmtree(case, ignore_errors=True)
    started = time.perf_counter()
    summary = simulate(case, scenario="default", seed=seed, scale=scale, fmt=fmt,
                       part_rows=5_000_000, truth_path=workdir / f"{case.name}.truth.json")
    facts = {"requests": summary.rows["requests"], "lookups": summary.lookup_rows}
    marker.write_text(json.dumps(facts))
    print(f"simulated {facts['requests']:,} request rows ({facts['lookups']:,} lookups) "
          f"in {time.perf_counter() - started:.0f} s", flush=True)
    return case, facts


def _tree_rss(pid: int) -> int:
    """Resident bytes of a process and all its descendants now (0 once it is gone)."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                parent = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, ValueError, IndexError):
                continue
            children.setdefault(parent, []).append(int(entry.name))
    total, todo = 0, [pid]
    while todo:
        current = todo.pop()
        todo += children.get(current, [])
        with contextlib.suppress(OSError, ValueError, IndexError):
            total += int((Path("/proc") / str(current) / "statm").read_text().split()[1]) * resource.getpagesize()
    return total


def run_ingest(case: Path, workspace: Path) -> dict:
    """``sybilscope ingest --json`` in a child process; its summary plus wall, CPU and memory.

    ``max_rss_gb`` is the ingest process's own peak; ``tree_rss_gb`` the
    peak of it and its helper process together, sampled twice a second.
    """
    shutil.rmtree(workspace, ignore_errors=True)
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    child = subprocess.Popen(
        [sys.executable, "-c", "from app.cli import main; main()", "--workspace", str(workspace),
         "ingest", str(case), "--json"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT,
    )
    peak = [0]

    def sample() -> None:
        while child.poll() is None:
            peak[0] = max(peak[0], _tree_rss(child.pid))
            time.sleep(0.5)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    stdout, stderr = child.communicate()
    sampler.join()
    done = subprocess.CompletedProcess(child.args, child.returncode, stdout, stderr)
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode != 0:
        raise SystemExit(f"ingest failed ({done.returncode}): {done.stderr.strip()}")
    summary = json.loads(done.stdout)
    summary["wall"] = wall
    summary["cpu"] = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    summary["max_rss_gb"] = after.ru_maxrss / 1024 / 1024  # KB on Linux
    summary["tree_rss_gb"] = peak[0] / 2**30
    return summary


def bolt_load(workspace: Path, limit: int) -> None:
    """Copy up to ``limit`` edges from the embedded graph into the Bolt test server."""
    from bolt_server import BoltServer, BoltServerUnavailable

    from graph import warehouse
    from graph.store.embedded import EmbeddedStore
    from graph.store.neo4j import Neo4jStore

    server = BoltServer(heap="2g")
    try:
        server.start()
    except BoltServerUnavailable as exc:
        print(f"Bolt load skipped: {exc}")
        return
    source = EmbeddedStore(workspace / "sybilscope.duckdb")
    target = Neo4jStore(server.uri, server.user, server.password, server.database)
    try:
        target.ensure_schema()
        share = max(1, limit // 5)
        written = 0
        started = time.perf_counter()
        for rel in (USED_IP, USED_DEVICE, DEVICE_ON_IP, MATCHED, LOOKED_UP):
            taken = 0
            for batch in source.iter_edges(rel, batch_size=10_000):
                batch = batch[: share - taken]
                target.upsert_edges(rel, batch)
                taken += len(batch)
                if taken >= share:
                    break
            written += taken
        seconds = time.perf_counter() - started
        print(f"Bolt load: {written:,} edges (with their endpoint nodes) in {seconds:.1f} s "
              f"= {written / seconds:,.0f} edges/s")
    finally:
        target.close()
        source.close()
        warehouse.close_all()
        server.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", type=float, default=250.0, help="simulator scale (250: about 17M lookups)")
    parser.add_argument("--format", choices=("parquet", "csv"), default="parquet")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--workdir", type=Path, help="where the case and workspace go (default: a temp dir)")
    parser.add_argument("--bolt-edges", type=int, default=200_000, help="edges to load over Bolt (0: skip)")
    args = parser.parse_args()

    temp = None
    if args.workdir is None:
        temp = tempfile.TemporaryDirectory(prefix="sybilscope-bench-")
        args.workdir = Path(temp.name)
    args.workdir.mkdir(parents=True, exist_ok=True)
    try:
        case, facts = build_case(args.workdir, args.scale, args.format, args.seed)
        summary = run_ingest(case, args.workdir / "workspace")
        requests = summary["tables"]["requests"]
        rows = sum(t["read"] for t in summary["tables"].values())
        print(f"ingest: {rows:,} rows ({requests['read']:,} requests, {facts['lookups']:,} lookups) "
              f"in {summary['wall']:.1f} s wall ({summary['seconds']:.1f} s inside the command)")
        print(f"  {rows / summary['wall']:,.0f} rows/s end to end; "
              f"{facts['lookups'] / summary['wall']:,.0f} lookup rows/s   (target >= 500,000 rows/s)")
        print(f"  CPU {summary['cpu']:.1f} s ({summary['cpu'] / summary['wall']:.2f} cores busy); "
              f"peak memory {summary['max_rss_gb']:.2f} GB, with its helper process "
              f"{summary['tree_rss_gb']:.2f} GB   (target <= 4 GB)")
        print(f"  loaded {requests['loaded']:,}, quarantined {requests['quarantined']:,} "
              f"{requests['quarantined_by_reason']}")
        print("  where the time went:")
        for phase, seconds in sorted(summary["timings"].items(), key=lambda kv: -kv[1]):
            print(f"    {seconds:8.1f} s  {phase}")
        print(f"  peak memory first reached in: {summary['peak_memory_gb_by_phase']}")
        print(f"  graph written: {summary['graph']}")
        if args.bolt_edges:
            bolt_load(args.workdir / "workspace", args.bolt_edges)
    finally:
        if temp is not None:
            temp.cleanup()


if __name__ == "__main__":
    main()
