"""Public pages: subscribe, confirm, unsubscribe (RFC 8058), preferences, privacy, download."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import sqlalchemy as sa
from flask import Blueprint, abort, current_app, redirect, render_template, request, send_file
from sqlalchemy.orm import Session

from outreach.config import Settings
from outreach.consent import links
from outreach.consent.lead_magnet import lead_magnet
from outreach.consent.models import ConsentAction, NoticeVersion, Purpose, UsedToken
from outreach.consent.notice import current_notice
from outreach.consent.service import (
    Evidence,
    SignupOutcome,
    confirm,
    latest_actions,
    set_tracking,
    sign_up,
    spend_token,
    unsubscribe,
)
from outreach.contacts.models import Contact, ContactStatus
from outreach.db import get_session
from outreach.errors import OutreachError, ValidationError
from outreach.groups.models import GroupMembership
from outreach.groups.service import join_topics, public_sectors, public_topics, set_topics
from outreach.tokens import TokenError, TokenExpired, read_token

bp = Blueprint("public", __name__)
FORM_PURPOSES = {
    "consent_newsletter": Purpose.NEWSLETTER,
    "consent_tracking": Purpose.OPEN_TRACKING,
    "consent_click_tracking": Purpose.CLICK_TRACKING,
}
MAX_FIELD = 1000


def _settings() -> Settings:
    return current_app.extensions["outreach.settings"]  # type: ignore[no-any-return]


def _evidence(source: str, notice: NoticeVersion | None = None) -> Evidence:
    return Evidence(
        source=source,
        ip=request.remote_addr,
        user_agent=request.headers.get("User-Agent", "")[:500] or None,
        notice_version_id=notice.id if notice else None,
    )


def _chosen_groups() -> set[int]:
    """The group ids ticked in the form (the service keeps only public topics)."""
    return {int(v) for v in request.form.getlist("groups") if v.isdigit() and len(v) < 19}


def _form_page(
    session: Session,
    status: int = 200,
    errors: dict[str, str] | None = None,
    values: dict[str, Any] | None = None,
) -> Any:
    notice = current_notice(session)
    session.commit()  # the first use stores the default notice as version 1
    return render_template(
        "public/subscribe.html",
        notice=notice,
        sectors=public_sectors(session),
        topics=public_topics(session),
        chosen=_chosen_groups() if request.method == "POST" else set(),
        errors=errors or {},
        values=values or {},
    ), status


@bp.get("/subscribe")
def subscribe_form() -> Any:
    """The sign-up form with the first-layer notice and one unticked box per purpose."""
    return _form_page(get_session())


@bp.post("/subscribe")
def subscribe() -> Any:
    """Record the sign-up; the answer is the same whatever the address's history."""
    with current_app.extensions["outreach.limiter"].limit(_settings().subscribe_rate_limit):
        session = get_session()
        if request.form.get("website"):  # honeypot: bots fill every field
            return render_template("public/check_inbox.html")
        values = {k: request.form.get(k, "") for k in ("email", "first_name", "sector")}
        try:
            _check_form(session, values)
            purposes = [p for name, p in FORM_PURPOSES.items() if request.form.get(name)]
            notice = _shown_notice(session)
            signup = sign_up(
                session,
                values,
                purposes,
                _evidence(f"form:{request.referrer or request.url}", notice),
                resend_after=timedelta(minutes=10),
            )
            if signup.outcome is not SignupOutcome.ALREADY_SUBSCRIBED:
                # Topics only add, and a subscribed contact changes its own on the
                # preferences page: a stranger's sign-up never alters a subscription.
                join_topics(session, signup.contact.id, _chosen_groups())
        except ValidationError as exc:
            session.rollback()
            return _form_page(session, 422, {exc.field or "form": exc.message}, values)
        session.commit()  # with the email it owes, in the outbox
        return render_template("public/check_inbox.html")


