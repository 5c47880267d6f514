"""Admin › Settings: controller identity and notice texts, each change a new version; the
API tokens, made and revoked."""

from __future__ import annotations

from typing import Any

from flask import flash, redirect, render_template, request, url_for
from flask_login import current_user

from outreach.accounts.service import get_admin, issue_token, list_tokens, revoke_token
from outreach.admin.blueprint import bp
from outreach.consent.notice import (
    CONTROLLER_FIELDS,
    FIRST_LAYER_FIELDS,
    change_settings,
    current_notice,
    get_notice,
    notice_versions,
    times_cited,
)
from outreach.db import as_id, get_session
from outreach.errors import NotFound, OutreachError, ValidationError


@bp.get("/settings")
def settings() -> Any:
    """The notice in force, a form to change it, and every earlier version."""
    session = get_session()
    notice = current_notice(session)
    session.commit()
    return _page(notice.controller, notice.first_layer, notice.full_text, notice.id)


def _page(
    controller: dict[str, Any],
    first_layer: dict[str, Any],
    full_text: str,
    current_id: int,
    error: str | None = None,
    status: int = 200,
    new_token: str | None = None,
    token_error: str | None = None,
) -> Any:
    versions = notice_versions(get_session())
    return render_template(
        "admin/settings.html",
        controller=controller,
        first_layer=first_layer,
        full_text=full_text,
        versions=versions,
        current_id=current_id,
        error=error,
        controller_fields=CONTROLLER_FIELDS,
        first_layer_fields=FIRST_LAYER_FIELDS,
        tokens=list_tokens(get_session()),
        new_token=new_token,
        token_error=token_error,
    ), status


@bp.post("/settings")
def save_settings() -> Any:
    """Store the edited notice as a new version (identical normalized texts keep theirs)."""
    session = get_session()
    controller = {f: request.form.get(f"controller_{f}", "") for f in CONTROLLER_FIELDS}
    first_layer = {f: request.form.get(f"first_layer_{f}", "") for f in FIRST_LAYER_FIELDS}
    full_text = request.form.get("full_text", "")
    changes = {
        "controller_name": controller["name"],
        "postal_address": controller["address"],
        "contact_email": controller["email"],
        **{f"first_layer_{f}": text for f, text in first_layer.items()},
        "full_text": full_text,
    }
    try:
        notice, changed = change_settings(session, changes)
    except ValidationError as exc:
        session.rollback()
        before = current_notice(session).id
        return _page(controller, first_layer, full_text, before, exc.message, 422)
    session.commit()
    flash(
        f"Notice version {notice.id} is now in force."
        if changed
        else "Nothing changed: the notice in force is the same."
    )
    return redirect(url_for("admin.settings"))


@bp.get("/settings/notices/<int(max=2147483647):notice_id>")  # beyond: 404, not a 500
def notice_version(notice_id: int) -> Any:
    """One notice version, in force or earlier, with every text it held."""
    session = get_session()
    number = as_id(notice_id)
    notice = get_notice(session, number) if number else None
    if notice is None:
        raise NotFound(f"no notice version {notice_id}")
    in_force = current_notice(session).id
    cited = times_cited(session, notice.id)
    session.commit()
    return render_template(
        "admin/notice_version.html",
        notice=notice,
        in_force=notice.id == in_force,
        cited=cited or 0,
        first_layer_fields=FIRST_LAYER_FIELDS,
    )


@bp.post("/settings/tokens")
def create_api_token() -> Any:
    """Make a named API token for the signed-in administrator; its secret is shown once."""
    session = get_session()
    try:
        secret = issue_token(
            session, get_admin(session, current_user.email), request.form.get("name", "")
        )
    except ValidationError as exc:
        session.rollback()
        return _notice_page(status=422, token_error=exc.message)
    session.commit()
    # Shown on this page, not flashed: a flashed message travels in the session cookie.
    page, status = _notice_page(new_token=secret)
    return page, status, {"Cache-Control": "no-store"}


def _notice_page(**extra: Any) -> Any:
    """The settings page with the notice in force and `extra` (see _page)."""
    session = get_session()
    notice = current_notice(session)
    session.commit()
    return _page(notice.controller, notice.first_layer, notice.full_text, notice.id, **extra)


@bp.post("/settings/tokens/<int:token_id>/revoke")
def revoke_api_token(token_id: int) -> Any:
    """Revoke an API token: it is refused from the next request on."""
    session = get_session()
    try:
        token = revoke_token(session, token_id, by=current_user.email)
    except OutreachError as exc:
        session.rollback()
        flash(exc.message, "error")
        return redirect(url_for("admin.settings", _anchor="api-tokens"))
    session.commit()
    flash(f"API token {token.prefix}… ({token.name or 'unnamed'}) of {token.owner} revoked.")
    return redirect(url_for("admin.settings", _anchor="api-tokens"))
