"""Follow-ups: a draft for some of a sent campaign's recipients, with its variants copied,
that reaches exactly the human non-openers (never those whose message was not tracked,
unless asked for), on every surface."""

from __future__ import annotations

import re
from datetime import timedelta
from email.message import EmailMessage

import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient

from outreach.campaigns.models import Campaign
from outreach.db import get_db, utcnow
from outreach.delivery.models import Delivery
from outreach.groups.service import create_group
from tests.conftest import SmtpSink, drain
from tests.support.admin import form_post
from tests.support.api import error_of
from tests.support.delivery import send
from tests.support.pages import rows_of
from tests.support.tracking import click_paths, flush, pixel_path, send_tracked_campaign

BROWSER = {"User-Agent": "Mozilla/5.0 (Macintosh) Firefox/130"}
GMAIL = {"User-Agent": "Mozilla/5.0 (via ggpht.com GoogleImageProxy)"}


@pytest.fixture
def app(sending_app: Flask) -> Flask:
    return sending_app


@pytest.fixture
def read(app: Flask, smtp_sink: SmtpSink) -> dict[str, EmailMessage]:
    """Campaign T to four subscribers (none, opens, clicks, both: the tracking each allowed):
    "both" opened it and clicked; "opens"'s only open was Gmail's image proxy (a machine)."""
    sent = send_tracked_campaign(app, smtp_sink)
    client = app.test_client()
    client.get(pixel_path(sent["both@example.org"]), headers=BROWSER)
    client.get(click_paths(sent["both@example.org"])[0], headers=BROWSER)
    client.get(pixel_path(sent["opens@example.org"]), headers=GMAIL)
    flush(app)
    smtp_sink.messages.clear()
    return sent


def _recipients(app: Flask, smtp_sink: SmtpSink, campaign_id: int) -> dict[str, str]:
    send(app, campaign_id)
    drain(app)
    received = {m["To"].split("<")[1].rstrip(">"): m["Subject"] for m in smtp_sink.received()}
    smtp_sink.messages.clear()
    return received


@pytest.mark.usefixtures("read")
def test_a_followup_reaches_exactly_the_human_non_openers(app: Flask, smtp_sink: SmtpSink) -> None:
    runner = app.test_cli_runner()
    made = runner.invoke(args=["campaigns", "followup", "T", "--audience", "non-openers"])
    assert made.exit_code == 0, made.output
    lines = made.output.splitlines()
    assert lines[0].endswith("(T — non openers) created as a draft: a follow-up to T")
    assert (
        lines[1]
        == "1 non-openers of T; 1 can be mailed now (subscribed, consenting, not suppressed)"
    )
    assert lines[2].startswith("2 left out: their message was not tracked")
    with get_db(app).reader() as session:
        draft = session.scalars(sa.select(Campaign).order_by(Campaign.id.desc())).first()
        assert draft is not None and draft.status == "draft"
        draft_id = draft.id
    # The proxy's open was not a person's: "opens" is the one non-opener; "none" and
    # "clicks" never allowed open tracking, so nobody knows whether they opened.
    assert _recipients(app, smtp_sink, draft_id) == {"opens@example.org": "S"}

    untracked = runner.invoke(
        args=[
            "campaigns",
            "followup",
            "T",
            "--audience",
            "non-openers",
            "--include-untracked",
            "--name",
            "T, everyone who may not have read it",
        ]
    )
    assert untracked.exit_code == 0, untracked.output
    assert "3 non-openers of T; 3 can be mailed now" in untracked.output
    assert "left out" not in untracked.output
    with get_db(app).reader() as session:
        second = session.scalar(
            sa.select(Campaign.id).where(Campaign.name == "T, everyone who may not have read it")
        )
    assert second is not None
    assert set(_recipients(app, smtp_sink, second)) == {
        "none@example.org",
        "opens@example.org",
        "clicks@example.org",
    }


@pytest.mark.usefixtures("read")
def test_followups_of_clickers_and_non_clickers_and_the_refusals(
    app: Flask, smtp_sink: SmtpSink
) -> None:
    runner = app.test_cli_runner()
    clickers = runner.invoke(args=["campaigns", "followup", "T", "--audience", "clickers"])
    assert "1 clickers of T" in clickers.output
    non_clickers = runner.invoke(
        args=["campaigns", "followup", "T", "--audience", "non-clickers", "--name", "NC"]
    )
    # "clicks" allowed click tracking and did not click; "both" clicked.
    assert "1 non-clickers of T" in non_clickers.output
    assert "2 left out" in non_clickers.output
    with get_db(app).reader() as session:
        nc = session.scalar(sa.select(Campaign.id).where(Campaign.name == "NC"))
    assert nc is not None
    assert set(_recipients(app, smtp_sink, nc)) == {"clicks@example.org"}
    draft = runner.invoke(args=["campaigns", "followup", "NC-draft", "--audience", "failed"])
    assert draft.exit_code == 1 and "no campaign" in draft.output
    runner.invoke(args=["campaigns", "duplicate", "T", "--name", "Unsent"])
    unsent = runner.invoke(args=["campaigns", "followup", "Unsent", "--audience", "failed"])
    assert unsent.exit_code == 1
    assert "is draft: a follow-up follows a campaign that was sent" in unsent.output
    with get_db(app).session() as session:
        create_group(session, "Managers")
    other = runner.invoke(
        args=["campaigns", "followup", "T", "--audience", "failed", "--groups", "Managers"]
    )
    assert other.exit_code == 1 and "did not target Managers" in other.output


