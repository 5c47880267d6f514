"""Steps of the subscription tests: sectors on the form, a sign-up as a person makes it, a
subscriber made through the service, and readers of the mail and the ledger."""

from __future__ import annotations

import re
from datetime import timedelta
from email.message import EmailMessage
from typing import Any

import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient

from outreach.consent.models import Purpose
from outreach.consent.service import Evidence, confirm, sign_up
from outreach.db import get_db
from tests.conftest import SmtpSink, drain


def seed_sectors(app: Flask, *names: str) -> None:
    """Sector groups offered on the sign-up form (public, as an admin curates them)."""
    from outreach.groups.models import Group
    from outreach.groups.service import sector_group_ids

    with get_db(app).session() as session:
        ids = sector_group_ids(session, names or ("Consultants", "Managers", "Thinkers"))
        session.execute(sa.update(Group).where(Group.id.in_(ids.values())).values(is_public=True))


def form(email: str = "ana@example.org", **extra: Any) -> dict[str, Any]:
    return {
        "email": email,
        "first_name": "Ana",
        "sector": "Thinkers",
        "consent_newsletter": "1",
        **extra,
    }


def subscribe(client: FlaskClient, email: str = "ana@example.org", **extra: Any) -> Any:
    return client.post(
        "/subscribe",
        data=form(email, **extra),
        headers={"User-Agent": "TestBrowser/1.0"},
        environ_base={"REMOTE_ADDR": "198.51.100.7"},
    )


def subscribed(app: Flask, email: str = "ana@example.org", tracking: bool = False) -> int:
    """A confirmed subscriber, made through the service."""
    purposes = [Purpose.NEWSLETTER] + ([Purpose.OPEN_TRACKING] if tracking else [])
    with get_db(app).session() as session:
        signup = sign_up(
            session,
            {"email": email, "first_name": "Ana"},
            purposes,
            Evidence("test"),
            resend_after=timedelta(0),
        )
        confirm(session, signup.contact, Evidence("test"))
        return signup.contact.id


def text_of(message: EmailMessage) -> str:
    part = message.get_body(("plain",))
    assert part is not None
    return part.get_content()  # type: ignore[no-any-return]


def html_of(message: EmailMessage) -> str:
    part = message.get_body(("html",))
    assert part is not None
    return part.get_content()  # type: ignore[no-any-return]


def link(message: EmailMessage, path: str) -> str:
    """The path of the first https link to `path` in the text part."""
    match = re.search(rf"https://news\.example\.org(/{path}/[\w.\-]+)", text_of(message))
    assert match, text_of(message)
    return match.group(1)


def mails_to(app: Flask, sink: SmtpSink, address: str) -> list[EmailMessage]:
    drain(app)
    return [m for m in sink.received() if address in m["To"]]


def contact_row(app: Flask, email: str) -> Any:
    from outreach.contacts.models import Contact

    with get_db(app).reader() as session:
        return session.execute(sa.select(Contact).where(Contact.email_key == email)).scalar()


def events(app: Flask, email: str) -> list[tuple[str, str]]:
    from outreach.consent.models import ConsentEvent
    from outreach.contacts.models import Contact

    with get_db(app).reader() as session:
        rows = session.execute(
            sa.select(ConsentEvent.purpose, ConsentEvent.action)
            .join(Contact, Contact.id == ConsentEvent.contact_id)
            .where(Contact.email_key == email)
            .order_by(ConsentEvent.id)
        )
        return [(str(p), str(a)) for p, a in rows]
