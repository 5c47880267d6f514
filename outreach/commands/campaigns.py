"""`outreach campaigns …`: create, variant, audience, preview, test."""

from __future__ import annotations

import getpass
import time
from dataclasses import asdict
from datetime import datetime
from pathlib import Path
from typing import Any

import click
from flask import current_app

from outreach.application import campaigns as use
from outreach.campaigns.audience import FOLLOWUP_AUDIENCES, audience_report, followup_choice
from outreach.campaigns.models import CampaignStatus
from outreach.campaigns.service import (
    create_campaign,
    get_campaign,
    presend_checks,
    preview,
    set_variant,
)
from outreach.commands.support import OutreachGroup, emit_json, json_option, session_scope, settings
from outreach.errors import OutreachError
from outreach.reporting.recipients import LISTED

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
    """Send test messages (marked [TEST], counted nowhere) to an address, now."""
    with session_scope() as session:
        ids = use.queue_tests(session, campaign, to, group)
    sent = use.send_tests(current_app, ids)  # through the outbox: stored, signed, sent once
    click.echo(f"{sent} test messages sent to {to}")


def _parse_at(value: str | None) -> datetime | None:
    """The --at time as typed (use.send_time judges its zone and whether it has passed)."""
    if not value:
        return None
    try:
        return datetime.fromisoformat(value)
    except ValueError as exc:
        raise click.BadParameter(f"{value!r} is not an ISO-8601 time", param_hint="--at") from exc


@campaigns_cli.command("send")
@click.argument("campaign")
@click.option("--at", "at", help="Start at this ISO-8601 time instead of now.")
@click.option("--wait", is_flag=True, help="Follow the progress until the end.")
def send_command(campaign: str, at: str | None, wait: bool) -> None:
    """Start (or schedule) sending: freeze the audience, queue the batches. A campaign
    still sending (its workers gone) continues from the ledger."""
    started = time.perf_counter()
    with session_scope() as session:  # the checks, then the audience frozen, committed
        outcome = use.send(session, campaign, _parse_at(at))
    frozen_in = time.perf_counter() - started
    if outcome.status is CampaignStatus.SCHEDULED:
        click.echo(f"campaign {outcome.campaign_id} scheduled for {at}")
        return
    batches = _queue(outcome, wait)
    if outcome.continued:
        click.echo(
            f"campaign {outcome.campaign_id} was still sending: {batches} batches queued again"
        )
    else:
        click.echo(
            f"{outcome.frozen} deliveries queued in {batches} batches "
            f"(audience frozen in {frozen_in:.1f} s)"
        )
    _after_queueing(outcome.campaign_id, wait)


def _queue(outcome: use.Outcome, wait: bool) -> int:
    """Enqueue the pending batches (with --wait and the embedded broker, this process
    runs the workers; without it, `serve` or `worker` does)."""
    return use.enqueue(current_app, outcome, "campaigns --wait", start_workers=wait)


def _after_queueing(campaign_id: int, wait: bool) -> None:
    if wait:
        from outreach.embedded import stop_embedded

        follow(campaign_id)
        stop_embedded()  # give back what this process still holds (the outbox, say)
    elif settings().broker_url.startswith("memory://"):
        click.echo(
            "the embedded queue sends from `outreach serve` (or `outreach worker`): start one, "
            f"or run `outreach campaigns send {campaign_id} --wait`"
        )
    else:
        click.echo(
            f"`outreach worker` processes send it; `outreach campaigns status {campaign_id}`"
        )


def follow(campaign_id: int, poll: float = 0.5) -> None:
    """Show a progress bar until nothing is left to send (or the campaign stops); Ctrl-C
    stops following (and, with the embedded broker, sending) and says how to go on."""
    try:
        state = _follow(campaign_id, poll)
    except KeyboardInterrupt:
        _interrupted(campaign_id)
        raise SystemExit(130) from None
    _print_progress(state)
    if state.status == "paused":
        click.echo(
            f"paused: {state.pause_reason}\nresume with `outreach campaigns resume "
            f"{campaign_id} --wait`",
            err=True,
        )


def _follow(campaign_id: int, poll: float) -> Any:
    import time

    from outreach.commands.support import progress
    from outreach.delivery import service

    with session_scope() as session:
        state = service.progress(session, get_campaign(session, campaign_id))
    with progress(state.total, f"Sending {state.name}", quiet=False) as advance:
        while True:
            with session_scope() as session:
                state = service.progress(session, get_campaign(session, campaign_id))
            advance(state.total - state.remaining)
            if state.remaining == 0 or state.status in ("paused", "cancelled", "sent"):
                return state
            time.sleep(poll)


