"""`outreach campaigns …`: create, variant, audience, preview, test."""

from __future__ import annotations

from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

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


def _parse_at(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError as exc:
        raise click.BadParameter(f"{value!r} is not an ISO-8601 time", param_hint="--at") from exc
    if moment.tzinfo is None:
        raise click.BadParameter("give a time zone, e.g. 2026-12-01T09:00+01:00", param_hint="--at")
    return moment.astimezone(UTC)


@campaigns_cli.command("send")
@click.argument("campaign")
@click.option("--at", "at", help="Start at this ISO-8601 time instead of now.")
@click.option("--wait", is_flag=True, help="Follow the progress until the end.")
def send_command(campaign: str, at: str | None, wait: bool) -> None:
    """Start (or schedule) sending: freeze the audience, queue the batches."""
    from flask import current_app

    from outreach import tasks
    from outreach.broker import is_embedded
    from outreach.delivery import service
    from outreach.web import start_workers_if_embedded

    if wait:
        start_workers_if_embedded(current_app)
    with session_scope() as session:
        target = get_campaign(session, campaign)
        frozen = service.start(session, target, _parse_at(at))
        campaign_id, status = target.id, str(target.status)
    if status == "scheduled":
        click.echo(f"campaign {campaign_id} scheduled for {at}")
        return
    with session_scope() as session:
        batches = tasks.enqueue_pending(session, campaign_id)
    click.echo(f"{frozen} deliveries queued in {batches} batches")
    if wait:
        follow(campaign_id)
    elif is_embedded(tasks.configure_broker(settings().broker_url)):  # the process's broker
        click.echo("the embedded queue runs inside `outreach serve` (or use --wait)")


def follow(campaign_id: int, poll: float = 0.5) -> None:
    """Show a progress bar until nothing is left to send (or the campaign stops)."""
    import time

    from outreach.cli import progress
    from outreach.delivery import service

    with session_scope() as session:
        state = service.progress(session, get_campaign(session, campaign_id))
    with progress(state.total, f"Sending {state.name}", quiet=False) as advance:
        while True:
            with session_scope() as session:
                state = service.progress(session, get_campaign(session, campaign_id))
            advance(state.total - state.remaining)
            if state.remaining == 0 or state.status in ("paused", "cancelled"):
                break
            time.sleep(poll)
    _print_progress(state)


def _print_progress(state: Any) -> None:
    click.echo(
        f"{state.name}: {state.status}" + (f" ({state.pause_reason})" if state.pause_reason else "")
    )
    columns = ("queued", "sending", "sent", "failed", "bounced", "skipped")
    click.echo(f"{'group':<20}" + "".join(f"{c:>9}" for c in columns))
    for group in state.groups:
        click.echo(f"{group.group:<20}" + "".join(f"{group.counts.get(c, 0):>9}" for c in columns))
    click.echo(f"rate: {state.rate_per_minute} messages in the last minute")


@campaigns_cli.command("status")
@click.argument("campaign")
@json_option
def status_command(campaign: str, as_json: bool) -> None:
    """Progress per group and the current rate."""
    from outreach.delivery import service

    with session_scope() as session:
        state = service.progress(session, get_campaign(session, campaign))
    if as_json:
        emit_json(state.to_dict())
    else:
        _print_progress(state)


@campaigns_cli.command("pause")
@click.argument("campaign")
def pause_command(campaign: str) -> None:
    """Workers stop claiming batches; those in flight finish."""
    from outreach.delivery import service

    with session_scope() as session:
        service.pause(session, get_campaign(session, campaign))
    click.echo("paused")


@campaigns_cli.command("resume")
@click.argument("campaign")
@click.option("--wait", is_flag=True)
def resume_command(campaign: str, wait: bool) -> None:
    """Go on sending from the ledger."""
    from flask import current_app

    from outreach import tasks
    from outreach.delivery import service
    from outreach.web import start_workers_if_embedded

    if wait:
        start_workers_if_embedded(current_app)
    with session_scope() as session:
        target = get_campaign(session, campaign)
        service.resume(session, target)
        campaign_id = target.id
    with session_scope() as session:
        batches = tasks.enqueue_pending(session, campaign_id)
    click.echo(f"resumed: {batches} batches queued")
    if wait:
        follow(campaign_id)


@campaigns_cli.command("cancel")
@click.argument("campaign")
def cancel_command(campaign: str) -> None:
    """Stop for good; unsent deliveries become skipped (cancelled)."""
    from outreach.delivery import service

    with session_scope() as session:
        skipped = service.cancel(session, get_campaign(session, campaign))
    click.echo(f"cancelled: {skipped} deliveries skipped")