@pytest.mark.usefixtures("read")
def test_a_followup_through_the_api(
    app: Flask, client: FlaskClient, api_headers: dict[str, str]
) -> None:
    with get_db(app).reader() as session:
        original = session.scalar(sa.select(Campaign.id).where(Campaign.name == "T"))
    url = f"/api/v1/campaigns/{original}/followup"
    made = client.post(url, json={"audience": "non-openers", "name": "Again"}, headers=api_headers)
    assert made.status_code == 201, made.get_json()
    body = made.get_json()
    assert (body["name"], body["status"], body["groups"]) == ("Again", "draft", ["Thinkers"])
    assert (body["followup_of"], body["followup_audience"]) == (original, "non-openers")
    assert [v["subject"] for v in body["variants"]] == ["S"]
    bad = client.post(url, json={"audience": "lurkers"}, headers=api_headers)
    assert bad.status_code == 422
    draft = client.post(
        f"/api/v1/campaigns/{body['id']}/followup", json={"audience": "failed"}, headers=api_headers
    )
    assert "a follow-up follows a campaign that was sent" in error_of(draft, 409)["message"]


@pytest.mark.usefixtures("read")
def test_a_followup_from_the_admin(app: Flask, auth: FlaskClient) -> None:
    with get_db(app).reader() as session:
        original = session.scalar(sa.select(Campaign.id).where(Campaign.name == "T"))
    page = f"/admin/campaigns/{original}"
    assert 'id="followup"' in auth.get(page).get_data(as_text=True)
    status, where, _ = form_post(
        auth, page, f"{page}/followup", audience="non-openers", name="T, again"
    )
    assert status == 302
    draft = auth.get(where).get_data(as_text=True)
    assert "A follow-up draft, with the variants copied" in draft
    section = draft.split('id="followup-of">', 1)[1].split("</section>", 1)[0]
    text = " ".join(re.sub(r"<[^>]+>", " ", section).split())
    assert text.startswith("Follow-up to T Its audience: the non openers of that campaign")
    assert "— 1 now" in text
    assert "2 left out: their message was not tracked" in text
    assert 'id="followup"' not in draft  # a draft has nothing to follow up yet
    status, where, _ = form_post(auth, page, f"{page}/followup", audience="lurkers")
    assert status == 302 and where.endswith("#followup")
    assert "unknown audience &#39;lurkers&#39;" in auth.get(where).get_data(as_text=True)


@pytest.mark.usefixtures("read")
def test_a_followups_report_links_to_the_first_and_shows_the_combined_reach(
    app: Flask, smtp_sink: SmtpSink, auth: FlaskClient
) -> None:
    runner = app.test_cli_runner()
    runner.invoke(args=["campaigns", "followup", "T", "--audience", "non-openers", "--name", "T2"])
    with get_db(app).reader() as session:
        first = session.scalar(sa.select(Campaign.id).where(Campaign.name == "T"))
        second = session.scalar(sa.select(Campaign.id).where(Campaign.name == "T2"))
    assert first is not None and second is not None
    send(app, second)
    drain(app)
    (message,) = smtp_sink.received()
    with get_db(app).session() as session:  # read minutes later, as people do
        session.execute(
            sa.update(Delivery)
            .where(Delivery.campaign_id == second)
            .values(sent_at=utcnow() - timedelta(minutes=5))
        )
    app.test_client().get(pixel_path(message), headers=BROWSER)  # this time a person opened it
    flush(app)
    page = auth.get(f"/admin/statistics/{second}").get_data(as_text=True)
    assert f'A follow-up to <a href="/admin/statistics/{first}">T</a>' in page
    # T reached all four, one opened it; the follow-up won one more reader.
    assert rows_of(page, "combined-reach") == ["Thinkers 4 2 1 4 1 1"]
    assert f'href="/admin/statistics/{second}">T2</a>' in auth.get(
        f"/admin/statistics/{first}"
    ).get_data(as_text=True)
    people = page.split('id="people"', 1)[1]
    assert f"/admin/campaigns/{second}/recipients?outcome=opened&amp;group=Thinkers" in people
    table = runner.invoke(args=["stats", "T2"]).output
    assert "a follow-up to T: people reached, opened and clicked in either" in table
    assert table.splitlines()[-1].split() == ["Thinkers", "4", "2", "1", "(4,", "1,", "1)"]
