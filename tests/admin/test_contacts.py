"""The contacts list and the contact page, through the test client."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, datetime
from urllib.parse import parse_qs, urlsplit

import pytest
import sqlalchemy as sa
from flask.testing import FlaskClient

from outreach.campaigns.models import Campaign
from outreach.consent.models import ConsentAction, ConsentEvent, NoticeVersion, Purpose
from outreach.consent.queries import consent_history
from outreach.contacts.models import Contact
from outreach.delivery.models import Delivery, DeliveryStatus
from outreach.delivery.queries import deliveries_of
from outreach.groups.models import Group
from outreach.groups.service import add_members
from tests.support.pages import Transaction, rows_of

CONSULTANTS = 55
HEADER = "email,first_name,last_name,sector,organization,city\n"


@pytest.fixture
def people(db: Transaction, seed: Callable[..., object]) -> dict[str, int]:
    """55 subscribed consultants at Acme, 3 pending others, and an affinity group VIP."""
    seed(
        HEADER
        + "".join(
            f"c{i:02}@example.org,Cons{i:02},Ult,Consultants,Acme,\n" for i in range(CONSULTANTS)
        ),
        status="subscribed",
    )
    seed(
        HEADER + "ana@example.org,Ana,García,Managers,Globex,Madrid\n"
        "bruno@example.org,Bruno,Martin,Thinkers,,\n"
        "carla@example.org,<b>Carla</b>,,,,\n"
    )
    with db() as session:
        add_members(session, "VIP", ["ana@example.org", "c00@example.org"])
        ids = dict(session.execute(sa.select(Group.name, Group.id)).all())
        ids.update(session.execute(sa.select(Contact.email_key, Contact.id)).all())
    return ids


def listing(auth: FlaskClient, **params: object) -> tuple[int, str]:
    response = auth.get("/admin/contacts", query_string=params)
    return response.status_code, response.get_data(as_text=True)


def link(html: str, rel: str) -> dict[str, list[str]] | None:
    """The query of the previous/next link, or None when the page has none."""
    match = re.search(rf'<a href="([^"]+)" rel="{rel}"', html)
    return parse_qs(urlsplit(match.group(1).replace("&amp;", "&")).query) if match else None


def test_list_shows_a_page_with_counts_groups_and_links(
    auth: FlaskClient, people: dict[str, int]
) -> None:
    status, html = listing(auth)
    assert status == 200
    assert "58 contacts match" in html and "showing 1–50" in html
    rows = rows_of(html)
    assert len(rows) == 50
    assert rows[0] == "c00@example.org Cons00 Ult Consultants Acme subscribed Consultants, VIP"
    assert f'href="/admin/contacts/{people["c00@example.org"]}"' in html
    assert link(html, "prev") is None and link(html, "next") == {"page": ["2"]}


def test_search_matches_address_name_and_organization(
    auth: FlaskClient, people: dict[str, int]
) -> None:
    for q, expected in [
        ("globex", ["ana"]),
        ("BRUNO@", ["bruno"]),
        ("martin", ["bruno"]),
        ("cons07", ["c07"]),
        ("nobody", []),
    ]:
        _, html = listing(auth, q=q)
        found = re.findall(r">([a-z0-9]+)@example\.org</a>", html)
        assert found == expected, q
    assert 'value="globex"' in listing(auth, q="globex")[1]
    assert "No contact matches." in listing(auth, q="nobody")[1]


def test_filter_by_group_and_status(auth: FlaskClient, people: dict[str, int]) -> None:
    vip = people["VIP"]
    _, html = listing(auth, group=vip)
    assert [r.split()[0] for r in rows_of(html)] == ["c00@example.org", "ana@example.org"]
    assert f'<option value="{vip}" selected>VIP (affinity, 2)</option>' in html
    _, html = listing(auth, status="pending")
    assert "3 contacts match" in html and '<option value="pending" selected>' in html
    _, html = listing(auth, group=vip, status="subscribed")
    assert [r.split()[0] for r in rows_of(html)] == ["c00@example.org"]
    _, html = listing(auth, group=people["Thinkers"])
    assert "1 contact matches" in html


def test_pagination_keeps_the_filters(auth: FlaskClient, people: dict[str, int]) -> None:
    _, first = listing(auth, q="acme", status="subscribed")
    assert "55 contacts match" in first and "Page 1 of 2" in first
    following = link(first, "next")
    assert following == {"q": ["acme"], "status": ["subscribed"], "page": ["2"]}
    _, second = listing(auth, **{k: v[0] for k, v in following.items()})
    assert len(rows_of(second)) == 5 and "showing 51–55" in second
    assert link(second, "next") is None
    assert link(second, "prev") == {"q": ["acme"], "status": ["subscribed"], "page": ["1"]}


def test_unusable_filters_are_explained_on_the_page(
    auth: FlaskClient, people: dict[str, int]
) -> None:
    status, html = listing(auth, status="sleeping")
    assert status == 422 and "unknown status &#39;sleeping&#39;" in html
    status, html = listing(auth, group=9999)
    assert status == 404 and "no group named" in html
    status, html = listing(auth, page="abc")
    assert status == 200 and "showing 1–50" in html
    status, html = listing(auth, page=9)
    assert status == 200 and "none on page 9" in html
    assert link(html, "prev") == {"page": ["2"]}


@pytest.fixture
def ledger(db: Transaction, people: dict[str, int]) -> dict[str, int]:
    """Ana's consent events (given then confirmed) and one delivery."""
    ana = people["ana@example.org"]
    with db() as session:
        notice = NoticeVersion(hash="ab12" * 16, full_text="notice v1")
        campaign = Campaign(name="Spring letter", from_email="news@example.org")
        session.add_all([notice, campaign])
        session.flush()
        given = datetime(2024, 3, 1, 9, 30, tzinfo=UTC)
        session.add_all(
            [
                ConsentEvent(
                    contact_id=ana,
                    purpose=Purpose.NEWSLETTER,
                    action=ConsentAction.GIVEN,
                    occurred_at=given,
                    ip="203.0.113.7",
                    user_agent="Firefox/125 <test>",
                    source="https://news.example.org/subscribe",
                    notice_version_id=notice.id,
                ),
                ConsentEvent(
                    contact_id=ana,
                    purpose=Purpose.NEWSLETTER,
                    action=ConsentAction.CONFIRMED,
                    occurred_at=given.replace(hour=10),
                    source="confirmation link",
                    notice_version_id=notice.id,
                    confirmed_at=given.replace(hour=10),
                    confirmation_ip="198.51.100.4",
                ),
                Delivery(
                    campaign_id=campaign.id,
                    contact_id=ana,
                    group_name="Managers",
                    status=DeliveryStatus.SENT,
                    sent_at=given.replace(day=5),
                    human_opens=2,
                    machine_opens=1,
                    clicks=3,
                ),
            ]
        )
    return {"ana": ana, "campaign": campaign.id}


