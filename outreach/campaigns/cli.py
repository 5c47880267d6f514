"""`outreach campaigns …`: create, variant, audience, preview, test."""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path

import click

from outreach.campaigns.audience import audience_report
from outreach.campaigns.service import (
    create_campaign,
    get_campaign,
    presend_checks,
    preview,
    set_variant,
    test_messages,
)
from outreach.cli import OutreachGroup, emit_json, json_option, session_scope, settings
from outreach.errors import OutreachError

campaigns_cli = OutreachGroup("campaigns", help="Campaigns with a variant per group.")


def _read(path: Path | None, what: str) -> str | None:
    if path is None:
        return None
    try:
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise OutreachError(f"{what} {path}: {exc}") from exc


@campaigns_cli.command("create")
@click.argument("name")
@click.option("--from", "sender", required=True, help='"Name <address>"')
@click.option("--reply-to")
@click.option("--groups", default="", help="Target groups in priority order: G1,G2,…")
def create_command(name: str, sender: str, reply_to: str | None, groups: str) -> None:
    """Create a draft campaign and print its id."""
    with session_scope() as session:
        campaign = create_campaign(
            session,
            name,
            sender,
            reply_to=reply_to,
            groups=[g for g in groups.split(",") if g.strip()],
        )
        click.echo(campaign.id)


@campaigns_cli.command("variant")
@click.argument("campaign")
@click.option("--group", help="The group this variant is for.")
@click.option("--fallback", is_flag=True, help="The variant for everyone else targeted.")
@click.option("--subject", required=True)
@click.option("--mjml", "mjml_file", required=True, type=click.Path(path_type=Path))
@click.option("--text", "text_file", type=click.Path(path_type=Path))
@click.option("--preheader", default="")
def variant_command(
    campaign: str,
    group: str | None,
    fallback: bool,
    subject: str,
    mjml_file: Path,
    text_file: Path | None,
    preheader: str,
) -> None:
    """Set the variant of one group (or the fallback) from an MJML file."""
    if bool(group) == fallback:
        raise click.UsageError("give exactly one of --group G or --fallback")
    mjml = _read(mjml_file, "MJML file") or ""
    with session_scope() as session:
        target = get_campaign(session, campaign)
        set_variant(
            session,
            target,
            None if fallback else group,
            subject=subject,
            mjml=mjml,
            text=_read(text_file, "text file"),
            preheader=preheader,
        )
    click.echo(f"variant {'fallback' if fallback else group} saved")


@campaigns_cli.command("audience")
@click.argument("campaign")
@json_option
def audience_command(campaign: str, as_json: bool) -> None:
    """Per variant: recipients, exclusions by reason, and the pre-send checks."""
    with session_scope() as session:
        target = get_campaign(session, campaign)
        report = audience_report(session, target)
        problems = presend_checks(session, target)
    if as_json:
        emit_json(
            {"variants": [asdict(r) for r in report], "problems": [asdict(p) for p in problems]}
        )
        return
    click.echo(f"{'variant':<20}{'recipients':>11}  excluded")
    for row in report:
        label = row.label if row.has_variant else f"{row.label} (no variant)"
        excluded = ", ".join(f"{n} {why}" for why, n in sorted(row.excluded.items())) or "-"
        click.echo(f"{label:<20}{row.recipients:>11}  {excluded}")
    for problem in problems:
        click.echo(f"{problem.level}: {problem.variant}: {problem.message}")


@campaigns_cli.command("preview")
@click.argument("campaign")
@click.option("--group", required=True)
@click.option("--contact", "contact_email", help="Render for this real contact.")
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path))
def preview_command(campaign: str, group: str, contact_email: str | None, out: Path | None) -> None:
    """Print (or write) the HTML a member of GROUP would receive."""
    with session_scope() as session:
        html = preview(session, get_campaign(session, campaign), group, contact_email)
    if out:
        out.write_text(html, encoding="utf-8")
        click.echo(f"preview written to {out}")
    else:
        click.echo(html)


@campaigns_cli.command("test")
@click.argument("campaign")
@click.option("--to", "to", required=True)
@click.option("--group")
def test_command(campaign: str, to: str, group: str | None) -> None:
    """Send test messages (marked [TEST], counted nowhere) to an address."""
    from outreach.delivery.transport import Envelope, open_transport

    current = settings()
    with session_scope() as session:
        target = get_campaign(session, campaign)
        messages = test_messages(session, target, to, group, current)
        sender = target.from_email
    transport = open_transport(current.smtp_url)
    try:
        for _message_id, message in messages:
            transport.send(Envelope(sender, (to,)), message)
    finally:
        transport.close()
    click.echo(f"{len(messages)} test messages sent to {to}")
