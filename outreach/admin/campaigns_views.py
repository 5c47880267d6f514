"""Admin › Campaigns: the list, new drafts, and the composer (a tab per targeted group with
its variant and live preview, the audience, the pre-send checks, test sends, and sending:
send now or at a time, pause, resume, cancel, and the progress, refreshed live)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone
from functools import partial
from typing import Any

from flask import (
    current_app,
    flash,
    jsonify,
    make_response,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_login import current_user
from sqlalchemy.orm import Session
from werkzeug.datastructures import MultiDict

from outreach.admin.blueprint import bp, format_utc
from outreach.admin.groups_views import form_flash
from outreach.application import campaigns as use
from outreach.application.campaigns import FALLBACK, preview_group
from outreach.campaigns.audience import FOLLOWUP_AUDIENCES, audience_report, followup_choice
from outreach.campaigns.models import Campaign, CampaignStatus, Variant
from outreach.campaigns.service import (
    create_campaign,
    default_layout,
    get_campaign,
    presend_checks,
    preview,
    set_target_groups,
    set_variant,
    target_groups,
    variant_label,
    variants,
)
from outreach.contacts.models import Contact
from outreach.contacts.service import ContactQuery, search_contacts
from outreach.db import as_id, get_db, get_session
from outreach.delivery import service as delivery
from outreach.errors import Conflict, OutreachError, ValidationError
from outreach.groups.models import Group
from outreach.groups.service import list_groups
from outreach.reporting.recipients import (
    LISTED,
    count_recipients,
    outcome_of,
    recipients,
    write_recipients_csv,
)
from outreach.reporting.stats import campaign_overview
from outreach.spreadsheet import csv_download

PREVIEW_CONTACTS = 50
# The preview is the user's own HTML: no scripts, no plugins, no requests but images, and
# only framed by our pages (the global X-Frame-Options is DENY).
PREVIEW_CSP = (
    "sandbox; default-src 'none'; img-src https: data:; style-src 'unsafe-inline'; "
    "frame-ancestors 'self'"
)


def refused(exc: OutreachError) -> int:
    """The status of a refused form: 409 when the campaign can no longer change, else 422."""
    return 409 if isinstance(exc, Conflict) else 422


def group_names(text: str) -> list[str]:
    """Group names in priority order from a comma-separated list."""
    return [name.strip() for name in (text or "").split(",") if name.strip()]


def group_ref(group: Group) -> str:
    """How to name a group to the campaign services: by name, unless it reads as an id."""
    return str(group.id) if group.name.isdigit() else group.name


@dataclass
class VariantForm:
    """The fields of one variant form, as typed or as stored."""

    subject: str = ""
    preheader: str = ""
    mjml: str = ""
    text: str = ""

    @classmethod
    def parse(cls, form: MultiDict[str, str]) -> VariantForm:
        """The posted fields; browsers send CRLF line ends in textareas."""
        return cls(
            subject=form.get("subject", ""),
            preheader=form.get("preheader", ""),
            mjml=form.get("mjml", "").replace("\r\n", "\n"),
            text=form.get("text", "").replace("\r\n", "\n"),
        )

    @classmethod
    def of(cls, variant: Variant) -> VariantForm:
        """The fields of a stored variant."""
        return cls(variant.subject, variant.preheader, variant.mjml, variant.text_source or "")


@dataclass
class Tab:
    """One tab of the composer: a targeted group (or the fallback) and its variant."""

    key: str
    label: str
    saved: bool
    form: VariantForm
    preview_group: Group | None = None
    contacts: list[Contact] = field(default_factory=list)
    error: str | None = None


# ---------------------------------------------------------------- list and new campaign


def _list_page(
    typed: dict[str, str] | None = None, error: str | None = None, status: int = 200
) -> Any:
    session = get_session()
    return render_template(
        "admin/campaigns.html",
        campaigns=campaign_overview(session),
        groups=list_groups(session),
        typed=typed or {},
        error=error,
    ), status


@bp.get("/campaigns")
def campaigns() -> Any:
    """Every campaign and the form for a new one."""
    return _list_page()


@bp.post("/campaigns")
def new_campaign() -> Any:
    """Create a draft campaign and open it in the composer."""
    session = get_session()
    typed = {k: request.form.get(k, "") for k in ("name", "sender", "reply_to", "groups")}
    try:
        campaign = create_campaign(
            session,
            typed["name"],
            typed["sender"],
            reply_to=typed["reply_to"].strip() or None,
            groups=group_names(typed["groups"]),
        )
    except OutreachError as exc:
        session.rollback()
        return _list_page(typed, exc.message, refused(exc))
    session.commit()
    flash(f"Campaign {campaign.name!r} created: write a variant for each group.")
    return redirect(url_for("admin.campaign", campaign_id=campaign.id))


# ---------------------------------------------------------------- the composer


def _members(session: Session, group: Group | None) -> list[Contact]:
    """The first members of a group, to preview the message with a real contact."""
    if group is None:
        return []
    query = ContactQuery(group=str(group.id), per_page=PREVIEW_CONTACTS)
    return search_contacts(session, query)[0]


def _tabs(session: Session, campaign: Campaign) -> list[Tab]:
    """A tab per targeted group in priority order, then the fallback."""
    targets = target_groups(session, campaign)
    own = {v.group_id: v for _, v in variants(session, campaign)}
    blank = VariantForm(mjml=default_layout(session))
    tabs = [
        # A group without a variant of its own receives the fallback, if there is one.
        Tab(
            str(g.id),
            g.name,
            g.id in own,
            VariantForm.of(own[g.id]) if g.id in own else blank,
            g if g.id in own or None in own else None,
        )
        for g in targets
    ]
    fallback = own.get(None)
    tabs.append(
        Tab(
            FALLBACK,
            "Fallback",
            fallback is not None,
            VariantForm.of(fallback) if fallback else blank,
            use.fallback_receiver(targets, own) if fallback else None,
        )
    )
    for tab in tabs:
        tab.contacts = _members(session, tab.preview_group)
    return tabs


def _composer(
    campaign_id: int,
    tab: str | None = None,
    *,
    typed: VariantForm | None = None,
    typed_targets: str | None = None,
    error: str | None = None,
    control_error: tuple[str, str] | None = None,
    typed_at: str = "",
    status: int = 200,
) -> Any:
    """The composer page; after a refused form, that form shows the typed text and why
    (`control_error`: the id of a sending form and why it was refused)."""
    session = get_session()
    campaign = get_campaign(session, campaign_id)
    tabs = _tabs(session, campaign)
    active = next((t for t in tabs if t.key == tab), tabs[0])
    if typed is not None:
        active.form, active.error = typed, error
    progress = delivery.progress(session, campaign)
    context = {
        "campaign": campaign,
        "tabs": tabs,
        "active": active,
        "targets": ", ".join(g.name for g in target_groups(session, campaign)),
        "typed_targets": typed_targets,
        "targets_error": error if typed_targets is not None else None,
        "groups": list_groups(session),
        "audience": audience_report(session, campaign),
        "problems": presend_checks(session, campaign),
        "progress": progress,
        "controls": use.allowed_actions(campaign.status),
        "failed": sum(g.counts.get("failed", 0) for g in progress.groups),
        "control_error": control_error,
        "typed_at": typed_at,
        "followup": followup_choice(session, campaign),
        "original": session.get(Campaign, campaign.followup_of) if campaign.followup_of else None,
        "audiences": FOLLOWUP_AUDIENCES,
    }
    session.commit()  # the first use of the notice (in the default layout) stores it
    return render_template("admin/campaign.html", **context), status


@bp.get("/campaigns/<int:campaign_id>")
def campaign(campaign_id: int) -> Any:
    """The composer: targets, a tab per group variant, preview, audience, test send."""
    return _composer(campaign_id, request.args.get("tab"))


@bp.post("/campaigns/<int:campaign_id>/targets")
def campaign_targets(campaign_id: int) -> Any:
    """Target these groups, in this priority order."""
    session = get_session()
    typed = request.form.get("groups", "")
    try:
        set_target_groups(session, get_campaign(session, campaign_id), group_names(typed))
    except OutreachError as exc:
        session.rollback()
        return _composer(campaign_id, typed_targets=typed, error=exc.message, status=refused(exc))
    session.commit()
    form_flash("targets", "Target groups saved.")
    return redirect(url_for("admin.campaign", campaign_id=campaign_id, _anchor="targets"))


@bp.post("/campaigns/<int:campaign_id>/variants")
def save_variant(campaign_id: int) -> Any:
    """Create or replace one group's variant (group=fallback: the fallback variant)."""
    session = get_session()
    key = request.form.get("group", "").strip()
    typed = VariantForm.parse(request.form)
    try:
        variant = set_variant(
            session,
            get_campaign(session, campaign_id),
            None if key == FALLBACK else key,
            subject=typed.subject,
            mjml=typed.mjml,
            text=typed.text if typed.text.strip() else None,
            preheader=typed.preheader,
        )
    except OutreachError as exc:
        session.rollback()
        return _composer(campaign_id, key, typed=typed, error=exc.message, status=refused(exc))
    label = variant_label(session, variant)
    session.commit()
    form_flash(f"variant-{key}", f"Variant {label} saved.")
    return redirect(url_for("admin.campaign", campaign_id=campaign_id, tab=key))


