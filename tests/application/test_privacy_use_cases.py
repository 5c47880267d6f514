"""The data-subject request use cases, called as every surface calls them."""

from __future__ import annotations

from datetime import timedelta

import pytest
import sqlalchemy as sa
from flask import Flask
from sqlalchemy.orm import Session

from outreach.application import privacy as use_cases
from outreach.consent.models import ConsentAction, ConsentEvent, Purpose
from outreach.consent.service import Evidence, record_event
from outreach.contacts.models import Contact, ContactStatus
from outreach.contacts.service import create_contact
from outreach.db import get_db, utcnow
from outreach.errors import Conflict, NotFound, ValidationError
from outreach.outbox.models import OutboxMessage
from outreach.privacy import links
from outreach.privacy.models import AuditEntry, DataRequest, RequestKind, RequestState
from outreach.privacy.requests import RequestMail
from outreach.tokens import TokenError

ADMIN = "admin@example.org"
ANA = "ana@example.org"


def record(session: Session, kind: str = "access", **extra: object) -> use_cases.RequestStep:
    """A request an administrator recorded, identity checked (verified at once)."""
    values: dict[str, object] = {"identity_checked": "phone call to the number we hold"}
    values.update(extra)
    return use_cases.record_request(
        session,
        kind,
        ANA,
        source="admin",
        actor=ADMIN,
        **values,  # type: ignore[arg-type]
    )


def actions(session: Session, request_id: int) -> list[tuple[str, str]]:
    rows = session.execute(
        sa.select(AuditEntry.action, AuditEntry.actor)
        .where(AuditEntry.subject_id == request_id)
        .order_by(AuditEntry.id)
    )
    return [(a, who) for a, who in rows]


def token_of(url: str) -> str:
    return url.rsplit("/", 1)[1]


def settings(app: Flask):  # noqa: ANN201
    return app.extensions["outreach.settings"]


def test_record_with_identity_checked_is_verified_and_due_a_month_after_receipt(
    session: Session,
) -> None:
    step = record(session, received_on="2026-01-31")
    assert step.request["state"] == "verified" and step.request["source"] == "admin"
    assert step.request["received_at"].startswith("2026-01-31")
    assert step.request["due_at"].startswith("2026-02-28")  # the month's last day
    assert step.mails == (RequestMail(step.request_id, "recorded", step.mails[0].outbox_id),)
    assert [(h["action"], h["actor"]) for h in step.history] == [
        ("submitted", ADMIN),
        ("verified", ADMIN),
    ]
    assert step.with_history()["history"] == list(step.history)


def test_record_never_commits(app: Flask, session: Session) -> None:
    record(session)
    session.rollback()
    with get_db(app).reader() as other:
        assert other.scalar(sa.select(sa.func.count()).select_from(DataRequest)) == 0


def test_record_without_identity_check_owes_a_verification_link(session: Session) -> None:
    step = record(session, identity_checked="", received_on=utcnow().date())
    assert step.request["state"] == "unverified"
    assert [m.event for m in step.mails] == ["verify"]


@pytest.mark.parametrize(
    ("extra", "field"),
    [
        ({"received_on": "31/01/2026"}, "received_on"),
        ({"received_on": "2099-01-01"}, "received_on"),
        ({"identity_checked": "x" * 201}, "identity_checked"),
    ],
)
def test_record_refuses_bad_input(session: Session, extra: dict[str, object], field: str) -> None:
    with pytest.raises(ValidationError) as refused:
        record(session, **extra)
    assert refused.value.field == field


def test_a_public_request_is_verified_by_its_link_and_fulfilled_at_once(
    app: Flask, session: Session
) -> None:
    # Given a request from the public form
    mails = use_cases.submit_request(session, "access", ANA, source="form")
    assert [m.event for m in mails] == ["verify"]
    request_id = mails[0].request_id
    token = token_of(links.verify_url(settings(app), request_id))
    # Following the link changes nothing
    link = use_cases.check_verification_link(session, token)
    assert (link.kind, link.state) == (RequestKind.ACCESS, RequestState.UNVERIFIED)
    # Pressing the button verifies it, and an access request is then fulfilled by the system
    verified = use_cases.verify_request(session, token, ip="203.0.113.5", user_agent="Firefox")
    assert verified.state is RequestState.COMPLETED and verified.due_at is not None
    assert [m.event for m in verified.mails] == ["access"]
    assert actions(session, request_id) == [
        ("submitted", "requester"),
        ("verified", "requester"),
        ("fulfilled", "system"),
    ]
    # The link is spent
    with pytest.raises(TokenError, match="already been used"):
        use_cases.check_verification_link(session, token)
    with pytest.raises(TokenError):
        use_cases.verify_request(session, token, ip=None, user_agent=None)


def test_the_export_link_gives_the_export_and_audits_the_download(
    app: Flask, session: Session
) -> None:
    create_contact(session, {"email": ANA, "first_name": "Ana"}, source="test")
    step = use_cases.fulfil_request(session, record(session).request_id, actor=ADMIN)
    token = token_of(links.export_url(settings(app), step.request_id))
    assert use_cases.check_export_link(session, token) == step.request_id
    document = use_cases.download_export(session, token, "json")
    assert document["profile"]["email"] == ANA
    assert actions(session, step.request_id)[-1] == ("downloaded", "requester")


