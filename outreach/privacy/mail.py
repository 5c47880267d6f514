"""The emails to requesters (verification links, outcomes, extensions), queued in the outbox."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from outreach.config import Settings
from outreach.db import settings_of
from outreach.outbox.models import OutboxMessage
from outreach.outbox.transactional import queue_transactional
from outreach.privacy import links
from outreach.privacy.models import DataRequest, RequestKind

KIND_LABELS = {
    RequestKind.ACCESS: "a copy of your data",
    RequestKind.RECTIFICATION: "the correction of your data",
    RequestKind.ERASURE: "the erasure of your data",
    RequestKind.RESTRICTION: "the restriction of the use of your data",
    RequestKind.OBJECTION: "an end to direct marketing",
}
SUBJECTS = {
    "verify": "Please confirm your request about your data",
    "acknowledged": "We have received your request about your data",
    "recorded": "We have received your request about your data",
    "access": "Your data is ready to download",
    "erased": "Your data has been erased",
    "objected": "You will receive no more marketing from us",
    "restricted": "We have restricted the use of your data",
    "lifted": "The restriction of your data has been lifted",
    "rectified": "Your request to correct your data",
    "refused": "Your request about your data: our answer",
    "extended": "Your request about your data: we need more time",
    "no_data": "Your request about your data: we hold none",
}
TEMPLATES = {"verify": "privacy_verify", "access": "privacy_access"}


def _date(value: Any) -> str:
    return value.strftime("%d %B %Y") if value is not None else ""


def mail_context(settings: Settings, request: DataRequest, event: str) -> dict[str, Any]:
    """What the templates of one request email show."""
    details = request.details or {}
    changes = details.get("changes", {})
    context: dict[str, Any] = {
        "event": event,
        "kind": str(request.kind),
        "what": KIND_LABELS[request.kind],
        "request_id": request.id,
        "received": _date(request.received_at),
        "due": _date(request.due_at),
        "outcome": request.outcome or "",
        "extension_reason": request.extension_reason or "",
        "reply": details.get("reply", ""),
        "applied": [(n.replace("_", " "), changes[n]) for n in details.get("applied", [])],
        "privacy_url": f"{settings.base_url}/privacy",
    }
    if event == "verify":
        context["verify_url"] = links.verify_url(settings, request.id)
        context["hours"] = settings.privacy_verify_hours
    if event == "access":
        context["export_url"] = links.export_url(settings, request.id)
        context["days"] = links.EXPORT_MAX_AGE // 86400
    return context


def queue_request_email(
    session: Session, request: DataRequest, event: str, address: str | None = None
) -> OutboxMessage | None:
    """Write the email about one step of a request to the outbox; None when nobody is left
    to write to. `address`: when the request row no longer holds it (after an erasure),
    and then the row forgets it once sent."""
    to = address or request.email
    if not to:
        return None
    settings = settings_of(session)
    return queue_transactional(
        session,
        f"privacy:{event}",
        TEMPLATES.get(event, "privacy_outcome"),
        to,
        SUBJECTS[event],
        mail_context(settings, request, event),
        request_id=request.id,
        ephemeral=address is not None,
    )