@bp.get("/campaigns/<int:campaign_id>/preview")
def campaign_preview(campaign_id: int) -> Any:
    """The HTML a member of the group (group=fallback: of the fallback) would receive."""
    session = get_session()
    campaign = get_campaign(session, campaign_id)
    contact = request.args.get("contact", "").strip() or None
    try:
        group = preview_group(session, campaign, request.args.get("group", ""))
        html, status = preview(session, campaign, group_ref(group), contact), 200
    except OutreachError as exc:
        html = render_template("admin/campaign_preview_problem.html", message=exc.message)
        status = exc.status
    response = make_response(html, status)
    response.headers["Content-Security-Policy"] = PREVIEW_CSP
    response.headers["X-Frame-Options"] = "SAMEORIGIN"
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.post("/campaigns/<int:campaign_id>/test")
def send_test(campaign_id: int) -> Any:
    """Send the test messages (one per variant, or the chosen group's) to an address."""
    session = get_session()
    to = request.form.get("to", "").strip()
    key = request.form.get("group", "").strip()
    try:
        campaign = get_campaign(session, campaign_id)
        group = preview_group(session, campaign, key) if key else None
        ids = use.queue_tests(session, campaign.id, to, group_ref(group) if group else None)
        session.commit()  # in the outbox; no database lock held while talking to the server
        sent = use.send_tests(current_app, ids)
    except OutreachError as exc:
        session.rollback()
        form_flash("test-send", exc.message, error=True)
    else:
        form_flash("test-send", f"{sent} test messages sent to {to}")
    return redirect(url_for("admin.campaign", campaign_id=campaign_id, _anchor="test-send"))


