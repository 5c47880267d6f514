"""The composer's sending card: send now or at a time, pause, resume, cancel, and the progress
(at page load, as progress.json, and refreshed live in a real browser), through the embedded
queue into a real SMTP server."""

from __future__ import annotations

import html as html_lib
import re
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient

from outreach.campaigns.models import Campaign
from outreach.campaigns.service import create_campaign, get_campaign, set_variant
from outreach.db import get_db
from outreach.delivery.models import Delivery
from tests.conftest import SmtpSink, csrf_from
from tests.support.admin import sign_in
from tests.support.pages import Transaction, rows_of

HEADER = "email,first_name,last_name,sector\n"
MJML = """<mjml><mj-body><mj-section><mj-column>
<mj-text><h1>Hello {{ contact.first_name }}</h1><p>For {{ group.name }}.</p>
<a href="{{ unsubscribe_url }}">Unsubscribe</a></mj-text>
</mj-column></mj-section></mj-body></mjml>"""
RECIPIENTS = ["mario@example.org", "theo@example.org", "tina@example.org"]
ACTIONS = ("send", "pause", "resume", "cancel")


@pytest.fixture
def app(sending_app: Flask) -> Flask:
    return sending_app


from tests.conftest import drain  # noqa: E402, F401


@pytest.fixture
def people(seed: Callable[..., object]) -> None:
    """Thinkers: Tina and Theo; Managers: Mario (subscribed) and Mila (pending)."""
    seed(
        HEADER + "tina@example.org,Tina,Thorne,Thinkers\n"
        "theo@example.org,Theo,Tal,Thinkers\n"
        "mario@example.org,Mario,Mendez,Managers\n",
        status="subscribed",
    )
    seed(HEADER + "mila@example.org,Mila,Moss,Managers\n")


def new_campaign(db: Transaction, *variants_for: str, name: str = "June news") -> int:
    """A campaign to Thinkers and Managers with a variant for each group named."""
    with db() as session:
        campaign = create_campaign(
            session, name, "Ana García <ana@example.org>", groups=["Thinkers", "Managers"]
        )
        for group in variants_for:
            set_variant(session, campaign, group, subject=f"{group} news", mjml=MJML)
        return campaign.id


@pytest.fixture
def campaign(db: Transaction, people: None) -> int:
    return new_campaign(db, "Thinkers", "Managers")


def page_of(campaign_id: int) -> str:
    return f"/admin/campaigns/{campaign_id}"


def post(client: FlaskClient, campaign_id: int, action: str, **data: str) -> tuple[int, str, str]:
    """Post a sending form with the page's CSRF token: (status, Location, body)."""
    token = csrf_from(client.get(page_of(campaign_id)).get_data(as_text=True))
    response = client.post(f"{page_of(campaign_id)}/{action}", data={"csrf_token": token, **data})
    return (
        response.status_code,
        response.headers.get("Location", ""),
        response.get_data(as_text=True),
    )


def card(html: str) -> str:
    """The sending card of the composer."""
    return html.split('id="sending"', 1)[1].split("</section>", 1)[0]


def form(html: str, form_id: str) -> str:
    """One form of the sending card."""
    return card(html).split(f'id="sending-{form_id}"', 1)[1].split("</form>", 1)[0]


def buttons(html: str) -> list[str]:
    """The labels of the sending card's buttons."""
    return [b.strip() for b in re.findall(r"<button[^>]*>([^<]*)</button>", card(html))]


def alerts(html: str) -> list[str]:
    return [html_lib.unescape(m) for m in re.findall(r'role="alert">([^<]*)</p>', html)]


def status_of(db: Transaction, campaign_id: int) -> str:
    with db() as session:
        return str(get_campaign(session, campaign_id).status)


def progress(client: FlaskClient, campaign_id: int) -> dict[str, Any]:
    response = client.get(f"{page_of(campaign_id)}/progress.json")
    assert response.status_code == 200, response.get_data(as_text=True)
    document = response.get_json()
    for moment in ("scheduled_at", "started_at", "finished_at"):  # checked where they matter
        document.pop(moment)
    return document  # type: ignore[no-any-return]


def recipients(sink: SmtpSink) -> list[str]:
    return sorted(m["To"].addresses[0].addr_spec for m in sink.received())


def in_a_day(hours: int = 24) -> datetime:
    """A future time as a datetime-local input holds it (to the minute, no zone)."""
    return (datetime.now(UTC) + timedelta(hours=hours)).replace(second=0, microsecond=0)


