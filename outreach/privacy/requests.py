"""The data-subject request workflow: submit, verify, fulfil or refuse, extend, lift, expire."""

from __future__ import annotations

import calendar
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from outreach.consent.service import RESEND_AFTER, Evidence, spend_token, suppress, unsubscribe
from outreach.contacts.fields import clean_profile
from outreach.contacts.identity import email_hmac, normalize_email
from outreach.contacts.models import Contact, ContactStatus
from outreach.contacts.service import update_contact
from outreach.db import as_id, settings_of, utcnow
from outreach.errors import Conflict, NotFound, ValidationError
from outreach.groups.models import Group, GroupKind
from outreach.privacy import links
from outreach.privacy.erasure import erase
from outreach.privacy.export import subject_export
from outreach.privacy.models import AuditEntry, DataRequest, RequestKind, RequestState
from outreach.tokens import TokenError

AUTOMATIC = frozenset({RequestKind.ACCESS, RequestKind.ERASURE, RequestKind.OBJECTION})
OPEN = (RequestState.UNVERIFIED, RequestState.VERIFIED)
RECTIFIABLE = ("first_name", "last_name", "sector", "organization", "language")
PUBLIC_SOURCES = ("form", "preferences")
SOURCES = (*PUBLIC_SOURCES, "api", "admin", "cli")
MAX_TEXT = 2000
MAX_IDENTITY_CHECK = 200
# A date of receipt further back is a typo (the year, usually): such a request would be
# eleven months overdue already.
MAX_RECEIPT_AGE_MONTHS = 12
# Suggested answers to "identity checked by" (any text will do; say how, never a number).
IDENTITY_METHODS = (
    "letter with a copy of an ID document",
    "phone call to the number we hold",
    "in person, ID document shown",
)
MAX_EXTENSION_MONTHS = 2
REQUESTER, SYSTEM = "requester", "system"


@dataclass(frozen=True)
class RequestMail:
    """An email to the requester, in the outbox of the transaction that owes it."""

    request_id: int
    event: str
    outbox_id: int | None = None


def owe(
    session: Session, request: DataRequest, event: str, address: str | None = None
) -> RequestMail:
    """Queue the email about one step of `request` (sent once the transaction commits)."""
    from outreach.privacy.mail import queue_request_email

    row = queue_request_email(session, request, event, address)
    session.flush()
    return RequestMail(request.id, event, row.id if row is not None else None)


def add_months(moment: datetime, months: int) -> datetime:
    """The same day and time `months` later (the month's last day when it is shorter)."""
    index = moment.month - 1 + months
    year, month = moment.year + index // 12, index % 12 + 1
    return moment.replace(
        year=year, month=month, day=min(moment.day, calendar.monthrange(year, month)[1])
    )


def audit(session: Session, request_id: int, action: str, actor: str, **details: Any) -> None:
    """Append one step of a request to the audit log (never with personal data)."""
    session.add(
        AuditEntry(
            actor=actor[:320],
            action=action,
            subject_type="data_request",
            subject_id=request_id,
            details=details,
        )
    )


def parse_kind(value: str) -> RequestKind:
    """The request kind named by `value`."""
    try:
        return RequestKind(value)
    except ValueError as exc:
        raise ValidationError("choose the kind of request", field="kind") from exc


def _text(value: str | None, field: str, *, required: bool = False) -> str:
    text = (value or "").strip()
    if len(text) > MAX_TEXT:
        raise ValidationError(f"{field} is longer than {MAX_TEXT} characters", field=field)
    if required and not text:
        raise ValidationError(f"give a {field}", field=field)
    return text


def sector_names(session: Session) -> list[str]:
    """The sectors a rectification may ask for."""
    return list(
        session.scalars(
            sa.select(Group.name).where(Group.kind == GroupKind.SECTOR).order_by(Group.name)
        )
    )


def clean_details(
    session: Session, kind: RequestKind, changes: dict[str, Any], note: str | None
) -> dict[str, Any]:
    """The corrections asked for (rectification) and the requester's note, validated."""
    text = _text(note, "note")
    if kind is not RequestKind.RECTIFICATION:
        return {"note": text} if text else {}
    unknown = set(changes) - set(RECTIFIABLE)
    if unknown:
        raise ValidationError(f"{sorted(unknown)[0]} cannot be corrected here", field="changes")
    wanted = clean_profile({k: v for k, v in changes.items() if v not in (None, "")})
    if wanted.get("sector") and wanted["sector"] not in sector_names(session):
        raise ValidationError("choose a sector from the list", field="sector")
    if not wanted and not text:
        raise ValidationError("say what should be corrected", field="changes")
    return {"changes": wanted, "note": text}


