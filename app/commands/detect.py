"""``sybilscope detect``: find coordinated abuse networks in the workspace and store the run."""

from __future__ import annotations

import json

import click
from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table

from app.context import CliContext
from app.present.tradecraft import cluster_tradecraft
from app.web import traffic_summary
from graph.detect.clustering import METHODS
from graph.detect.results import DetectionParams
from graph.detect.scoring import FLAG_THRESHOLD, SHORT_REASONS
from graph.workspace import ENGINES


def _tradecraft(cluster) -> str:
    """What the analyst reads for a cluster found now: the same words the queue and the cluster page use."""
    return cluster_tradecraft({"evidence": cluster.evidence, "kind": cluster.kind})["tradecraft"]


@click.command("detect")
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of the community method (same seed, same result).")
@click.option("--resolution", type=float, default=1.0, show_default=True,
              help="Modularity resolution: above 1 splits into smaller clusters, below 1 merges.")
@click.option("--method", type=click.Choice(METHODS), default=DetectionParams.method, show_default=True,
              help="Community method on the coordination graph.")
@click.option("--keep-score", type=float, default=0.2, show_default=True,
              help="Keep clusters scoring at least this (0.5 and above are flagged as suspected networks).")
@click.option("--top", type=int, default=15, show_default=True, help="How many clusters to list.")
@click.option("--json", "as_json", is_flag=True, help="Print the run and its clusters as one JSON object.")
@click.option("--engine", type=click.Choice(ENGINES), default=None,
              help="Where the events are read: duckdb (the workspace) or spark (its --events-dir Parquet). "
              "Default: $SYBILSCOPE_ENGINE, else the workspace's setting, else duckdb.")
@click.pass_obj
def command(ctx: CliContext, seed: int, resolution: float, method: str, keep_score: float, top: int, as_json: bool,
            engine: str | None) -> None:
    """Detect coordinated abuse networks (and lone enumerators), score and explain them, store the run.

    Cluster ids are stable: the same data gives the same ids, and a cluster that
    persists after new data keeps its id, so labels stay attached.
    """
    try:
        params = DetectionParams(seed=seed, resolution=resolution, method=method, keep_score=keep_score)
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from exc
    if engine is not None:
        ctx.settings_flags["engine"] = engine
    investigation = ctx.investigation
    investigation.require_writable("detect")  # before the progress bar appears
    if as_json:
        result = investigation.detect(params)
    else:
        with Progress(SpinnerColumn(), TextColumn("[bold]{task.description}"), BarColumn(bar_width=None),
                      TimeElapsedColumn(), console=ctx.err, transient=True) as bar:
            task = bar.add_task("detecting", total=1.0)
            result = investigation.detect(
                params, progress=lambda step, done: bar.update(task, description=step, completed=done))
    traffic_summary.precompute(investigation)  # the overview's first view after this run is ready
    clusters = result.clusters
    if as_json:
        click.echo(json.dumps({
            "run_id": result.run_id,
            "stats": result.run["stats"],
            "clusters": [{"cluster_id": c.cluster_id, "score": c.score, "size": c.size, "kind": c.kind,
                          "tradecraft": _tradecraft(c), "top_ip_country": c.top_ip_country, "reasons": c.reasons}
                         for c in clusters],
        }, default=str))
        return
    stats = result.run["stats"]
    out = ctx.console
    out.print(f"[bold]run[/] {result.run_id}: {stats['events']:,} events, {stats['callers']:,} calling accounts, "
              f"{stats['candidates']:,} candidates, {stats['seconds']:.1f} s")
    flagged = [c for c in clusters if c.score >= FLAG_THRESHOLD]
    out.print(f"[bold]{len(flagged)}[/] suspected network(s) (score >= {FLAG_THRESHOLD}), "
              f"{sum(c.size for c in flagged):,} accounts; {len(clusters) - len(flagged)} more kept for review")
    table = Table(title="top clusters")
    table.add_column("cluster", no_wrap=True)
    for name in ("score", "size", "tradecraft", "country", "exposed", "strongest evidence"):
        table.add_column(name, justify="right" if name in ("score", "size", "exposed") else "left")
    for c in clusters[:top]:
        style = "red" if c.score >= FLAG_THRESHOLD else None
        strongest = sorted(c.contributions.items(), key=lambda kv: -kv[1])[:2]
        why = "; ".join(SHORT_REASONS.get(name, name) for name, value in strongest if value > 0)
        table.add_row(c.cluster_id, f"{c.score:.3f}", f"{c.size:,}", _tradecraft(c), c.top_ip_country or "?",
                      f"{c.exposure.get('exposed_accounts', 0):,}", why, style=style)
    out.print(table)
