"""Admin pages for data-subject requests: the queue, one request, recording and answering."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flask import redirect, render_template, request, url_for
from flask_login import current_user
from sqlalchemy.orm import Session
from werkzeug.datastructures import MultiDict

from outreach.admin.blueprint import bp
from outreach.admin.groups_views import form_flash
from outreach.application import privacy as use_cases
from outreach.db import get_session, utcnow
from outreach.errors import OutreachError, ValidationError
from outreach.privacy.models import RequestKind
from outreach.privacy.requests import (
    IDENTITY_METHODS,
    MAX_IDENTITY_CHECK,
    RECTIFIABLE,
    contact_of,
    days_left,
    get_request,
    history,
    is_overdue,
    receipt_bounds,
    rectification_rows,
    request_queue,
    sector_names,
)

SHOW = ("open", "overdue", "all")


@bp.get("/requests")
def requests() -> Any:
    """The queue: kind, state, received and due dates, days left; overdue ones flagged."""
    session = get_session()
    show = request.args.get("show", "open")
    show = show if show in SHOW else "open"
    found = request_queue(session, overdue=show == "overdue", everything=show == "all")
    session.commit()  # stale unverified requests were just expired
    now = utcnow()
    return render_template(
        "admin/privacy_requests.html",
        items=[(r, days_left(r, now), is_overdue(r, now)) for r in found],
        show=show,
    )


def _new_form(session: Session, values: MultiDict[str, str], error: str | None = None) -> Any:
    today = utcnow().date()
    return render_template(
        "admin/privacy_request_new.html",
        kinds=[k.value for k in RequestKind],
        fields=RECTIFIABLE,
        sectors=sector_names(session),
        values=values,
        error=error,
        today=today.isoformat(),
        earliest=receipt_bounds(today)[0].isoformat(),
        identity_methods=IDENTITY_METHODS,
        max_identity=MAX_IDENTITY_CHECK,
    ), (422 if error else 200)


@bp.route("/requests/new", methods=["GET", "POST"])
def new_request() -> Any:
    """Record a request on behalf of someone who wrote in, with its date of receipt; a
    verification link is sent unless the administrator says how the identity was checked."""
    session = get_session()
    form = request.form
    if request.method == "GET":
        return _new_form(session, form)
    try:
        recorded = use_cases.record_request(
            session,
            form.get("kind", ""),
            form.get("email", ""),
            source="admin",
            actor=current_user.email,
            changes={name: form[name] for name in RECTIFIABLE if form.get(name)},
            note=form.get("note", ""),
            received_on=form.get("received_on"),
            identity_checked=form.get("identity_checked", ""),
        )
    except OutreachError as exc:
        session.rollback()
        return _new_form(session, form, exc.message)
    session.commit()
    form_flash(
        "state",
        "Request recorded as verified; the requester was told it was received."
        if recorded.request["verified_at"]
        else "Request recorded; a verification link was sent to the address.",
    )
    return redirect(url_for("admin.request_page", request_id=recorded.request_id))


@bp.get("/requests/<int:request_id>")
def request_page(request_id: int) -> Any:
    """One request: its dates, what it asks (corrections next to current values), the
    actions it allows and its history."""
    session = get_session()
    data_request = get_request(session, request_id)
    contact = contact_of(session, data_request)
    now = utcnow()
    return render_template(
        "admin/privacy_request.html",
        r=data_request,
        days=days_left(data_request, now),
        overdue=is_overdue(data_request, now),
        now=now,
        contact_id=contact.id if contact is not None else None,
        rows=rectification_rows(session, data_request),
        history=history(session, data_request.id),
    )


def _months(form: MultiDict[str, str]) -> int:
    raw = form.get("months", "")
    if not raw.isdigit():
        raise ValidationError("extend by one or two months", field="months")
    return int(raw)


# Each action: the use case called with the form's values, and what to tell the admin.
Action = Callable[[Session, int, MultiDict[str, str], str], use_cases.RequestStep]
ACTIONS: dict[str, tuple[Action, str]] = {
    "fulfil": (
        lambda s, i, form, actor: use_cases.fulfil_request(
            s, i, actor=actor, fields=form.getlist("fields"), note=form.get("note", "")
        ),
        "Request fulfilled; the requester has been told.",
    ),
    "refuse": (
        lambda s, i, form, actor: use_cases.refuse_request(
            s, i, form.get("reason", ""), actor=actor
        ),
        "Request refused; the reason was sent to the requester.",
    ),
    "extend": (
        lambda s, i, form, actor: use_cases.extend_request(
            s, i, _months(form), form.get("reason", ""), actor=actor
        ),
        "Deadline extended; the requester has been told why.",
    ),
    "lift": (
        lambda s, i, _form, actor: use_cases.lift_restriction(s, i, actor=actor),
        "Restriction lifted; the requester has been told.",
    ),
}


@bp.post("/requests/<int:request_id>/fulfil", defaults={"action": "fulfil"})
@bp.post("/requests/<int:request_id>/refuse", defaults={"action": "refuse"})
@bp.post("/requests/<int:request_id>/extend", defaults={"action": "extend"})
@bp.post("/requests/<int:request_id>/lift", defaults={"action": "lift"})
def request_action(request_id: int, action: str) -> Any:
    """Fulfil, refuse, extend, or lift the restriction of one request."""
    session = get_session()
    get_request(session, request_id)  # no such request: the 404 page, not a message
    run, done = ACTIONS[action]
    try:
        run(session, request_id, request.form, current_user.email)
    except OutreachError as exc:
        session.rollback()
        # Shown at the top: the form may be gone (an extension made meanwhile, say).
        form_flash("state", exc.message, error=True)
        return redirect(url_for("admin.request_page", request_id=request_id))
    session.commit()
    form_flash("state", done)
    return redirect(url_for("admin.request_page", request_id=request_id))
