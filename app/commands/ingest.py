"""``sybilscope ingest``: load a case folder (or single files) into the workspace."""

from __future__ import annotations

import sys
import time

import click
from rich.console import Console
from rich.progress import (
    BarColumn,
    Progress,
    SpinnerColumn,
    TextColumn,
    TimeElapsedColumn,
)
from rich.table import Table

from app.context import CliContext
from app.web import traffic_summary
from graph.workspace import ENGINES
from ingest import pipeline
from ingest.readers import SourceFile, discover, source_file


class _RichProgress(pipeline.Progress):
    """Rows read and rows/s on stderr, one bar a file."""

    def __init__(self, console: Console):
        self._bar = Progress(
            SpinnerColumn(),
            TextColumn("[bold]{task.description}"),
            BarColumn(bar_width=None),
            TextColumn("{task.fields[rows]}"),
            TextColumn("[cyan]{task.fields[rate]}"),
            TimeElapsedColumn(),
            console=console,
            transient=False,
        )
        self._task = None
        self._started = 0.0
        self._rows = 0

    def __enter__(self):
        self._bar.start()
        return self

    def __exit__(self, *exc):
        self._bar.stop()

    def file_started(self, source: SourceFile, size: int) -> None:
        self._started = time.perf_counter()
        self._rows = 0
        self._task = self._bar.add_task(f"{source.table}: {source.path.name}", total=None, rate="",
                                        rows="0 rows")

    def rows(self, count: int) -> None:
        self._rows += count
        elapsed = max(time.perf_counter() - self._started, 1e-9)
        self._bar.update(self._task, advance=count, rows=f"{self._rows:,} rows",
                         rate=f"{self._rows / elapsed:,.0f} rows/s")

    def file_done(self, source: SourceFile) -> None:
        self._bar.update(self._task, total=self._rows, completed=self._rows)

    def phase(self, name: str) -> None:
        self._task = self._bar.add_task(name, total=None, rate="", rows="")


def _summary_table(summary: pipeline.IngestSummary) -> Table:
    table = Table("table", "files", "read", "loaded", "quarantined", "already loaded", title="ingest")
    for name, t in summary.tables.items():
        files = f"{t.files}" + (f" ({t.files_skipped} unchanged)" if t.files_skipped else "")
        table.add_row(name, files, f"{t.read:,}", f"{t.loaded:,}", f"{t.quarantined:,}", f"{t.already_loaded:,}")
    return table


def _reasons(summary: pipeline.IngestSummary) -> list[str]:
    return [
        f"{name} quarantined: " + ", ".join(f"{reason} {count:,}" for reason, count in t.quarantined_by_reason.items())
        for name, t in summary.tables.items() if t.quarantined_by_reason
    ]


@click.command("ingest")
@click.argument("case_dir", required=False, type=click.Path(exists=True, file_okay=False))
@click.option("--requests", "requests_files", multiple=True, type=click.Path(exists=True, dir_okay=False),
              help="A requests file (repeatable), instead of or besides CASE_DIR.")
@click.option("--accounts", "accounts_files", multiple=True, type=click.Path(exists=True, dir_okay=False),
              help="An accounts file (repeatable).")
@click.option("--ip-intel", "ip_intel_files", multiple=True, type=click.Path(exists=True, dir_okay=False),
              help="An ip_intel file (repeatable).")
@click.option("--labels", "labels_files", multiple=True, type=click.Path(exists=True, dir_okay=False),
              help="A labels file (repeatable).")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object (the summary) on stdout.")
@click.option("--quiet", "-q", is_flag=True, help="No progress bar and no summary table.")
@click.option("--engine", type=click.Choice(ENGINES), default=None,
              help="Where the events go: duckdb (the workspace) or spark (day-partitioned Parquet in "
              "--events-dir, checked on Spark). Default: $SYBILSCOPE_ENGINE, else the workspace's setting.")
@click.option("--events-dir", type=click.Path(file_okay=False), default=None,
              help="On the spark engine: the events folder (recorded in the workspace). "
              "Default: $SYBILSCOPE_EVENTS_DIR, else the workspace's setting.")
@click.pass_obj
def command(ctx: CliContext, case_dir, requests_files, accounts_files, ip_intel_files, labels_files,
            as_json: bool, quiet: bool, engine: str | None, events_dir: str | None) -> None:
    """Load a case folder (requests, accounts, ip_intel, labels) into the workspace.

    Files are CSV, JSON Lines (both may be .gz) or Parquet, named after their
    table (requests.csv, requests-0001.parquet, ...). Bad rows go to the
    workspace's quarantine and the run still succeeds (with a warning);
    re-running with the same files changes nothing.
    """
    if not case_dir and not (requests_files or accounts_files or ip_intel_files or labels_files):
        raise click.UsageError("give a CASE_DIR or at least one file (--requests F, ...)")
    ctx.create_workspace = True  # the one command that starts an investigation
    for name, value in (("engine", engine), ("events_dir", events_dir)):
        if value is not None:
            ctx.settings_flags[name] = value
    ctx.require_writable("ingest")
    sources: dict[str, list[SourceFile]] = {}
    ignored = []
    if case_dir:
        found, ignored_paths = discover(case_dir)
        sources = {table: list(files) for table, files in found.items()}
        ignored = [str(p) for p in ignored_paths]
    for table, files in (("requests", requests_files), ("accounts", accounts_files),
                         ("ip_intel", ip_intel_files), ("labels", labels_files)):
        for path in files:
            sources.setdefault(table, []).append(source_file(path, table))

    show_progress = not (quiet or as_json) and ctx.err.is_terminal
    if show_progress:
        with _RichProgress(ctx.err) as progress:
            summary = ctx.investigation.ingest(sources, progress=progress, ignored_files=ignored)
    else:
        summary = ctx.investigation.ingest(sources, ignored_files=ignored)
    traffic_summary.precompute(ctx.investigation)  # the overview's first view after this ingest is ready

    if as_json:
        click.echo(pipeline.summary_json(summary))
    elif not quiet:
        ctx.console.print(_summary_table(summary))
        for line in _reasons(summary):
            ctx.console.print(line, highlight=False)
        rate = f"{summary.rows_read / summary.seconds:,.0f} rows/s" if summary.seconds else ""
        ctx.console.print(f"{summary.rows_read:,} rows in {summary.seconds:,.1f} s ({rate})", highlight=False)
    for warning in summary.warnings:
        ctx.err.print(f"[yellow]warning:[/] {warning}", highlight=False, soft_wrap=True)
    error = pipeline.fail_on(summary)
    if error is not None:
        ctx.err.print(f"[red]error:[/] {error}", highlight=False, soft_wrap=True)
        sys.exit(3)