# ---------------------------------------------------------------- sending


MAX_UTC_OFFSET = 14 * 60  # minutes: UTC+14 (Kiribati) is the farthest zone


def scheduled_time(typed: str, offset: str) -> datetime:
    """The UTC time of a datetime-local value read in the zone `offset` minutes east of UTC
    (the browser fills it in; empty: the value is UTC); `use.send_time` judges it."""
    try:
        minutes = int(offset.strip() or "0")
    except ValueError:
        minutes = MAX_UTC_OFFSET + 1
    if abs(minutes) > MAX_UTC_OFFSET:
        raise ValidationError(f"{offset!r} is not a time zone offset", field="at")
    try:
        local = datetime.fromisoformat(typed.strip())
        zone = timezone(timedelta(minutes=minutes))
        moment = (local if local.tzinfo else local.replace(tzinfo=zone)).astimezone(UTC)
    except (ValueError, OverflowError) as exc:
        raise ValidationError("choose the date and time to send at", field="at") from exc
    return moment


def _sent_back(campaign_id: int, message: str) -> Any:
    form_flash("sending", message)
    return redirect(url_for("admin.campaign", campaign_id=campaign_id, _anchor="sending"))


@bp.post("/campaigns/<int:campaign_id>/send")
def send_campaign(campaign_id: int) -> Any:
    """Send now, or at the time of the schedule form (its `at` field); checks first."""
    session = get_session()
    typed_at, offset = request.form.get("at"), request.form.get("utc_offset", "")
    form = "send-now" if typed_at is None else "schedule"  # only the schedule form has `at`
    try:
        at = None if typed_at is None else scheduled_time(typed_at, offset)
        outcome = use.send(session, campaign_id, at)
    except OutreachError as exc:
        session.rollback()
        return _composer(
            campaign_id,
            control_error=(form, exc.message),
            typed_at=typed_at or "",
            status=refused(exc),
        )
    session.commit()
    if outcome.status is CampaignStatus.SCHEDULED:
        # The embedded broker's sweeper (in this process) starts it when its time comes.
        from outreach.embedded import start_embedded

        start_embedded(current_app)
        return _sent_back(campaign_id, f"Scheduled for {format_utc(outcome.scheduled_at)}.")
    batches = use.enqueue(current_app, outcome)
    if outcome.continued:
        return _sent_back(campaign_id, f"Still sending: {batches} batches queued again.")
    return _sent_back(
        campaign_id, f"Sending: {outcome.frozen} messages queued in {batches} batches."
    )