def _interrupted(campaign_id: int) -> None:
    if settings().broker_url.startswith("memory://"):
        from outreach.embedded import stop_embedded

        click.echo("\ninterrupted: stopping this process's sending…", err=True)
        stop_embedded()
        click.echo(
            f"campaign {campaign_id} is still sending, but nothing is sent until you run "
            f"`outreach campaigns send {campaign_id} --wait` or `outreach serve`",
            err=True,
        )
    else:
        click.echo(
            f"\nstopped following: the workers go on; `outreach campaigns status {campaign_id}`",
            err=True,
        )


def _print_progress(state: Any) -> None:
    click.echo(
        f"{state.name}: {state.status}" + (f" ({state.pause_reason})" if state.pause_reason else "")
    )
    columns = ("queued", "sending", "sent", "failed", "bounced", "skipped")
    click.echo(f"{'group':<20}" + "".join(f"{c:>9}" for c in columns))
    for group in state.groups:
        click.echo(f"{group.group:<20}" + "".join(f"{group.counts.get(c, 0):>9}" for c in columns))
    click.echo(f"rate: {state.rate_per_minute} messages in the last minute")
    from outreach.commands.stats import print_troubles

    print_troubles(state.failures, state.suspected_duplicates, click.echo)


@campaigns_cli.command("list")
@json_option
def list_command(as_json: bool) -> None:
    """Every campaign, newest first: status, sent or scheduled date, target groups,
    recipients, and the human open and click rates (of those who allowed tracking)."""
    from outreach.reporting.stats import campaign_overview, percent

    with session_scope() as session:
        rows = campaign_overview(session)
    if as_json:
        emit_json([row.to_dict() for row in rows])
        return
    if not rows:
        click.echo("no campaign yet: outreach campaigns create NAME --from … --groups …")
        return
    width = max([len(r.campaign.name) for r in rows] + [8])
    click.echo(
        f"{'id':>4}  {'campaign':<{width}}  {'status':<9}  {'sent or scheduled':<17}  "
        f"{'recipients':>10}  {'opened':>7}  {'clicked':>7}  groups"
    )
    for r in rows:
        date = r.date.strftime("%Y-%m-%d %H:%M") if r.date else "-"
        recipients = str(r.recipients) if r.date else "-"
        click.echo(
            f"{r.campaign.id:>4}  {r.campaign.name:<{width}}  {r.campaign.status!s:<9}  "
            f"{date:<17}  {recipients:>10}  {percent(r.open_rate):>7}  "
            f"{percent(r.click_rate):>7}  {', '.join(r.groups) or '-'}"
        )


@campaigns_cli.command("duplicate")
@click.argument("campaign")
@click.option("--name", help="The new draft's name (default: 'Copy of …').")
def duplicate_command(campaign: str, name: str | None) -> None:
    """A new draft with the campaign's sender, target groups and variants, to edit."""
    with session_scope() as session:
        copy = use.duplicate(session, campaign, name, f"command line ({getpass.getuser()})")
        number, named = copy.id, copy.name
    click.echo(f"campaign {number} ({named}) created as a draft")


@campaigns_cli.command("followup")
@click.argument("campaign")
@click.option(
    "--audience",
    required=True,
    type=click.Choice(list(FOLLOWUP_AUDIENCES)),
    help="Which of the campaign's recipients: non-openers, non-clickers, failed, openers, "
    "clickers (opens and clicks are human ones).",
)
@click.option("--groups", help="Only these of its groups, comma-separated (default: all).")
@click.option("--name", help="The follow-up's name (default: '<campaign> — <audience>').")
@click.option(
    "--include-untracked",
    is_flag=True,
    help="Count those whose message was not tracked (no consent to open or click "
    "tracking) as non-openers or non-clickers: whether they opened is not known.",
)
def followup_command(
    campaign: str, audience: str, groups: str | None, name: str | None, include_untracked: bool
) -> None:
    """Draft a follow-up to some of a sent campaign's recipients, with its per-group
    variants copied to edit; its audience is found again from the ledger when it is sent
    (and the consent gate applies then, as always)."""
    chosen = [g.strip() for g in (groups or "").split(",") if g.strip()] or None
    with session_scope() as session:
        draft = use.followup(
            session,
            campaign,
            audience,
            f"command line ({getpass.getuser()})",
            groups=chosen,
            name=name,
            include_untracked=include_untracked,
        )
        choice = followup_choice(session, draft)
        reach = sum(row.recipients for row in audience_report(session, draft))
        number, named = draft.id, draft.name
        first = get_campaign(session, draft.followup_of or 0).name
    assert choice is not None  # noqa: S101 (a follow-up has its choice)
    click.echo(f"campaign {number} ({named}) created as a draft: a follow-up to {first}")
    click.echo(
        f"{choice.chosen} {audience} of {first}; {reach} can be mailed now "
        "(subscribed, consenting, not suppressed)"
    )
    if choice.untracked:
        click.echo(
            f"{choice.untracked} left out: their message was not tracked (no consent to "
            "tracking), so whether they opened or clicked is not known; "
            "--include-untracked counts them"
        )