def _check_form(session: Session, values: dict[str, str]) -> None:
    for name, value in values.items():
        if len(value) > MAX_FIELD:
            raise ValidationError(f"{name.replace('_', ' ')} is too long", field=name)
    if values["sector"] and values["sector"] not in public_sectors(session):
        # Only the curated (public) sectors: a private one is refused like an unknown one.
        raise ValidationError("choose a sector from the list", field="sector")


def _shown_notice(session: Session) -> NoticeVersion:
    """The notice version the form displayed (the current one if the field is missing)."""
    raw = request.form.get("notice_version", "")
    notice = session.get(NoticeVersion, int(raw)) if raw.isdigit() else None
    return notice or current_notice(session)


def _token(purpose: str, token: str, max_age: int | None = None) -> dict[str, Any]:
    return read_token(_settings().secret_key, purpose, token, max_age)


def _link_problem(exc: TokenError) -> Any:
    status = 410 if isinstance(exc, TokenExpired) else 400
    return render_template(
        "public/link_problem.html", message=exc.message, expired=isinstance(exc, TokenExpired)
    ), status


@bp.get("/confirm/<token>")
def confirm_page(token: str) -> Any:
    """A page with a Confirm button; following the link changes nothing."""
    try:
        payload = _token(links.CONFIRM, token, _settings().confirm_token_hours * 3600)
        if get_session().get(Contact, payload.get("c")) is None:
            raise TokenError("this link is not valid any more")
    except TokenError as exc:
        return _link_problem(exc)
    if _spent(payload):
        return _already_confirmed(get_session().get(Contact, payload.get("c")))
    return render_template("public/confirm.html")


def _spent(payload: dict[str, Any]) -> bool:
    return get_session().get(UsedToken, str(payload.get("jti", ""))) is not None


def _already_confirmed(contact: Contact | None) -> Any:
    """A used confirmation link: what is true now, not a Confirm button that cannot work."""
    if contact is None or contact.status is not ContactStatus.SUBSCRIBED:
        return _link_problem(TokenError("this link has already been used"))
    return render_template(
        "public/already_confirmed.html",
        preferences_url=links.preferences_url(_settings(), contact.id),
    )


@bp.post("/confirm/<token>")
def confirm_post(token: str) -> Any:
    """Confirm the subscription, then send the welcome message."""
    session = get_session()
    try:
        payload = _token(links.CONFIRM, token, _settings().confirm_token_hours * 3600)
        contact = session.get(Contact, payload.get("c"))
        if contact is None:
            raise TokenError("this link is not valid any more")
        if _spent(payload):
            return _already_confirmed(contact)
        spend_token(session, str(payload.get("jti", "")), links.CONFIRM)
        evidence = _evidence(f"confirmation link:{request.url_root.rstrip('/')}/confirm")
        if payload.get("i"):
            _record_invitation_acceptance(session, contact, evidence)
        confirm(session, contact, evidence)
    except TokenError as exc:
        session.rollback()
        return _link_problem(exc)
    session.commit()  # the welcome message is in the outbox
    return render_template(
        "public/welcome.html",
        first_name=contact.first_name,
        preferences_url=links.preferences_url(_settings(), contact.id),
    )


def _record_invitation_acceptance(session: Session, contact: Contact, evidence: Evidence) -> None:
    from outreach.consent.service import record_event

    notice = current_notice(session)
    record_event(
        session,
        contact.id,
        Purpose.NEWSLETTER,
        ConsentAction.GIVEN,
        Evidence(
            f"invitation accepted:{evidence.source}", evidence.ip, evidence.user_agent, notice.id
        ),
    )


@bp.get("/unsubscribe/<token>")
def unsubscribe_page(token: str) -> Any:
    """One button; following the link changes nothing (mail scanners follow links)."""
    try:
        payload = _token(links.SUBSCRIPTION, token)
    except TokenError as exc:
        return _link_problem(exc)
    contact = get_session().get(Contact, payload.get("c"))
    return render_template(
        "public/unsubscribe.html",
        preferences_url=links.preferences_url(_settings(), payload["c"]),
        already=contact is None
        or contact.status not in (ContactStatus.SUBSCRIBED, ContactStatus.PENDING),
    )


