"""`outreach privacy requests|request|record|export|erase`"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click

from outreach.application import privacy as use_cases
from outreach.commands.support import OutreachGroup, emit_json, json_option, session_scope
from outreach.errors import ValidationError
from outreach.privacy.erasure import erase
from outreach.privacy.export import access_export
from outreach.privacy.models import RequestKind
from outreach.privacy.requests import RECTIFIABLE

privacy_cli = OutreachGroup(
    "privacy", help="Data-subject rights: the request queue, access export and erasure."
)


def _day(value: str | None) -> str:
    return value[:10] if value else "-"


def _days(document: dict[str, Any]) -> str:
    days = document["days_left"]
    if days is None:
        return "-"
    return f"OVERDUE {-days}d" if document["overdue"] else str(days)


@privacy_cli.command("requests")
@click.option("--overdue", is_flag=True, help="Only requests past their due date.")
@click.option("--all", "everything", is_flag=True, help="Closed requests too.")
@json_option
def requests_command(overdue: bool, everything: bool, as_json: bool) -> None:
    """Data-subject requests, soonest due first: kind, state, received, due, days left."""
    with session_scope() as session:
        documents = use_cases.list_requests(session, overdue=overdue, everything=everything)
    if as_json:
        emit_json(documents)
        return
    click.echo(
        f"{'id':>6}  {'kind':<13}  {'state':<10}  {'received':<10}  {'due':<10}  days left  email"
    )
    for d in documents:
        click.echo(
            f"{d['id']:>6}  {d['kind']:<13}  {d['state']:<10}  {_day(d['received_at']):<10}  "
            f"{_day(d['due_at']):<10}  {_days(d):<9}  {d['email'] or '-'}"
        )


@privacy_cli.command("request")
@click.argument("request_id")
def request_command(request_id: str) -> None:
    """One request with its history, as JSON."""
    with session_scope() as session:
        document = use_cases.show_request(session, request_id).with_history()
    emit_json(document)


def _changes(pairs: tuple[str, ...]) -> dict[str, str]:
    changes: dict[str, str] = {}
    for pair in pairs:
        name, equals, value = pair.partition("=")
        if not equals or not name.strip():
            raise ValidationError(f"--change {pair!r}: write FIELD=VALUE", field="changes")
        changes[name.strip()] = value
    return changes


@privacy_cli.command("record")
@click.argument("kind", type=click.Choice([k.value for k in RequestKind]), metavar="KIND")
@click.argument("email")
@click.option(
    "--received",
    "received_on",
    metavar="YYYY-MM-DD",
    help="Date of receipt (UTC), default today; at most a year ago.",
)
@click.option(
    "--identity-checked",
    metavar="HOW",
    help="How you checked who wrote (e.g. 'phone call to the number we hold'): the request "
    "is verified at once. Without it a verification link is emailed.",
)
@click.option(
    "--change",
    "changes",
    multiple=True,
    metavar="FIELD=VALUE",
    help=f"Rectification: a correction asked for ({', '.join(RECTIFIABLE)}); repeatable.",
)
@click.option("--note", default="", help="What the person wrote, in short.")
@json_option
def record_command(
    kind: str,
    email: str,
    received_on: str | None,
    identity_checked: str | None,
    changes: tuple[str, ...],
    note: str,
    as_json: bool,
) -> None:
    """Record a request received by letter or email, due one month after its receipt.

    KIND: access, rectification, erasure, restriction or objection.
    """
    with session_scope() as session:
        recorded = use_cases.record_request(
            session,
            kind,
            email,
            source="cli",
            actor="cli",
            changes=_changes(changes),
            note=note,
            received_on=received_on,
            identity_checked=identity_checked,
        )
    document = recorded.request
    if as_json:
        emit_json(document)
        return
    then = (
        "verified (identity checked); the requester was told it was received"
        if document["verified_at"]
        else "a verification link was sent to the address"
    )
    click.echo(
        f"request {document['id']} recorded: received {_day(document['received_at'])}, "
        f"due {_day(document['due_at'])}; {then}"
    )


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
