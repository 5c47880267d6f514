"""Public pages of data-subject requests: the form, verification, the access download."""

from __future__ import annotations

import json
from typing import Any

from flask import Blueprint, Response, current_app, render_template, request, url_for
from sqlalchemy.orm import Session

from outreach.application import consent as consent_use_cases
from outreach.application import privacy as use_cases
from outreach.application.consent import Subscriber
from outreach.config import Settings
from outreach.consent.notice import notice_paragraphs
from outreach.db import get_session
from outreach.errors import ValidationError
from outreach.groups.service import public_sectors
from outreach.privacy.export import export_archive
from outreach.privacy.requests import RECTIFIABLE
from outreach.tokens import TokenError, TokenExpired

bp = Blueprint("rights", __name__)
FORM_FIELDS = ("kind", "note", *RECTIFIABLE)


@bp.app_template_filter("paragraphs")
def paragraphs(text: str | None) -> list[str]:
    """A notice text's paragraphs (blank-line separated), for /privacy and Admin › Settings."""
    return notice_paragraphs(text or "")


def _settings() -> Settings:
    return current_app.extensions["outreach.settings"]  # type: ignore[no-any-return]


def _values(*names: str) -> dict[str, str]:
    return {name: request.form.get(name, "")[:5000] for name in names}


def _form(
    session: Session,
    status: int = 200,
    errors: dict[str, str] | None = None,
    values: dict[str, str] | None = None,
    contact: Subscriber | None = None,
) -> Any:
    """The request form: on its own page, or for a contact coming from its preferences."""
    action = (
        url_for(".from_preferences", token=request.view_args["token"])
        if contact is not None and request.view_args
        else url_for(".submit")
    )
    return render_template(
        "public/privacy_request.html",
        sectors=public_sectors(session),  # the public form offers the curated list
        errors=errors or {},
        values=values or {},
        action=action,
        contact=contact,
    ), status


def _submit(session: Session, values: dict[str, str], source: str, email: str) -> None:
    use_cases.submit_request(
        session,
        values["kind"],
        email,
        source=source,
        changes={name: values[name] for name in RECTIFIABLE if values.get(name)},
        note=values["note"],
    )


def _sent() -> Any:
    """The same answer for every address, known or not."""
    return render_template(
        "public/privacy_request_sent.html", hours=_settings().privacy_verify_hours
    )


@bp.get("/privacy/request")
def request_form() -> Any:
    """The form that starts a data-subject request."""
    return _form(get_session())


@bp.post("/privacy/request")
def submit() -> Any:
    """Record the request and email a verification link; the answer never says whether
    the address is known."""
    with current_app.extensions["outreach.limiter"].limit(_settings().subscribe_rate_limit):
        session = get_session()
        if request.form.get("website"):  # honeypot: bots fill every field
            return _sent()
        values = _values("email", *FORM_FIELDS)
        try:
            _submit(session, values, "form", values["email"])
        except ValidationError as exc:
            session.rollback()
            return _form(session, 422, {exc.field or "form": exc.message}, values)
        session.commit()
        return _sent()


@bp.post("/preferences/<token>/request")
def from_preferences(token: str) -> Any:
    """A request started from the preferences page (verified by email all the same)."""
    session = get_session()
    try:
        contact = consent_use_cases.subscriber(session, token)
    except TokenError as exc:
        return _link_problem(exc)
    values = _values(*FORM_FIELDS)
    try:
        _submit(session, values, "preferences", contact.email)
    except ValidationError as exc:
        session.rollback()
        return _form(session, 422, {exc.field or "form": exc.message}, values, contact)
    session.commit()
    return _sent()


def _link_problem(exc: TokenError) -> Any:
    expired = isinstance(exc, TokenExpired)
    return render_template(
        "public/privacy_request_link_problem.html", message=exc.message, expired=expired
    ), (410 if expired else 400)


@bp.get("/privacy/verify/<token>")
def verify_page(token: str) -> Any:
    """A page with a Confirm button; following the link changes nothing."""
    try:
        data_request = use_cases.check_verification_link(get_session(), token)
    except TokenError as exc:
        return _link_problem(exc)
    return render_template("public/privacy_request_verify.html", data_request=data_request)


@bp.post("/privacy/verify/<token>")
def verify(token: str) -> Any:
    """Verify the request; access, erasure and objection are then fulfilled at once
    (unless the operator wants to approve them)."""
    session = get_session()
    try:
        data_request = use_cases.verify_request(
            session,
            token,
            ip=request.remote_addr,
            user_agent=request.headers.get("User-Agent", "")[:500] or None,
        )
    except TokenError as exc:
        session.rollback()
        return _link_problem(exc)
    session.commit()
    return render_template("public/privacy_request_verified.html", data_request=data_request)


@bp.get("/privacy/export/<token>")
def export_page(token: str) -> Any:
    """The download page of an access export."""
    try:
        use_cases.check_export_link(get_session(), token)
    except TokenError as exc:
        return _link_problem(exc)
    return render_template("public/privacy_request_export.html", token=token)


@bp.get("/privacy/export/<token>/<any(json, csv):fmt>")
def export_download(token: str, fmt: str) -> Any:
    """The access export as JSON, or its tabular parts as a ZIP of CSV files."""
    session = get_session()
    try:
        document = use_cases.download_export(session, token, fmt)
    except TokenError as exc:
        return _link_problem(exc)
    session.commit()
    if fmt == "json":
        body: bytes = json.dumps(document, indent=2, ensure_ascii=False).encode()
        mimetype, name = "application/json", "my-data.json"
    else:
        body, mimetype, name = export_archive(document), "application/zip", "my-data-csv.zip"
    return Response(
        body,
        mimetype=mimetype,
        headers={
            "Content-Disposition": f'attachment; filename="{name}"',
            "Cache-Control": "no-store",
        },
    )