@bp.post("/unsubscribe/<token>")
def unsubscribe_post(token: str) -> Any:
    """Unsubscribe at once. RFC 8058 one-click: no cookie, no CSRF token, 200, no redirect."""
    session = get_session()
    try:
        payload = _token(links.SUBSCRIPTION, token)
    except TokenError as exc:
        return _link_problem(exc)
    contact = session.get(Contact, payload.get("c"))
    if contact is not None:
        one_click = request.form.get("List-Unsubscribe") == "One-Click"
        source = "one-click (RFC 8058)" if one_click else "unsubscribe page"
        unsubscribe(
            session,
            contact,
            _evidence(f"{source}:campaign {payload.get('k')}"),
            campaign_id=payload.get("k"),
        )
        session.commit()
    return render_template("public/unsubscribed.html"), 200


def _preferences_contact(token: str) -> Contact:
    payload = _token(links.SUBSCRIPTION, token)
    contact = get_session().get(Contact, payload.get("c"))
    if contact is None:
        raise TokenError("this link is not valid any more")
    return contact


@bp.route("/preferences/<token>", methods=["GET", "POST"])
def preferences(token: str) -> Any:
    """Affinity groups, tracking consent, and unsubscribe from everything."""
    session = get_session()
    try:
        contact = _preferences_contact(token)
    except TokenError as exc:
        return _link_problem(exc)
    saved = False
    if request.method == "POST":
        evidence = _evidence("preferences page", _shown_notice(session))
        if request.form.get("action") == "unsubscribe":
            unsubscribe(session, contact, evidence)
            session.commit()
            return render_template("public/unsubscribed.html")
        _save_preferences(session, contact, evidence)
        session.commit()
        saved = True
    notice = current_notice(session)
    session.commit()  # the first use stores the default notice as version 1
    return render_template(
        "public/preferences.html",
        contact=contact,
        saved=saved,
        notice=notice,
        **_preference_state(session, contact),
    )


def _preference_state(session: Session, contact: Contact) -> dict[str, Any]:
    groups = public_topics(session)  # private groups are never shown nor changed here
    member_of = set(
        session.scalars(
            sa.select(GroupMembership.group_id).where(GroupMembership.contact_id == contact.id)
        )
    )
    actions = latest_actions(session, [contact.id])[contact.id]
    return {
        "groups": groups,
        "member_of": member_of,
        "tracking": {
            p.value: actions.get(p) is ConsentAction.CONFIRMED
            for p in (Purpose.OPEN_TRACKING, Purpose.CLICK_TRACKING)
        },
        "subscribed": contact.status is ContactStatus.SUBSCRIBED,
    }


def _save_preferences(session: Session, contact: Contact, evidence: Evidence) -> None:
    set_topics(session, contact.id, _chosen_groups())
    set_tracking(
        session,
        contact,
        {
            Purpose.OPEN_TRACKING: bool(request.form.get("open_tracking")),
            Purpose.CLICK_TRACKING: bool(request.form.get("click_tracking")),
        },
        evidence,
    )


@bp.get("/privacy")
def privacy() -> Any:
    """The full privacy notice (second layer) with its version."""
    session = get_session()
    notice = current_notice(session)
    session.commit()
    return render_template("public/privacy.html", notice=notice)


@bp.get("/download/<token>")
def download(token: str) -> Any:
    """The lead magnet, through a signed link that expires."""
    try:
        payload = _token(links.DOWNLOAD, token, links.DOWNLOAD_MAX_AGE)
        if get_session().get(Contact, payload.get("c")) is None:
            raise TokenError("this link is not valid any more")
    except TokenError as exc:
        return _link_problem(exc)
    magnet = lead_magnet(_settings())
    if magnet is None:
        abort(404)
    if isinstance(magnet, str):
        return redirect(magnet)  # configured by the operator, never taken from the request
    if not magnet.is_file():
        raise OutreachError(f"the lead magnet file {magnet.name} is missing")
    return send_file(magnet, as_attachment=True, max_age=0)
