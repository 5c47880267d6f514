"""Notice texts as a browser sends them (CRLF, trailing spaces) are normalized before they
are hashed and stored; /privacy shows paragraphs; every version can be read in Settings."""

from __future__ import annotations

import re
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient
from markupsafe import escape

from outreach.db import get_db
from tests.conftest import csrf_from

FIRST_LAYER = ("responsible", "purpose", "legitimation", "recipients", "rights", "additional")


@pytest.fixture
def app(mail_app: Flask) -> Flask:
    return mail_app


def as_a_browser_sends(text: str) -> str:
    """Textarea content as submitted: CRLF line endings, here with trailing spaces too."""
    return text.replace("\n", "  \r\n") + "\r\n\r\n"


def form_of(auth: FlaskClient, **changes: str) -> dict[str, Any]:
    """The Settings form as a browser submits it: the values shown, `changes` applied."""
    page = auth.get("/admin/settings").get_data(as_text=True)

    def shown(name: str) -> str:
        import html

        match = re.search(rf'name="{name}" value="([^"]*)"', page) or re.search(
            rf'name="{name}"[^>]*>(.*?)</textarea>', page, flags=re.S
        )
        assert match, name
        return html.unescape(match.group(1))

    fields = [f"controller_{f}" for f in ("name", "address", "email")]
    fields += [f"first_layer_{f}" for f in FIRST_LAYER] + ["full_text"]
    values = {name: as_a_browser_sends(shown(name)) for name in fields}
    return {**values, **changes, "csrf_token": csrf_from(page)}


def versions(app: Flask) -> list[Any]:
    from outreach.consent.models import NoticeVersion

    with get_db(app).reader() as session:
        return list(session.scalars(sa.select(NoticeVersion).order_by(NoticeVersion.id)))


def test_changing_only_the_name_keeps_the_texts_as_they_were(app: Flask, auth: FlaskClient) -> None:
    saved = auth.post(
        "/admin/settings",
        data=form_of(auth, controller_name="Ana García Consulting"),
        follow_redirects=True,
    )
    assert "Notice version 2 is now in force" in saved.get_data(as_text=True)
    first, second = versions(app)
    assert second.controller["name"] == "Ana García Consulting"
    assert second.full_text == first.full_text and "\r" not in second.full_text
    assert second.first_layer == first.first_layer
    assert second.controller["address"] == first.controller["address"]

    again = auth.post(
        "/admin/settings",
        data=form_of(auth, controller_name="Ana García Consulting  "),
        follow_redirects=True,
    )
    assert "Nothing changed" in again.get_data(as_text=True)
    unchanged = auth.post("/admin/settings", data=form_of(auth), follow_redirects=True)
    assert "Nothing changed" in unchanged.get_data(as_text=True)
    back = auth.post(
        "/admin/settings",
        data=form_of(auth, controller_name=first.controller["name"] + "\r\n"),
        follow_redirects=True,
    )
    assert "Notice version 1 is now in force" in back.get_data(as_text=True)
    assert len(versions(app)) == 2  # the identical first version, not a third one


def test_the_privacy_page_shows_each_paragraph(app: Flask, auth: FlaskClient) -> None:
    text = "First paragraph,\non two lines.\n\nSecond <b>paragraph</b>.\n\n\nThird one."
    auth.post(
        "/admin/settings",
        data=form_of(auth, full_text=as_a_browser_sends(text)),
        follow_redirects=True,
    )
    [*_, notice] = versions(app)
    assert notice.full_text == text

    page = app.test_client().get("/privacy").get_data(as_text=True)
    body = page.split('class="notice-text">', 1)[1].split("</div>", 1)[0]
    paragraphs = re.findall(r"<p>(.*?)</p>", body, flags=re.S)
    assert len(paragraphs) == 3
    assert paragraphs[0] == "First paragraph,<br>on two lines."  # its line break kept
    assert "Second &lt;b&gt;paragraph&lt;/b&gt;." in paragraphs[1]
    assert paragraphs[2].strip() == "Third one."


def test_every_version_can_be_read_in_settings(app: Flask, auth: FlaskClient) -> None:
    auth.post(
        "/admin/settings",
        data=form_of(
            auth,
            controller_name="Ana García Consulting",
            full_text="New notice.\r\n\r\nWith <two> paragraphs.",
        ),
    )
    settings = auth.get("/admin/settings").get_data(as_text=True)
    assert 'href="/admin/settings/notices/1"' in settings
    assert 'href="/admin/settings/notices/2"' in settings

    old = auth.get("/admin/settings/notices/1")
    assert old.status_code == 200
    html = old.get_data(as_text=True)
    assert "Notice version 1" in html and "in force</span>" not in html
    first = versions(app)[0]
    assert str(escape(first.controller["name"])) in html
    for paragraph in first.full_text.split("\n\n"):
        assert f"<p>{escape(paragraph)}</p>" in html
    assert "0 consent events" in html and first.hash in html
    new = auth.get("/admin/settings/notices/2").get_data(as_text=True)
    assert "in force</span>" in new and "Ana García Consulting" in new
    assert "<p>New notice.</p><p>With &lt;two&gt; paragraphs.</p>" in new

    assert auth.get("/admin/settings/notices/3").status_code == 404
    assert auth.get(f"/admin/settings/notices/{2**40}").status_code == 404
    anonymous = app.test_client().get("/admin/settings/notices/1")
    assert anonymous.status_code == 302 and "/admin/login" in anonymous.location