def parse_day(value: str | None, field: str = "received_on") -> date | None:
    """A date typed as YYYY-MM-DD, or None when nothing was typed."""
    text = (value or "").strip()
    if not text:
        return None
    try:
        return date.fromisoformat(text)
    except ValueError as exc:
        raise ValidationError("give the date of receipt as YYYY-MM-DD", field=field) from exc


def receipt_bounds(today: date) -> tuple[date, date]:
    """The earliest and latest date of receipt an administrator may record today (UTC)."""
    start = datetime.combine(today, time(), UTC)
    return add_months(start, -MAX_RECEIPT_AGE_MONTHS).date(), today


def receipt_time(received_on: date, now: datetime) -> datetime:
    """When a request recorded `now` was received: 00:00 UTC of `received_on`, which is
    today at the latest and a year ago at the earliest."""
    earliest, today = receipt_bounds(now.astimezone(UTC).date())
    if received_on > today:
        raise ValidationError("the date of receipt cannot be in the future", field="received_on")
    if received_on < earliest:
        raise ValidationError(
            f"the date of receipt is more than a year ago (before {earliest}): check the year",
            field="received_on",
        )
    return datetime.combine(received_on, time(), UTC)


def _recent_duplicate(
    session: Session, digest: str, kind: RequestKind, now: datetime
) -> DataRequest | None:
    """An unverified request of the same kind from the public form just before."""
    return session.scalar(
        sa.select(DataRequest)
        .where(
            DataRequest.email_hmac == digest,
            DataRequest.kind == kind,
            DataRequest.state == RequestState.UNVERIFIED,
            DataRequest.recorded_at > now - RESEND_AFTER,
        )
        .limit(1)
    )


def _identity_check(text: str | None) -> str:
    checked = (text or "").strip()
    if len(checked) > MAX_IDENTITY_CHECK:
        raise ValidationError(
            f"say how the identity was checked in at most {MAX_IDENTITY_CHECK} characters",
            field="identity_checked",
        )
    return checked


def submit_request(
    session: Session,
    kind: str,
    email: str,
    *,
    source: str,
    actor: str = REQUESTER,
    changes: dict[str, Any] | None = None,
    note: str | None = None,
    received_on: date | None = None,
    identity_checked: str | None = None,
) -> tuple[DataRequest, list[RequestMail]]:
    """Record a request and owe it a verification link (public ones throttled per address).

    One an administrator records (source admin, api or cli) was received on `received_on`
    (default today; 00:00 UTC that day) and is due a month later at once; with
    `identity_checked` (how the administrator checked who wrote) it is verified at once and
    the requester is told it was received instead of being sent a link."""
    request_kind = parse_kind(kind)
    if source not in SOURCES:
        raise ValidationError(f"unknown source {source!r}", field="source")
    public = source in PUBLIC_SOURCES
    if public and (received_on is not None or identity_checked):
        raise ValidationError("only an administrator records a date of receipt", field="source")
    address, key = normalize_email(email)
    details = clean_details(session, request_kind, changes or {}, note)
    checked, now = _identity_check(identity_checked), utcnow()
    received = now if public else receipt_time(received_on or now.date(), now)
    digest = email_hmac(settings_of(session).secret_key, key)
    if public:  # so that the public form cannot flood a mailbox
        recent = _recent_duplicate(session, digest, request_kind, now)
        if recent is not None:
            return recent, []
    request = DataRequest(
        kind=request_kind,
        state=RequestState.VERIFIED if checked else RequestState.UNVERIFIED,
        email=address,
        email_hmac=digest,
        details={**details, "source": source, **({"identity_checked": checked} if checked else {})},
        received_at=received,
        recorded_at=now,
        verified_at=now if checked else None,
        due_at=None if public else add_months(received, 1),
    )
    session.add(request)
    session.flush()
    return request, _recorded(session, request, actor, public, checked)


def _recorded(
    session: Session, request: DataRequest, actor: str, public: bool, checked: str
) -> list[RequestMail]:
    """Audit a new request; owe its verification link, or (identity checked) its receipt."""
    source = request.details["source"]
    dated = {} if public else {"received_on": request.received_at.date().isoformat()}
    audit(session, request.id, "submitted", actor, kind=str(request.kind), source=source, **dated)
    if not checked:
        return [owe(session, request, "verify")]
    # How it was checked stays on the request (erased with it), never in the audit log.
    audit(session, request.id, "verified", actor, identity="checked by the administrator")
    return [owe(session, request, "recorded")]


