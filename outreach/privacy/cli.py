"""`outreach privacy export|erase`"""

from __future__ import annotations

import json
from pathlib import Path

import click

from outreach.cli import OutreachGroup, emit_json, session_scope
from outreach.privacy.service import access_export, erase

privacy_cli = OutreachGroup("privacy", help="Data-subject rights: access and erasure.")


@privacy_cli.command("export")
@click.argument("email")
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path))
def export_command(email: str, out: Path | None) -> None:
    """Everything held about EMAIL as JSON (stdout, or --out FILE)."""
    with session_scope() as session:
        document = access_export(session, email)
    if out is None:
        emit_json(document)
        return
    out.write_text(json.dumps(document, indent=2, ensure_ascii=False), encoding="utf-8")
    click.echo(f"access export written to {out}")


@privacy_cli.command("erase")
@click.argument("email")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
def erase_command(email: str, yes: bool) -> None:
    """Erase EMAIL: every personal datum goes, an HMAC suppression stays."""
    if not yes:
        click.confirm(f"Erase everything about {email}? This cannot be undone", abort=True)
    with session_scope() as session:
        erase(session, email, actor="cli")
    click.echo("erased; the address is suppressed (only a fresh double opt-in lifts it)")