def local_value(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M")


def pause_before_any_message(client: FlaskClient, campaign_id: int, sink: SmtpSink) -> None:
    """Send while the SMTP server is down, pause, wait until the batch in flight has given its
    deliveries back, then bring the server back."""
    drain(client.application)  # the arranged mail is out first: it would retry for seconds
    sink.stop()
    assert post(client, campaign_id, "send")[0] == 302
    # 409 when the workers were first: a server that refuses connections pauses the campaign.
    assert post(client, campaign_id, "pause")[0] in (302, 409)
    time.sleep(0.2)  # a claim that began just before the pause committed ends within this
    deadline = time.monotonic() + 10
    while any(g["sending"] for g in progress(client, campaign_id)["groups"]):
        assert time.monotonic() < deadline, "the batch in flight never gave its deliveries back"
        time.sleep(0.02)
    sink.start()


def test_a_draft_offers_send_now_and_schedule(auth: FlaskClient, campaign: int) -> None:
    html = auth.get(page_of(campaign)).get_data(as_text=True)

    assert buttons(html) == ["Send now", "Schedule"]
    assert "to 3 recipients" in form(html, "send-now")
    schedule = form(html, "schedule")
    assert 'type="datetime-local" name="at"' in schedule
    assert 'name="utc_offset" value=""' in schedule  # the script fills it in
    assert "(UTC)" in schedule  # without the script, the time is UTC and says so
    assert 'id="progress-table"' not in html  # nothing to count yet


def test_send_now_delivers_one_message_to_each_recipient(
    app: Flask, auth: FlaskClient, campaign: int, db: Transaction, smtp_sink: SmtpSink
) -> None:
    status, location, _ = post(auth, campaign, "send")

    assert (status, location) == (302, f"{page_of(campaign)}#sending")
    drain(app)
    assert recipients(smtp_sink) == RECIPIENTS  # once each; Mila is pending
    subjects = {m["To"].addresses[0].addr_spec: str(m["Subject"]) for m in smtp_sink.received()}
    assert subjects["mario@example.org"] == "Managers news"
    assert subjects["tina@example.org"] == "Thinkers news"
    assert status_of(db, campaign) == "sent"
    html = auth.get(page_of(campaign)).get_data(as_text=True)
    assert "Sending: 3 messages queued in 1 batches." in card(html)
    assert 'data-status="sent"' in html
    assert rows_of(html, "progress-table") == ["Managers 0 0 1 0 0 0", "Thinkers 0 0 2 0 0 0"]
    assert '<progress id="progress-bar" max="3" value="3">' in html
    assert re.search(r'id="progress-rate">3</span>', html)
    assert buttons(html) == []  # a sent campaign is over
    assert progress(auth, campaign) == {
        "campaign": campaign,
        "name": "June news",
        "status": "sent",
        "pause_reason": None,
        "rate_per_minute": 3,
        "total": 3,
        "remaining": 0,
        "groups": [
            {"group": "Managers", "queued": 0, "sending": 0, "sent": 1}
            | {"failed": 0, "bounced": 0, "skipped": 0},
            {"group": "Thinkers", "queued": 0, "sending": 0, "sent": 2}
            | {"failed": 0, "bounced": 0, "skipped": 0},
        ],
        "suspected_duplicates": 0,
        "failures": [],
    }


def test_progress_json_is_not_cached_and_needs_a_known_campaign(
    auth: FlaskClient, campaign: int
) -> None:
    response = auth.get(f"{page_of(campaign)}/progress.json")

    assert response.headers["Cache-Control"] == "no-store"
    assert response.get_json()["status"] == "draft"
    assert response.get_json()["groups"] == []
    assert auth.get("/admin/campaigns/987654/progress.json").status_code == 404


def test_the_sending_controls_need_a_signed_in_admin(
    client: FlaskClient, campaign: int, db: Transaction, smtp_sink: SmtpSink
) -> None:
    response = client.get(f"{page_of(campaign)}/progress.json")
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/admin/login")
    token = csrf_from(client.get("/admin/login").get_data(as_text=True))
    for action in ACTIONS:
        response = client.post(f"{page_of(campaign)}/{action}", data={"csrf_token": token})
        assert response.status_code == 302, action
        assert response.headers["Location"].startswith("/admin/login")
    assert status_of(db, campaign) == "draft"


def test_schedule_reads_the_time_in_the_browsers_zone(
    app: Flask, auth: FlaskClient, campaign: int, db: Transaction, smtp_sink: SmtpSink
) -> None:
    local = in_a_day(48)

    status, location, _ = post(auth, campaign, "send", at=local_value(local), utc_offset="120")

    assert (status, location) == (302, f"{page_of(campaign)}#sending")
    expected = local - timedelta(hours=2)  # 09:00 at UTC+02:00 is 07:00 UTC
    with db() as session:
        state = get_campaign(session, campaign)
        assert (str(state.status), state.scheduled_at) == ("scheduled", expected)
        assert session.scalar(sa.select(sa.func.count()).select_from(Delivery)) == 0
    html = auth.get(page_of(campaign)).get_data(as_text=True)
    when = expected.strftime("%Y-%m-%d %H:%M:%S UTC")
    assert f"Scheduled for {when}." in card(html)
    assert buttons(html) == ["Send now", "Schedule", "Pause", "Cancel sending"]
    assert "Reschedule" in form(html, "schedule")
    assert "No message queued yet." in card(html)
    # Without the browser's offset (no script), the time typed is UTC.
    post(auth, campaign, "send", at=local_value(local), utc_offset="")
    with db() as session:
        assert get_campaign(session, campaign).scheduled_at == local
    drain(app)
    assert smtp_sink.received() == []


@pytest.mark.parametrize(
    ("typed", "offset", "why"),
    [
        ("2001-01-01T09:00", "", "has passed: choose a time in the future"),
        ("", "", "choose the date and time to send at"),
        ("tomorrow at nine", "60", "choose the date and time to send at"),
        ("2099-01-01T09:00", "east", "is not a time zone offset"),
        ("2099-01-01T09:00", "900", "is not a time zone offset"),
    ],
)
def test_a_bad_schedule_is_refused_next_to_its_form(
    auth: FlaskClient, campaign: int, db: Transaction, typed: str, offset: str, why: str
) -> None:
    status, _, html = post(auth, campaign, "send", at=typed, utc_offset=offset)

    assert status == 422
    [message] = alerts(form(html, "schedule"))
    assert why in message
    assert f'name="at" required step="60" value="{html_lib.escape(typed)}"' in html
    assert status_of(db, campaign) == "draft"


def test_pre_send_errors_are_shown_next_to_the_button(
    auth: FlaskClient, people: None, db: Transaction, smtp_sink: SmtpSink
) -> None:
    bare = new_campaign(db, "Thinkers")  # Managers have no variant and there is no fallback

    status, _, html = post(auth, bare, "send")

    assert status == 422
    [message] = alerts(form(html, "send-now"))
    assert message == (
        "campaign 'June news' cannot be sent: "
        "Managers: no variant for this group and no fallback variant"
    )
    assert status_of(db, bare) == "draft"
    # Scheduling runs the same checks.
    status, _, html = post(auth, bare, "send", at=local_value(in_a_day()), utc_offset="0")
    assert status == 422
    assert "no fallback variant" in alerts(form(html, "schedule"))[0]
    assert status_of(db, bare) == "draft"
    assert smtp_sink.received() == []


def test_pause_and_resume_a_scheduled_campaign(
    app: Flask, auth: FlaskClient, campaign: int, db: Transaction, smtp_sink: SmtpSink
) -> None:
    post(auth, campaign, "send", at=local_value(in_a_day()), utc_offset="0")

    assert post(auth, campaign, "pause")[:2] == (302, f"{page_of(campaign)}#sending")
    html = auth.get(page_of(campaign)).get_data(as_text=True)
    assert "Paused." in card(html)
    assert 'id="progress-reason">paused by an operator</span>' in html
    assert buttons(html) == ["Resume", "Cancel sending"]
    assert "Sending starts at once." in form(html, "resume")

    assert post(auth, campaign, "resume")[0] == 302
    drain(app)
    assert recipients(smtp_sink) == RECIPIENTS
    html = auth.get(page_of(campaign)).get_data(as_text=True)
    assert "Resumed: 1 batches queued." in card(html)
    assert status_of(db, campaign) == "sent"


def test_pause_mid_send_holds_the_rest_until_resume(
    app: Flask, auth: FlaskClient, campaign: int, db: Transaction, smtp_sink: SmtpSink
) -> None:
    pause_before_any_message(auth, campaign, smtp_sink)
    drain(app)  # retried batches find the campaign paused and claim nothing

    assert smtp_sink.received() == []
    html = auth.get(page_of(campaign)).get_data(as_text=True)
    assert rows_of(html, "progress-table") == ["Managers 1 0 0 0 0 0", "Thinkers 2 0 0 0 0 0"]
    assert '<progress id="progress-bar" max="3" value="0">' in html
    assert buttons(html) == ["Resume", "Cancel sending"]
    assert "Sending starts at once." not in html  # it had started

    assert post(auth, campaign, "resume")[0] == 302
    drain(app)
    assert recipients(smtp_sink) == RECIPIENTS
    assert progress(auth, campaign)["status"] == "sent"


def test_cancel_skips_what_was_not_sent(
    app: Flask, auth: FlaskClient, campaign: int, db: Transaction, smtp_sink: SmtpSink
) -> None:
    pause_before_any_message(auth, campaign, smtp_sink)

    assert post(auth, campaign, "cancel")[0] == 302

    drain(app)
    assert smtp_sink.received() == []
    html = auth.get(page_of(campaign)).get_data(as_text=True)
    assert "Cancelled." in card(html)
    assert rows_of(html, "progress-table") == ["Managers 0 0 0 0 0 1", "Thinkers 0 0 0 0 0 2"]
    assert buttons(html) == []
    assert status_of(db, campaign) == "cancelled"


@pytest.mark.parametrize("action", ACTIONS)
def test_a_finished_campaign_refuses_every_control_with_409(
    app: Flask, auth: FlaskClient, campaign: int, db: Transaction, action: str
) -> None:
    post(auth, campaign, "send")
    drain(app)

    status, _, html = post(auth, campaign, action)

    assert status == 409
    assert alerts(card(html)) == ["campaign 'June news' is sent"]
    assert status_of(db, campaign) == "sent"


@pytest.mark.parametrize("action", ["pause", "resume"])
def test_a_draft_cannot_be_paused_or_resumed(
    auth: FlaskClient, campaign: int, db: Transaction, action: str
) -> None:
    status, _, html = post(auth, campaign, action)

    assert status == 409
    assert alerts(card(html)) == ["campaign 'June news' is draft"]
    assert status_of(db, campaign) == "draft"


def test_a_cancelled_campaign_cannot_be_sent(
    app: Flask, auth: FlaskClient, campaign: int, db: Transaction, smtp_sink: SmtpSink
) -> None:
    post(auth, campaign, "send", at=local_value(in_a_day()), utc_offset="0")
    assert post(auth, campaign, "cancel")[0] == 302

    status, _, html = post(auth, campaign, "send")

    assert status == 409
    assert alerts(card(html)) == ["campaign 'June news' is cancelled"]
    drain(app)
    assert smtp_sink.received() == []


def test_controls_without_csrf_token_are_refused(
    app: Flask, auth: FlaskClient, campaign: int, db: Transaction, smtp_sink: SmtpSink
) -> None:
    for action in ACTIONS:
        response = auth.post(f"{page_of(campaign)}/{action}", data={})
        assert response.status_code == 400, action
    response = auth.post(
        f"{page_of(campaign)}/send", data={"csrf_token": "forged", "at": "2099-01-01T09:00"}
    )
    assert response.status_code == 400
    drain(app)
    assert status_of(db, campaign) == "draft"
    with db() as session:
        assert session.scalar(sa.select(sa.func.count()).select_from(Delivery)) == 0
    assert smtp_sink.received() == []


def test_every_sending_form_posts_with_the_csrf_token(
    auth: FlaskClient, campaign: int, db: Transaction
) -> None:
    seen = set()
    for step in (None, "schedule", "pause"):
        if step == "schedule":
            post(auth, campaign, "send", at=local_value(in_a_day()), utc_offset="0")
        elif step == "pause":
            post(auth, campaign, "pause")
        forms = re.findall(
            r'<form method="post".*?</form>', card(auth.get(page_of(campaign)).text), re.S
        )
        assert forms
        for found in forms:
            assert 'name="csrf_token"' in found
            seen.add(re.search(r'id="sending-([a-z-]+)"', found).group(1))  # type: ignore[union-attr]
    assert seen == {"send-now", "schedule", "pause", "resume", "cancel"}


# ---------------------------------------------------------------- in a real browser


@pytest.mark.browser
def test_the_progress_refreshes_live_while_sending(
    app: Flask,
    live_server: str,
    browser_page: Any,
    admin_user: str,
    campaign: int,
    db: Transaction,
    smtp_sink: SmtpSink,
) -> None:
    from playwright.sync_api import expect

    from outreach import tasks
    from outreach.delivery import service

    with db() as session:  # sending, the audience frozen, no batch queued yet
        service.start(session, get_campaign(session, campaign))
    with db() as session:
        first: int = session.scalars(sa.select(Delivery.id).order_by(Delivery.id)).first() or 0
    page = browser_page
    page.set_default_timeout(10_000)
    sign_in(page, live_server, admin_user)
    page.goto(f"{live_server}{page_of(campaign)}")
    managers = page.locator("#progress-table tbody tr:nth-child(1) td")
    thinkers = page.locator("#progress-table tbody tr:nth-child(2) td")
    expect(managers).to_have_text(["Managers", "1", "0", "0", "0", "0", "0"])
    expect(thinkers).to_have_text(["Thinkers", "2", "0", "0", "0", "0", "0"])
    page.evaluate("window.samePage = true")

    tasks.send_batch.send(campaign, first, first)  # one message of three

    expect(page.locator("#progress-done")).to_have_text("1")  # refreshed in place
    expect(page.locator("#progress-bar")).to_have_attribute("value", "1")
    expect(page.locator("#progress-status")).to_have_text("sending")
    assert page.evaluate("window.samePage") is True
    assert page.locator("#sending button").all_inner_texts() == ["Pause", "Cancel sending"]

    with app.app_context(), get_db(app).reader() as session:
        tasks.enqueue_pending(session, campaign)

    # Done: the page loads again, for the controls of a sent campaign (none).
    expect(page.locator("#progress-status")).to_have_text("sent")
    expect(page.locator("h1 .badge")).to_have_text("sent")
    expect(managers).to_have_text(["Managers", "0", "0", "1", "0", "0", "0"])
    expect(thinkers).to_have_text(["Thinkers", "0", "0", "2", "0", "0", "0"])
    assert page.evaluate("window.samePage") is None
    expect(page.locator("#sending button")).to_have_count(0)
    drain(app)
    assert recipients(smtp_sink) == RECIPIENTS


@pytest.mark.browser
def test_schedule_in_the_browsers_time_zone_then_send_now(
    app: Flask,
    live_server: str,
    browser_page: Any,
    admin_user: str,
    campaign: int,
    db: Transaction,
    smtp_sink: SmtpSink,
) -> None:
    from playwright.sync_api import expect

    # India has no daylight saving time: UTC+05:30 all year.
    context = browser_page.context.browser.new_context(timezone_id="Asia/Kolkata")
    page = context.new_page()
    page.set_default_timeout(10_000)
    sign_in(page, live_server, admin_user)
    page.goto(f"{live_server}{page_of(campaign)}")
    schedule = page.locator("#sending-schedule")
    schedule.locator("input[name=at]").fill("2099-01-15T09:30")
    # (Chromium's name for the zone may be the older Asia/Calcutta.)
    zone = re.compile(r"\(your time: Asia/(Kolkata|Calcutta), UTC\+05:30\)")
    expect(schedule.locator("#schedule-zone")).to_have_text(zone)
    schedule.get_by_role("button", name="Schedule").click()

    expect(page.locator("#scheduled-at")).to_have_text("Scheduled for 2099-01-15 04:00:00 UTC.")
    with db() as session:
        assert get_campaign(session, campaign).scheduled_at == datetime(2099, 1, 15, 4, tzinfo=UTC)

    page.once("dialog", lambda dialog: dialog.dismiss())
    page.get_by_role("button", name="Send now").click()  # asked to confirm: no
    expect(page.locator("#progress-status")).to_have_text("scheduled")
    assert status_of(db, campaign) == "scheduled"

    page.once("dialog", lambda dialog: dialog.accept())
    page.get_by_role("button", name="Send now").click()
    expect(page.locator("#progress-status")).to_have_text("sent")  # followed live
    expect(page.locator("#progress-table tbody tr")).to_have_count(2)
    context.close()
    drain(app)
    assert recipients(smtp_sink) == RECIPIENTS
    with db() as session:
        assert session.scalar(sa.select(Campaign.status).where(Campaign.id == campaign)) == "sent"