def linked_request(session: Session, request_id: Any) -> DataRequest:
    """The request a genuine link names; TokenError when it is gone."""
    found = session.get(DataRequest, request_id) if isinstance(request_id, int) else None
    if found is None:
        raise TokenError("this link is not valid any more")
    return found


def check_verifiable(request: DataRequest) -> None:
    """TokenError once the request left the unverified state: its link was used."""
    if request.state is not RequestState.UNVERIFIED:
        raise TokenError("this link has already been used")


def check_exportable(request: DataRequest) -> None:
    """TokenError unless the request is a fulfilled access request whose address is held."""
    if (
        request.kind is not RequestKind.ACCESS
        or request.state is not RequestState.COMPLETED
        or request.email is None
    ):
        raise TokenError("this link is not valid any more")


def download_export(session: Session, request: DataRequest, fmt: str) -> dict[str, Any]:
    """The access export a fulfilled access request gives, audited as downloaded."""
    check_exportable(request)
    document = subject_export(session, request.email or "")
    audit(session, request.id, "downloaded", REQUESTER, format=fmt)
    return document


def verify_request(
    session: Session, request_id: int, jti: str, evidence: Evidence
) -> tuple[DataRequest, list[RequestMail]]:
    """Verify a request from its emailed link; fulfil it at once when it may be."""
    request = session.get(DataRequest, request_id)
    if request is None:
        raise TokenError("this link is not valid any more")
    spend_token(session, jti, links.VERIFY)
    if request.state is not RequestState.UNVERIFIED or request.email is None:
        raise TokenError("this link is not valid any more")
    request.state, request.verified_at = RequestState.VERIFIED, utcnow()
    if request.due_at is None:  # recorded by an administrator: due from receipt already
        request.due_at = add_months(request.received_at, 1)
    audit(session, request.id, "verified", REQUESTER)
    if request.kind in AUTOMATIC and not settings_of(session).privacy_approval:
        return request, fulfil_request(session, request, actor=SYSTEM, evidence=evidence)
    return request, [owe(session, request, "acknowledged")]


def contact_of(session: Session, request: DataRequest) -> Contact | None:
    """The contact a request is about, if one holds its address."""
    if request.email is None:
        return None
    key = normalize_email(request.email)[1]
    return session.scalar(sa.select(Contact).where(Contact.email_key == key))


def _complete(request: DataRequest, outcome: str) -> None:
    request.state, request.completed_at, request.outcome = (
        RequestState.COMPLETED,
        utcnow(),
        outcome[:MAX_TEXT],
    )


def _require_open(request: DataRequest, doing: str) -> None:
    if request.state is not RequestState.VERIFIED:
        raise Conflict(
            f"request {request.id} is {request.state}: only a verified request can be {doing}",
            field="state",
        )


Fulfilment = Callable[[Session, DataRequest, str, Evidence, "list[str] | None"], list[RequestMail]]


def fulfil_request(
    session: Session,
    request: DataRequest,
    *,
    actor: str,
    evidence: Evidence | None = None,
    fields: list[str] | None = None,
    note: str = "",
) -> list[RequestMail]:
    """Do what a verified request asks; `fields`: the corrections to apply (default all)."""
    _require_open(request, "fulfilled")
    reply = _text(note, "note")
    if reply:
        request.details = {**request.details, "reply": reply}
    evidence = evidence or Evidence(f"data-subject request {request.id} ({request.kind})")
    mails = _FULFILMENT[request.kind](session, request, actor, evidence, fields)
    session.flush()
    return mails


def _fulfil_access(
    session: Session, request: DataRequest, actor: str, _e: Evidence, _f: list[str] | None
) -> list[RequestMail]:
    _complete(request, "access export sent by a download link")
    audit(session, request.id, "fulfilled", actor)
    return [owe(session, request, "access")]


def _fulfil_erasure(
    session: Session, request: DataRequest, actor: str, _e: Evidence, _f: list[str] | None
) -> list[RequestMail]:
    address = request.email or ""
    _complete(request, "every personal datum erased; the address is suppressed")
    superseded = session.scalars(
        sa.select(DataRequest).where(
            DataRequest.email_hmac == request.email_hmac,
            DataRequest.id != request.id,
            DataRequest.state.in_(OPEN),
        )
    ).all()
    for other in superseded:
        _complete(other, f"superseded by the erasure of request {request.id}")
        audit(session, other.id, "superseded", actor, by_request=request.id)
    session.flush()
    erase(session, address, actor=actor, request_id=request.id)  # audits the erasure
    return [owe(session, request, "erased", address)]


