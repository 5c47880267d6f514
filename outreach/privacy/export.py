"""The right of access: everything held about one person, as JSON, CSV tables or a zip."""

from __future__ import annotations

import io
import json
import zipfile
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from outreach.campaigns.models import Campaign
from outreach.consent.models import Suppression
from outreach.consent.service import proof
from outreach.contacts.identity import email_hmac, normalize_email
from outreach.contacts.models import Contact
from outreach.contacts.service import (
    contact_to_dict,
    get_contact,
    groups_of,
)
from outreach.db import settings_of, utcnow
from outreach.delivery.models import Delivery
from outreach.outbox.service import emails_of
from outreach.privacy.models import AuditEntry, DataRequest
from outreach.spreadsheet import SafeWriter
from outreach.tracking.models import TrackingHit

EXPORT_FORMAT = "outreach-access-export/1"


def _iso(value: Any) -> Any:
    return value.isoformat() if hasattr(value, "isoformat") else value


def _deliveries(session: Session, contact_id: int) -> list[dict[str, Any]]:
    rows = session.execute(
        sa.select(Delivery, Campaign.name)
        .join(Campaign, Campaign.id == Delivery.campaign_id)
        .where(Delivery.contact_id == contact_id)
        .order_by(Delivery.id)
    ).all()
    hits = session.scalars(
        sa.select(TrackingHit)
        .where(TrackingHit.delivery_id.in_([d.id for d, _ in rows]))
        .order_by(TrackingHit.id)
    ).all()
    by_delivery: dict[int, list[dict[str, Any]]] = {}
    for hit in hits:
        by_delivery.setdefault(hit.delivery_id, []).append(
            {
                "kind": str(hit.kind),
                "at": _iso(hit.occurred_at),
                "machine": hit.machine,
                "reason": hit.reason,
                "url": hit.url,
                "agent_family": hit.agent_family,
            }
        )
    return [
        {
            "campaign": name,
            "group": d.group_name,
            "status": str(d.status),
            "skip_reason": d.skip_reason,
            "message_id": d.message_id,
            "sent_at": _iso(d.sent_at),
            "human_opens": d.human_opens,
            "machine_opens": d.machine_opens,
            "clicks": d.clicks,
            "machine_clicks": d.machine_clicks,
            "first_open_at": _iso(d.first_open_at),
            "unsubscribed_at": _iso(d.unsubscribed_at),
            "tracking": {"opens": d.tracking_opens, "clicks": d.tracking_clicks},
            "hits": by_delivery.get(d.id, []),
        }
        for d, name in rows
    ]


def _actor_role(actor: str) -> str:
    """Who acted, as the requester may see it (administrators' addresses stay private)."""
    return actor if actor in ("requester", "system", "cli") else "administrator"


def _history(session: Session, request_ids: list[int]) -> dict[int, list[dict[str, Any]]]:
    entries = session.scalars(
        sa.select(AuditEntry)
        .where(AuditEntry.subject_type == "data_request", AuditEntry.subject_id.in_(request_ids))
        .order_by(AuditEntry.id)
    )
    history: dict[int, list[dict[str, Any]]] = {i: [] for i in request_ids}
    for entry in entries:
        history[entry.subject_id or 0].append(
            {"at": _iso(entry.occurred_at), "action": entry.action, "by": _actor_role(entry.actor)}
        )
    return history


def _requests(session: Session, digest: str) -> list[dict[str, Any]]:
    requests = session.scalars(
        sa.select(DataRequest).where(DataRequest.email_hmac == digest).order_by(DataRequest.id)
    ).all()
    history = _history(session, [r.id for r in requests])
    return [
        {
            "id": r.id,
            "kind": str(r.kind),
            "state": str(r.state),
            "details": r.details or {},
            "received_at": _iso(r.received_at),
            "verified_at": _iso(r.verified_at),
            "due_at": _iso(r.due_at),
            "extended_at": _iso(r.extended_at),
            "extension_reason": r.extension_reason,
            "completed_at": _iso(r.completed_at),
            "outcome": r.outcome,
            "history": history[r.id],
        }
        for r in requests
    ]