@campaigns_cli.command("recipients")
@click.argument("campaign")
@click.option(
    "--outcome",
    required=True,
    type=click.Choice(list(LISTED)),
    help="Who: opened, clicked (human ones), not_opened (of those tracked), bounced, "
    "failed, unsubscribed.",
)
@click.option("--group", help="Only the recipients of this group.")
@click.option("--to-group", "to_group", metavar="NAME", help="Make them a new affinity group.")
@json_option
@click.option("--csv", "as_csv", is_flag=True, help="Print CSV.")
def recipients_command(
    campaign: str,
    outcome: str,
    group: str | None,
    to_group: str | None,
    as_json: bool,
    as_csv: bool,
) -> None:
    """The recipients behind a figure of the report: who opened, clicked, bounced...
    Erased contacts never appear; restricted ones appear without their data."""
    import sys

    from outreach.reporting.recipients import recipients, write_recipients_csv

    with session_scope() as session:
        number = get_campaign(session, campaign).id
        if to_group:
            made, count = use.group_from_outcome(
                session, number, outcome, group, to_group, f"command line ({getpass.getuser()})"
            )
            click.echo(f"group {made.name} created with {count} contacts")
            return
        found = recipients(session, number, outcome, group)
    if as_json:
        emit_json(
            [asdict(r) | {"sent_at": r.sent_at.isoformat() if r.sent_at else None} for r in found]
        )
        return
    if as_csv:
        write_recipients_csv(found, sys.stdout)
        return
    for r in found:
        who = r.email or f"contact #{r.contact_id} (restricted)"
        click.echo(f"{who}  {r.name}  {r.group}  {r.status}")
    click.echo(f"{len(found)} {outcome.replace('_', ' ')}", err=True)


@campaigns_cli.command("delete")
@click.argument("campaign")
@click.option("--yes", is_flag=True, help="Do not ask first.")
def delete_command(campaign: str, yes: bool) -> None:
    """Delete a draft with its variants (a campaign ever scheduled or sent keeps its
    record: cancel it instead)."""
    if not yes:
        click.confirm(f"delete the draft campaign {campaign}?", abort=True)
    with session_scope() as session:
        name = use.delete(session, campaign, f"command line ({getpass.getuser()})")
    click.echo(f"draft {name!r} deleted")


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
    """Workers stop claiming batches; those in flight stop within half a second."""
    with session_scope() as session:
        use.pause(session, campaign)
    click.echo("paused")


@campaigns_cli.command("resume")
@click.argument("campaign")
@click.option("--wait", is_flag=True, help="Follow the progress until the end.")
def resume_command(campaign: str, wait: bool) -> None:
    """Go on sending from the ledger (also a campaign still sending whose workers are gone)."""
    with session_scope() as session:
        outcome = use.resume(session, campaign)
    batches = _queue(outcome, wait)
    click.echo(f"resumed: {batches} batches queued")
    _after_queueing(outcome.campaign_id, wait)


@campaigns_cli.command("retry")
@click.argument("campaign")
@click.option("--reason", help="Why (kept in the audit log), e.g. 'mailbox full, fixed'.")
@click.option("--wait", is_flag=True, help="Follow the progress until the end.")
def retry_command(campaign: str, reason: str | None, wait: bool) -> None:
    """Queue the failed recipients again (those still mailable; bounces are not retried)."""
    with session_scope() as session:
        outcome = use.retry(session, campaign, reason, "cli")
    count = outcome.retried
    if count == 0:
        click.echo("no failed recipient to retry")
        return
    if not outcome.needs_enqueue:
        click.echo(f"{count} failed recipients queued again; the campaign is paused: resume it")
        return
    batches = _queue(outcome, wait)
    click.echo(f"{count} failed recipients queued again in {batches} batches")
    _after_queueing(outcome.campaign_id, wait)


@campaigns_cli.command("cancel")
@click.argument("campaign")
def cancel_command(campaign: str) -> None:
    """Stop for good; unsent deliveries become skipped (cancelled)."""
    with session_scope() as session:
        outcome = use.cancel(session, campaign)
    click.echo(f"cancelled: {outcome.skipped} deliveries skipped")
