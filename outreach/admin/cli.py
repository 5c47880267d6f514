"""`outreach admin …`"""

from __future__ import annotations

import sys

import click

from outreach.admin.service import create_admin, get_admin, issue_token
from outreach.cli import OutreachGroup, session_scope

admin_cli = OutreachGroup("admin", help="Administrators and API tokens.")


@admin_cli.command("create")
@click.argument("email")
@click.option("--password-stdin", is_flag=True, help="Read the password from standard input.")
def create_command(email: str, password_stdin: bool) -> None:
    """Create an administrator (password from a prompt or --password-stdin)."""
    if password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = click.prompt("Password", hide_input=True, confirmation_prompt=True)
    with session_scope() as session:
        user = create_admin(session, email, password)
    click.echo(f"administrator {user.email} created")


@admin_cli.command("token")
@click.argument("email")
def token_command(email: str) -> None:
    """Print a new API bearer token for an administrator (shown once)."""
    with session_scope() as session:
        token = issue_token(session, get_admin(session, email))
    click.echo(token)