CONTROL_ACTIONS: dict[str, Callable[[Session, int], use.Outcome]] = {
    "pause": use.pause,
    "resume": use.resume,
    "cancel": use.cancel,
}


def _control(campaign_id: int, action: str) -> use.Outcome | Any:
    """Pause, resume or cancel and commit (the outcome); on refusal, the composer saying
    why (a response)."""
    session = get_session()
    try:
        outcome = CONTROL_ACTIONS[action](session, campaign_id)
    except OutreachError as exc:
        session.rollback()
        return _composer(campaign_id, control_error=(action, exc.message), status=refused(exc))
    session.commit()
    return outcome


@bp.post("/campaigns/<int:campaign_id>/pause")
def pause_campaign(campaign_id: int) -> Any:
    """Workers stop claiming; the batches in flight stop within half a second."""
    done = _control(campaign_id, "pause")
    return _sent_back(campaign_id, "Paused.") if isinstance(done, use.Outcome) else done


@bp.post("/campaigns/<int:campaign_id>/resume")
def resume_campaign(campaign_id: int) -> Any:
    """Go on sending from the ledger: re-enqueue what is still pending."""
    done = _control(campaign_id, "resume")
    if not isinstance(done, use.Outcome):
        return done
    return _sent_back(campaign_id, f"Resumed: {use.enqueue(current_app, done)} batches queued.")


@bp.post("/campaigns/<int:campaign_id>/retry")
def retry_campaign(campaign_id: int) -> Any:
    """Queue the failed recipients again (those still mailable)."""
    session = get_session()
    try:
        outcome = use.retry(session, campaign_id, request.form.get("reason"), current_user.email)
    except OutreachError as exc:
        session.rollback()
        return _composer(campaign_id, control_error=("retry", exc.message), status=refused(exc))
    session.commit()
    count = outcome.retried
    if not count:
        return _sent_back(campaign_id, "No failed recipient to retry.")
    if not outcome.needs_enqueue:
        return _sent_back(campaign_id, f"{count} failed recipients queued again: resume to send.")
    batches = use.enqueue(current_app, outcome)
    return _sent_back(campaign_id, f"{count} failed recipients queued again in {batches} batches.")


@bp.post("/campaigns/<int:campaign_id>/cancel")
def cancel_campaign(campaign_id: int) -> Any:
    """Stop for good: what was not sent is skipped."""
    done = _control(campaign_id, "cancel")
    return _sent_back(campaign_id, "Cancelled.") if isinstance(done, use.Outcome) else done


@bp.post("/campaigns/<int:campaign_id>/duplicate")
def duplicate_campaign(campaign_id: int) -> Any:
    """A new draft from this campaign (sender, target groups, variants), opened to edit."""
    session = get_session()
    copy = use.duplicate(session, campaign_id, None, current_user.email)
    session.commit()
    form_flash("manage", f"Duplicated from {get_campaign(session, campaign_id).name!r}: edit it.")
    return redirect(url_for("admin.campaign", campaign_id=copy.id))


