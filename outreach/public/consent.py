"""Public pages: subscribe, confirm, unsubscribe (RFC 8058), preferences, privacy, download."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, abort, current_app, redirect, render_template, request, send_file
from sqlalchemy.orm import Session

from outreach.application import consent as use_cases
from outreach.config import Settings
from outreach.consent import links
from outreach.consent.lead_magnet import lead_magnet
from outreach.consent.models import Purpose
from outreach.consent.notice import current_notice
from outreach.consent.service import Evidence
from outreach.db import get_session
from outreach.errors import OutreachError, ValidationError
from outreach.groups.service import public_sectors, public_topics
from outreach.tokens import TokenError, TokenExpired

bp = Blueprint("public", __name__)
FORM_PURPOSES = {
    "consent_newsletter": Purpose.NEWSLETTER,
    "consent_tracking": Purpose.OPEN_TRACKING,
    "consent_click_tracking": Purpose.CLICK_TRACKING,
}


def _settings() -> Settings:
    return current_app.extensions["outreach.settings"]  # type: ignore[no-any-return]


def _evidence(source: str, *, shown_notice: bool = False) -> Evidence:
    """Where the action came from; with `shown_notice`, the notice version the form says it
    displayed (the use case checks it is one we hold)."""
    raw = request.form.get("notice_version", "") if shown_notice else ""
    return Evidence(
        source=source,
        ip=request.remote_addr,
        user_agent=request.headers.get("User-Agent", "")[:500] or None,
        notice_version_id=int(raw) if raw.isdigit() else None,
    )


def _chosen_groups() -> set[int]:
    """The group ids ticked in the form (the use case keeps only public topics)."""
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
            use_cases.subscribe(
                session,
                email=values["email"],
                first_name=values["first_name"],
                sector=values["sector"],
                purposes=[p for name, p in FORM_PURPOSES.items() if request.form.get(name)],
                topics=_chosen_groups(),
                evidence=_evidence(f"form:{request.referrer or request.url}", shown_notice=True),
            )
        except ValidationError as exc:
            session.rollback()
            return _form_page(session, 422, {exc.field or "form": exc.message}, values)
        session.commit()  # with the email it owes, in the outbox
        return render_template("public/check_inbox.html")


def _link_problem(exc: TokenError) -> Any:
    status = 410 if isinstance(exc, TokenExpired) else 400
    return render_template(
        "public/link_problem.html", message=exc.message, expired=isinstance(exc, TokenExpired)
    ), status


def _already_confirmed(confirmation: use_cases.Confirmation) -> Any:
    """A used confirmation link: what is true now, not a Confirm button that cannot work."""
    return render_template(
        "public/already_confirmed.html",
        preferences_url=links.preferences_url(_settings(), confirmation.contact_id),
    )


@bp.get("/confirm/<token>")
def confirm_page(token: str) -> Any:
    """A page with a Confirm button; following the link changes nothing."""
    try:
        confirmation = use_cases.check_confirmation_link(get_session(), token)
    except TokenError as exc:
        return _link_problem(exc)
    if confirmation.already_confirmed:
        return _already_confirmed(confirmation)
    return render_template("public/confirm.html")


@bp.post("/confirm/<token>")
def confirm_post(token: str) -> Any:
    """Confirm the subscription, then send the welcome message."""
    session = get_session()
    try:
        confirmation = use_cases.confirm(
            session,
            token,
            _evidence(f"confirmation link:{request.url_root.rstrip('/')}/confirm"),
        )
    except TokenError as exc:
        session.rollback()
        return _link_problem(exc)
    if confirmation.already_confirmed:
        return _already_confirmed(confirmation)
    session.commit()  # the welcome message is in the outbox
    return render_template(
        "public/welcome.html",
        first_name=confirmation.first_name,
        preferences_url=links.preferences_url(_settings(), confirmation.contact_id),
    )


@bp.get("/unsubscribe/<token>")
def unsubscribe_page(token: str) -> Any:
    """One button; following the link changes nothing (mail scanners follow links)."""
    try:
        link = use_cases.check_unsubscribe_link(get_session(), token)
    except TokenError as exc:
        return _link_problem(exc)
    return render_template(
        "public/unsubscribe.html",
        preferences_url=links.preferences_url(_settings(), link.contact_id),
        already=link.already,
    )


@bp.post("/unsubscribe/<token>")
def unsubscribe_post(token: str) -> Any:
    """Unsubscribe at once. RFC 8058 one-click: no cookie, no CSRF token, 200, no redirect."""
    session = get_session()
    one_click = request.form.get("List-Unsubscribe") == "One-Click"
    source = "one-click (RFC 8058)" if one_click else "unsubscribe page"
    try:
        use_cases.unsubscribe(session, token, _evidence(source))
    except TokenError as exc:
        return _link_problem(exc)
    session.commit()
    return render_template("public/unsubscribed.html"), 200


@bp.route("/preferences/<token>", methods=["GET", "POST"])
def preferences(token: str) -> Any:
    """Affinity groups, tracking consent, and unsubscribe from everything."""
    session = get_session()
    try:
        if request.method == "POST" and request.form.get("action") == "unsubscribe":
            use_cases.unsubscribe_everything(session, token, _preferences_evidence())
            session.commit()
            return render_template("public/unsubscribed.html")
        if request.method == "POST":
            shown = use_cases.change_preferences(
                session,
                token,
                topics=_chosen_groups(),
                tracking={
                    Purpose.OPEN_TRACKING: bool(request.form.get("open_tracking")),
                    Purpose.CLICK_TRACKING: bool(request.form.get("click_tracking")),
                },
                evidence=_preferences_evidence(),
            )
            session.commit()
        else:
            shown = use_cases.preferences(session, token)
    except TokenError as exc:
        return _link_problem(exc)
    return _preferences_page(session, shown, saved=request.method == "POST")


def _preferences_evidence() -> Evidence:
    return _evidence("preferences page", shown_notice=True)


def _preferences_page(session: Session, shown: use_cases.Preferences, *, saved: bool) -> Any:
    notice = current_notice(session)
    session.commit()  # the first use stores the default notice as version 1
    return render_template(
        "public/preferences.html",
        contact=shown,
        saved=saved,
        notice=notice,
        groups=shown.topics,
        member_of=shown.member_of,
        tracking=shown.tracking,
        subscribed=shown.subscribed,
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
        use_cases.check_download_link(get_session(), token)
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
