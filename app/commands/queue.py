"""``sybilscope queue``: the triage queue, as the web UI's overview shows it."""

from __future__ import annotations

import json

import click
from rich.table import Table

from app.commands.filter_options import filter_options
from app.context import CliContext
from app.export import Filters
from app.present.tradecraft import cluster_tradecraft
from graph.triage import cluster_country_codes, cluster_judgements


def _when(moment: object) -> str:
    return moment.isoformat(timespec="seconds") if hasattr(moment, "isoformat") else ""


@click.command("queue")
@filter_options
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object (run, filters, clusters) instead of a table.")
@click.pass_obj
def command(ctx: CliContext, filters: Filters, as_json: bool) -> None:
    """List the clusters of the latest detection run to triage, highest score first.

    The filters keep exactly the clusters the web queue shows and
    `sybilscope export` writes for the same filters. The table names each
    cluster's tradecraft; --json keeps detection's ``kind`` beside it.
    """
    selection = ctx.investigation.queue(filters)
    judgements = cluster_judgements(ctx.store)
    rows = [
        {
            "cluster_id": c["cluster_id"],
            "score": c.get("score"),
            "size": c.get("size"),
            "kind": c.get("kind"),
            "tradecraft": cluster_tradecraft(c)["tradecraft"],
            "status": c["status"],
            "assignee": judgements[c["cluster_id"]].assignee if c["cluster_id"] in judgements else None,
            "countries": cluster_country_codes(c),
            "first_seen": c.get("first_seen"),
            "last_seen": c.get("last_seen"),
        }
        for c in selection.clusters
    ]
    if as_json:
        report = {"run_id": selection.run["run_id"], "filters": selection.filters.describe(), "clusters": rows}
        click.echo(json.dumps(report, default=_when))
        return
    table = Table("cluster", "score", "size", "tradecraft", "status", "assignee", "countries", "first seen",
                  "last seen", title=f"{len(rows)} clusters · detection run {selection.run['run_id']}")
    for row in rows:
        table.add_row(row["cluster_id"], f"{row['score'] or 0:.2f}", f"{row['size'] or 0:,}", row["tradecraft"],
                      row["status"], row["assignee"] or "", " · ".join(row["countries"]), _when(row["first_seen"]),
                      _when(row["last_seen"]))
    ctx.console.print(table)
