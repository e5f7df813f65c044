"""``sybilscope brief``: a briefing on one operation for decision makers and the public."""

from __future__ import annotations

from pathlib import Path

import click

from app.brief import BRIEF_EDITIONS, BRIEF_FORMATS
from app.commands.export import cli_user
from app.context import CliContext
from app.export.tables import TLP_LEVELS


@click.command("brief")
@click.argument("cluster_ids", nargs=-1, required=True, metavar="CLUSTER...")
@click.option("--out", "out", required=True, type=click.Path(dir_okay=False),
              help="File to write; its suffix (.html, .pdf, .md) picks the format unless --format says.")
@click.option("--format", "fmt", type=click.Choice(BRIEF_FORMATS), default=None,
              help="html, pdf or md (default: from the --out suffix).")
@click.option("--template", type=click.Path(dir_okay=False, exists=True), default=None,
              help="A Jinja2 template to use instead of the stock one (copy app/brief/templates/ to start).")
@click.option("--tlp", type=click.Choice(TLP_LEVELS, case_sensitive=False), default=None,
              help="Marking for every page (default: the clusters' TLP tag, else TLP:AMBER).")
@click.option("--run", "run_id", default=None, help="A detection run id (default: the latest run).")
@click.option("--redact", is_flag=True, help="Replace account ids in free text with keyed pseudonyms.")
@click.option("--edition", type=click.Choice(BRIEF_EDITIONS), default="full", show_default=True,
              help="full (trust and safety) or public (journalists, policy: redacted, no ids, no evidence tables).")
@click.option("--include-notes", is_flag=True,
              help="Print the analysts' comments (full edition only; left out unless asked).")
@click.pass_obj
def command(
    ctx: CliContext,
    cluster_ids: tuple[str, ...],
    out: str,
    fmt: str | None,
    template: str | None,
    tlp: str | None,
    run_id: str | None,
    redact: bool,
    edition: str,
    include_notes: bool,
) -> None:
    """Write a briefing on CLUSTER... (clusters judged to be one operation) to --out.

    Several clusters give one briefing on them as one operation, with what
    ties them (shared infrastructure, target lists, timing).

    The briefing states what the network was, how big, where from, how it
    worked, how sure we are and who was affected, marked with its TLP on every
    page, and records the run and data fingerprint that reproduce it. It is
    recorded in the audit log.
    """
    path = ctx.investigation.brief(
        cluster_ids,
        out,
        fmt=fmt,
        template=Path(template) if template else None,
        tlp=tlp.upper() if tlp else None,
        run_id=run_id,
        redact=redact,
        user=cli_user(),
        edition=edition,
        include_notes=include_notes,
    )
    ctx.console.print(f"briefing on {', '.join(cluster_ids)} written to [bold]{path}[/]")
    if ctx.store.read_only:
        ctx.err.print("note: this briefing is not in the audit log: the workspace is read-only here")
