"""``sybilscope export``: write the detected clusters for other tools and teams."""

from __future__ import annotations

import getpass
import json

import click
from rich.table import Table

from app.commands.filter_options import filter_options
from app.context import CliContext
from app.export import FORMATS, GRAPH_FORMATS, Filters


def cli_user() -> str:
    """Who runs the command, for audit events (the OS user; ``cli`` when unknown)."""
    try:
        return f"cli:{getpass.getuser()}"
    except (KeyError, OSError):
        return "cli"


@click.command("export")
@click.option("--format", "fmt", type=click.Choice([*FORMATS, *GRAPH_FORMATS]), default="csv",
              show_default=True,
              help="File format: tables (csv, jsonl, parquet), a graph (graphml, gexf), a STIX 2.1 bundle, "
                   "MISP events, or neo4j-import: the whole graph as neo4j-admin import files.")
@click.option("--out", "out_dir", required=True, type=click.Path(file_okay=False),
              help="Folder to write into (created if missing).")
@click.option("--cluster", "cluster_ids", multiple=True, metavar="ID",
              help="Only this cluster (repeatable). In STIX, a named cluster also becomes an intrusion-set.")
@filter_options
@click.option("--redact", is_flag=True,
              help="For public release: replace account ids with keyed hashes and drop handles.")
@click.option("--misp-per", type=click.Choice(["cluster", "squad"]), default=None,
              help="With --format misp: one event a cluster (default; an operation is one event) or one "
                   "event a squad of each operation.")
@click.option("--phone-hashes", is_flag=True,
              help="With --format misp: add the keyed hashes of the phone numbers each cluster's lookups "
                   "matched (never the numbers; not with --redact).")
@click.option("--json", "as_json", is_flag=True, help="Print the export's manifest as JSON.")
@click.pass_obj
def command(
    ctx: CliContext,
    fmt: str,
    out_dir: str,
    filters: Filters,
    redact: bool,
    misp_per: str | None,
    phone_hashes: bool,
    as_json: bool,
) -> None:
    """Export the clusters of the latest detection run (CONTRACT section 5 layout).

    `--format csv` writes clusters.csv and members.csv exactly as the contract
    says, plus cluster_details, judgements, accounts, ips, devices and edges;
    a cell a spreadsheet would run as a formula (=, +, -, @, ...) starts with
    an added ' (OWASP's rule; docs/data-contract.md says how to undo it).
    Every export writes manifest.json (run, data fingerprint, filters) and is
    recorded in the audit log. The filters keep the same clusters as
    `sybilscope queue` and the web queue; --since/--until also narrow the
    exported edges and activity to the window.
    """
    result = ctx.investigation.export(fmt, out_dir, filters, redact=redact, user=cli_user(),
                                      options={"per": misp_per, "phone_hashes": phone_hashes})
    if ctx.store.read_only:
        ctx.err.print("note: this export is not in the audit log: the workspace is read-only here")
    if as_json:
        click.echo(json.dumps(result.manifest, default=str))
        return
    table = Table("table", "rows", title=f"{fmt} export to {result.out_dir}" + (" (redacted)" if redact else ""))
    for name, count in result.counts.items():
        table.add_row(name, f"{count:,}")
    ctx.console.print(table)
    run = result.manifest.get("detection_run")
    ctx.console.print((f"detection run [bold]{run['run_id']}[/], " if run else "")
                      + f"files: {', '.join(p.name for p in result.files)}")
