"""The campaign pages: list and create, targets, variants, preview, audience, test sends."""

from __future__ import annotations

import html as html_lib
import re
from collections.abc import Callable

import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient
from markupsafe import escape

from outreach.campaigns.models import Campaign, Variant
from outreach.campaigns.service import get_campaign, target_groups
from tests.conftest import SmtpSink
from tests.support.admin import create, form_post, group_ids, panel, save_variant
from tests.support.pages import Transaction, rows_of

HEADER = "email,first_name,last_name,sector\n"
MJML = """<mjml><mj-body><mj-section><mj-column>
<mj-text><h1>{{ greeting }} {{ contact.first_name }}</h1><p>Notes for {{ group.name }}.</p>
<a href="{{ unsubscribe_url }}">Unsubscribe</a></mj-text>
</mj-column></mj-section></mj-body></mjml>"""


def mjml(greeting: str) -> str:
    """A small valid MJML body that greets the reader with `greeting`."""
    return MJML.replace("{{ greeting }}", greeting)


@pytest.fixture
def people(seed: Callable[..., object]) -> None:
    """Thinkers: Tina and Theo (subscribed); Managers: Mario (subscribed), Mila (pending)."""
    seed(
        HEADER + "tina@example.org,Tina,Thorne,Thinkers\n"
        "theo@example.org,Theo,Tal,Thinkers\n"
        "mario@example.org,Mario,Mendez,Managers\n",
        status="subscribed",
    )
    seed(HEADER + "mila@example.org,Mila,Moss,Managers\n")


def tab_labels(html: str) -> list[str]:
    """The composer's tabs, in order."""
    return [label.strip() for label in re.findall(r'role="tab"[^>]*>([^<]*)', html)]


def flashes(html: str) -> list[str]:
    return [
        html_lib.unescape(m)
        for m in re.findall(r'<p class="flash[^"]*" role="[a-z]+">([^<]*)</p>', html)
    ]


def test_campaigns_need_a_signed_in_admin(client: FlaskClient) -> None:
    response = client.get("/admin/campaigns")
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/admin/login")
    assert client.get("/admin/campaigns/1/preview?group=1").status_code == 302


def test_create_a_campaign_through_the_form(
    auth: FlaskClient, people: None, db: Transaction
) -> None:
    html = auth.get("/admin/campaigns").get_data(as_text=True)
    assert "No campaign yet" in html
    assert "Managers (1 subscribed), Thinkers (2 subscribed)" in html

    campaign_id = create(auth)

    html = auth.get(f"/admin/campaigns/{campaign_id}").get_data(as_text=True)
    assert "Campaign &#39;June news&#39; created" in html
    assert "Ana García &lt;ana@example.org&gt;" in html and "replies@example.org" in html
    assert 'name="groups" value="Thinkers, Managers"' in html
    assert tab_labels(html) == ["Thinkers", "Managers", "Fallback"]
    assert html.count("(no variant)") >= 3
    ids = group_ids(db)
    # A new variant starts from the default layout, signed with the controller identity.
    assert "&lt;mjml&gt;" in panel(html, str(ids["Thinkers"]))
    assert "{{ unsubscribe_url }}" in panel(html, str(ids["Thinkers"]))

    listing = auth.get("/admin/campaigns").get_data(as_text=True)
    [row] = rows_of(listing, "campaigns")
    assert re.fullmatch(
        r"June news draft — Thinkers, Managers — - - \d{4}-\d\d-\d\d \S+ UTC", row
    ), row  # no date, no recipients nor rates before it is sent
    with db() as session:
        campaign = get_campaign(session, campaign_id)
        assert (campaign.from_name, campaign.from_email) == ("Ana García", "ana@example.org")
        assert [g.name for g in target_groups(session, campaign)] == ["Thinkers", "Managers"]


