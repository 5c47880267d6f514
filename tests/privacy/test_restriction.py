"""A restricted contact is kept but gets no campaign message and adds nothing to the
statistics until the restriction is lifted."""

from __future__ import annotations

import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient

from outreach.db import get_db
from tests.conftest import SmtpSink, csrf_from
from tests.support.privacy import ANA, BO, ask_and_verify, requests_of
from tests.support.tracking import BODY, pixel_path


def _restrict(app: Flask, auth: FlaskClient, smtp_sink: SmtpSink) -> int:
    ask_and_verify(app, app.test_client(), smtp_sink, ANA, "restriction")
    [request] = requests_of(app)
    page = auth.get(f"/admin/requests/{request.id}").get_data(as_text=True)
    auth.post(f"/admin/requests/{request.id}/fulfil", data={"csrf_token": csrf_from(page)})
    return int(request.id)


def _open(app: Flask, path: str) -> None:
    app.test_client().get(path, headers={"User-Agent": "Mozilla/5.0 Firefox"})
    app.extensions["outreach.hits"].flush()


def _opens(app: Flask, campaign_id: int) -> list[int]:
    from outreach.delivery.models import Delivery

    with get_db(app).reader() as session:
        return list(
            session.scalars(
                sa.select(Delivery.human_opens)
                .where(Delivery.campaign_id == campaign_id)
                .order_by(Delivery.id)
            )
        )


def test_restricted_opens_are_not_counted_and_no_message_is_sent(
    app: Flask,
    history: int,
    auth: FlaskClient,
    smtp_sink: SmtpSink,
) -> None:
    from tests.conftest import drain
    from tests.support.campaigns import one_variant_campaign
    from tests.support.delivery import send, statuses

    ana_mail = next(m for m in smtp_sink.to(ANA) if "/t/o/" in str(m))
    before = _opens(app, history)
    request_id = _restrict(app, auth, smtp_sink)
    _open(app, pixel_path(ana_mail))
    assert _opens(app, history) == before  # discarded while restricted

    campaign_id = one_variant_campaign(app, "July", "VIP", subject="S", mjml=BODY)
    send(app, campaign_id)
    drain(app)
    assert statuses(app, campaign_id) == {BO: "sent"}  # left out of the audience
    assert [m["Subject"] for m in smtp_sink.to(ANA)].count("S") == 1  # June's only

    page = auth.get(f"/admin/requests/{request_id}").get_data(as_text=True)
    auth.post(f"/admin/requests/{request_id}/lift", data={"csrf_token": csrf_from(page)})
    _open(app, pixel_path(ana_mail))
    assert sum(_opens(app, history)) == sum(before) + 1  # counted again once lifted
