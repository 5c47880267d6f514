"""Admin › Settings: controller identity and notice texts, each change a new version."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from flask import flash, redirect, render_template, request, url_for

from outreach.admin.views import bp
from outreach.consent.models import NoticeVersion
from outreach.consent.notice import (
    CONTROLLER_FIELDS,
    FIRST_LAYER_FIELDS,
    current_notice,
    save_notice,
)
from outreach.db import get_session
from outreach.errors import ValidationError


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
) -> Any:
    versions = (
        get_session()
        .scalars(sa.select(NoticeVersion).order_by(NoticeVersion.id.desc()).limit(50))
        .all()
    )
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
    ), status


@bp.post("/settings")
def save_settings() -> Any:
    """Store the edited notice as a new version (identical text keeps its version)."""
    session = get_session()
    controller = {f: request.form.get(f"controller_{f}", "") for f in CONTROLLER_FIELDS}
    first_layer = {f: request.form.get(f"first_layer_{f}", "") for f in FIRST_LAYER_FIELDS}
    full_text = request.form.get("full_text", "")
    before = current_notice(session).id
    try:
        notice = save_notice(session, controller, first_layer, full_text)
    except ValidationError as exc:
        session.rollback()
        return _page(controller, first_layer, full_text, before, exc.message, 422)
    session.commit()
    flash(
        f"Notice version {notice.id} is now in force."
        if notice.id != before
        else "Nothing changed: the notice in force is the same."
    )
    return redirect(url_for("admin.settings"))