def test_a_refused_new_campaign_keeps_what_was_typed(
    auth: FlaskClient, people: None, db: Transaction
) -> None:
    status, _, html = form_post(
        auth, "/admin/campaigns", "/admin/campaigns", name="July", sender="nobody", groups=""
    )
    assert status == 422
    assert "from: &#39;nobody&#39; is not a valid address" in html
    assert 'name="name" maxlength="200" required value="July"' in html

    status, _, html = form_post(
        auth,
        "/admin/campaigns",
        "/admin/campaigns",
        name="July",
        sender="ana@example.org",
        groups="Thinkers, Poets",
    )
    assert status == 422
    assert "no group named &#39;Poets&#39;" in html
    assert 'value="Thinkers, Poets"' in html
    with db() as session:
        assert session.scalar(sa.select(sa.func.count()).select_from(Campaign)) == 0


def test_change_the_target_groups_and_their_order(
    auth: FlaskClient, people: None, db: Transaction
) -> None:
    campaign_id = create(auth, groups="Thinkers")
    page = f"/admin/campaigns/{campaign_id}"
    status, location, _ = form_post(auth, page, f"{page}/targets", groups="Managers,Thinkers")
    assert status == 302 and location == f"{page}#targets"
    html = auth.get(page).get_data(as_text=True)
    assert "Target groups saved." in flashes(html)
    assert tab_labels(html) == ["Managers", "Thinkers", "Fallback"]

    status, _, html = form_post(auth, page, f"{page}/targets", groups="Managers, Managers")
    assert status == 422
    assert "a group is listed twice" in html
    assert 'name="groups" value="Managers, Managers"' in html
    with db() as session:
        names = [g.name for g in target_groups(session, get_campaign(session, campaign_id))]
    assert names == ["Managers", "Thinkers"]


def test_save_a_variant_and_see_it(auth: FlaskClient, people: None, db: Transaction) -> None:
    campaign_id = create(auth)
    thinkers = str(group_ids(db)["Thinkers"])
    status, location, body = save_variant(
        auth,
        campaign_id,
        thinkers,
        "Ideas for {{ contact.first_name }}",
        mjml("Dear").replace("\n", "\r\n"),
        preheader="Thoughts of the month",
        text="Hi {{ contact.first_name }}\r\n{{ unsubscribe_url }}\r\n",
    )
    assert status == 302, body
    assert location == f"/admin/campaigns/{campaign_id}?tab={thinkers}"

    html = auth.get(location).get_data(as_text=True)
    tab = panel(html, thinkers)
    assert "Variant Thinkers saved." in flashes(tab)
    assert 'value="Ideas for {{ contact.first_name }}"' in tab
    assert 'value="Thoughts of the month"' in tab
    assert str(escape(mjml("Dear"))) in tab
    assert f'src="/admin/campaigns/{campaign_id}/preview?group={thinkers}"' in tab
    assert re.search(r"<iframe[^>]*\bsandbox\b", tab)
    assert tab_labels(html)[0] == "Thinkers"
    # Managers has neither a variant nor a fallback to receive: the checks say so.
    assert "error</strong>: Managers: no variant for this group and no fallback variant" in html
    with db() as session:
        variant = session.scalars(sa.select(Variant)).one()
        assert variant.mjml == mjml("Dear")  # CRLF from the textarea stored as LF
        assert variant.text_source == "Hi {{ contact.first_name }}\n{{ unsubscribe_url }}\n"


@pytest.mark.parametrize(
    ("tab", "body", "expected"),
    [
        (
            "Thinkers",
            mjml("Hi").replace("{{ group.name }}", "{{ contact.nope }}"),
            "variant Thinkers: mjml, line 2: unknown variable &#39;contact.nope&#39;",
        ),
        (
            "fallback",
            "<mjml><mj-body><mj-section>",
            "variant fallback: mjml: MJML error:",
        ),
    ],
)
def test_a_bad_template_is_refused_with_the_typed_text_kept(
    auth: FlaskClient, people: None, db: Transaction, tab: str, body: str, expected: str
) -> None:
    campaign_id = create(auth)
    key = "fallback" if tab == "fallback" else str(group_ids(db)[tab])
    status, _, html = save_variant(auth, campaign_id, key, "Subject <kept>", body)
    assert status == 422
    form = panel(html, key)
    assert re.search(rf'<p class="flash error" role="alert">{re.escape(expected)}', form), form
    assert str(escape(body)) in form
    assert 'value="Subject &lt;kept&gt;"' in form
    assert 'aria-selected="true"' in html.split(f'data-tab="{key}"', 1)[1].split(">", 1)[0]
    with db() as session:
        assert session.scalar(sa.select(sa.func.count()).select_from(Variant)) == 0


