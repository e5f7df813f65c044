"""``sybilscope simulate``: write a simulated incident case and its ground truth."""

from __future__ import annotations

import json
from pathlib import Path

import click
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from app.context import CliContext
from ingest.simulate import FORMATS, SCENARIOS, simulate


@click.command("simulate")
@click.argument("out_dir", type=click.Path(file_okay=False, path_type=Path))
@click.option(
    "--scenario",
    type=click.Choice(list(SCENARIOS)),
    default="default",
    show_default=True,
    help="Which campaigns and hard negatives the case holds.",
)
@click.option(
    "--seed",
    type=int,
    default=0,
    show_default=True,
    help="Same seed and options give byte-identical files.",
)
@click.option(
    "--scale",
    type=float,
    default=1.0,
    show_default=True,
    help="Multiplies population and volume (1.0 is about 135k request rows).",
)
@click.option(
    "--camouflage",
    is_flag=True,
    help="Add timing jitter, device rotation and benign cover traffic.",
)
@click.option(
    "--format",
    "fmt",
    type=click.Choice(FORMATS),
    default="csv",
    show_default=True,
    help="File format of the tables.",
)
@click.option("--gzip", "compress", is_flag=True, help="Gzip CSV and JSON Lines files.")
@click.option(
    "--part-rows",
    type=click.IntRange(min=1),
    default=None,
    help="Split requests into requests-0001... files of at most this many rows.",
)
@click.option(
    "--bad-rows",
    type=click.IntRange(min=0),
    default=0,
    show_default=True,
    help="Insert this many contract-breaking request rows (for ingest demos).",
)
@click.option(
    "--truth",
    "truth_path",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Ground-truth file (default: OUT_DIR.truth.json beside the folder, never inside it).",
)
@click.option("--json", "as_json", is_flag=True, help="Print one JSON summary instead of tables.")
@click.pass_obj
def command(
    ctx: CliContext,
    out_dir: Path,
    scenario: str,
    seed: int,
    scale: float,
    camouflage: bool,
    fmt: str,
    compress: bool,
    part_rows: int | None,
    bad_rows: int,
    truth_path: Path | None,
    as_json: bool,
) -> None:
    """Write a simulated lookup-abuse case folder to OUT_DIR, and its ground truth apart.

    The case follows the data contract (requests, accounts, ip_intel, labels)
    for 2019-12-18..2019-12-31 UTC: a benign population with hard negatives
    (carrier NAT, offices, shared family devices, a sign-up burst, power users,
    tight circles, VPN users) and December-2019-style campaigns.
    """
    if scale <= 0:
        raise click.BadParameter("must be positive", param_hint="--scale")
    kwargs = dict(
        scenario=scenario,
        seed=seed,
        scale=scale,
        camouflage=camouflage,
        fmt=fmt,
        truth_path=truth_path,
        compress=compress,
        part_rows=part_rows,
        bad_rows=bad_rows,
    )
    if as_json:
        summary = simulate(out_dir, **kwargs)
    else:
        with Progress(
            TextColumn("[bold]simulating[/] day {task.completed}/{task.total}"),
            BarColumn(),
            TextColumn("{task.fields[rows]:,} rows"),
            TimeElapsedColumn(),
            console=ctx.err,
            transient=True,
        ) as bar:
            task = bar.add_task("days", total=14, rows=0)
            summary = simulate(
                out_dir,
                **kwargs,
                progress=lambda done, total, rows: bar.update(
                    task, completed=done, total=total, rows=rows
                ),
            )
    report = {
        "out_dir": str(summary.out_dir),
        "truth": str(summary.truth_path),
        "scenario": summary.scenario,
        "seed": summary.seed,
        "scale": summary.scale,
        "camouflage": summary.camouflage,
        "rows": summary.rows,
        "accounts": summary.accounts,
        "callers": summary.callers,
        "campaigns": summary.campaigns,
        "hard_negatives": summary.hard_negatives,
        "lookup_rows": summary.lookup_rows,
        "matched_rows": summary.matched_rows,
        "bad_rows": summary.bad_rows,
        "seconds": round(summary.seconds, 3),
        "rows_per_second": round(summary.rows_per_second),
    }
    if as_json:
        click.echo(json.dumps(report))
        return
    out = ctx.console
    out.print(f"[bold]case[/] {summary.out_dir}   [bold]truth[/] {summary.truth_path}")
    table = Table(
        "table",
        "rows",
        title=f"scenario {scenario} (seed {seed}, scale {scale:g}{', camouflage' if summary.camouflage else ''})",
    )
    for name, n in summary.rows.items():
        table.add_row(name, f"{n:,}")
    out.print(table)
    groups = Table("group", "kind", "accounts")
    for name, n in summary.campaigns.items():
        groups.add_row(name, "campaign", str(n))
    for name, n in summary.hard_negatives.items():
        groups.add_row(name, "hard negative", str(n))
    out.print(groups)
    out.print(
        f"{summary.lookup_rows:,} lookup rows, {summary.matched_rows:,} matched; "
        f"{summary.seconds:.1f} s ({summary.rows_per_second:,.0f} rows/s)"
    )
