"""``sybilscope serve``: the analyst web UI for this workspace."""

from __future__ import annotations

import click

from app.context import CliContext
from app.web import auth


@click.command("serve")
@click.option("--host", default="127.0.0.1", show_default=True,
              help="Address to listen on. The default keeps the UI on this machine; 0.0.0.0 exposes it.")
@click.option("--port", default=8050, show_default=True, type=click.IntRange(1, 65535), help="TCP port.")
@click.pass_obj
def command(ctx: CliContext, host: str, port: int) -> None:
    """Serve the web UI: triage queue, cluster investigation, labeling, audit log.

    On the workspace's first serve the `admin` user is created with the
    password in $SYBILSCOPE_ADMIN_PASSWORD, else a random one printed once
    here. Add more users with `sybilscope users add NAME --role analyst`.
    """
    from app.web.server import create_app  # Dash is heavy: import it only to serve

    workspace = ctx.workspace
    admin = auth.bootstrap_admin(ctx.investigation.writer("serve the web UI"))
    app = create_app(workspace, ctx.store)
    url = f"http://{'127.0.0.1' if host in ('0.0.0.0', '::') else host}:{port}/"
    out = ctx.console
    out.print(f"[bold]sybilscope[/] serving workspace {workspace.root} at [link={url}]{url}[/link]")
    if admin.password:
        # printed on stdout once, never stored: the hash is all the workspace keeps
        click.echo(f"First start: sign in as 'admin' with password {admin.password} (shown only this once)")
    elif admin.from_env:
        out.print(f"First start: the 'admin' password is the one in ${auth.ADMIN_PASSWORD_ENV}")
    if host not in ("127.0.0.1", "localhost", "::1"):
        ctx.err.print(f"[yellow]warning[/]: listening on {host}: anyone who can reach this address sees the login page")
    ctx.investigation.share()  # hold the workspace only while a request runs: commands run beside the UI
    app.run(host=host, port=port, debug=False, threaded=True)
