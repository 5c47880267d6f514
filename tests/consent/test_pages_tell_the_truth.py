"""Pages say what is already true: a used confirmation link, an unsubscribe link of someone
already unsubscribed, the sign-up's "subscribe again", a failed sign-in keeping the address."""

from __future__ import annotations

import pytest
from flask import Flask

from outreach.consent import links
from tests.conftest import SmtpSink, csrf_from
from tests.support.consent import contact_row, link, mails_to, seed_sectors, subscribe


@pytest.fixture
def app(mail_app: Flask) -> Flask:
    seed_sectors(mail_app)
    return mail_app


def test_a_used_confirmation_link_says_it_is_confirmed(app: Flask, smtp_sink: SmtpSink) -> None:
    client = app.test_client()
    subscribe(client)
    [confirmation] = mails_to(app, smtp_sink, "ana@example.org")
    path = link(confirmation, "confirm")
    token = csrf_from(client.get(path).text)
    client.post(path, data={"csrf_token": token})

    again = client.get(path)
    pressed = client.post(path, data={"csrf_token": token})  # the button of an old tab

    for page in (again, pressed):
        assert page.status_code == 200
        html = page.get_data(as_text=True)
        assert "Your subscription is already confirmed" in html
        assert "<button" not in html.split("<main", 1)[-1]
        assert "/preferences/" in html


def test_the_unsubscribe_page_of_someone_unsubscribed_says_so(app: Flask) -> None:
    from tests.support.consent import subscribed

    contact_id = subscribed(app)
    settings = app.extensions["outreach.settings"]
    path = links.unsubscribe_url(settings, contact_id).removeprefix(settings.base_url)
    client = app.test_client()
    assert "Press the button" in client.get(path).get_data(as_text=True)
    client.post(path)
    assert contact_row(app, "ana@example.org").status == "unsubscribed"

    html = client.get(path).get_data(as_text=True)

    assert "You are already unsubscribed" in html and "Press the button" not in html
    assert 'href="/subscribe">Subscribe again</a>' in html


def test_check_your_inbox_links_to_subscribe_again(app: Flask) -> None:
    html = subscribe(app.test_client()).get_data(as_text=True)

    assert 'or <a href="/subscribe">subscribe again</a>' in html


def test_a_failed_sign_in_keeps_the_address(app: Flask, admin_user: str) -> None:
    client = app.test_client()
    token = csrf_from(client.get("/admin/login").get_data(as_text=True))

    page = client.post(
        "/admin/login", data={"csrf_token": token, "email": admin_user, "password": "wrong"}
    )

    assert page.status_code == 401
    assert f'name="email" value="{admin_user}"' in page.get_data(as_text=True)
