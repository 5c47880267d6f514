"""Inbound mail through `outreach inbound` (a pipe and a Maildir): real servers' bounces,
complaints, auto-replies and mailed unsubscribes land on the delivery, the contact, the
consent ledger and the tallies, each once; a forged one changes nothing."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask

from outreach.consent.models import Suppression
from outreach.contacts.models import Contact
from outreach.db import get_db
from outreach.delivery.models import Delivery
from outreach.inbound.models import InboundMessage
from tests.conftest import SmtpSink, drain, queued_app
from tests.support.campaigns import MJML
from tests.support.delivery import send
from tests.support.inbound import (
    arf_complaint,
    auto_reply,
    dsn,
    exim_bounce,
    gmail_dsn,
    mailbox_full,
    mailed_unsubscribe,
    microsoft_dsn,
    yahoo_delay,
)

MAILTO = "unsubscribe@news.example.org"
PEOPLE = {
    "Thinkers": ["ana@example.org", "ben@example.org", "cleo@example.org"],
    "Managers": ["dan@example.org", "eve@example.org"],
}


@pytest.fixture
def inbound_app(tmp_path: Path, database_url: str, smtp_sink: SmtpSink) -> Iterator[Flask]:
    with queued_app(
        tmp_path,
        database_url,
        smtp_sink,
        bounce_domain="bounce.example.org",
        unsubscribe_mailto=MAILTO,
        soft_bounce_limit=2,
    ) as application:
        yield application


@pytest.fixture
def app(inbound_app: Flask) -> Flask:
    return inbound_app


def _campaign(app: Flask, name: str) -> int:
    from outreach.campaigns.service import create_campaign, set_variant

    with get_db(app).session() as session:
        campaign = create_campaign(session, name, "a@example.org", groups=list(PEOPLE))
        for group in PEOPLE:
            set_variant(session, campaign, group, subject=f"{name} for {group}", mjml=MJML)
        return campaign.id


@pytest.fixture
def sent(
    app: Flask, smtp_sink: SmtpSink, make_subscriber: Callable[..., int]
) -> dict[str, EmailMessage]:
    """Campaign June to five subscribers in two groups, through the SMTP sink."""
    for group, emails in PEOPLE.items():
        for email in emails:
            make_subscriber(email, group)
    send(app, _campaign(app, "June"))
    drain(app)
    received = {m["To"].split("<")[1].rstrip(">"): m for m in smtp_sink.received()}
    smtp_sink.messages.clear()
    return received


def inbound(app: Flask, raw: bytes, *args: str) -> list[dict[str, Any]]:
    result = app.test_cli_runner().invoke(args=["inbound", "--json", *args], input=raw)
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)  # type: ignore[no-any-return]


def _state(app: Flask, email: str) -> tuple[str, str, bool]:
    """(delivery status in June, contact status, suppressed)."""
    with get_db(app).reader() as session:
        contact = session.scalar(sa.select(Contact).where(Contact.email_key == email))
        assert contact is not None
        status = session.scalar(
            sa.select(Delivery.status)
            .where(Delivery.contact_id == contact.id)
            .order_by(Delivery.id)
        )
        suppressed = session.scalar(
            sa.select(Suppression.id).where(Suppression.email_hmac == contact.email_hmac)
        )
        return str(status), str(contact.status), suppressed is not None


def _stats(app: Flask, campaign: str = "June") -> dict[str, dict[str, Any]]:
    result = app.test_cli_runner().invoke(args=["stats", campaign, "--json"])
    return {row["group"]: row for row in json.loads(result.stdout)["groups"]}


def test_a_hard_bounce_from_each_server_bounces_the_delivery_and_suppresses_the_address(
    app: Flask, sent: dict[str, EmailMessage]
) -> None:
    """Postfix, Microsoft 365 and Gmail reports (RFC 3464) and Exim's plain-text bounce,
    one recipient each; one campaign for the four (a campaign sent per server cost the
    suite a second each)."""
    reports = {
        "ben@example.org": dsn,
        "cleo@example.org": microsoft_dsn,
        "dan@example.org": gmail_dsn,
        "eve@example.org": exim_bounce,
    }
    for email, report in reports.items():
        (done,) = inbound(app, report(sent[email]))
        assert done["kind"] == "hard_bounce" and done["delivery_id"] is not None, report
        assert "bounced: address suppressed" in done["decision"], report
        assert _state(app, email) == ("bounced", "bounced", True), report
    assert _state(app, "ana@example.org") == ("sent", "subscribed", False)
    stats = _stats(app)
    assert (stats["Thinkers"]["bounced"], stats["Managers"]["bounced"]) == (2, 2)
    again = inbound(app, dsn(sent["ben@example.org"]))  # a new report of the same: no-op
    assert _stats(app)["Thinkers"]["bounced"] == 2 and again[0]["kind"] == "hard_bounce"


def test_bounces_arriving_later_end_with_the_right_counts_and_are_never_mailed_again(
    app: Flask, sent: dict[str, EmailMessage], smtp_sink: SmtpSink, tmp_path: Path
) -> None:
    """Through a relay: the campaign was accepted for everyone; the DSNs come later, into a
    Maildir, and the next campaign does not mail the bounced addresses."""
    maildir = tmp_path / "bounces"
    (maildir / "new").mkdir(parents=True)
    for i, email in enumerate(["ben@example.org", "dan@example.org", "eve@example.org"]):
        (maildir / "new" / f"{i}.eml").write_bytes(dsn(sent[email]))
    (maildir / "new" / "reply.eml").write_bytes(auto_reply(sent["cleo@example.org"]))
    done = inbound(app, b"", "--maildir", str(maildir))
    assert sorted(d["kind"] for d in done) == [
        "auto_reply",
        "hard_bounce",
        "hard_bounce",
        "hard_bounce",
    ]
    assert list((maildir / "new").iterdir()) == [] and len(list((maildir / "cur").iterdir())) == 4
    stats = _stats(app)
    assert (stats["Thinkers"]["bounced"], stats["Managers"]["bounced"]) == (1, 2)
    assert (stats["Thinkers"]["sent"], stats["Managers"]["sent"]) == (2, 0)
    assert _state(app, "cleo@example.org") == ("sent", "subscribed", False)  # an auto-reply
    send(app, _campaign(app, "July"))
    drain(app)
    assert sorted(m["To"].split("<")[1].rstrip(">") for m in smtp_sink.received()) == [
        "ana@example.org",
        "cleo@example.org",
    ]
    # The same files again (a Maildir moved back): each message is processed once.
    for path in (maildir / "cur").iterdir():
        path.rename(maildir / "new" / path.name.split(":")[0])
    assert all(d["duplicate"] for d in inbound(app, b"", "--maildir", str(maildir)))


def test_a_complaint_withdraws_consent_with_the_report_as_its_source(
    app: Flask, sent: dict[str, EmailMessage]
) -> None:
    (done,) = inbound(app, arf_complaint(sent["dan@example.org"]))
    assert done["kind"] == "complaint"
    assert _state(app, "dan@example.org") == ("sent", "complained", True)
    proof = app.test_cli_runner().invoke(args=["consent", "proof", "dan@example.org"]).output
    assert "withdrawn" in proof and "complaint: feedback report <" in proof
    assert _stats(app)["Managers"]["unsubscribes"] == 1


def test_a_mailed_unsubscribe_withdraws_at_once(app: Flask, sent: dict[str, EmailMessage]) -> None:
    (done,) = inbound(app, mailed_unsubscribe(sent["eve@example.org"], MAILTO))
    assert done["kind"] == "unsubscribe" and "every consent withdrawn" in done["decision"]
    assert _state(app, "eve@example.org") == ("sent", "unsubscribed", False)
    assert (
        "mailed unsubscribe <"
        in app.test_cli_runner().invoke(args=["consent", "proof", "eve@example.org"]).output
    )
    assert _stats(app)["Managers"]["unsubscribes"] == 1


def test_soft_bounces_count_and_in_a_row_become_hard(
    app: Flask, sent: dict[str, EmailMessage], smtp_sink: SmtpSink
) -> None:
    (first,) = inbound(app, yahoo_delay(sent["ana@example.org"]))
    assert first["kind"] == "soft_bounce" and "soft bounce counted" in first["decision"]
    assert _state(app, "ana@example.org") == ("sent", "subscribed", False)
    send(app, _campaign(app, "July"))
    drain(app)
    july = {m["To"].split("<")[1].rstrip(">"): m for m in smtp_sink.received()}
    (second,) = inbound(app, mailbox_full(july["ana@example.org"]))
    assert "2 soft bounces in a row: treated as hard" in second["decision"]
    with get_db(app).reader() as session:
        statuses = session.scalars(
            sa.select(Delivery.status)
            .join(Contact, Contact.id == Delivery.contact_id)
            .where(Contact.email_key == "ana@example.org")
            .order_by(Delivery.id)
        ).all()
    assert [str(s) for s in statuses] == ["sent", "bounced"]
    assert _state(app, "ana@example.org")[1:] == ("bounced", True)


def test_forged_or_foreign_reports_change_nothing(
    app: Flask, sent: dict[str, EmailMessage]
) -> None:
    original = sent["ben@example.org"]
    tag = str(original["X-Outreach-Delivery"])
    number, day, mac = tag.split("-")
    forged = dsn(original).replace(tag.encode(), f"{number}-{day}-{'0' * len(mac)}".encode())
    forged = forged.replace(b"ben@example.org", b"nobody@example.net")
    (done,) = inbound(app, forged)
    assert done["delivery_id"] is None and "nothing changed" in done["decision"]
    assert _state(app, "ben@example.org") == ("sent", "subscribed", False)
    plain = EmailMessage()
    plain["From"] = "someone@example.net"
    plain["To"] = "bounces+junk@bounce.example.org"
    plain["Subject"] = "hello"
    plain.set_content("Just saying hello.")
    (hello,) = inbound(app, plain.as_bytes())
    assert hello["kind"] == "unclassified" and "nothing changed" in hello["decision"]
    with get_db(app).reader() as session:
        assert session.scalar(sa.select(sa.func.count()).select_from(InboundMessage)) == 2


def test_an_empty_pipe_is_refused(app: Flask) -> None:
    result = app.test_cli_runner().invoke(args=["inbound"], input=b"")
    assert result.exit_code == 1 and "no message on standard input" in result.output


def test_processed_messages_are_kept_for_their_retention_period(
    app: Flask, sent: dict[str, EmailMessage]
) -> None:
    from datetime import timedelta

    from outreach.db import utcnow
    from outreach.privacy.retention import apply_retention

    inbound(app, auto_reply(sent["ana@example.org"]))
    inbound(app, auto_reply(sent["ben@example.org"]))
    with get_db(app).session() as session:
        oldest = session.scalars(sa.select(InboundMessage).order_by(InboundMessage.id)).first()
        assert oldest is not None
        oldest.received_at = utcnow() - timedelta(days=31)
    with get_db(app).session() as session:
        done = apply_retention(session, app.extensions["outreach.settings"])
    assert done["inbound_deleted"] == 1
    with get_db(app).reader() as session:
        assert session.scalar(sa.select(sa.func.count()).select_from(InboundMessage)) == 1
