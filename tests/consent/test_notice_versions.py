"""Every consent event cites a notice version, from every surface that writes one: the
sign-up form, the confirmation link, the preferences page (tracking given and withdrawn,
unsubscribe), the unsubscribe page, RFC 8058 one-click, the CSV import (CLI and API) and
the admin's privacy workflow; the preferences page shows the notice it cites."""

from __future__ import annotations

import io

import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskCliRunner

from outreach.consent import links
from outreach.consent.models import ConsentEvent, NoticeVersion
from outreach.consent.notice import current_notice, save_notice
from outreach.contacts.models import Contact
from outreach.db import get_db
from tests.conftest import SmtpSink, csrf_from
from tests.support.consent import link, mails_to, seed_sectors, subscribe


@pytest.fixture
def app(mail_app: Flask) -> Flask:
    seed_sectors(mail_app)
    return mail_app


def ledger(app: Flask) -> list[tuple[str, str, str, int | None]]:
    """(address, purpose, action, notice version) of every event, in order."""
    with get_db(app).reader() as session:
        rows = session.execute(
            sa.select(
                Contact.email,
                ConsentEvent.purpose,
                ConsentEvent.action,
                ConsentEvent.notice_version_id,
            )
            .join(Contact, Contact.id == ConsentEvent.contact_id)
            .order_by(ConsentEvent.id)
        ).all()
    return [(e, str(p), str(a), n) for e, p, a, n in rows]


def contact_id(app: Flask, email: str) -> int:
    with get_db(app).reader() as session:
        found = session.scalar(sa.select(Contact.id).where(Contact.email == email))
    assert found is not None
    return found


def path_of(app: Flask, url: str) -> str:
    return url.removeprefix(app.extensions["outreach.settings"].base_url)


def new_notice_version(app: Flask) -> int:
    """A second notice version, put in force (as Settings does)."""
    with get_db(app).session() as session:
        first = current_notice(session)
        second = save_notice(
            session,
            {**first.controller, "name": "Example Press Ltd"},
            first.first_layer,
            first.full_text,
        )
        return second.id


def test_every_surface_cites_the_notice_version(
    app: Flask,
    smtp_sink: SmtpSink,
    runner: FlaskCliRunner,
    api_headers: dict[str, str],
    tmp_path: object,
) -> None:
    settings = app.extensions["outreach.settings"]
    client = app.test_client()
    # Sign-up form and confirmation link.
    assert subscribe(client, "ana@example.org").status_code == 200
    [confirmation] = mails_to(app, smtp_sink, "ana@example.org")
    landing = client.get(link(confirmation, "confirm"))
    client.post(link(confirmation, "confirm"), data={"csrf_token": csrf_from(landing.text)})
    ana = contact_id(app, "ana@example.org")
    # The preferences page shows the notice it cites; tracking given, then withdrawn.
    preferences = path_of(app, links.preferences_url(settings, ana))
    page = client.get(preferences).get_data(as_text=True)
    version = ledger(app)[0][3]
    assert "Basic information on data protection" in page
    assert f"(version {version})" in page and f'name="notice_version" value="{version}"' in page
    form = {"csrf_token": csrf_from(page), "action": "save", "notice_version": str(version)}
    client.post(preferences, data={**form, "open_tracking": "1"})
    client.post(preferences, data=form)
    # A later notice: the preferences page shows it, and its unsubscribe cites it.
    later = new_notice_version(app)
    page = client.get(preferences).get_data(as_text=True)
    assert f"(version {later})" in page
    client.post(
        preferences,
        data={"csrf_token": csrf_from(page), "action": "unsubscribe", "notice_version": str(later)},
    )
    # Import through the CLI and the API; one-click and the unsubscribe page.
    people = tmp_path / "people.csv"  # type: ignore[operator]
    people.write_text("email,first_name\nbo@example.org,Bo\ncy@example.org,Cy\n")
    imported = runner.invoke(
        args=["contacts", "import", str(people), "--source", "fair", "--status", "subscribed"]
    )
    assert imported.exit_code == 0, imported.output
    upload = {"file": (io.BytesIO(b"email\ndi@example.org\n"), "more.csv"), "source": "api"}
    response = app.test_client().post(
        "/api/v1/contacts/import",
        data={**upload, "status": "subscribed"},
        headers=api_headers,
        content_type="multipart/form-data",
    )
    assert response.status_code == 200, response.get_json()
    one_click = path_of(app, links.unsubscribe_url(settings, contact_id(app, "bo@example.org")))
    app.test_client(use_cookies=False).post(
        one_click,
        data="List-Unsubscribe=One-Click",
        content_type="application/x-www-form-urlencoded",
    )
    unsubscribe_page = path_of(
        app, links.unsubscribe_url(settings, contact_id(app, "cy@example.org"))
    )
    assert app.test_client().post(unsubscribe_page).status_code == 200

    events = ledger(app)
    assert [(e, p, a) for e, p, a, _ in events] == [
        ("ana@example.org", "newsletter", "given"),
        ("ana@example.org", "newsletter", "confirmed"),
        ("ana@example.org", "open_tracking", "confirmed"),
        ("ana@example.org", "open_tracking", "withdrawn"),
        ("ana@example.org", "newsletter", "withdrawn"),
        ("bo@example.org", "newsletter", "confirmed"),
        ("cy@example.org", "newsletter", "confirmed"),
        ("di@example.org", "newsletter", "confirmed"),
        ("bo@example.org", "newsletter", "withdrawn"),
        ("cy@example.org", "newsletter", "withdrawn"),
    ]
    assert [n for *_, n in events] == [version] * 4 + [later] * 6
    with get_db(app).reader() as session:
        assert session.scalar(sa.select(sa.func.count()).select_from(NoticeVersion)) == 2
