"""Admin › Campaigns: the list, new drafts, and the composer (a tab per targeted group with
its variant and live preview, the audience, the pre-send checks, test sends, and sending:
send now or at a time, pause, resume, cancel, and the progress, refreshed live)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import sqlalchemy as sa
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

from outreach.admin.groups_views import form_flash
from outreach.admin.views import bp, format_utc
from outreach.campaigns.audience import audience_report
from outreach.campaigns.models import Campaign, CampaignGroup, CampaignStatus, Variant
from outreach.campaigns.service import (
    create_campaign,
    default_layout,
    get_campaign,
    presend_checks,
    preview,
    queue_test_messages,
    set_target_groups,
    set_variant,
    target_groups,
    variants,
)
from outreach.contacts.models import Contact
from outreach.contacts.service import ContactQuery, search_contacts
from outreach.db import get_db, get_session, utcnow
from outreach.delivery import service as delivery
from outreach.errors import Conflict, NotFound, OutreachError, ValidationError
from outreach.groups.models import Group
from outreach.groups.service import list_groups
from outreach.outbox.sender import deliver_now

FALLBACK = "fallback"
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


def campaign_rows(session: Session) -> list[tuple[Campaign, list[str]]]:
    """Every campaign, newest first, with its target group names in priority order."""
    found = session.scalars(sa.select(Campaign).order_by(Campaign.id.desc())).all()
    names: dict[int, list[str]] = {c.id: [] for c in found}
    rows = session.execute(
        sa.select(CampaignGroup.campaign_id, Group.name)
        .join(Group, Group.id == CampaignGroup.group_id)
        .where(CampaignGroup.campaign_id.in_(names))
        .order_by(CampaignGroup.campaign_id, CampaignGroup.position)
    )
    for campaign_id, name in rows:
        names[campaign_id].append(name)
    return [(c, names[c.id]) for c in found]


def _list_page(
    typed: dict[str, str] | None = None, error: str | None = None, status: int = 200
) -> Any:
    session = get_session()
    return render_template(
        "admin/campaigns.html",
        campaigns=campaign_rows(session),
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


def fallback_receiver(targets: list[Group], own: dict[int | None, Variant]) -> Group | None:
    """The first targeted group whose members receive the fallback (no variant of its own)."""
    return next((g for g in targets if g.id not in own), None)


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
            fallback_receiver(targets, own) if fallback else None,
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
        "controls": CONTROLS[campaign.status],
        "failed": sum(g.counts.get("failed", 0) for g in progress.groups),
        "control_error": control_error,
        "typed_at": typed_at,
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
    group = session.get(Group, variant.group_id) if variant.group_id else None
    session.commit()
    form_flash(f"variant-{key}", f"Variant {group.name if group else FALLBACK} saved.")
    return redirect(url_for("admin.campaign", campaign_id=campaign_id, tab=key))


@bp.get("/campaigns/<int:campaign_id>/preview")
def campaign_preview(campaign_id: int) -> Any:
    """The HTML a member of the group (group=fallback: of the fallback) would receive."""
    session = get_session()
    campaign = get_campaign(session, campaign_id)
    contact = request.args.get("contact", "").strip() or None
    try:
        group = _preview_group(session, campaign, request.args.get("group", ""))
        html, status = preview(session, campaign, group_ref(group), contact), 200
    except OutreachError as exc:
        html = render_template("admin/campaign_preview_problem.html", message=exc.message)
        status = exc.status
    response = make_response(html, status)
    response.headers["Content-Security-Policy"] = PREVIEW_CSP
    response.headers["X-Frame-Options"] = "SAMEORIGIN"
    response.headers["Cache-Control"] = "no-store"
    return response


def _preview_group(session: Session, campaign: Campaign, key: str) -> Group:
    """The targeted group to preview for: by id, or the first one receiving the fallback."""
    targets = target_groups(session, campaign)
    if key == FALLBACK:
        own = {v.group_id: v for _, v in variants(session, campaign)}
        group = fallback_receiver(targets, own)
        if group is None:
            raise NotFound("every targeted group has its own variant: nobody gets the fallback")
        return group
    group = next((g for g in targets if str(g.id) == key), None)
    if group is None:
        raise NotFound(f"group {key!r} is not targeted by this campaign", field="group")
    return group


@bp.post("/campaigns/<int:campaign_id>/test")
def send_test(campaign_id: int) -> Any:
    """Send the test messages (one per variant, or the chosen group's) to an address."""
    session = get_session()
    to = request.form.get("to", "").strip()
    key = request.form.get("group", "").strip()
    try:
        campaign = get_campaign(session, campaign_id)
        group = _preview_group(session, campaign, key) if key else None
        ids = queue_test_messages(session, campaign, to, group_ref(group) if group else None)
        session.commit()  # in the outbox; no database lock held while talking to the server
        sent = deliver_now(get_db(), ids)
    except OutreachError as exc:
        session.rollback()
        form_flash("test-send", exc.message, error=True)
    else:
        form_flash("test-send", f"{sent} test messages sent to {to}")
    return redirect(url_for("admin.campaign", campaign_id=campaign_id, _anchor="test-send"))


# ---------------------------------------------------------------- sending


# What an operator may do in each status (the services refuse the rest with a Conflict).
CONTROLS: dict[CampaignStatus, tuple[str, ...]] = {
    CampaignStatus.DRAFT: ("send", "schedule"),
    CampaignStatus.SCHEDULED: ("send", "schedule", "pause", "cancel"),
    CampaignStatus.SENDING: ("pause", "retry", "cancel"),
    CampaignStatus.PAUSED: ("resume", "retry", "cancel"),
    CampaignStatus.SENT: ("retry",),
    CampaignStatus.CANCELLED: (),
}
MAX_UTC_OFFSET = 14 * 60  # minutes: UTC+14 (Kiribati) is the farthest zone


def scheduled_time(typed: str, offset: str) -> datetime:
    """The UTC time of a datetime-local value read in the zone `offset` minutes east of UTC
    (the browser fills it in; empty: the value is UTC); it must lie in the future."""
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
    if moment <= utcnow():
        raise ValidationError(
            f"{format_utc(moment)} has passed: choose a time in the future", field="at"
        )
    return moment


def queue_batches(campaign_id: int) -> int:
    """Enqueue the pending batches of a started or resumed campaign."""
    from outreach.web import queue_campaign

    return queue_campaign(current_app._get_current_object(), campaign_id)  # type: ignore[attr-defined]


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
        campaign = get_campaign(session, campaign_id)
        frozen = delivery.start(session, campaign, at)
    except OutreachError as exc:
        session.rollback()
        return _composer(
            campaign_id,
            control_error=(form, exc.message),
            typed_at=typed_at or "",
            status=refused(exc),
        )
    scheduled = campaign.status is CampaignStatus.SCHEDULED
    session.commit()
    if scheduled:
        # The embedded broker's sweeper (in this process) starts it when its time comes.
        from outreach.ops.embedded import start_embedded

        start_embedded(current_app)
        return _sent_back(campaign_id, f"Scheduled for {format_utc(at)}.")
    batches = queue_batches(campaign_id)
    return _sent_back(campaign_id, f"Sending: {frozen} messages queued in {batches} batches.")


CONTROL_ACTIONS: dict[str, Callable[[Session, Campaign], object]] = {
    "pause": delivery.pause,
    "resume": delivery.resume,
    "cancel": delivery.cancel,
}


def _control(campaign_id: int, action: str) -> Any | None:
    """Pause, resume or cancel and commit; on refusal, the composer saying why."""
    session = get_session()
    try:
        CONTROL_ACTIONS[action](session, get_campaign(session, campaign_id))
    except OutreachError as exc:
        session.rollback()
        return _composer(campaign_id, control_error=(action, exc.message), status=refused(exc))
    session.commit()
    return None


@bp.post("/campaigns/<int:campaign_id>/pause")
def pause_campaign(campaign_id: int) -> Any:
    """Workers stop claiming; the batches in flight stop within half a second."""
    return _control(campaign_id, "pause") or _sent_back(campaign_id, "Paused.")


@bp.post("/campaigns/<int:campaign_id>/resume")
def resume_campaign(campaign_id: int) -> Any:
    """Go on sending from the ledger: re-enqueue what is still pending."""
    refusal = _control(campaign_id, "resume")
    if refusal is not None:
        return refusal
    batches = queue_batches(campaign_id)
    return _sent_back(campaign_id, f"Resumed: {batches} batches queued.")


@bp.post("/campaigns/<int:campaign_id>/retry")
def retry_campaign(campaign_id: int) -> Any:
    """Queue the failed recipients again (those still mailable)."""
    session = get_session()
    try:
        campaign = get_campaign(session, campaign_id)
        count = delivery.retry_failed(
            session, campaign, request.form.get("reason"), actor=current_user.email
        )
    except OutreachError as exc:
        session.rollback()
        return _composer(campaign_id, control_error=("retry", exc.message), status=refused(exc))
    paused = campaign.status is CampaignStatus.PAUSED
    session.commit()
    if not count:
        return _sent_back(campaign_id, "No failed recipient to retry.")
    if paused:
        return _sent_back(campaign_id, f"{count} failed recipients queued again: resume to send.")
    batches = queue_batches(campaign_id)
    return _sent_back(campaign_id, f"{count} failed recipients queued again in {batches} batches.")


@bp.post("/campaigns/<int:campaign_id>/cancel")
def cancel_campaign(campaign_id: int) -> Any:
    """Stop for good: what was not sent is skipped."""
    return _control(campaign_id, "cancel") or _sent_back(campaign_id, "Cancelled.")


@bp.get("/campaigns/<int:campaign_id>/progress.json")
def campaign_progress(campaign_id: int) -> Any:
    """Where the campaign stands, as `campaigns status --json` prints it (polled live)."""
    with get_db().reader() as session:
        document = delivery.progress(session, get_campaign(session, campaign_id)).to_dict()
    response = jsonify(document)
    response.headers["Cache-Control"] = "no-store"
    return response
