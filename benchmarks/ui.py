"""Server-side time of every web UI page and callback, on the sample case and on a simulated case at scale 20.

Target (issue 15): every page and callback under 500 ms of server time, on
the sample case (~135k requests) and at scale 20 (~2.9M requests). Each
callback body is timed as the server runs it (the query functions plus
shaping the components) plus the JSON encoding Dash does before sending;
the browser's drawing is not counted. A cluster page is three responses:
its layout (header and judgement), then its graph and its evidence, each in
a callback of its own; each is timed, with the size it sends. Pages cache
what they compute from the events once a version of the data (the latest
run and the number of events, :meth:`app.web.state.WebState.data_version`):
the first call is what the first analyst to open a page after an ingest or a
detection run waits, the warm median what every later view costs. The
overview's whole-case traffic, the search box's keys and the links of the
latest run's members are kept by ``ingest`` and ``detect`` for the version
they leave (:mod:`app.web.traffic_summary`); the benchmark keeps them as
those commands do before it times the pages, and what that costs the
command is printed under each table. Also timed: the cluster graph's node
panel and its groups of IPs, a page of an evidence row's requests, and the
entity pages of an account, IP, device, network (prefix) and ASN.

The target is judged on wall time on a quiet machine. Beside it each call's
CPU time is reported (``time.process_time``, which counts every thread of
the process, DuckDB's included): it hardly moves with the machine's load, so
on a shared, busy machine it is the proxy to read, with the load average
printed above each table.

    python benchmarks/ui.py                      # sample case + a scale-20 case (built once, cached)
    python benchmarks/ui.py --workspace W ...    # workspaces already ingested and detected
    python benchmarks/ui.py --skip-large         # only the sample case

Workspaces are built with the CLI (``simulate``, ``ingest``, ``detect``) in a
temporary folder, or under ``--cache DIR`` where they are kept and reused;
labels the benchmark writes go into a copy.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import flask_login
import plotly.utils
from rich.console import Console
from rich.table import Table

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from app.web import auth, cache, cluster_graph, evidence, judgement, queries, traffic_summary  # noqa: E402
from app.web.pages import audit, cluster, compare, entity, overview  # noqa: E402
from app.web.server import create_app  # noqa: E402
from graph import warehouse  # noqa: E402
from graph.workspace import Workspace  # noqa: E402

SYBILSCOPE = str(Path(sys.executable).parent / "sybilscope")
_KEPT = "(ingest/detect: keep the pages' summaries)"
console = Console()


def _run(*args: str) -> None:
    started = time.perf_counter()
    done = subprocess.run([SYBILSCOPE, *args], capture_output=True, text=True, cwd=ROOT)
    if done.returncode:
        raise SystemExit(f"sybilscope {' '.join(args)} failed:\n{done.stdout}\n{done.stderr}")
    console.print(f"  sybilscope {' '.join(args)}: {time.perf_counter() - started:.1f} s")


def build(cache_dir: Path, name: str, case: Path | None, scale: float | None) -> Path:
    """A workspace with ``case`` (or a simulated case at ``scale``) ingested and detected."""
    workspace = cache_dir / name
    if (workspace / ".bench-ready").exists():
        return workspace
    shutil.rmtree(workspace, ignore_errors=True)
    if case is None:
        case = cache_dir / f"{name}-case"
        shutil.rmtree(case, ignore_errors=True)
        _run("simulate", str(case), "--scale", str(scale), "--format", "parquet", "--seed", "1",
             "--truth", str(cache_dir / f"{name}-truth.json"))
    _run("--workspace", str(workspace), "ingest", str(case))
    _run("--workspace", str(workspace), "detect")
    (workspace / ".bench-ready").touch()
    return workspace


def _encode(value) -> int:
    return len(json.dumps(value, cls=plotly.utils.PlotlyJSONEncoder))


Timing = tuple[float, float, float, float, int]
"""First call and warm median in wall ms, the same in CPU ms, and the bytes sent."""


def _time(fn: Callable[[], object], repeat: int) -> Timing:
    """(first call, median of the next ``repeat``) in wall and CPU milliseconds, JSON encoding included, and the bytes sent."""
    walls, cpus = [], []
    for _ in range(repeat + 1):
        started, cpu = time.perf_counter(), time.process_time()
        size = _encode(fn())
        walls.append(1000 * (time.perf_counter() - started))
        cpus.append(1000 * (time.process_time() - cpu))
    return walls[0], _warm(walls), cpus[0], _warm(cpus), size


def _warm(times: list[float]) -> float:
    """The median after the first call, or the first call when there was no repeat."""
    return statistics.median(times[1:]) if len(times) > 1 else times[0]


def _keep_summaries(workspace_path: Path) -> Timing:
    """Keep what ``ingest`` and ``detect`` keep for the pages, timed, in an app closed before the pages are timed
    (as the command's own process would be: the database's caches are not left warm for the first calls)."""
    app = create_app(Workspace.open(workspace_path))
    with app.server.test_request_context("/"):
        timing = _time(lambda: traffic_summary.precompute(cluster.current().investigation), 0)
    warehouse.close_all()
    return timing


def measure(workspace_path: Path, repeat: int) -> dict[str, Timing]:
    """Time every callback of every page against one workspace (a copy: labels get written)."""
    scratch = workspace_path.parent / f"{workspace_path.name}-scratch"
    shutil.rmtree(scratch, ignore_errors=True)
    shutil.copytree(workspace_path, scratch)
    results: dict[str, Timing] = {_KEPT: _keep_summaries(scratch)}
    workspace = Workspace.open(scratch)
    app = create_app(workspace)
    with app.server.test_request_context("/"):
        user = auth.User("bench", "admin")
        flask_login.login_user(user)
        run_id = cache.latest_run_id()
        clusters = cache.run_clusters(run_id)
        if not clusters:
            raise SystemExit(f"{workspace_path}: no clusters; did detect run?")
        top = clusters[0]["cluster_id"]
        largest = max(clusters, key=lambda row: row.get("size") or 0)["cluster_id"]
        con = warehouse.connect(scratch / "sybilscope.duckdb")
        busiest_ip = queries.top_ips(con, limit=1)["ip"].iloc[0]
        member = cluster.current().store.members(top)[0]["account_id"]
        asn, prefix, device = con.execute(
            "SELECT any_value(ip_asn), any_value(ip_prefix), any_value(device_id) FILTER (device_id IS NOT NULL) "
            "FROM events WHERE ip = ?", [busiest_ip]).fetchone()
        org = queries.as_names(cluster.current().store, [busiest_ip]).get(int(asn), "") if asn is not None else ""
        big = queries.find_cluster(cluster.current().store, largest)
        drawn, _ = cluster_graph.elements_for(big)
        group = next((e["data"] for e in drawn if e["data"].get("kind") == "group"), None)
        opened = cluster_graph.elements_for(big, group["id"])[0] if group else drawn
        ip_node = next(e["data"] for e in opened if e["data"].get("kind") == "ip")
        selectors = evidence.evidence_selectors(queries.find_cluster(cluster.current().store, top).get("evidence"))
        row = next(iter(selectors), None)

        checks: list[tuple[str, Callable[[], object]]] = [
            ("overview: layout", lambda: overview.layout()),
            ("overview: traffic (all)", lambda: overview.traffic_view("all")),
            ("overview: traffic (24 h)", lambda: overview.traffic_view("1d")),
            ("overview: queue", lambda: overview.queue_view(None, 0, None, "all")),
            ("overview: queue filtered", lambda: overview.queue_view(["new"], 0.5, None, "7d")),
            ("overview: search IP prefix", lambda: overview.search_view(busiest_ip.rsplit(".", 1)[0])),
            ("overview: search ASN organisation", lambda: overview.search_view(org.split(" ")[0] or f"AS{asn}")),
            ("overview: queue by tradecraft", lambda: overview.queue_view(None, 0, None, "all", [
                cluster.triage.cluster_tradecraft_name(clusters[0])], None)),
            ("cluster: layout (top)", lambda: cluster.layout(cluster_id=top)),
            ("cluster: graph (top)", lambda: cluster.graph_part(top)),
            ("cluster: evidence (top)", lambda: cluster.evidence_part(top)),
            ("cluster: layout (largest)", lambda: cluster.layout(cluster_id=largest)),
            ("cluster: graph (largest)", lambda: cluster.graph_part(largest)),
            ("cluster: evidence (largest)", lambda: cluster.evidence_part(largest)),
            ("cluster: node panel (IP, largest)", lambda: cluster_graph.node_panel(largest, ip_node)),
            ("cluster: open a group (largest)", lambda: cluster_graph.opened(largest, group["id"]) if group else None),
            ("cluster: node panel (group, largest)",
             lambda: cluster_graph.node_panel(largest, group) if group else None),
            ("cluster: evidence row requests, page 2", lambda: evidence.evidence_requests_view(
                top, row, selectors[row], 1) if row else None),
            ("compare: top 3 clusters", lambda: compare.layout(c=[row["cluster_id"] for row in clusters[:3]])),
            ("cluster: requests through IP", lambda: cluster.requests_view(top, {"kind": "ip", "key": busiest_ip})),
            ("cluster: label + refresh", lambda: (
                judgement.apply_label_action(top, "comment", {"comment": "benchmark"}, user),
                judgement.judgement_view(cluster.triage.judgement(cluster.current().store, "cluster", top), True),
                judgement.audit_view(cluster.current().store.audit_events(target=f"cluster:{top}")))),
            ("entity: layout (busiest IP)", lambda: entity.layout(kind="ip", key=busiest_ip)),
            ("entity: layout (member)", lambda: entity.layout(kind="account", key=member)),
            ("entity: layout (device)", lambda: entity.layout(kind="device", key=device)),
            ("entity: layout (prefix)", lambda: entity.layout(kind="prefix", key=prefix)),
            ("entity: layout (ASN)", lambda: entity.layout(kind="asn", key=str(asn))),
            ("entity: counts", lambda: entity.counts_view("IPAddress", busiest_ip, "all")),
            ("entity: expand 50", lambda: entity.expand([], "IPAddress", busiest_ip, "USED_IP", "all", 50)),
            ("audit: layout + table", lambda: (audit.layout(), audit.audit_rows(queries.audit_log(
                cluster.current().store)))),
        ]
        for name, fn in checks:
            results[name] = _time(fn, repeat)
    warehouse.close_all()
    shutil.rmtree(scratch, ignore_errors=True)
    return results


def _load() -> str:
    """The 1, 5 and 15 minute load averages, to read the wall times against."""
    return " ".join(f"{value:.2f}" for value in os.getloadavg()) + f" on {os.cpu_count()} CPUs"


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="sybilscope-ui-bench-") as tmp:
        _main(Path(tmp))


def _main(tmp: Path) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--workspace", action="append", type=Path, help="ready workspace(s) to time instead")
    parser.add_argument("--cache", type=Path, default=None, help="keep the built workspaces here and reuse them")
    parser.add_argument("--scale", type=float, default=20, help="simulator scale of the large case (20 ~ 2.9M rows)")
    parser.add_argument("--skip-large", action="store_true", help="only the sample case")
    parser.add_argument("--repeat", type=int, default=3, help="timed repeats after the first (cold) call")
    args = parser.parse_args()

    args.cache = args.cache or tmp
    if args.workspace:
        targets = [(path.name, path) for path in args.workspace]
    else:
        args.cache.mkdir(parents=True, exist_ok=True)
        console.print("[bold]building workspaces[/] (cached under", str(args.cache) + ")")
        targets = [("sample", build(args.cache, "sample", ROOT / "sample_data" / "case", None))]
        if not args.skip_large:
            targets.append((f"scale {args.scale:g}", build(args.cache, f"scale{args.scale:g}", None, args.scale)))

    target = 500.0  # ms of server time, at the sample and at scale 20 alike
    for label, path in targets:
        con = warehouse.connect(path / "sybilscope.duckdb")
        rows = con.execute("SELECT count(*) FROM events").fetchall()[0][0]
        warehouse.close_all()
        console.print(f"{label}: load average {_load()} before timing")
        results = measure(path, args.repeat)
        table = Table(title=f"{label}: {rows:,} requests, target < {target:.0f} ms per callback")
        for column in ("callback", "first call ms", "warm median ms", "first CPU ms", "warm CPU ms", "sent KB", "ok"):
            table.add_column(column, justify="left" if column == "callback" else "right")
        kept = results.pop(_KEPT)[0]
        for name, (first, warm, first_cpu, warm_cpu, size) in results.items():
            ok = "[green]yes[/]" if max(first, warm) < target else "[red]NO[/]"
            table.add_row(name, f"{first:.0f}", f"{warm:.0f}", f"{first_cpu:.0f}", f"{warm_cpu:.0f}",
                          f"{size / 1024:.0f}", ok)
        console.print(table)
        console.print(f"{label}: load average {_load()} after timing")
        console.print(f"{label}: ingest and detect each spend {kept:.0f} ms keeping the overview's traffic, "
                      "the search keys and the members' links")
        worst = max(max(timing[:2]) for timing in results.values())
        console.print(f"{label}: slowest callback {worst:.0f} ms (target {target:.0f} ms)")


if __name__ == "__main__":
    main()