@bp.post("/campaigns/<int:campaign_id>/followup")
def followup_campaign(campaign_id: int) -> Any:
    """A draft follow-up for some of this campaign's recipients, opened to edit."""
    session = get_session()
    try:
        draft = use.followup(
            session,
            campaign_id,
            request.form.get("audience", ""),
            current_user.email,
            groups=request.form.getlist("groups") or None,
            name=request.form.get("name", "").strip() or None,
            include_untracked=bool(request.form.get("include_untracked")),
        )
    except OutreachError as exc:
        session.rollback()
        form_flash("followup", exc.message, error=True)
        return redirect(url_for("admin.campaign", campaign_id=campaign_id, _anchor="followup"))
    session.commit()
    form_flash("manage", "A follow-up draft, with the variants copied: edit it, then send.")
    return redirect(url_for("admin.campaign", campaign_id=draft.id))


RECIPIENTS_PAGE = 100


@bp.get("/campaigns/<int:campaign_id>/recipients")
def campaign_recipients(campaign_id: int) -> Any:
    """The recipients behind a figure (outcome, group): a page of them, a CSV of all,
    a new group of them or a follow-up to them."""
    session = get_session()
    campaign = get_campaign(session, campaign_id)
    outcome = request.args.get("outcome", "opened")
    group = request.args.get("group") or None
    outcome_of(outcome)  # an unknown outcome: 422 with its name
    page = max(1, as_id(request.args.get("page", "1")) or 1)
    found = recipients(
        session,
        campaign.id,
        outcome,
        group,
        limit=RECIPIENTS_PAGE,
        offset=(page - 1) * RECIPIENTS_PAGE,
    )
    total = count_recipients(session, campaign.id, outcome, group)
    return render_template(
        "admin/campaign_recipients.html",
        campaign=campaign,
        outcome=outcome,
        outcomes=LISTED,
        group=group,
        groups=sorted({g.name for g in target_groups(session, campaign)}),
        found=found,
        total=total,
        page=page,
        pages=max(1, -(-total // RECIPIENTS_PAGE)),
        audience=LISTED[outcome][1],
    )


@bp.get("/campaigns/<int:campaign_id>/recipients.csv")
def campaign_recipients_csv(campaign_id: int) -> Any:
    """Every recipient with that outcome (of that group), as CSV."""
    session = get_session()
    campaign = get_campaign(session, campaign_id)
    outcome = request.args.get("outcome", "opened")
    found = recipients(session, campaign.id, outcome, request.args.get("group") or None)
    return csv_download(
        partial(write_recipients_csv, found), f"campaign-{campaign.id}-{outcome}.csv"
    )


@bp.post("/campaigns/<int:campaign_id>/recipients/group")
def campaign_recipients_group(campaign_id: int) -> Any:
    """Make those recipients a new affinity group."""
    session = get_session()
    outcome = request.form.get("outcome", "")
    group = request.form.get("group") or None
    back = url_for(
        "admin.campaign_recipients", campaign_id=campaign_id, outcome=outcome, group=group
    )
    try:
        made, count = use.group_from_outcome(
            session,
            campaign_id,
            outcome,
            group,
            request.form.get("name", ""),
            current_user.email,
        )
    except OutreachError as exc:
        session.rollback()
        form_flash("recipients-group", exc.message, error=True)
        return redirect(back)
    session.commit()
    form_flash("recipients-group", f"Group {made.name!r} created with {count} contacts.")
    return redirect(back)


@bp.post("/campaigns/<int:campaign_id>/delete")
def delete_campaign(campaign_id: int) -> Any:
    """Delete a draft; any other status is refused, saying why."""
    session = get_session()
    try:
        name = use.delete(session, campaign_id, current_user.email)
    except Conflict as exc:
        session.rollback()
        form_flash("manage", exc.message, error=True)
        return redirect(url_for("admin.campaign", campaign_id=campaign_id, _anchor="manage"))
    session.commit()
    form_flash("campaigns", f"Draft {name!r} deleted.")
    return redirect(url_for("admin.campaigns"))


@bp.get("/campaigns/<int:campaign_id>/progress.json")
def campaign_progress(campaign_id: int) -> Any:
    """Where the campaign stands, as `campaigns status --json` prints it (polled live)."""
    with get_db().reader() as session:
        document = delivery.progress(session, get_campaign(session, campaign_id)).to_dict()
    response = jsonify(document)
    response.headers["Cache-Control"] = "no-store"
    return response
