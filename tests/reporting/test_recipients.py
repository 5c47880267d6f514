"""Who, not only how many: the recipients behind each figure, on the command line, the
API and the admin; as a CSV, a new group or a follow-up. Erased contacts never appear;
restricted ones appear without their data."""

from __future__ import annotations

import csv
import io
import json
import re
from email.message import EmailMessage

import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient

from outreach.campaigns.models import Campaign
from outreach.contacts.models import Contact
from outreach.db import get_db
from outreach.delivery.models import Delivery
from outreach.groups.models import Group, GroupMembership
from tests.support.admin import form_post
from tests.support.pages import rows_of
from tests.support.tracking import click_paths, flush, pixel_path

BROWSER = {"User-Agent": "Mozilla/5.0 (Macintosh) Firefox/130"}
GMAIL = {"User-Agent": "Mozilla/5.0 (via ggpht.com GoogleImageProxy)"}


@pytest.fixture
def read(app: Flask, sent: dict[str, EmailMessage]) -> int:
    """ "both" opened and clicked; "opens"'s only open was Gmail's proxy; "clicks" clicked
    (no open tracking); "none" unsubscribed in one click. The campaign's id."""
    client = app.test_client()
    client.get(pixel_path(sent["both@example.org"]), headers=BROWSER)
    client.get(click_paths(sent["both@example.org"])[0], headers=BROWSER)
    client.get(click_paths(sent["clicks@example.org"])[0], headers=BROWSER)
    client.get(pixel_path(sent["opens@example.org"]), headers=GMAIL)
    flush(app)
    unsubscribe = re.search(
        r"<https?://[^/>]+(/unsubscribe/[^>]+)>", sent["none@example.org"]["List-Unsubscribe"]
    )
    assert unsubscribe is not None
    client.post(unsubscribe.group(1), data={"List-Unsubscribe": "One-Click"})
    with get_db(app).reader() as session:
        return int(session.scalar(sa.select(Campaign.id).where(Campaign.name == "T")) or 0)


def _who(app: Flask, *args: str) -> list[str]:
    result = app.test_cli_runner().invoke(args=["campaigns", "recipients", "T", *args, "--json"])
    assert result.exit_code == 0, result.output
    return [r["email"] for r in json.loads(result.stdout)]


def test_the_recipients_of_each_outcome(app: Flask, read: int) -> None:
    assert _who(app, "--outcome", "opened") == ["both@example.org"]
    assert sorted(_who(app, "--outcome", "clicked")) == ["both@example.org", "clicks@example.org"]
    # Open-tracked and no human open: the proxy's fetch was not a person's.
    assert _who(app, "--outcome", "not_opened") == ["opens@example.org"]
    assert _who(app, "--outcome", "unsubscribed") == ["none@example.org"]
    assert _who(app, "--outcome", "bounced") == []
    assert _who(app, "--outcome", "opened", "--group", "Managers") == []
    with get_db(app).session() as session:
        session.execute(
            sa.update(Contact)
            .where(Contact.email_key == "both@example.org")
            .values(status="restricted")
        )
        erased = session.scalar(
            sa.select(Contact.id).where(Contact.email_key == "clicks@example.org")
        )
        session.execute(
            sa.update(Delivery).where(Delivery.contact_id == erased).values(contact_id=None)
        )
    restricted = json.loads(
        app.test_cli_runner()
        .invoke(args=["campaigns", "recipients", "T", "--outcome", "clicked", "--json"])
        .stdout
    )
    assert [(r["email"], r["name"], r["status"]) for r in restricted] == [("", "", "restricted")]
    table = app.test_cli_runner().invoke(
        args=["campaigns", "recipients", "T", "--outcome", "clicked"]
    )
    assert table.stdout.splitlines() == [
        f"contact #{restricted[0]['contact_id']} (restricted)    Thinkers  restricted"
    ]
    made = app.test_cli_runner().invoke(
        args=["campaigns", "recipients", "T", "--outcome", "clicked", "--to-group", "Clickers"]
    )
    assert made.output.strip() == "group Clickers created with 0 contacts"  # restricted: not added
    bad = app.test_cli_runner().invoke(args=["campaigns", "recipients", "T", "--outcome", "read"])
    assert bad.exit_code == 2 and "'read' is not one of" in bad.output


