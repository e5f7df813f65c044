"""Load synthetic accounts, IP addresses and USED_IP edges into a graph store; print rows/s and memory.

Targets (issue 2): the embedded store takes >= 500k edges/s on 2 cores for
large batches; the Bolt figure is recorded on the ArcadeDB test server.

    .venv/bin/python benchmarks/store_load.py                      # both backends, default sizes
    .venv/bin/python benchmarks/store_load.py --backend embedded --edges 5000000
    .venv/bin/python benchmarks/store_load.py --backend neo4j --edges 50000

Rows are generated batch by batch outside the timed part, so the figures are
the store's own cost (converting rows, writing, committing). Edges are
loaded twice: first every edge is new, then every edge is an update.
Peak memory is the process's maximum resident set (and the Bolt server's).
"""

from __future__ import annotations

import argparse
import os
import resource
import sys
import tempfile
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pyarrow as pa
from rich.console import Console
from rich.progress import Progress
from rich.table import Table

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

from graph import warehouse  # noqa: E402
from graph.schema import ACCOUNT, IP, USED_IP  # noqa: E402
from graph.store.base import GraphStore  # noqa: E402

T0 = datetime(2019, 12, 20, tzinfo=UTC)
console = Console()


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
    args = parser.parse_args(argv)

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
