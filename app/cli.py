"""The ``sybilscope`` command line: a thin layer over ``ingest`` and ``graph``.

Each command lives in its own module under :mod:`app.commands` and works
through the same :class:`app.investigation.Investigation` the web UI holds.
Errors sybilscope expects print as one line and exit non-zero; ``--verbose``
adds the traceback.
"""

from __future__ import annotations

import importlib
import sys
import traceback

import click

from graph import __version__
from graph.errors import SybilscopeError

__all__ = ["cli", "main"]

# module name under app.commands -> its click command is `command`
COMMAND_MODULES = ("status", "simulate", "serve", "users", "ingest", "detect", "queue", "label", "export",
                   "brief")


class _LazyCommands(click.Group):
    """The commands of :data:`COMMAND_MODULES`, each module imported only when its command is wanted.

    ``sybilscope ingest`` then loads neither the web UI, the exports nor the
    API (seconds of imports in every run); ``--help`` lists them all.
    """

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(COMMAND_MODULES)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in COMMAND_MODULES:
            return None
        return importlib.import_module(f"app.commands.{cmd_name}").command


@click.group(cls=_LazyCommands, context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.option(
    "--workspace",
    "-w",
    type=click.Path(file_okay=False),
    default=None,
    help="Investigation folder. Default: $SYBILSCOPE_WORKSPACE, else ./sybilscope-workspace. "
    "`ingest` starts one; every other command needs an existing one.",
)
@click.option("--verbose", "-v", is_flag=True, help="Show tracebacks and debug detail.")
@click.version_option(__version__, prog_name="sybilscope")
@click.pass_context
def cli(ctx: click.Context, workspace: str | None, verbose: bool) -> None:
    """Investigate fake-account networks that abuse phone-number lookup APIs.

    Typical case: `sybilscope ingest CASE_DIR`, `sybilscope detect`,
    `sybilscope serve`, `sybilscope export --format csv --out DIR`.
    """
    # the store, DuckDB and pandas load here: not for `--help` or `--version`
    from app.context import CliContext

    ctx.obj = CliContext(workspace_flag=workspace, verbose=verbose)
    ctx.call_on_close(ctx.obj.close)


def main(argv: list[str] | None = None) -> None:
    """Entry point: run the CLI, turning expected errors into one clear line."""
    verbose = "--verbose" in (argv or sys.argv) or "-v" in (argv or sys.argv)
    try:
        cli.main(args=argv, prog_name="sybilscope", standalone_mode=False)
    except click.exceptions.Abort:
        click.echo("Aborted.", err=True)
        sys.exit(130)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except click.exceptions.Exit as exc:
        sys.exit(exc.exit_code)
    except SybilscopeError as exc:
        if verbose:
            traceback.print_exc()
        click.echo(f"Error: {exc}", err=True)
        sys.exit(2)
    except Exception as exc:  # noqa: BLE001 - last line of defence for users
        if verbose:
            traceback.print_exc()
        click.echo(f"Error: {type(exc).__name__}: {exc} (run with --verbose for the traceback)", err=True)
        sys.exit(1)