def test_an_export_link_of_another_kind_of_request_is_refused(app: Flask, session: Session) -> None:
    request_id = record(session, "objection").request_id
    token = token_of(links.export_url(settings(app), request_id))
    with pytest.raises(TokenError):
        use_cases.check_export_link(session, token)
    with pytest.raises(TokenError):
        use_cases.download_export(session, token, "csv")


def test_fulfil_an_objection_unsubscribes_and_suppresses(session: Session) -> None:
    contact = create_contact(session, {"email": ANA}, source="test")
    step = use_cases.fulfil_request(session, record(session, "objection").request_id, actor=ADMIN)
    assert step.request["state"] == "completed"
    assert [m.event for m in step.mails] == ["objected"]
    assert contact.status is ContactStatus.UNSUBSCRIBED
    assert (step.history[-1]["action"], step.history[-1]["actor"]) == ("fulfilled", ADMIN)


def test_fulfil_a_rectification_applies_only_the_chosen_corrections(session: Session) -> None:
    contact = create_contact(session, {"email": ANA, "first_name": "Ann"}, source="test")
    asked = {"first_name": "Ana", "last_name": "Smith"}
    request_id = record(session, "rectification", changes=asked).request_id
    step = use_cases.fulfil_request(session, request_id, actor=ADMIN, fields=["first_name"])
    assert (contact.first_name, contact.last_name) == ("Ana", "")
    assert step.request["outcome"] == "corrected: first name"
    assert step.history[-1]["details"] == {"fields": ["first_name"], "declined": ["last_name"]}


def test_fields_are_ignored_for_other_kinds(session: Session) -> None:
    create_contact(session, {"email": ANA}, source="test")
    step = use_cases.fulfil_request(
        session, record(session, "restriction").request_id, actor=ADMIN, fields=["first_name"]
    )
    assert step.request["outcome"] == "processing restricted until the restriction is lifted"
    lifted = use_cases.lift_restriction(session, step.request_id, actor=ADMIN)
    assert lifted.request["restriction_lifted_at"] is not None
    assert session.scalar(sa.select(Contact.status)) is ContactStatus.PENDING


def test_refuse_sends_the_reason_and_closes_the_request(session: Session) -> None:
    step = use_cases.refuse_request(
        session, record(session).request_id, "  manifestly unfounded  ", actor=ADMIN
    )
    assert (step.request["state"], step.request["outcome"]) == ("refused", "manifestly unfounded")
    assert [m.event for m in step.mails] == ["refused"]
    with pytest.raises(Conflict, match="only a verified request"):
        use_cases.fulfil_request(session, step.request_id, actor=ADMIN)


def test_extend_once_by_one_or_two_months(session: Session) -> None:
    step = record(session)
    extended = use_cases.extend_request(session, step.request_id, 2, "complex", actor=ADMIN)
    assert extended.request["extension_reason"] == "complex"
    assert extended.request["due_at"] > step.request["due_at"]
    assert [m.event for m in extended.mails] == ["extended"]
    with pytest.raises(Conflict, match="once only"):
        use_cases.extend_request(session, step.request_id, 1, "again", actor=ADMIN)
    with pytest.raises(ValidationError):
        use_cases.extend_request(session, record(session).request_id, 3, "long", actor=ADMIN)


def test_an_unknown_request_is_not_found(session: Session) -> None:
    for act in (
        lambda: use_cases.fulfil_request(session, 999, actor=ADMIN),
        lambda: use_cases.refuse_request(session, 999, "r", actor=ADMIN),
        lambda: use_cases.extend_request(session, 999, 1, "r", actor=ADMIN),
        lambda: use_cases.lift_restriction(session, 999, actor=ADMIN),
        lambda: use_cases.show_request(session, "nine"),
    ):
        with pytest.raises(NotFound):
            act()


def test_list_requests_expires_stale_unverified_ones(session: Session) -> None:
    mails = use_cases.submit_request(session, "erasure", ANA, source="form")
    kept = record(session).request_id
    stale = session.get(DataRequest, mails[0].request_id)
    assert stale is not None
    stale.recorded_at = utcnow() - timedelta(days=3)
    session.flush()
    assert [d["id"] for d in use_cases.list_requests(session)] == [kept]
    everything = use_cases.list_requests(session, everything=True)
    assert {d["state"] for d in everything} == {"expired", "verified"}


def test_verification_fulfils_an_objection_with_the_links_evidence(
    app: Flask, session: Session
) -> None:
    contact = create_contact(session, {"email": ANA}, source="test")
    record_event(session, contact.id, Purpose.NEWSLETTER, ConsentAction.GIVEN, Evidence("form"))
    request_id = use_cases.submit_request(session, "objection", ANA, source="form")[0].request_id
    token = token_of(links.verify_url(settings(app), request_id))
    use_cases.verify_request(session, token, ip="203.0.113.5", user_agent=None)
    withdrawn = session.scalar(sa.select(ConsentEvent).where(ConsentEvent.action == "withdrawn"))
    assert withdrawn is not None and withdrawn.ip == "203.0.113.5"
    assert withdrawn.source == f"data-subject request {request_id} (objection), verified link"
    sent = session.scalars(
        sa.select(OutboxMessage.request_id).where(OutboxMessage.request_id.is_not(None))
    )
    assert request_id in set(sent)