def test_preview_renders_the_variant_for_a_real_contact(
    auth: FlaskClient, people: None, db: Transaction
) -> None:
    campaign_id = create(auth)
    ids = group_ids(db)
    thinkers, managers = str(ids["Thinkers"]), str(ids["Managers"])
    assert save_variant(auth, campaign_id, thinkers, "T", mjml("Dear"))[0] == 302
    url = f"/admin/campaigns/{campaign_id}/preview"

    response = auth.get(url, query_string={"group": thinkers, "contact": "TINA@example.org"})
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert "Dear Tina" in html and "Notes for Thinkers." in html
    assert "sandbox" in response.headers["Content-Security-Policy"]
    assert "script-src" not in response.headers["Content-Security-Policy"]
    assert response.headers["X-Frame-Options"] == "SAMEORIGIN"

    sample = auth.get(url, query_string={"group": thinkers}).get_data(as_text=True)
    assert "Dear Alex" in sample

    # The composer offers the group's own members, and only them, to preview with.
    tab = panel(auth.get(f"/admin/campaigns/{campaign_id}").get_data(as_text=True), thinkers)
    options = re.findall(r'<option value="([^"]*)">', tab)
    assert options == ["", "tina@example.org", "theo@example.org"]

    # Managers has no variant and there is no fallback: the frame explains, nothing breaks.
    missing = auth.get(url, query_string={"group": managers})
    assert missing.status_code == 422
    assert "No preview: no variant for &#39;Managers&#39; and no fallback" in missing.get_data(
        as_text=True
    )
    assert "sandbox" in missing.headers["Content-Security-Policy"]
    unknown = auth.get(url, query_string={"group": thinkers, "contact": "nobody@example.org"})
    assert unknown.status_code == 404


def test_the_fallback_preview_is_what_a_group_without_variant_receives(
    auth: FlaskClient, people: None, db: Transaction
) -> None:
    campaign_id = create(auth)
    ids = group_ids(db)
    assert save_variant(auth, campaign_id, str(ids["Thinkers"]), "T", mjml("Dear"))[0] == 302
    assert save_variant(auth, campaign_id, "fallback", "F", mjml("Howdy"))[0] == 302
    url = f"/admin/campaigns/{campaign_id}/preview"

    html = auth.get(url, query_string={"group": "fallback", "contact": "mario@example.org"})
    assert "Howdy Mario" in html.get_data(as_text=True)
    assert "Notes for Managers." in html.get_data(as_text=True)
    page = auth.get(f"/admin/campaigns/{campaign_id}").get_data(as_text=True)
    assert "As a member of Managers receives it." in panel(page, "fallback")
    assert "it receives the fallback" in panel(page, str(ids["Managers"]))


def test_the_audience_panel_counts_recipients_and_exclusions(
    auth: FlaskClient, people: None, db: Transaction
) -> None:
    campaign_id = create(auth)
    ids = group_ids(db)
    html = auth.get(f"/admin/campaigns/{campaign_id}").get_data(as_text=True)
    assert rows_of(html, "audience-table") == [
        "Thinkers (no variant) 0 2 no variant",
        "Managers (no variant) 0 1 no variant, 1 not subscribed",
    ]
    save_variant(auth, campaign_id, str(ids["Thinkers"]), "T", mjml("Dear"))
    save_variant(
        auth,
        campaign_id,
        str(ids["Managers"]),
        "M",
        mjml("Hello").replace("<mj-text>", '<mj-image src="https://example.org/a.png" /><mj-text>'),
    )
    html = auth.get(f"/admin/campaigns/{campaign_id}").get_data(as_text=True)
    assert rows_of(html, "audience-table") == [
        "Thinkers 2 —",
        "Managers 1 1 not subscribed",
    ]
    checks = html.split('id="checks"', 1)[1].split("</ul>", 1)[0]
    assert (
        '<li class="check-warning"><strong>warning</strong>: Managers: an image has no alt text'
        in checks
    )
    assert "check-error" not in checks