def test_contact_page_shows_profile_groups_consent_and_deliveries(
    auth: FlaskClient, ledger: dict[str, int]
) -> None:
    response = auth.get(f"/admin/contacts/{ledger['ana']}")
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert "<h1>Ana García</h1>" in html and "Globex" in html
    assert '<th scope="row">city</th><td>Madrid</td>' in html
    assert re.findall(r"<li>([^<]+)</li>", html.split('id="groups"')[1].split("</ul>")[0]) == [
        "Managers",
        "VIP",
    ]
    timeline = html.split('id="consent"')[1].split("</ol>")[0]
    assert timeline.index("2024-03-01 09:30:00 UTC") < timeline.index("2024-03-01 10:30:00 UTC")
    for text in (
        "newsletter</strong> given",
        "newsletter</strong> confirmed",
        "203.0.113.7",
        "Firefox/125 &lt;test&gt;",
        "https://news.example.org/subscribe",
        f'title="{"ab12" * 16}">ab12ab12ab12</code>',
        "2024-03-01 10:30:00 UTC from 198.51.100.4",
    ):
        assert text in timeline, text
    assert rows_of(html, "deliveries") == [
        f"{ledger['campaign']} Spring letter Managers sent 2024-03-05 09:30:00 UTC 2 1 3"
    ]


def test_contact_page_escapes_and_handles_empty_ledgers(
    auth: FlaskClient, people: dict[str, int]
) -> None:
    html = auth.get(f"/admin/contacts/{people['carla@example.org']}").get_data(as_text=True)
    assert "&lt;b&gt;Carla&lt;/b&gt;" in html and "<b>Carla" not in html
    assert "No consent recorded." in html and "No message sent to this contact yet." in html
    assert "In no group." in html
    assert auth.get("/admin/contacts/999999").status_code == 404


def test_ledger_queries_answer_for_one_contact_only(
    db: Transaction, ledger: dict[str, int], people: dict[str, int]
) -> None:
    with db() as session:
        events = consent_history(session, ledger["ana"])
        assert [(e.action, e.notice_hash[:4]) for e in events] == [
            (ConsentAction.GIVEN, "ab12"),
            (ConsentAction.CONFIRMED, "ab12"),
        ]
        assert consent_history(session, people["bruno@example.org"]) == []
        assert [d.campaign_name for d in deliveries_of(session, ledger["ana"])] == ["Spring letter"]
        assert deliveries_of(session, people["bruno@example.org"]) == []
