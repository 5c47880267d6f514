"""`outreach consent …`: proof, invitations, purge."""

from __future__ import annotations

from datetime import timedelta

import click

from outreach.cli import OutreachGroup, emit_json, session_scope, settings
from outreach.consent.service import invitable, proof, purge_pending, record_invitation
from outreach.contacts.service import get_contact
from outreach.groups.service import get_group

consent_cli = OutreachGroup("consent", help="Consent proof, opt-in invitations, retention.")


@consent_cli.command("proof")
@click.argument("email")
def proof_command(email: str) -> None:
    """Print the contact's complete consent history as JSON, with the notice texts."""
    with session_scope() as session:
        emit_json(proof(session, get_contact(session, email)))


@consent_cli.command("invite")
@click.option("--group", "group_name", required=True, help="Invite the pending contacts of G.")
def invite_command(group_name: str) -> None:
    """Send opt-in invitations to pending contacts (never twice within the token lifetime)."""
    from outreach import tasks

    lifetime = timedelta(hours=settings().confirm_token_hours)
    with session_scope() as session:
        group = get_group(session, group_name)
        ids = invitable(session, group.id, lifetime)
        record_invitation(session, ids)
    for contact_id in ids:
        tasks.send_consent_email.send(contact_id, "invite")
    click.echo(f"{len(ids)} invitations queued for {group.name}")


@consent_cli.command("purge")
@click.option(
    "--days",
    type=int,
    default=None,
    help="Age in days (default OUTREACH_PENDING_RETENTION_DAYS, 14).",
)
def purge_command(days: int | None) -> None:
    """Delete pending sign-ups that did not confirm in time, with their data."""
    age = timedelta(days=days if days is not None else settings().pending_retention_days)
    with session_scope() as session:
        removed = purge_pending(session, age)
    click.echo(f"{removed} unconfirmed sign-ups deleted")
