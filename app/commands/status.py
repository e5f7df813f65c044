"""``sybilscope status``: the workspace, its store and what it holds."""

from __future__ import annotations

import json

import click
from rich.table import Table

from app.context import CliContext


@click.command("status")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object instead of tables.")
@click.pass_obj
def command(ctx: CliContext, as_json: bool) -> None:
    """Show the workspace, which graph store and engine it uses, where the events live, and graph counts."""
    workspace = ctx.workspace
    store = ctx.store
    counts = store.counts()
    latest = store.latest_run()
    report = {
        "workspace": str(workspace.root),
        "store": workspace.settings.describe(),
        "engine": workspace.settings.describe_engine(),
        "read_only": workspace.read_only,
        "counts": counts,
        "latest_run": latest["run_id"] if latest else None,
    }
    if as_json:
        click.echo(json.dumps(report, default=str))
        return
    out = ctx.console
    out.print(f"[bold]workspace[/] {report['workspace']}")
    out.print("[bold]store[/] " + ", ".join(f"{k}={v}" for k, v in report["store"].items()))
    out.print("[bold]engine[/] " + ", ".join(f"{k}={v}" for k, v in report["engine"].items()))
    if report["read_only"]:
        out.print("[bold]read-only[/] this process cannot write the workspace: it is opened for reading")
    out.print(f"[bold]latest detection run[/] {report['latest_run'] or '(none yet)'}")
    table = Table("kind", "count", title="graph")
    for name, count in counts.items():
        table.add_row(name, f"{count:,}")
    out.print(table)
