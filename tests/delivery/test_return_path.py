"""A return path that says which delivery bounced: VERP envelope senders with a signed,
dated delivery tag, the same tag in X-Outreach-Delivery, and a Feedback-ID."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from flask import Flask

from outreach.db import get_db
from outreach.delivery.models import Delivery
from outreach.tokens import (
    DELIVERY_TAG_DAYS,
    TokenError,
    TokenExpired,
    delivery_tag,
    read_delivery_tag,
)
from tests.conftest import SmtpSink, drain, queued_app
from tests.support.campaigns import one_variant_campaign, subscribe
from tests.support.delivery import send

SECRET = "s" * 40


def test_a_delivery_tag_reads_back_and_refuses_forgeries_and_old_age() -> None:
    tag = delivery_tag(SECRET, 123_456)
    assert read_delivery_tag(SECRET, tag) == 123_456
    assert read_delivery_tag(SECRET, tag.upper()) == 123_456  # a server lowercased or not
    largest = delivery_tag(SECRET, 2**63 - 1)
    assert len(f"bounces+{largest}") <= 64  # an address's local part
    assert largest == largest.lower()
    number, day, mac = tag.split("-")
    forged = [
        f"{int(number, 16) + 1:x}-{day}-{mac}",  # another delivery
        f"{number}-{day}-{'0' * len(mac)}",
        delivery_tag("another instance's secret" * 2, 123_456),
        "bounces",
        f"{number}-{day}",
    ]
    for bad in forged:
        with pytest.raises(TokenError):
            read_delivery_tag(SECRET, bad)
    old = delivery_tag(SECRET, 7, now=time.time() - (DELIVERY_TAG_DAYS + 1) * 86_400)
    with pytest.raises(TokenExpired):
        read_delivery_tag(SECRET, old)


@pytest.fixture
def verp_app(tmp_path: Path, database_url: str, smtp_sink: SmtpSink) -> Iterator[Flask]:
    with queued_app(
        tmp_path, database_url, smtp_sink, bounce_domain="bounce.example.org"
    ) as application:
        yield application


@pytest.fixture
def app(verp_app: Flask) -> Flask:
    return verp_app  # make_subscriber's app: one app, one embedded queue


def test_campaign_mail_names_its_delivery_in_the_envelope_and_a_header(
    verp_app: Flask, smtp_sink: SmtpSink, make_subscriber: Callable[..., int]
) -> None:
    make_subscriber("ana@example.org", "Thinkers")
    make_subscriber("ben@example.org", "Thinkers")
    campaign_id = one_variant_campaign(verp_app, "June", "Thinkers")
    send(verp_app, campaign_id)
    drain(verp_app)
    secret = verp_app.extensions["outreach.settings"].secret_key
    with get_db(verp_app).reader() as session:
        ids = dict(
            session.execute(
                sa.select(Delivery.message_id, Delivery.id).where(
                    Delivery.campaign_id == campaign_id
                )
            ).all()
        )
    messages = smtp_sink.received()
    assert len(messages) == 2
    for message in messages:
        tag = message["X-Outreach-Delivery"]
        assert read_delivery_tag(secret, tag) == ids[message["Message-ID"]]
        assert message.envelope_from == f"bounces+{tag}@bounce.example.org"  # type: ignore[attr-defined]
        assert message["Feedback-ID"] == f"{campaign_id}:campaign:outreach:example.org"


def test_without_a_bounce_domain_the_envelope_sender_is_the_from_address(
    sending_app: Flask, smtp_sink: SmtpSink
) -> None:
    subscribe(sending_app, "ana@example.org", "Thinkers")
    send(sending_app, one_variant_campaign(sending_app, "June", "Thinkers"))
    drain(sending_app)
    (message,) = smtp_sink.received()
    assert message.envelope_from == "a@example.org"  # type: ignore[attr-defined]
    assert message["X-Outreach-Delivery"]
