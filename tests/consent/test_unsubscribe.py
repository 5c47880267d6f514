"""One-click unsubscribe (RFC 8058), the unsubscribe page and preferences."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from flask import Flask

from outreach.consent import links
from outreach.consent.models import ConsentAction, ConsentEvent, Purpose
from outreach.consent.service import Evidence, mailable, record_event
from outreach.contacts.models import Contact
from outreach.db import get_db
from tests.conftest import csrf_from
from tests.support.consent import contact_row, events, seed_sectors, subscribed


@pytest.fixture
def contact_id(app: Flask) -> int:
    seed_sectors(app)
    return subscribed(app)


def settings(app: Flask):  # noqa: ANN201
    return app.extensions["outreach.settings"]


@pytest.mark.parametrize("encoding", ["urlencoded", "multipart"])
def test_one_click_without_cookies_or_csrf(app: Flask, contact_id: int, encoding: str) -> None:
    url = links.unsubscribe_url(settings(app), contact_id, campaign_id=None)
    path = url.removeprefix(settings(app).base_url)
    client = app.test_client(use_cookies=False)
    if encoding == "urlencoded":
        response = client.post(
            path,
            data="List-Unsubscribe=One-Click",
            content_type="application/x-www-form-urlencoded",
        )
    else:
        response = client.post(
            path, data={"List-Unsubscribe": "One-Click"}, content_type="multipart/form-data"
        )
    assert response.status_code == 200
    assert "Location" not in response.headers
    assert contact_row(app, "ana@example.org").status == "unsubscribed"
    assert ("newsletter", "withdrawn") in events(app, "ana@example.org")
    with get_db(app).reader() as session:
        event = session.scalars(
            sa.select(ConsentEvent).where(ConsentEvent.action == "withdrawn")
        ).one()
        assert event.source.startswith("one-click (RFC 8058)")
        assert mailable(session, [contact_id]) == set()


def test_forged_unsubscribe_token_changes_nothing(app: Flask, contact_id: int) -> None:
    other = links.unsubscribe_url(settings(app), contact_id).rsplit("/", 1)[1]
    forged_for_other_purpose = links.download_url(settings(app), contact_id).rsplit("/", 1)[1]
    # Change the signature's first character: the last one carries unused padding bits,
    # so changing the end alone left the token valid now and then.
    head, signature = other.rsplit(".", 1)
    tampered = f"{head}.{'A' if signature[0] != 'A' else 'B'}{signature[1:]}"
    client = app.test_client(use_cookies=False)
    for token in (tampered, forged_for_other_purpose, "garbage"):
        response = client.post(
            f"/unsubscribe/{token}",
            data="List-Unsubscribe=One-Click",
            content_type="application/x-www-form-urlencoded",
        )
        assert response.status_code == 400
    assert contact_row(app, "ana@example.org").status == "subscribed"


def test_unsubscribe_page_get_changes_nothing(app: Flask, contact_id: int) -> None:
    path = links.unsubscribe_url(settings(app), contact_id).removeprefix(settings(app).base_url)
    page = app.test_client().get(path)
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert "Unsubscribe</button>" in html and "/preferences/" in html
    assert contact_row(app, "ana@example.org").status == "subscribed"


def test_unsubscribe_records_the_campaign(app: Flask, contact_id: int) -> None:
    from outreach.campaigns.models import Campaign
    from outreach.delivery.models import Delivery

    with get_db(app).session() as session:
        campaign = Campaign(name="June", from_email="news@example.org")
        session.add(campaign)
        session.flush()
        session.add(Delivery(campaign_id=campaign.id, contact_id=contact_id))
        campaign_id = campaign.id
    path = links.unsubscribe_url(settings(app), contact_id, campaign_id).removeprefix(
        settings(app).base_url
    )
    assert app.test_client().post(path).status_code == 200
    with get_db(app).reader() as session:
        assert session.scalar(sa.select(Delivery.unsubscribed_at)) is not None


def test_preferences_tracking_and_groups(app: Flask, contact_id: int) -> None:
    from outreach.groups.service import create_group

    with get_db(app).session() as session:
        vip = create_group(session, "Book club", "A monthly reading list", public=True).id
    path = links.preferences_url(settings(app), contact_id).removeprefix(settings(app).base_url)
    client = app.test_client()
    page = client.get(path).get_data(as_text=True)
    assert "Book club" in page and "A monthly reading list" in page
    assert "ana@example.org" in page
    saved = client.post(
        path,
        data={
            "csrf_token": csrf_from(page),
            "action": "save",
            "groups": str(vip),
            "open_tracking": "1",
        },
    )
    assert saved.status_code == 200 and "Saved." in saved.get_data(as_text=True)
    assert ("open_tracking", "confirmed") in events(app, "ana@example.org")
    page = client.get(path).get_data(as_text=True)
    client.post(path, data={"csrf_token": csrf_from(page), "action": "save"})
    assert events(app, "ana@example.org")[-1] == ("open_tracking", "withdrawn")
    with get_db(app).reader() as session:
        from outreach.groups.models import GroupMembership

        assert (
            session.scalar(
                sa.select(sa.func.count())
                .select_from(GroupMembership)
                .where(GroupMembership.group_id == vip)
            )
            == 0
        )
    page = client.get(path).get_data(as_text=True)
    gone = client.post(path, data={"csrf_token": csrf_from(page), "action": "unsubscribe"})
    assert gone.status_code == 200
    assert contact_row(app, "ana@example.org").status == "unsubscribed"


def test_preferences_post_needs_csrf(app: Flask, contact_id: int) -> None:
    path = links.preferences_url(settings(app), contact_id).removeprefix(settings(app).base_url)
    assert app.test_client().post(path, data={"action": "unsubscribe"}).status_code == 400
    assert contact_row(app, "ana@example.org").status == "subscribed"


def test_mailable_is_the_send_time_rule(app: Flask, contact_id: int) -> None:
    from outreach.consent.models import Suppression
    from outreach.contacts.identity import email_hmac

    other = subscribed(app, "bo@example.org")
    restricted = subscribed(app, "cy@example.org")
    withdrawn = subscribed(app, "di@example.org")
    suppressed = subscribed(app, "ed@example.org")
    with get_db(app).session() as session:
        session.execute(
            sa.update(Contact).where(Contact.id == restricted).values(status="restricted")
        )
        record_event(
            session, withdrawn, Purpose.NEWSLETTER, ConsentAction.WITHDRAWN, Evidence("test")
        )
        session.add(
            Suppression(
                email_hmac=email_hmac(settings(app).secret_key, "ed@example.org"), reason="bounced"
            )
        )
        pending = Contact(email="fi@example.org", email_key="fi@example.org", attributes={})
        session.add(pending)
        session.flush()
        ids = [contact_id, other, restricted, withdrawn, suppressed, pending.id]
        assert mailable(session, ids) == {contact_id, other}