def _fulfil_objection(
    session: Session, request: DataRequest, actor: str, evidence: Evidence, _f: list[str] | None
) -> list[RequestMail]:
    contact = contact_of(session, request)
    if contact is not None:
        unsubscribe(session, contact, evidence)
    suppress(session, request.email_hmac, "objection")
    _complete(request, "unsubscribed from everything; the address is suppressed")
    audit(session, request.id, "fulfilled", actor, contact_existed=contact is not None)
    return [owe(session, request, "objected")]


def _fulfil_restriction(
    session: Session, request: DataRequest, actor: str, _e: Evidence, _f: list[str] | None
) -> list[RequestMail]:
    contact = contact_of(session, request)
    if contact is None:
        _complete(request, "no personal data held about this address")
        audit(session, request.id, "fulfilled", actor, contact_existed=False)
        return [owe(session, request, "no_data")]
    if contact.status is ContactStatus.RESTRICTED:
        _complete(request, "processing was already restricted")
    else:
        request.details = {**request.details, "previous_status": str(contact.status)}
        contact.status = ContactStatus.RESTRICTED
        _complete(request, "processing restricted until the restriction is lifted")
    audit(session, request.id, "fulfilled", actor, contact_existed=True)
    return [owe(session, request, "restricted")]


def _fulfil_rectification(
    session: Session, request: DataRequest, actor: str, _e: Evidence, fields: list[str] | None
) -> list[RequestMail]:
    contact = contact_of(session, request)
    if contact is None:
        raise Conflict("no contact holds this address: refuse the request with a reason")
    asked: dict[str, Any] = request.details.get("changes", {})
    chosen = list(asked) if fields is None else fields
    unknown = set(chosen) - set(asked)
    if unknown:
        raise ValidationError(f"{sorted(unknown)[0]} was not asked for", field="fields")
    update_contact(session, contact, {name: asked[name] for name in chosen})
    applied = [name for name in RECTIFIABLE if name in chosen]
    request.details = {**request.details, "applied": applied}
    labels = ", ".join(name.replace("_", " ") for name in applied)
    _complete(request, f"corrected: {labels}" if applied else "nothing needed correcting")
    declined = [name for name in RECTIFIABLE if name in asked and name not in chosen]
    audit(session, request.id, "rectified", actor, fields=applied, declined=declined)
    return [owe(session, request, "rectified")]


_FULFILMENT: dict[RequestKind, Fulfilment] = {
    RequestKind.ACCESS: _fulfil_access,
    RequestKind.ERASURE: _fulfil_erasure,
    RequestKind.OBJECTION: _fulfil_objection,
    RequestKind.RESTRICTION: _fulfil_restriction,
    RequestKind.RECTIFICATION: _fulfil_rectification,
}


def refuse_request(
    session: Session, request: DataRequest, reason: str, *, actor: str
) -> list[RequestMail]:
    """Refuse a verified request; the reason is sent to the requester."""
    _require_open(request, "refused")
    text = _text(reason, "reason", required=True)
    request.state, request.completed_at, request.outcome = RequestState.REFUSED, utcnow(), text
    audit(session, request.id, "refused", actor)
    session.flush()
    return [owe(session, request, "refused")]


def extend_request(
    session: Session, request: DataRequest, months: int, reason: str, *, actor: str
) -> list[RequestMail]:
    """Extend the deadline once, by one or two months, before it passes; the requester is told."""
    _require_open(request, "extended")
    if request.extended_at is not None:
        raise Conflict(f"request {request.id} was extended already (once only)", field="months")
    if not 1 <= months <= MAX_EXTENSION_MONTHS:
        raise ValidationError("extend by one or two months", field="months")
    now, due = utcnow(), request.due_at
    if due is None or due <= now:
        raise Conflict("the due date has passed: an extension must be announced before it")
    request.extension_reason = _text(reason, "reason", required=True)
    request.due_at, request.extended_at = add_months(due, months), now
    audit(session, request.id, "extended", actor, months=months, original_due_at=due.isoformat())
    session.flush()
    return [owe(session, request, "extended")]


