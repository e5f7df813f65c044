"""``sybilscope users``: who may sign in to the web UI, with which role, and the API tokens scripts use."""

from __future__ import annotations

import click

from app.api import tokens
from app.context import CliContext
from app.web import auth
from graph import triage


@click.group("users")
def command() -> None:
    """Manage web UI users: viewers read, analysts label, admins also manage users."""


def _password(value: str | None) -> str:
    return value or click.prompt("Password", hide_input=True, confirmation_prompt=True)


@command.command("add")
@click.argument("name")
@click.option("--role", type=click.Choice(auth.ROLES), default="analyst", show_default=True, help="What the user may do.")
@click.option("--password", default=None, help="The password (prompted for when absent; avoid it in shell history).")
@click.pass_obj
def add(ctx: CliContext, name: str, role: str, password: str | None) -> None:
    """Add user NAME with a role."""
    con = ctx.investigation.writer("add a user")
    try:
        auth.create_user(con, name, _password(password), role)
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from exc
    triage.record_audit(ctx.store, "cli", "users.add", f"user:{name}", None, {"role": role})
    ctx.console.print(f"added {name} ({role})")


@command.command("list")
@click.pass_obj
def list_(ctx: CliContext) -> None:
    """List users and their roles."""
    for user in auth.list_users(ctx.investigation.reader()):
        state = "\tdisabled" if user["disabled"] else ""
        click.echo(f"{user['name']}\t{user['role']}\t{user['created_at']:%Y-%m-%d %H:%M}{state}")


@command.command("set-role")
@click.argument("name")
@click.argument("role", type=click.Choice(auth.ROLES))
@click.pass_obj
def set_role(ctx: CliContext, name: str, role: str) -> None:
    """Change the role of user NAME (their open sessions end)."""
    con = ctx.investigation.writer("change a user's role")
    before = auth.get_user(con, name)
    if before is None:
        raise click.BadParameter(f"no user {name!r} (see `sybilscope users list`)")
    auth.set_role(con, name, role)
    triage.record_audit(ctx.store, "cli", "users.role", f"user:{name}", {"role": before.role}, {"role": role})
    ctx.console.print(f"{name} is now {role}")


@command.command("passwd")
@click.argument("name")
@click.option("--password", default=None, help="The new password (prompted for when absent).")
@click.pass_obj
def passwd(ctx: CliContext, name: str, password: str | None) -> None:
    """Set a new password for user NAME (their open sessions end)."""
    con = ctx.investigation.writer("change a password")
    try:
        auth.set_password(con, name, _password(password))
    except KeyError as exc:
        raise click.BadParameter(f"no user {name!r} (see `sybilscope users list`)") from exc
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from exc
    triage.record_audit(ctx.store, "cli", "users.passwd", f"user:{name}", None, None)
    ctx.console.print(f"password of {name} changed")


def _set_disabled(ctx: CliContext, name: str, disabled: bool) -> None:
    try:
        auth.set_disabled(ctx.investigation.writer(f"{'disable' if disabled else 'enable'} a user"), name, disabled)
    except KeyError as exc:
        raise click.BadParameter(f"no user {name!r} (see `sybilscope users list`)") from exc
    action = "users.disable" if disabled else "users.enable"
    triage.record_audit(ctx.store, "cli", action, f"user:{name}", {"disabled": not disabled}, {"disabled": disabled})
    ctx.console.print(f"{name} is {'disabled: their sessions ended' if disabled else 'enabled again'}")


@command.command("disable")
@click.argument("name")
@click.pass_obj
def disable(ctx: CliContext, name: str) -> None:
    """Stop user NAME signing in, and end their open sessions (the user and their labels stay)."""
    _set_disabled(ctx, name, True)


@command.command("enable")
@click.argument("name")
@click.pass_obj
def enable(ctx: CliContext, name: str) -> None:
    """Let a disabled user NAME sign in again."""
    _set_disabled(ctx, name, False)


@command.group("token")
def token() -> None:
    """API tokens: what scripts send the JSON API (`Authorization: Bearer <token>`) to act as a user."""


def _audit_token(ctx: CliContext, action: str, name: str, token_id: str) -> None:
    """The audit event of a token made or revoked: its id and user, never the token."""
    triage.record_audit(ctx.store, "cli", f"users.token.{action}", f"user:{name}", None, {"token_id": token_id})


@token.command("create")
@click.argument("name")
@click.pass_obj
def token_create(ctx: CliContext, name: str) -> None:
    """Create an API token for user NAME and print it once (only its hash is kept)."""
    try:
        token_id, secret = tokens.create(ctx.investigation.writer("create an API token"), name, "cli")
    except KeyError as exc:
        raise click.BadParameter(f"no user {name!r} (see `sybilscope users list`)") from exc
    _audit_token(ctx, "create", name, token_id)
    click.echo(f"token {token_id} for {name} (shown only this once; revoke it with "
               f"`sybilscope users token revoke {token_id}`):", err=True)
    click.echo(secret)


@token.command("revoke")
@click.argument("token_id")
@click.pass_obj
def token_revoke(ctx: CliContext, token_id: str) -> None:
    """Revoke the API token TOKEN_ID (see `sybilscope users token list`): it stops working at once."""
    try:
        name = tokens.revoke(ctx.investigation.writer("revoke an API token"), token_id, "cli")
    except KeyError as exc:
        raise click.BadParameter(f"no live token {token_id!r} (see `sybilscope users token list`)") from exc
    _audit_token(ctx, "revoke", name, token_id)
    ctx.console.print(f"token {token_id} of {name} revoked")


@token.command("list")
@click.pass_obj
def token_list(ctx: CliContext) -> None:
    """List API tokens: id, user, created, revoked (never the tokens themselves)."""
    for row in tokens.list_tokens(ctx.investigation.reader()):
        revoked = f"\trevoked {row['revoked_at']:%Y-%m-%d %H:%M}" if row["revoked_at"] else ""
        click.echo(f"{row['token_id']}\t{row['name']}\t{row['created_at']:%Y-%m-%d %H:%M}{revoked}")
