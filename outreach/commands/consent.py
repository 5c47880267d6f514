"""`outreach consent …`: proof, invitations, purge."""

from __future__ import annotations

import click

from outreach.application import consent as use_cases
from outreach.commands.support import OutreachGroup, emit_json, session_scope, settings

consent_cli = OutreachGroup("consent", help="Consent proof, opt-in invitations, retention.")


@consent_cli.command("proof")
@click.argument("email")
def proof_command(email: str) -> None:
    """Print the contact's complete consent history as JSON, with the notice texts."""
    with session_scope() as session:
        emit_json(use_cases.consent_proof(session, email))


@consent_cli.command("invite")
@click.option("--group", "group_name", required=True, help="Invite the pending contacts of G.")
@click.option("--wait", is_flag=True, help="Send them from this process, now.")
def invite_command(group_name: str, wait: bool) -> None:
    """Queue opt-in invitations to pending contacts (never twice within the token lifetime).

    A contact counts as invited once its invitation is in the outbox; the workers send it.
    """
    with session_scope() as session:
        invitations = use_cases.invite(session, group_name)
    name, ids = invitations.group, list(invitations.outbox_ids)
    if not ids:
        click.echo(f"0 invitations queued for {name}: nobody pending left to invite")
        return
    if wait:
        from outreach.db import get_db
        from outreach.outbox.sender import deliver_now

        sent = deliver_now(get_db(), ids)
        click.echo(f"{sent} invitations sent to the pending contacts of {name}")
        return
    click.echo(f"{len(ids)} invitations queued in the outbox for {name}; {_who_sends()}")


def _who_sends() -> str:
    if settings().broker_url.startswith("memory://"):
        return (
            "`outreach serve` (or `outreach worker`) sends them as soon as it runs, "
            "or use --wait to send them now"
        )
    return "the `outreach worker` processes send them"


@consent_cli.command("purge")
@click.option(
    "--days",
    type=int,
    default=None,
    help="Age in days (default OUTREACH_PENDING_RETENTION_DAYS, 14).",
)
def purge_command(days: int | None) -> None:
    """Delete pending sign-ups that did not confirm in time, with their data."""
    with session_scope() as session:
        removed = use_cases.purge_unconfirmed(session, days)
    click.echo(f"{removed} unconfirmed sign-ups deleted")