def lift_restriction(session: Session, request: DataRequest, *, actor: str) -> list[RequestMail]:
    """End the restriction a request put in force; the requester is told."""
    details = request.details or {}
    if (
        request.kind is not RequestKind.RESTRICTION
        or request.state is not RequestState.COMPLETED
        or "previous_status" not in details
        or "lifted_at" in details
    ):
        raise Conflict(f"request {request.id} holds no restriction in force", field="state")
    contact = contact_of(session, request)
    if contact is not None and contact.status is ContactStatus.RESTRICTED:
        contact.status = ContactStatus(details["previous_status"])
    request.details = {**details, "lifted_at": utcnow().isoformat()}
    audit(session, request.id, "lifted", actor)
    session.flush()
    return [owe(session, request, "lifted")]


def expire_unverified(session: Session, max_age: timedelta) -> int:
    """Close requests not verified within `max_age`, keeping no address; return how many."""
    stale = session.scalars(
        sa.select(DataRequest).where(
            DataRequest.state == RequestState.UNVERIFIED,
            DataRequest.recorded_at < utcnow() - max_age,
        )
    ).all()
    for request in stale:
        request.state, request.email, request.details = RequestState.EXPIRED, None, {}
        request.completed_at, request.outcome = utcnow(), "not verified in time"
        audit(session, request.id, "expired", SYSTEM)
    session.flush()
    return len(stale)


def get_request(session: Session, request_id: int | str) -> DataRequest:
    """A request by id."""
    number = as_id(request_id)
    request = session.get(DataRequest, number) if number else None
    if request is None:
        raise NotFound(f"no data request {request_id}", field="id")
    return request


def request_queue(
    session: Session, *, overdue: bool = False, everything: bool = False
) -> list[DataRequest]:
    """Open requests, soonest due first (or only overdue ones, or all); stale ones expire."""
    expire_unverified(session, timedelta(hours=settings_of(session).privacy_verify_hours))
    stmt = sa.select(DataRequest)
    if overdue:
        stmt = stmt.where(DataRequest.state.in_(OPEN), DataRequest.due_at < utcnow())
    elif not everything:
        stmt = stmt.where(DataRequest.state.in_(OPEN))
    order = (DataRequest.due_at.is_(None), DataRequest.due_at, DataRequest.id)
    return list(session.scalars(stmt.order_by(*order)))


def days_left(request: DataRequest, now: datetime) -> int | None:
    """Whole days until an open request is due (negative once overdue)."""
    if request.state not in OPEN or request.due_at is None:
        return None
    if request.due_at >= now:
        return (request.due_at - now) // timedelta(days=1)
    return -((now - request.due_at) // timedelta(days=1))


def is_overdue(request: DataRequest, now: datetime) -> bool:
    """True when an open request has passed its due date unanswered."""
    return bool(request.state in OPEN and request.due_at and request.due_at < now)


def history(session: Session, request_id: int) -> list[AuditEntry]:
    """The audit entries of one request, oldest first."""
    return list(
        session.scalars(
            sa.select(AuditEntry)
            .where(AuditEntry.subject_type == "data_request", AuditEntry.subject_id == request_id)
            .order_by(AuditEntry.id)
        )
    )


def rectification_rows(session: Session, request: DataRequest) -> list[dict[str, Any]]:
    """Each correction asked for, next to the value held now."""
    contact = contact_of(session, request)
    asked: dict[str, Any] = (request.details or {}).get("changes", {})
    return [
        {
            "field": name,
            "current": getattr(contact, name) if contact is not None else None,
            "requested": asked[name],
        }
        for name in RECTIFIABLE
        if name in asked
    ]


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def request_to_dict(request: DataRequest, now: datetime | None = None) -> dict[str, Any]:
    """A request as the admin surfaces show it."""
    now = now or utcnow()
    details = request.details or {}
    return {
        "id": request.id,
        "kind": str(request.kind),
        "state": str(request.state),
        "email": request.email,
        "source": details.get("source"),
        "changes": details.get("changes", {}),
        "note": details.get("note", ""),
        "received_at": _iso(request.received_at),
        "recorded_at": _iso(request.recorded_at),
        "verified_at": _iso(request.verified_at),
        "identity_checked": details.get("identity_checked"),
        "due_at": _iso(request.due_at),
        "days_left": days_left(request, now),
        "overdue": is_overdue(request, now),
        "extended_at": _iso(request.extended_at),
        "extension_reason": request.extension_reason,
        "completed_at": _iso(request.completed_at),
        "outcome": request.outcome,
        "restriction_lifted_at": details.get("lifted_at"),
    }


def entry_to_dict(entry: AuditEntry) -> dict[str, Any]:
    """One audit entry of a request's history."""
    return {
        "at": entry.occurred_at.isoformat(),
        "actor": entry.actor,
        "action": entry.action,
        "details": entry.details or {},
    }
