"""Steps of the admin page tests: campaigns created and variants saved through the forms."""

from __future__ import annotations

import re
from typing import Any

import sqlalchemy as sa
from flask.testing import FlaskClient

from outreach.groups.models import Group
from tests.conftest import ADMIN_PASSWORD, csrf_from
from tests.support.pages import Transaction


def group_ids(db: Transaction) -> dict[str, int]:
    with db() as session:
        return dict(session.execute(sa.select(Group.name, Group.id)).all())


def form_post(client: FlaskClient, page: str, url: str, **data: str) -> tuple[int, str, str]:
    """Post a form of `page` with its CSRF token: (status, Location, body)."""
    token = csrf_from(client.get(page).get_data(as_text=True))
    response = client.post(url, data={"csrf_token": token, **data})
    return (
        response.status_code,
        response.headers.get("Location", ""),
        response.get_data(as_text=True),
    )


def create(client: FlaskClient, name: str = "June news", groups: str = "Thinkers, Managers") -> int:
    """Create a campaign through the form; returns its id."""
    status, location, body = form_post(
        client,
        "/admin/campaigns",
        "/admin/campaigns",
        name=name,
        sender="Ana García <ana@example.org>",
        reply_to="replies@example.org",
        groups=groups,
    )
    assert status == 302, body
    match = re.fullmatch(r"/admin/campaigns/(\d+)", location)
    assert match, location
    return int(match.group(1))


def save_variant(
    client: FlaskClient, campaign_id: int, group: str, subject: str, body: str, **more: str
) -> tuple[int, str, str]:
    """Post the variant form of one tab (group id or "fallback")."""
    page = f"/admin/campaigns/{campaign_id}"
    return form_post(
        client,
        page,
        f"{page}/variants",
        group=group,
        subject=subject,
        mjml=body,
        **{"preheader": "", "text": "", **more},
    )


def panel(html: str, key: str) -> str:
    """The composer tab panel of one group id (or "fallback")."""
    return html.split(f'id="tab-{key}"', 1)[1].split("</section>", 1)[0]


def sign_in(page: Any, base: str, email: str) -> None:
    """Sign in to the admin in a Playwright page, as a person does at /admin/login."""
    page.goto(f"{base}/admin/login")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(ADMIN_PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(f"{base}/admin/")
