"""Load synthetic accounts, IP addresses and USED_IP edges into a graph store; print rows/s and memory.

Targets (issue 2): the embedded store takes >= 500k edges/s on 2 cores for
large batches; the Bolt figure is recorded on the ArcadeDB test server.

    .venv/bin/python benchmarks/store_load.py                      # both backends, default sizes
    .venv/bin/python benchmarks/store_load.py --backend embedded --edges 5000000
    .venv/bin/python benchmarks/store_load.py --backend neo4j --edges 50000

``--ingest CASE_DIR`` (repeatable) measures the real ``sybilscope ingest``
over Bolt instead (issue 18): the case's requests are split by row ranges
into a first load (``--first``, with the other tables) and ``--batches``
equal incremental batches, each ingested into a workspace on the ArcadeDB
test server, and last a probe of ``--probe`` rows (1,000) held back from
them: a batch costs about the probe (process start, imports, the sync's
statements over the whole event table, a transaction a group) plus its rows
at the first load's rate. The table gives nodes/s and relationships/s of
the graph sync and each batch's cost beside the first load's::

    .venv/bin/python benchmarks/store_load.py --ingest sample_data/case
    .venv/bin/python benchmarks/store_load.py --ingest CASE --first 0.9 --batches 1 --bolt-heap 3g
    .venv/bin/python benchmarks/store_load.py --ingest CASE --first 1.0 --batches 0 --bolt-heap 3g  # whole

A second table shows where each ingest's time goes: the time outside
``ingest()`` (process start, imports, store open), the loading phases, and
the graph sync by node label and relationship type, computing rows (``sql``)
apart from writing them (``write``; new relationships apart from existing).

Rows are generated batch by batch outside the timed part, so the figures are
the store's own cost (converting rows, writing, committing). Edges are
loaded twice: first every edge is new, then every edge is an update.
Peak memory is the process's maximum resident set (and the Bolt server's).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.csv as pa_csv
import pyarrow.parquet as pq
from rich.console import Console
from rich.progress import Progress
from rich.table import Table

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

from graph import warehouse  # noqa: E402
from graph.schema import ACCOUNT, IP, NODES, RELATIONSHIPS, USED_IP  # noqa: E402
from graph.store.base import GraphStore  # noqa: E402

T0 = datetime(2019, 12, 20, tzinfo=UTC)
console = Console(width=None if sys.stdout.isatty() else 200)  # a log keeps the table's columns


def account_batches(accounts: int, batch: int, seed: int) -> Iterator[list[dict]]:
    rng = np.random.default_rng(seed)
    for start in range(0, accounts, batch):
        ids = np.arange(start, min(start + batch, accounts))
        followers = rng.integers(0, 5000, len(ids))
        yield [
            {"account_id": f"u{i}", "handle": f"user_{i}", "followers": int(f), "lang": "fa",
             "created_at": T0 - timedelta(days=int(i % 700))}
            for i, f in zip(ids, followers, strict=True)
        ]


def ip_count(accounts: int, edges: int) -> int:
    """Enough IPs that every (account, ip) pair below is distinct."""
    return max(accounts // 4, -(-edges // accounts) + 1, 1)


def ip_batches(ips: int, batch: int) -> Iterator[list[dict]]:
    for start in range(0, ips, batch):
        yield [
            {"ip": _ip(i), "version": 4, "prefix": _ip(i).rsplit(".", 1)[0] + ".0/24", "country": "IR", "asn": 58224}
            for i in range(start, min(start + batch, ips))
        ]


def _ip(i: int) -> str:
    return f"10.{(i >> 16) & 255}.{(i >> 8) & 255}.{i & 255}"


def edge_columns(start: int, stop: int, accounts: int, ips: int, seed: int) -> dict[str, np.ndarray]:
    """Edge ``i`` joins account ``i % accounts`` to a distinct IP of that account."""
    rng = np.random.default_rng(seed + start)
    index = np.arange(start, stop)
    src = index % accounts
    dst = (src * 7 + index // accounts) % ips
    first = rng.integers(0, 5 * 86_400_000_000, len(index))
    return {
        "src": src,
        "dst": dst,
        "count": rng.integers(1, 500, len(index)),
        "first_us": first,
        "last_us": first + rng.integers(0, 86_400_000_000, len(index)),
    }


def edge_batches(edges: int, accounts: int, ips: int, batch: int, seed: int, arrow: bool) -> Iterator:
    base = np.datetime64(T0.replace(tzinfo=None), "us")
    for start in range(0, edges, batch):
        cols = edge_columns(start, min(start + batch, edges), accounts, ips, seed)
        src = [f"u{i}" for i in cols["src"]]
        dst = [_ip(int(i)) for i in cols["dst"]]
        first = base + cols["first_us"].astype("timedelta64[us]")
        last = base + cols["last_us"].astype("timedelta64[us]")
        if arrow:
            stamp = pa.timestamp("us", tz="UTC")
            yield pa.table({"src": src, "dst": dst, "count": cols["count"],
                            "first_seen": pa.array(first, stamp), "last_seen": pa.array(last, stamp)})
        else:
            first_dt = pa.array(first, pa.timestamp("us", tz="UTC")).to_pylist()
            last_dt = pa.array(last, pa.timestamp("us", tz="UTC")).to_pylist()
            yield [
                {"src": s, "dst": d, "count": int(c), "first_seen": f, "last_seen": la}
                for s, d, c, f, la in zip(src, dst, cols["count"], first_dt, last_dt, strict=True)
            ]


def timed_load(
    store: GraphStore, what: str, kind: str, batches: Iterator, total: int, edges: bool
) -> tuple[float, float]:
    """Rows per second written by the store, and the CPU seconds this process spent (generation excluded).

    CPU time counts every thread of this process (DuckDB's included), not the
    Bolt server's; when other work shares the machine it tells the store's
    own cost better than the wall clock.
    """
    spent = cpu = 0.0
    with Progress(console=console, transient=True) as progress:
        task = progress.add_task(what, total=total)
        for batch in batches:
            started, cpu_started = time.perf_counter(), time.process_time()
            if edges:
                store.upsert_edges(kind, batch)
            else:
                store.upsert_nodes(kind, batch)
            spent += time.perf_counter() - started
            cpu += time.process_time() - cpu_started
            progress.advance(task, len(batch))
    return (total / spent if spent else float("inf")), cpu


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def process_peak_mb(pid: int) -> float | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


def load(store: GraphStore, args: argparse.Namespace, edges: int, batch: int, label: str, arrow: bool) -> list[tuple]:
    ips = ip_count(args.accounts, edges)
    results = []
    rate = timed_load(store, f"{label}: accounts", ACCOUNT, account_batches(args.accounts, batch, args.seed),
                      args.accounts, edges=False)
    results.append((label, f"{ACCOUNT} nodes", args.accounts, *rate))
    rate = timed_load(store, f"{label}: IPs", IP, ip_batches(ips, batch), ips, edges=False)
    results.append((label, f"{IP} nodes", ips, *rate))
    shape = "Arrow table" if arrow else "dict rows"
    for phase in ("new", "update"):
        rate = timed_load(
            store, f"{label}: {USED_IP} ({shape}, {phase})", USED_IP,
            edge_batches(edges, args.accounts, ips, batch, args.seed + (phase == "update"), arrow), edges,
            edges=True,
        )
        results.append((label, f"{USED_IP} edges, {shape}, {phase}", edges, *rate))
    counts = store.counts()
    assert counts[USED_IP] == edges, counts
    assert counts[ACCOUNT] == args.accounts, counts
    return results


def run_embedded(args: argparse.Namespace) -> tuple[list[tuple], str]:
    from graph.store.embedded import EmbeddedStore

    results = []
    for arrow in (False, True):
        with tempfile.TemporaryDirectory(prefix="sybilscope-bench-") as tmp:
            store = EmbeddedStore(Path(tmp) / "bench.duckdb")
            store.ensure_schema()
            try:
                results += load(store, args, args.edges or 2_000_000, args.batch_size or 500_000, "embedded", arrow)
            finally:
                store.close()
                warehouse.close_all()
    return results, f"python process peak RSS {peak_rss_mb():,.0f} MB (DuckDB included)"


def run_neo4j(args: argparse.Namespace) -> tuple[list[tuple], str]:
    from bolt_server import BoltServer

    from graph.store.neo4j import Neo4jStore

    with BoltServer(heap=args.bolt_heap) as server:
        store = Neo4jStore(server.uri, server.user, server.password, server.database, chunk_size=args.chunk_size)
        store.ensure_schema()
        try:
            results = load(
                store, args, args.edges or 50_000, args.batch_size or 20_000, "neo4j (ArcadeDB Bolt)", False
            )
        finally:
            store.close()
        server_peak = process_peak_mb(server.process.pid) if server.process else None
    note = f"python process peak RSS {peak_rss_mb():,.0f} MB; ArcadeDB server peak RSS "
    note += f"{server_peak:,.0f} MB" if server_peak else "unknown"
    return results, note


def _read_requests(path: Path) -> pa.Table:
    """A requests file as it is: Parquet as stored, CSV with every column as text (nothing reinterpreted)."""
    if path.name.endswith(".parquet"):
        return pq.read_table(path)
    columns = pa_csv.read_csv(path, read_options=pa_csv.ReadOptions(block_size=1 << 20)).column_names
    text = pa_csv.ConvertOptions(column_types=dict.fromkeys(columns, pa.string()), strings_can_be_null=False)
    return pa_csv.read_csv(path, convert_options=text)


def split_case(case: Path, out: Path, first: float, batches: int, probe: int = 0) -> list[tuple[Path, int]]:
    """The case as folders to ingest in turn, with their request rows: ``first`` of the rows and every
    other table, then ``batches`` equal parts of the rest (row ranges, in file order), the last
    ``probe`` rows held back from them as a final part of their own."""
    sources = sorted(p for p in case.iterdir() if p.name.startswith("requests"))
    if not sources:
        raise SystemExit(f"{case} holds no requests file")
    requests = pa.concat_tables(_read_requests(p) for p in sources)
    rows = requests.num_rows - probe
    cuts = [0, round(rows * first)]
    cuts += [round(rows * first + rows * (1 - first) * (i + 1) / batches) for i in range(batches)]
    if probe:
        cuts.append(rows + probe)
    parquet = sources[0].name.endswith(".parquet")
    parts = []
    for number, (start, stop) in enumerate(zip(cuts, cuts[1:], strict=False)):
        folder = out / f"part{number}"
        folder.mkdir(parents=True)
        part = requests.slice(start, stop - start)
        if parquet:
            pq.write_table(part, folder / "requests-0001.parquet")
        else:
            with pa.CompressedOutputStream(str(folder / "requests.csv.gz"), "gzip") as sink:
                pa_csv.write_csv(part, sink)
        if number == 0:
            for other in case.iterdir():
                if other.is_file() and not other.name.startswith("requests"):
                    shutil.copy(other, folder / other.name)
        parts.append((folder, part.num_rows))
    return parts


def _sybilscope() -> str:
    found = Path(sys.executable).parent / "sybilscope"
    return str(found) if found.exists() else shutil.which("sybilscope") or "sybilscope"


def ingest_case(case: Path, args: argparse.Namespace, server, progress: Progress) -> list[tuple]:
    """Ingest the case's parts in turn through the CLI into the (fresh) Bolt server; one result row a part."""
    env = {**os.environ, **server.env()}
    results: list[tuple] = []
    with tempfile.TemporaryDirectory(prefix="sybilscope-bench-ingest-") as tmp:
        parts = split_case(case, Path(tmp) / "parts", args.first, args.batches, args.probe)
        task = progress.add_task(f"{case.name}: ingest over Bolt", total=len(parts))
        first_seconds = None
        for number, (folder, rows) in enumerate(parts):
            started = time.perf_counter()
            done = subprocess.run(
                [_sybilscope(), "-w", str(Path(tmp) / "workspace"), "ingest", str(folder), "--json", "-q"],
                env=env, capture_output=True, text=True, check=False,
            )
            seconds = time.perf_counter() - started
            if done.returncode != 0:
                raise SystemExit(f"ingest of {folder.name} failed ({done.returncode}): {done.stderr[-2000:]}")
            summary = json.loads(done.stdout.strip().splitlines()[-1])
            sync = summary["timings"].get("graph sync", seconds)
            nodes = sum(summary["graph"].get(kind.label, 0) for kind in NODES)
            rels = sum(summary["graph"].get(kind.type, 0) for kind in RELATIONSHIPS)
            first_seconds = first_seconds or seconds
            step = ("first load" if number == 0 else f"probe ({rows:,} rows)" if args.probe and number == len(parts) - 1
                    else f"batch {number}")
            in_graph = server_relationships(server)
            results.append((case.name, step, rows, seconds, sync, nodes, nodes / sync, rels, rels / sync,
                            in_graph, seconds / first_seconds, summary["seconds"], summary["timings"]))
            progress.advance(task)
    return results


def server_relationships(server) -> int:
    """Request relationships in the server's graph (the size a batch is written into)."""
    from neo4j import GraphDatabase

    with GraphDatabase.driver(server.uri, auth=(server.user, server.password)) as driver:
        records, _, _ = driver.execute_query("MATCH ()-[r]->() RETURN count(r) AS n", database_=server.database)
    return records[0]["n"]


def _add_phases(phases: Table, case: str, step: str, seconds: float, in_process: float,
                timings: dict[str, float]) -> None:
    """The ingest's timed phases, the graph sync's parts (``graph sync NAME ...``) under it."""
    phases.add_row(case, step, "whole ingest (process start to exit)", f"{seconds:,.1f}", "100%")
    outside = seconds - in_process
    phases.add_row("", "", "outside ingest(): start, imports, store open, exit", f"{outside:,.1f}", f"{outside / seconds:.0%}")
    for phase, spent in sorted(timings.items()):
        if spent >= 0.5:
            depth = 0 if not phase.startswith("graph sync ") else 2 if phase.endswith(("new", "existing")) else 1
            phases.add_row("", "", "  " * depth + phase, f"{spent:,.1f}", f"{spent / seconds:.0%}")


def run_ingest(args: argparse.Namespace) -> None:
    from bolt_server import BoltServer

    table = Table("case", "step", "request rows", "ingest s", "graph sync s", "nodes written", "nodes/s",
                  "relationships written", "relationships/s", "relationships in graph", "vs first load",
                  title="sybilscope ingest over Bolt (ArcadeDB test server)")
    phases = Table("case", "step", "phase", "s", "share of ingest",
                   title="where each ingest's time goes (phases of 0.5 s or more; nested ones indented)")
    peaks = []
    with Progress(console=console) as progress:
        for case in args.ingest:
            with BoltServer(heap=args.bolt_heap) as server:  # a fresh database a case
                for row in ingest_case(Path(case), args, server, progress):
                    name, step, rows, seconds, sync, nodes, node_rate, rels, rel_rate, in_graph, share, *spent = row
                    _add_phases(phases, name, step, seconds, *spent)
                    table.add_row(name, step, f"{rows:,}", f"{seconds:,.1f}", f"{sync:,.1f}", f"{nodes:,}",
                                  f"{node_rate:,.0f}", f"{rels:,}", f"{rel_rate:,.0f}", f"{in_graph:,}",
                                  f"{share:.0%}")
                peak = process_peak_mb(server.process.pid) if server.process else None
                peaks.append(f"{Path(case).name} {peak or 0:,.0f} MB")
    console.print(table)
    console.print(phases)
    console.print(f"ArcadeDB server peak RSS: {'; '.join(peaks)} (heap {args.bolt_heap}); "
                  f"load average {', '.join(f'{x:.1f}' for x in os.getloadavg())} on {os.cpu_count()} CPUs")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--backend", choices=("embedded", "neo4j", "both"), default="both")
    parser.add_argument("--accounts", type=int, default=100_000, help="accounts (and a quarter as many IPs)")
    parser.add_argument("--edges", type=int, default=None,
                        help="USED_IP edges (default 2,000,000 embedded, 50,000 on Bolt)")
    parser.add_argument("--batch-size", type=int, default=None,
                        help="rows a store call (default 500,000 embedded, 20,000 on Bolt)")
    parser.add_argument("--chunk-size", type=int, default=5_000, help="rows an UNWIND statement on Bolt")
    parser.add_argument("--bolt-heap", default="1g", help="Java heap of the Bolt test server")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--ingest", action="append", metavar="CASE_DIR",
                        help="measure `sybilscope ingest` of this case over Bolt instead (repeatable)")
    parser.add_argument("--first", type=float, default=0.6, help="share of the requests in the first load")
    parser.add_argument("--batches", type=int, default=4, help="incremental batches splitting the rest")
    parser.add_argument("--probe", type=int, default=1_000,
                        help="request rows held back for a last, tiny batch: what any batch costs whatever its size")
    args = parser.parse_args(argv)
    if args.ingest:
        run_ingest(args)
        return

    table = Table("backend", "what", "rows", "rows/s", "client CPU s", title="graph store load")
    notes = []
    runners = {"embedded": run_embedded, "neo4j": run_neo4j}
    chosen = list(runners) if args.backend == "both" else [args.backend]
    for name in chosen:
        results, note = runners[name](args)
        notes.append(f"{name}: {note}")
        for backend, what, rows, rate, cpu in results:
            table.add_row(backend, what, f"{rows:,}", f"{rate:,.0f}", f"{cpu:,.1f}")
    console.print(table)
    for note in notes:
        console.print(note)
    console.print(f"load average while running: {', '.join(f'{x:.1f}' for x in os.getloadavg())} on {os.cpu_count()} CPUs")


if __name__ == "__main__":
    main()
