"""`outreach admin …`"""

from __future__ import annotations

import sys
from dataclasses import asdict
from datetime import datetime
from typing import Any

import click

from outreach.accounts.service import (
    TokenInfo,
    change_password,
    create_admin,
    get_admin,
    issue_token,
    list_tokens,
    revoke_token,
    set_active,
)
from outreach.commands.support import OutreachGroup, emit_json, json_option, session_scope

admin_cli = OutreachGroup("admin", help="Administrators and API tokens.")


@admin_cli.command("create")
@click.argument("email")
@click.option("--password-stdin", is_flag=True, help="Read the password from standard input.")
def create_command(email: str, password_stdin: bool) -> None:
    """Create an administrator (password from a prompt or --password-stdin)."""
    password = _read_password(password_stdin)
    with session_scope() as session:
        user = create_admin(session, email, password)
    click.echo(f"administrator {user.email} created")


def _read_password(from_stdin: bool) -> str:
    if from_stdin:
        return sys.stdin.readline().rstrip("\r\n")
    return str(click.prompt("Password", hide_input=True, confirmation_prompt=True))


@admin_cli.command("password")
@click.argument("email")
@click.option("--password-stdin", is_flag=True, help="Read the password from standard input.")
def password_command(email: str, password_stdin: bool) -> None:
    """Set a new password; every signed-in session of the account ends."""
    password = _read_password(password_stdin)
    with session_scope() as session:
        user = change_password(session, email, password)
    click.echo(f"password of {user.email} changed; its sessions have ended")


@admin_cli.command("deactivate")
@click.argument("email")
def deactivate_command(email: str) -> None:
    """Lock an account out: its sessions end, sign-in and its API tokens are refused."""
    _set_active(email, active=False)


@admin_cli.command("activate")
@click.argument("email")
def activate_command(email: str) -> None:
    """Let a deactivated account sign in again (its old sessions stay ended)."""
    _set_active(email, active=True)


def _set_active(email: str, *, active: bool) -> None:
    with session_scope() as session:
        user = set_active(session, email, active)
    click.echo(f"administrator {user.email} {'activated' if active else 'deactivated'}")


class TokenGroup(OutreachGroup):
    """`token EMAIL …` is short for `token create EMAIL …`, as it was before the group."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        if args and args[0] not in self.commands and args[0] not in ctx.help_option_names:
            args = ["create", *args]
        return super().parse_args(ctx, args)


@admin_cli.group("token", cls=TokenGroup)
def token_cli() -> None:
    """API bearer tokens: create (`token EMAIL` for short), list, revoke."""


@token_cli.command("create")
@click.argument("email")
@click.option("--name", default="", help="What the token is for, shown in the list.")
def token_command(email: str, name: str) -> None:
    """Print a new API bearer token for an administrator (shown once)."""
    with session_scope() as session:
        token = issue_token(session, get_admin(session, email), name=name)
    click.echo(token)


@token_cli.command("list")
@json_option
def token_list_command(as_json: bool) -> None:
    """Every API token: id, name, owner, prefix, created, last used, revoked."""
    with session_scope() as session:
        tokens = list_tokens(session)
    if as_json:
        emit_json([_token_document(t) for t in tokens])
        return
    rows = [_token_row(t) for t in tokens]
    header = ("id", "name", "owner", "prefix", "created", "last used", "revoked")
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    for row in [header, *rows]:
        click.echo("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip())


@token_cli.command("revoke")
@click.argument("id_or_prefix")
def token_revoke_command(id_or_prefix: str) -> None:
    """Revoke a token by id or prefix (otk_…): it is refused from the next request on."""
    with session_scope() as session:
        token = revoke_token(session, id_or_prefix, by="cli")
    click.echo(f"API token {token.id} ({token.prefix}) of {token.owner} revoked")


def _token_document(token: TokenInfo) -> dict[str, Any]:
    return {k: v.isoformat() if isinstance(v, datetime) else v for k, v in asdict(token).items()}


def _token_row(token: TokenInfo) -> tuple[str, ...]:
    def when(value: datetime | None) -> str:
        return value.strftime("%Y-%m-%d %H:%M") if value else "-"

    return (
        str(token.id),
        token.name or "-",
        token.owner,
        token.prefix,
        when(token.created_at),
        when(token.last_used_at),
        when(token.revoked_at),
    )