def test_the_recipients_through_the_api(
    client: FlaskClient, api_headers: dict[str, str], read: int, app: Flask
) -> None:
    url = f"/api/v1/campaigns/{read}/recipients"
    page = client.get(url, query_string={"outcome": "clicked", "per_page": 1}, headers=api_headers)
    assert page.status_code == 200, page.get_json()
    body = page.get_json()
    assert (body["total"], body["page"], body["per_page"]) == (2, 1, 1)
    first_page = [r["email"] for r in body["items"]]
    second = client.get(
        url, query_string={"outcome": "clicked", "per_page": 1, "page": 2}, headers=api_headers
    )
    both_pages = first_page + [r["email"] for r in second.get_json()["items"]]
    assert sorted(both_pages) == ["both@example.org", "clicks@example.org"]
    assert client.get(url, query_string={"outcome": "read"}, headers=api_headers).status_code == 422
    sheet = client.get(f"{url}.csv", query_string={"outcome": "not_opened"}, headers=api_headers)
    assert sheet.mimetype == "text/csv"
    rows = list(csv.DictReader(io.StringIO(sheet.get_data(as_text=True))))
    assert [(r["email"], r["group"], r["human_opens"]) for r in rows] == [
        ("opens@example.org", "Thinkers", "0")
    ]
    made = client.post(
        f"{url}/group", json={"outcome": "clicked", "name": "T clickers"}, headers=api_headers
    )
    assert made.status_code == 201, made.get_json()
    assert made.get_json()["members"] == 2
    with get_db(app).reader() as session:
        members = session.scalars(
            sa.select(Contact.email)
            .join(GroupMembership, GroupMembership.contact_id == Contact.id)
            .join(Group, Group.id == GroupMembership.group_id)
            .where(Group.name == "T clickers")
            .order_by(Contact.email)
        ).all()
    assert members == ["both@example.org", "clicks@example.org"]
    again = client.post(
        f"{url}/group", json={"outcome": "clicked", "name": "T clickers"}, headers=api_headers
    )
    assert again.status_code == 409


def test_the_recipients_in_the_admin(auth: FlaskClient, read: int) -> None:
    page = f"/admin/campaigns/{read}/recipients"
    html = auth.get(page, query_string={"outcome": "clicked", "group": "Thinkers"}).get_data(
        as_text=True
    )
    assert sorted(r.split()[0] for r in rows_of(html, "recipients")) == [
        "both@example.org",
        "clicks@example.org",
    ]
    assert "2 recipients" in html
    sheet = auth.get(f"{page}.csv", query_string={"outcome": "opened"})
    assert sheet.get_data(as_text=True).splitlines()[1].split(",")[1] == "both@example.org"
    status, where, _ = form_post(
        auth, f"{page}?outcome=opened", f"{page}/group", outcome="opened", name="Readers of T"
    )
    assert status == 302
    assert "Group &#39;Readers of T&#39; created with 1 contacts." in auth.get(where).get_data(
        as_text=True
    )
    # One click to a follow-up for them: the draft is the openers' follow-up.
    html = auth.get(page, query_string={"outcome": "not_opened"}).get_data(as_text=True)
    assert "Draft a follow-up to them" in html
    status, where, _ = form_post(
        auth,
        f"{page}?outcome=not_opened",
        f"/admin/campaigns/{read}/followup",
        audience="non-openers",
        groups="Thinkers",
    )
    assert status == 302
    draft = auth.get(where).get_data(as_text=True)
    assert "the <strong>non openers</strong> of that campaign" in draft
    assert "<strong>1</strong> now" in draft
    assert auth.get(page, query_string={"outcome": "read"}).status_code == 422
    unsubscribed = auth.get(page, query_string={"outcome": "unsubscribed"}).get_data(as_text=True)
    assert "Draft a follow-up to them" not in unsubscribed