def _inbound(session: Session, contact_id: int) -> list[dict[str, Any]]:
    """The bounces, complaints and replies matched to the person, as received."""
    from outreach.inbound.models import InboundMessage

    rows = session.scalars(
        sa.select(InboundMessage)
        .where(InboundMessage.contact_id == contact_id)
        .order_by(InboundMessage.id)
    )
    return [
        {
            "received_at": r.received_at.isoformat(),
            "kind": r.kind,
            "status": r.status,
            "sender": r.sender,
            "subject": r.subject,
            "decision": r.decision,
            "message": r.raw,
        }
        for r in rows
    ]


def _export(session: Session, contact: Contact | None, email_key: str) -> dict[str, Any]:
    digest = email_hmac(settings_of(session).secret_key, email_key)
    document: dict[str, Any] = {
        "format": EXPORT_FORMAT,
        "generated_at": utcnow().isoformat(),
        "profile": None,
        "consent_events": [],
        "notices": [],
        "deliveries": [],
        "emails": [],
        "inbound_messages": [],
    }
    if contact is not None:
        consent = proof(session, contact)
        document |= {
            "profile": contact_to_dict(contact, groups_of(session, [contact.id])[contact.id]),
            "consent_events": consent["events"],
            "notices": consent["notices"],
            "deliveries": _deliveries(session, contact.id),
            "emails": emails_of(session, contact.id),
            "inbound_messages": _inbound(session, contact.id),
        }
    return document | {
        "requests": _requests(session, digest),
        "suppressed": session.scalar(
            sa.select(Suppression.reason).where(Suppression.email_hmac == digest)
        ),
    }


def access_export(session: Session, email: str) -> dict[str, Any]:
    """Everything held about one contact, machine-readable (NotFound without a contact)."""
    contact = get_contact(session, email)
    return _export(session, contact, contact.email_key)


def subject_export(session: Session, email: str) -> dict[str, Any]:
    """The access export of an address, also when no contact holds it (requests only)."""
    key = normalize_email(email)[1]
    contact = session.scalar(sa.select(Contact).where(Contact.email_key == key))
    return _export(session, contact, key)


def _csv_value(value: Any) -> str:
    if isinstance(value, dict | list):
        value = json.dumps(value, ensure_ascii=False, sort_keys=True)
    return "" if value is None else str(value)


def _csv(rows: list[dict[str, Any]]) -> str:
    columns = list(dict.fromkeys(name for row in rows for name in row))
    out = io.StringIO()
    writer = SafeWriter(out)
    writer.writerow(columns)
    for row in rows:
        writer.writerow([_csv_value(row.get(name)) for name in columns])
    return out.getvalue()


def _without(row: dict[str, Any], name: str) -> dict[str, Any]:
    return {k: v for k, v in row.items() if k != name}


def export_tables(document: dict[str, Any]) -> dict[str, list[dict[str, Any]]]:
    """The tabular parts of an access export: file name -> rows."""
    profile = dict(document["profile"] or {})
    groups = profile.pop("groups", [])
    attributes = profile.pop("attributes", {})
    fields = [{"field": k, "value": v} for k, v in profile.items()]
    fields += [{"field": f"attributes.{k}", "value": v} for k, v in sorted(attributes.items())]
    deliveries = [_without(d, "hits") for d in document["deliveries"]]
    hits = [
        {"campaign": d["campaign"], "message_id": d["message_id"], **hit}
        for d in document["deliveries"]
        for hit in d["hits"]
    ]
    return {
        "profile.csv": fields,
        "groups.csv": [{"group": name} for name in groups],
        "consent_events.csv": document["consent_events"],
        "notices.csv": document["notices"],
        "deliveries.csv": deliveries,
        "opens_and_clicks.csv": hits,
        "emails.csv": document.get("emails", []),
        "inbound_messages.csv": document.get("inbound_messages", []),
        "requests.csv": [_without(r, "history") for r in document["requests"]],
    }


def export_archive(document: dict[str, Any]) -> bytes:
    """A ZIP of CSV files, one per tabular part of an access export (formula-safe cells)."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, rows in export_tables(document).items():
            archive.writestr(name, _csv(rows))
    return buffer.getvalue()