def test_forms_without_csrf_token_are_refused(
    auth: FlaskClient, people: None, db: Transaction
) -> None:
    data = {"name": "Sneaky", "sender": "ana@example.org"}
    assert auth.post("/admin/campaigns", data=data).status_code == 400
    campaign_id = create(auth)
    thinkers = str(group_ids(db)["Thinkers"])
    base = f"/admin/campaigns/{campaign_id}"
    variant = {"group": thinkers, "subject": "S", "mjml": mjml("Hi")}
    assert auth.post(f"{base}/variants", data=variant).status_code == 400
    assert auth.post(f"{base}/targets", data={"groups": "Managers"}).status_code == 400
    assert auth.post(f"{base}/test", data={"to": "me@example.org"}).status_code == 400
    with db() as session:
        assert session.scalars(sa.select(Campaign.name)).all() == ["June news"]
        assert session.scalar(sa.select(sa.func.count()).select_from(Variant)) == 0


def test_every_post_form_of_the_pages_carries_the_csrf_token(
    auth: FlaskClient, people: None
) -> None:
    campaign_id = create(auth)
    for url in ("/admin/campaigns", f"/admin/campaigns/{campaign_id}"):
        html = auth.get(url).get_data(as_text=True)
        forms = re.findall(r'<form method="post".*?</form>', html, flags=re.S)
        assert len(forms) >= 2
        assert all('name="csrf_token"' in form for form in forms)


def test_names_and_templates_are_escaped(auth: FlaskClient, people: None) -> None:
    campaign_id = create(auth, name="<script>alert(1)</script>")
    for url in ("/admin/campaigns", f"/admin/campaigns/{campaign_id}"):
        html = auth.get(url).get_data(as_text=True)
        assert "<script>alert(1)" not in html
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html


class TestTestSend:
    """Test messages go through the configured SMTP server (a real one here)."""

    @pytest.fixture
    def app(self, mail_app: Flask) -> Flask:
        return mail_app

    def test_test_messages_reach_the_smtp_server(
        self, auth: FlaskClient, people: None, db: Transaction, smtp_sink: SmtpSink
    ) -> None:
        campaign_id = create(auth)
        ids = group_ids(db)
        save_variant(auth, campaign_id, str(ids["Thinkers"]), "Ideas", mjml("Dear"))
        save_variant(auth, campaign_id, str(ids["Managers"]), "Numbers", mjml("Hello"))
        page = f"/admin/campaigns/{campaign_id}"

        status, location, _ = form_post(auth, page, f"{page}/test", to="me@example.org", group="")
        assert status == 302 and location == f"{page}#test-send"
        html = auth.get(page).get_data(as_text=True)
        assert "2 test messages sent to me@example.org" in flashes(html)
        received = smtp_sink.received()
        assert sorted(str(m["Subject"]) for m in received) == ["[TEST] Ideas", "[TEST] Numbers"]
        assert all(m["X-Outreach-Test"] == "yes" for m in received)
        assert all(m["To"].addresses[0].addr_spec == "me@example.org" for m in received)

        form_post(auth, page, f"{page}/test", to="me@example.org", group=str(ids["Managers"]))
        assert [str(m["Subject"]) for m in smtp_sink.received()[2:]] == ["[TEST] Numbers"]

    def test_a_refused_test_send_says_why(
        self, auth: FlaskClient, people: None, smtp_sink: SmtpSink
    ) -> None:
        campaign_id = create(auth)
        page = f"/admin/campaigns/{campaign_id}"
        status, _, _ = form_post(auth, page, f"{page}/test", to="not an address", group="")
        assert status == 302
        html = auth.get(page).get_data(as_text=True)
        messages = flashes(html.split('id="test-send"', 1)[1])
        assert len(messages) == 1 and "address" in messages[0]
        assert smtp_sink.received() == []
