"""A rule group takes part in a campaign like any group: evaluated when the audience is
frozen, in the priority order, with its own variant, and the consent gate on top."""

from __future__ import annotations

from collections.abc import Callable

import sqlalchemy as sa
from flask import Flask

from outreach.campaigns.audience import audience_report
from outreach.campaigns.service import create_campaign, get_campaign, set_variant
from outreach.contacts.models import Contact
from outreach.db import get_db
from outreach.groups.rules import parse_line
from outreach.groups.service import set_rule
from tests.conftest import SmtpSink, drain
from tests.support.campaigns import MJML
from tests.support.delivery import send, statuses


def _city(app: Flask, email: str, city: str) -> None:
    with get_db(app).session() as session:
        session.execute(
            sa.update(Contact).where(Contact.email_key == email).values(attributes={"city": city})
        )


def test_a_rule_group_in_the_priority_rule_receives_its_own_variant(
    sending_app: Flask, smtp_sink: SmtpSink, make_subscriber: Callable[..., int]
) -> None:
    app = sending_app
    make_subscriber("ana@example.org", "Thinkers")  # Madrid and a Thinker: the rule wins
    make_subscriber("ben@example.org", "Thinkers")  # a Thinker elsewhere
    make_subscriber("cleo@example.org")  # Madrid, in no group
    make_subscriber("dan@example.org")  # in no group, elsewhere: not reached
    for email in ("ana@example.org", "cleo@example.org"):
        _city(app, email, "Madrid")
    _city(app, "ben@example.org", "Lisbon")
    make_subscriber("eve@example.org")
    _city(app, "eve@example.org", "Madrid")
    with get_db(app).session() as session:
        # Eve withdrew: the consent gate applies on top of the rule.
        session.execute(
            sa.update(Contact)
            .where(Contact.email_key == "eve@example.org")
            .values(status="unsubscribed")
        )
        set_rule(session, "Madrid", parse_line("attributes.city = madrid"))
        campaign = create_campaign(session, "Local", "a@example.org", groups=["Madrid", "Thinkers"])
        set_variant(session, campaign, "Madrid", subject="Hola Madrid", mjml=MJML)
        set_variant(session, campaign, "Thinkers", subject="Hello Thinkers", mjml=MJML)
        campaign_id = campaign.id
    with get_db(app).session() as session:
        report = {r.label: r for r in audience_report(session, get_campaign(session, campaign_id))}
    assert report["Madrid"].recipients == 2
    assert report["Madrid"].excluded == {"not subscribed": 1}
    assert report["Thinkers"].recipients == 1
    assert report["Thinkers"].excluded == {"in a higher-priority group": 1}
    # Dan moves to Madrid after the preview and before the freeze: the freeze decides.
    _city(app, "dan@example.org", "Madrid")
    send(app, campaign_id)
    drain(app)
    subjects = {m["To"].split("<")[1].rstrip(">"): m["Subject"] for m in smtp_sink.received()}
    assert subjects == {
        "ana@example.org": "Hola Madrid",
        "ben@example.org": "Hello Thinkers",
        "cleo@example.org": "Hola Madrid",
        "dan@example.org": "Hola Madrid",
    }
    assert set(statuses(app, campaign_id).values()) == {"sent"}
