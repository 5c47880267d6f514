"""Data-subject request use cases: ask, record, verify, fulfil, refuse, extend, lift, and
the access download.

Each takes a session and plain values (ids, link tokens, strings, dates, the `actor`
written to the audit log), returns a plain result with the emails the step owes (already
in the outbox: they leave once the caller commits) and never commits.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy.orm import Session

from outreach.consent.service import Evidence
from outreach.db import settings_of
from outreach.privacy import links
from outreach.privacy import requests as workflow
from outreach.privacy.models import DataRequest, RequestKind, RequestState
from outreach.privacy.requests import RequestMail
from outreach.tokens import read_token


@dataclass(frozen=True)
class RequestStep:
    """A request after one step, as the admin surfaces show it, and the emails it owes."""

    request: dict[str, Any]  # `request_to_dict`
    history: tuple[dict[str, Any], ...]  # `entry_to_dict` of each audited step
    mails: tuple[RequestMail, ...] = ()

    @property
    def request_id(self) -> int:
        """The id of the request."""
        return int(self.request["id"])

    def with_history(self) -> dict[str, Any]:
        """The request with its history, as the API returns it."""
        return {**self.request, "history": list(self.history)}


@dataclass(frozen=True)
class RequestLink:
    """What the requester's page about one request shows (its kind, state and due date)."""

    request_id: int
    kind: RequestKind
    state: RequestState
    due_at: datetime | None
    mails: tuple[RequestMail, ...] = ()


def submit_request(
    session: Session,
    kind: str,
    email: str,
    *,
    source: str,
    changes: dict[str, Any] | None = None,
    note: str = "",
) -> list[RequestMail]:
    """A request from the public form (or the preferences page): recorded and owed a
    verification link, throttled per address; the answer is the same for every address."""
    _request, mails = workflow.submit_request(
        session, kind, email, source=source, changes=changes, note=note
    )
    return mails


def record_request(
    session: Session,
    kind: str,
    email: str,
    *,
    source: str,
    actor: str,
    changes: dict[str, Any] | None = None,
    note: str = "",
    received_on: date | str | None = None,
    identity_checked: str | None = None,
) -> RequestStep:
    """Record a request received by letter or email (`received_on`, a date or YYYY-MM-DD,
    default today), due one month after receipt; verified at once when `identity_checked`
    says how, else the address is sent a verification link."""
    day = workflow.parse_day(received_on) if isinstance(received_on, str) else received_on
    data_request, mails = workflow.submit_request(
        session,
        kind,
        email,
        source=source,
        actor=actor,
        changes=changes,
        note=note,
        received_on=day,
        identity_checked=identity_checked,
    )
    return _step(session, data_request, mails)


def check_verification_link(session: Session, token: str) -> RequestLink:
    """The request a verification link would verify, changing nothing (a GET never
    verifies); TokenError when the link is forged, expired or used."""
    data_request, _jti = _linked(session, token, links.VERIFY, _verify_max_age(session))
    workflow.check_verifiable(data_request)
    return _link(data_request)


def verify_request(
    session: Session, token: str, *, ip: str | None, user_agent: str | None
) -> RequestLink:
    """Verify a request from its emailed link (spending it); access, erasure and objection
    are then fulfilled at once unless the operator approves them."""
    found, jti = _linked(session, token, links.VERIFY, _verify_max_age(session))
    evidence = Evidence(
        f"data-subject request {found.id} ({found.kind}), verified link", ip, user_agent
    )
    data_request, mails = workflow.verify_request(session, found.id, jti, evidence)
    return _link(data_request, mails)


def check_export_link(session: Session, token: str) -> int:
    """The fulfilled access request a download link names; TokenError when it cannot be
    downloaded (expired, erased since, not an access request)."""
    data_request, _jti = _linked(session, token, links.EXPORT, links.EXPORT_MAX_AGE)
    workflow.check_exportable(data_request)
    return data_request.id


def download_export(session: Session, token: str, fmt: str) -> dict[str, Any]:
    """The access export a download link gives, audited as downloaded in `fmt`."""
    data_request, _jti = _linked(session, token, links.EXPORT, links.EXPORT_MAX_AGE)
    return workflow.download_export(session, data_request, fmt)


def fulfil_request(
    session: Session,
    request_id: int | str,
    *,
    actor: str,
    fields: list[str] | None = None,
    note: str = "",
) -> RequestStep:
    """Do what a verified request asks (a rectification: the corrections in `fields`, by
    default all; any other kind takes none); the requester is emailed the outcome."""
    data_request = workflow.get_request(session, request_id)
    kind = data_request.kind
    mails = workflow.fulfil_request(
        session,
        data_request,
        actor=actor,
        evidence=Evidence(
            f"data-subject request {data_request.id} ({kind}), fulfilled by an administrator"
        ),
        fields=fields if kind is RequestKind.RECTIFICATION else None,
        note=note,
    )
    return _step(session, data_request, mails)


def refuse_request(
    session: Session, request_id: int | str, reason: str, *, actor: str
) -> RequestStep:
    """Refuse a verified request; the reason is emailed to the requester."""
    data_request = workflow.get_request(session, request_id)
    mails = workflow.refuse_request(session, data_request, reason, actor=actor)
    return _step(session, data_request, mails)


def extend_request(
    session: Session, request_id: int | str, months: int, reason: str, *, actor: str
) -> RequestStep:
    """Extend the deadline once, by one or two months, before it passes; the requester is
    emailed the reason."""
    data_request = workflow.get_request(session, request_id)
    mails = workflow.extend_request(session, data_request, months, reason, actor=actor)
    return _step(session, data_request, mails)


def lift_restriction(session: Session, request_id: int | str, *, actor: str) -> RequestStep:
    """End the restriction a request put in force; the requester is told."""
    data_request = workflow.get_request(session, request_id)
    mails = workflow.lift_restriction(session, data_request, actor=actor)
    return _step(session, data_request, mails)


def show_request(session: Session, request_id: int | str) -> RequestStep:
    """One request with its history."""
    return _step(session, workflow.get_request(session, request_id), [])


def list_requests(
    session: Session, *, overdue: bool = False, everything: bool = False
) -> list[dict[str, Any]]:
    """Open requests, soonest due first (or only overdue ones, or all); requests left
    unverified too long expire on the way, so the caller commits."""
    found = workflow.request_queue(session, overdue=overdue, everything=everything)
    return [workflow.request_to_dict(r) for r in found]


def _step(session: Session, data_request: DataRequest, mails: list[RequestMail]) -> RequestStep:
    entries = workflow.history(session, data_request.id)
    return RequestStep(
        workflow.request_to_dict(data_request),
        tuple(workflow.entry_to_dict(e) for e in entries),
        tuple(mails),
    )


def _link(data_request: DataRequest, mails: list[RequestMail] | None = None) -> RequestLink:
    return RequestLink(
        data_request.id,
        data_request.kind,
        data_request.state,
        data_request.due_at,
        tuple(mails or ()),
    )


def _verify_max_age(session: Session) -> int:
    return settings_of(session).privacy_verify_hours * 3600


def _linked(session: Session, token: str, purpose: str, max_age: int) -> tuple[DataRequest, str]:
    """The request a genuine token names, and the token's single-use id."""
    payload = read_token(settings_of(session).secret_key, purpose, token, max_age)
    return workflow.linked_request(session, payload.get("r")), str(payload.get("jti", ""))
