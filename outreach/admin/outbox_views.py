"""Admin › Outbox: every email that is not a campaign delivery, with its fate."""

from __future__ import annotations

from typing import Any

from flask import redirect, render_template, request, url_for

from outreach.admin.blueprint import bp
from outreach.admin.groups_views import form_flash
from outreach.db import get_session
from outreach.errors import OutreachError
from outreach.outbox.models import OutboxStatus
from outreach.outbox.service import counts, listing, retry

PAGE = 100


@bp.get("/outbox")
def outbox() -> Any:
    """Queued, sent and failed emails, newest first, with the server's answer."""
    session = get_session()
    show = request.args.get("status", "")
    status = show if show in {s.value for s in OutboxStatus} else None
    before = request.args.get("before", type=int)
    rows = listing(session, status, PAGE, before)
    return render_template(
        "admin/outbox.html",
        rows=rows,
        counts=counts(session),
        show=status or "",
        older=rows[-1].id if len(rows) == PAGE else None,
    )


@bp.post("/outbox/<int:outbox_id>/retry")
def outbox_retry(outbox_id: int) -> Any:
    """Send a failed email again."""
    session = get_session()
    try:
        retry(session, outbox_id)
    except OutreachError as exc:
        session.rollback()
        form_flash("outbox", exc.message, error=True)
    else:
        session.commit()  # a worker is nudged once this commits
        form_flash("outbox", f"Email {outbox_id} queued again.")
    return redirect(url_for("admin.outbox", status=request.args.get("status", "")))
