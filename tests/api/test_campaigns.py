"""/api/v1/campaigns: create and target campaigns, write variants, check, preview, test."""

from __future__ import annotations

from collections.abc import Callable

import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient
from werkzeug.test import TestResponse

from outreach.campaigns.models import Campaign, CampaignStatus
from outreach.db import get_db
from outreach.delivery.models import Delivery
from tests.conftest import CONTROLLER, DKIM_NOT_CONFIGURED, SmtpSink
from tests.support.api import CAMPAIGNS_URL as URL
from tests.support.api import (
    CONSULTANTS,
    CSV,
    EVERYONE,
    SENDER,
    Headers,
    Json,
    campaign_of,
    create,
    error_of,
    letter,
    mjml,
    ok,
    put_variant,
)
from tests.support.consent import html_of, text_of

Upload = Callable[..., TestResponse]
AddContact = Callable[..., Json]


@pytest.fixture
def people(upload_csv: Upload, add_contact: AddContact) -> None:
    """Seven subscribers imported with declared consent, and one pending consultant."""
    imported = upload_csv(CSV, source="trade fair 2026", status="subscribed")
    assert imported.status_code == 200, imported.get_json()
    assert imported.get_json()["created"] == 7
    add_contact("gus@example.org", first_name="Gus", sector="Consultants")


@pytest.fixture
def campaign(client: FlaskClient, api_headers: Headers, people: None) -> Json:
    return letter(client, api_headers)


def test_create_list_and_get_campaigns(
    client: FlaskClient, api_headers: Headers, people: None
) -> None:
    first = create(
        client,
        api_headers,
        name="  March   letter ",
        reply_to="Replies@Example.ORG",
        groups=["Managers", "consultants"],
    )
    second = create(client, api_headers, name="April", **{"from": '"Doe, Jane" <jane@example.org>'})

    assert first == {
        "id": first["id"],
        "name": "March letter",
        "status": "draft",
        "from": SENDER,
        "reply_to": "Replies@example.org",
        "groups": ["Managers", "Consultants"],
        "created_at": first["created_at"],
        "followup_of": None,
        "followup_audience": None,
        "variants": [],
    }
    assert second["from"] == '"Doe, Jane" <jane@example.org>'
    assert (second["reply_to"], second["groups"]) == (None, [])
    listed = ok(client.get(URL, headers=api_headers))
    assert [{k: v for k, v in doc.items() if k in second} for doc in listed] == [
        {k: v for k, v in doc.items() if k != "variants"} for doc in (second, first)
    ]
    assert [(d["date"], d["recipients"], d["open_rate"]) for d in listed] == [(None, 0, None)] * 2
    assert campaign_of(client, api_headers, first["id"]) == first


@pytest.mark.parametrize(
    ("body", "status", "field"),
    [
        ({"from": SENDER}, 422, "name"),
        ({"name": "March"}, 422, "from"),
        ({"name": "   ", "from": SENDER}, 422, "name"),
        ({"name": "x" * 201, "from": SENDER}, 422, "name"),
        ({"name": "March", "from": "nobody"}, 422, "from"),
        ({"name": "March", "from": "Ann <a@b.org>\r\nBcc: x@y.org"}, 422, "from"),
        ({"name": "March", "from": SENDER, "reply_to": "not an address"}, 422, "reply_to"),
        ({"name": "March", "from": SENDER, "groups": ["Managers", "managers"]}, 422, "groups"),
        ({"name": "March", "from": SENDER, "groups": "Managers"}, 422, "groups"),
        ({"name": "March", "from": SENDER, "status": "sent"}, 422, "status"),
        ({"name": "March", "from": SENDER, "groups": ["Nobody"]}, 404, "group"),
    ],
)
def test_a_bad_campaign_is_refused(
    client: FlaskClient, api_headers: Headers, people: None, body: Json, status: int, field: str
) -> None:
    response = client.post(URL, headers=api_headers, json=body)

    assert error_of(response, status)["field"] == field
    assert ok(client.get(URL, headers=api_headers)) == []


def test_target_groups_are_replaced_in_priority_order(
    client: FlaskClient, api_headers: Headers, people: None
) -> None:
    campaign = create(client, api_headers, groups=["Managers"])
    url = f"{URL}/{campaign['id']}/groups"

    response = client.put(url, headers=api_headers, json={"groups": ["thinkers", "Consultants"]})

    assert ok(response)["groups"] == ["Thinkers", "Consultants"]
    assert ok(client.get(URL, headers=api_headers))[0]["groups"] == ["Thinkers", "Consultants"]
    twice = client.put(url, headers=api_headers, json={"groups": ["Thinkers", "thinkers"]})
    assert error_of(twice, 422)["field"] == "groups"
    unknown = client.put(url, headers=api_headers, json={"groups": ["Thinkers", "Nobody"]})
    assert error_of(unknown, 404)["field"] == "group"
    missing = client.put(url, headers=api_headers, json={})
    assert error_of(missing, 422)["field"] == "groups"
    assert campaign_of(client, api_headers, campaign["id"])["groups"] == ["Thinkers", "Consultants"]
    cleared = client.put(url, headers=api_headers, json={"groups": []})
    assert ok(cleared)["groups"] == []


def test_set_a_group_variant_and_the_fallback(
    client: FlaskClient, api_headers: Headers, people: None
) -> None:
    campaign = create(client, api_headers, groups=["Consultants", "Managers"])
    cid = campaign["id"]

    fallback = put_variant(client, api_headers, cid, "fallback", subject="For all", mjml=EVERYONE)
    group = put_variant(
        client,
        api_headers,
        cid,
        "consultants",
        subject="  For {{ contact.first_name }} ",
        mjml=CONSULTANTS,
        text="Hello {{ contact.first_name }}\n{{ unsubscribe_url }}\n",
        preheader="Advice inside",
    )

    assert ok(fallback) == {
        "group": "fallback",
        "group_id": None,
        "subject": "For all",
        "preheader": "",
        "updated_at": ok(fallback)["updated_at"],
    }
    consultants = ok(group)
    assert (consultants["group"], consultants["subject"], consultants["preheader"]) == (
        "Consultants",
        "For {{ contact.first_name }}",
        "Advice inside",
    )
    detail = campaign_of(client, api_headers, cid)
    assert [(v["group"], v["subject"]) for v in detail["variants"]] == [
        ("Consultants", "For {{ contact.first_name }}"),
        ("fallback", "For all"),
    ]
    assert detail["variants"][0] == consultants

    by_id = put_variant(
        client, api_headers, cid, consultants["group_id"], subject="Replaced", mjml=CONSULTANTS
    )

    assert (ok(by_id)["group"], ok(by_id)["subject"]) == ("Consultants", "Replaced")
    assert len(campaign_of(client, api_headers, cid)["variants"]) == 2


def test_a_group_name_with_a_slash_has_a_variant(
    client: FlaskClient, api_headers: Headers, people: None
) -> None:
    campaign = create(client, api_headers, groups=["R&D / Labs"])

    response = put_variant(
        client, api_headers, campaign["id"], "R&D / Labs", subject="Lab notes", mjml=EVERYONE
    )

    assert ok(response)["group"] == "R&D / Labs"


def test_a_variant_needs_a_targeted_existing_group(
    client: FlaskClient, api_headers: Headers, people: None
) -> None:
    campaign = create(client, api_headers, groups=["Consultants"])
    body = {"subject": "Hi", "mjml": EVERYONE}

    untargeted = put_variant(client, api_headers, campaign["id"], "Managers", **body)
    unknown = put_variant(client, api_headers, campaign["id"], "Nobody", **body)
    no_mjml = put_variant(client, api_headers, campaign["id"], "Consultants", subject="Hi")
    empty = put_variant(client, api_headers, campaign["id"], "Consultants", subject=" ", mjml="x")
    extra = put_variant(client, api_headers, campaign["id"], "fallback", **body, footer="x")

    error = error_of(untargeted, 422)
    assert (error["field"], error["message"]) == (
        "group",
        "group 'Managers' is not targeted by this campaign",
    )
    assert error_of(unknown, 404)["field"] == "group"
    assert error_of(no_mjml, 422)["field"] == "mjml"
    assert error_of(empty, 422) == {
        "code": "invalid",
        "field": "subject",
        "message": "variant Consultants: the subject is empty",
    }
    assert error_of(extra, 422)["field"] == "footer"
    assert campaign_of(client, api_headers, campaign["id"])["variants"] == []


BAD_TEMPLATES = [
    pytest.param(
        {"mjml": mjml("Hi\n{{ contact.nope }}")},
        "mjml",
        ["mjml, line 6", "unknown variable 'contact.nope'"],
        id="unknown-variable",
    ),
    pytest.param(
        {"mjml": mjml("{{ ''.__class__.__mro__ }}")},
        "mjml",
        ["mjml, line 5", "access to '__", "' is not allowed"],
        id="sandbox-escape",
    ),
    pytest.param(
        {"mjml": "<mjml><mj-body><mj-section><mj-column><mj-text>Hi"},
        "mjml",
        ["mjml: MJML error"],
        id="malformed-mjml",
    ),
    pytest.param(
        {"mjml": mjml("Hi {{ contact.first_name ")},
        "mjml",
        ["mjml, line 5"],
        id="jinja-syntax",
    ),
    pytest.param(
        {"subject": "Hello\nBcc: everyone@example.org"},
        "subject",
        ["subject: line breaks are not allowed"],
        id="subject-newline",
    ),
    pytest.param(
        {"mjml": mjml("x" * (5 * 1024 * 1024))},
        "mjml",
        ["mjml: template is larger than 512 KB"],
        id="5-MB-template",
    ),
    pytest.param(
        {"text": "Hi {{ contact.first_name }}\n{{ campaign.secret }}"},
        "text",
        ["text, line 2", "unknown variable 'campaign.secret'"],
        id="text-part",
    ),
    pytest.param(
        {"preheader": "{{ range(10**9) | list }}"},
        "preheader",
        ["preheader: "],
        id="preheader-runaway",
    ),
]


@pytest.mark.parametrize("group", ["Consultants", "fallback"])
@pytest.mark.parametrize(("change", "field", "says"), BAD_TEMPLATES)
def test_a_bad_template_is_refused_naming_variant_part_and_line(
    client: FlaskClient,
    api_headers: Headers,
    campaign: Json,
    group: str,
    change: Json,
    field: str,
    says: list[str],
) -> None:
    before = campaign_of(client, api_headers, campaign["id"])["variants"]
    body = {"subject": "Better news", "mjml": CONSULTANTS, **change}

    response = put_variant(client, api_headers, campaign["id"], group, **body)

    error = error_of(response, 422)
    assert (error["code"], error["field"]) == ("template", field)
    assert error["message"].startswith(f"variant {group}: "), error["message"]
    for text in says:
        assert text in error["message"], error["message"]
    assert campaign_of(client, api_headers, campaign["id"])["variants"] == before


def test_subject_and_preheader_lengths_are_bounded(
    client: FlaskClient, api_headers: Headers, campaign: Json
) -> None:
    long_subject = put_variant(
        client, api_headers, campaign["id"], "fallback", subject="s" * 999, mjml=EVERYONE
    )
    long_preheader = put_variant(
        client,
        api_headers,
        campaign["id"],
        "fallback",
        subject="s",
        mjml=EVERYONE,
        preheader="p" * 501,
    )

    assert error_of(long_subject, 422)["field"] == "subject"
    assert error_of(long_preheader, 422)["field"] == "preheader"


def test_audience_counts_recipients_and_exclusions_per_variant(
    client: FlaskClient, api_headers: Headers, campaign: Json
) -> None:
    ids = {g["name"]: g["id"] for g in ok(client.get("/api/v1/groups", headers=api_headers))}

    report = ok(client.get(f"{URL}/{campaign['id']}/audience", headers=api_headers))

    assert report == {
        "variants": [
            {
                "label": "Consultants",
                "group_id": ids["Consultants"],
                "has_variant": True,
                "recipients": 3,
                "excluded": {"not subscribed": 1},
            },
            {
                "label": "Managers",
                "group_id": ids["Managers"],
                "has_variant": False,
                "recipients": 0,
                "excluded": {},
            },
            {
                "label": "Thinkers",
                "group_id": ids["Thinkers"],
                "has_variant": False,
                "recipients": 0,
                "excluded": {},
            },
            {
                "label": "fallback",
                "group_id": None,
                "has_variant": True,
                "recipients": 3,
                "excluded": {},
            },
        ],
        "problems": [DKIM_NOT_CONFIGURED],
    }


def test_audience_reports_priority_missing_variants_and_problems(
    client: FlaskClient, api_headers: Headers, people: None
) -> None:
    client.post(
        "/api/v1/groups/Speakers/members", headers=api_headers, json={"emails": ["ana@example.org"]}
    )
    campaign = create(client, api_headers, groups=["Speakers", "Consultants", "Managers"])
    for group in ("Speakers", "Consultants"):
        ok(put_variant(client, api_headers, campaign["id"], group, subject="Hi", mjml=EVERYONE))
    ok(
        put_variant(
            client,
            api_headers,
            campaign["id"],
            "Consultants",
            subject="Hi",
            mjml="<mjml><mj-body><mj-section><mj-column><mj-image src='https://x.org/a.png' />"
            "<mj-text>No way out</mj-text></mj-column></mj-section></mj-body></mjml>",
        )
    )

    report = ok(client.get(f"{URL}/{campaign['id']}/audience", headers=api_headers))

    assert [(r["label"], r["recipients"], r["excluded"]) for r in report["variants"]] == [
        ("Speakers", 1, {}),
        ("Consultants", 2, {"not subscribed": 1, "in a higher-priority group": 1}),
        ("Managers", 0, {"no variant": 2}),
    ]
    assert report["problems"] == [
        {
            "level": "error",
            "variant": "Managers",
            "message": "no variant for this group and no fallback variant",
        },
        {
            "level": "error",
            "variant": "Consultants",
            "message": "no visible unsubscribe link: add {{ unsubscribe_url }}",
        },
        {"level": "warning", "variant": "Consultants", "message": "an image has no alt text"},
        DKIM_NOT_CONFIGURED,
    ]


def test_audience_of_an_empty_campaign_says_what_is_missing(
    client: FlaskClient, api_headers: Headers
) -> None:
    campaign = create(client, api_headers)

    report = ok(client.get(f"{URL}/{campaign['id']}/audience", headers=api_headers))

    assert report == {
        "variants": [],
        "problems": [
            {"level": "error", "variant": "-", "message": "the campaign targets no group"},
            DKIM_NOT_CONFIGURED,
        ],
    }


def test_preview_renders_a_groups_variant_for_a_real_contact(
    client: FlaskClient, api_headers: Headers, campaign: Json
) -> None:
    url = f"{URL}/{campaign['id']}/preview"

    consultant = client.get(
        url,
        query_string={"group": "Consultants", "contact": "BEN@example.org"},
        headers=api_headers,
    )
    manager = client.get(
        url, query_string={"group": "Managers", "contact": "dan@example.org"}, headers=api_headers
    )
    sample = client.get(url, query_string={"group": "Thinkers"}, headers=api_headers)
    fallback = client.get(url, query_string={"group": "fallback"}, headers=api_headers)

    assert consultant.status_code == 200, consultant.get_data(as_text=True)
    assert consultant.mimetype == "text/html"
    assert consultant.headers["Content-Security-Policy"] == "sandbox"
    html = consultant.get_data(as_text=True)
    assert "Hello Ben, advice for Consultants." in html
    assert "Hi Ben" in html  # the preheader
    assert "Alex" not in html
    assert "Dear Dan, news for everyone." in manager.get_data(as_text=True)
    assert "Dear Alex, news for everyone." in sample.get_data(as_text=True)
    assert "news for everyone." in fallback.get_data(as_text=True)


def test_preview_escapes_contact_data(
    client: FlaskClient, api_headers: Headers, campaign: Json, add_contact: AddContact
) -> None:
    add_contact("zoe@example.org", first_name="<img src=x onerror=alert(1)>", sector="Managers")

    response = client.get(
        f"{URL}/{campaign['id']}/preview",
        query_string={"group": "Managers", "contact": "zoe@example.org"},
        headers=api_headers,
    )

    html = response.get_data(as_text=True)
    assert response.status_code == 200, html
    assert "<img src=x" not in html
    assert "&lt;img src=x onerror=alert(1)&gt;" in html


def test_preview_errors_are_json(client: FlaskClient, api_headers: Headers, campaign: Json) -> None:
    url = f"{URL}/{campaign['id']}/preview"

    unknown_contact = client.get(
        url, query_string={"group": "Managers", "contact": "zed@example.org"}, headers=api_headers
    )
    unknown_group = client.get(url, query_string={"group": "Nobody"}, headers=api_headers)
    unknown_arg = client.get(url, query_string={"grp": "Managers"}, headers=api_headers)
    bare = create(client, api_headers, groups=["Managers"])
    no_variant = client.get(f"{URL}/{bare['id']}/preview", headers=api_headers)

    assert error_of(unknown_contact, 404)["field"] == "email"
    assert error_of(unknown_group, 404)["field"] == "group"
    assert error_of(unknown_arg, 422)["field"] == "grp"
    assert error_of(no_variant, 422)["message"] == "the campaign has no variant yet"


def test_layout_is_a_working_starting_point(
    client: FlaskClient, api_headers: Headers, people: None
) -> None:
    response = client.get(f"{URL}/layout", headers=api_headers)

    layout = ok(response)["mjml"]
    assert layout.startswith("<mjml>")
    assert "{{ unsubscribe_url }}" in layout
    assert "__CONTROLLER__" not in layout
    assert f"{CONTROLLER['name']} · {CONTROLLER['address']}" in layout
    campaign = create(client, api_headers, groups=["Thinkers"])
    saved = put_variant(client, api_headers, campaign["id"], "Thinkers", subject="Hi", mjml=layout)
    assert ok(saved)["group"] == "Thinkers"
    report = ok(client.get(f"{URL}/{campaign['id']}/audience", headers=api_headers))
    assert report["problems"] == [DKIM_NOT_CONFIGURED]
    assert report["variants"][0]["recipients"] == 1


def test_a_campaign_that_left_draft_cannot_change(
    app: Flask, client: FlaskClient, api_headers: Headers, campaign: Json
) -> None:
    with get_db(app).session() as session:
        session.execute(sa.update(Campaign).values(status=CampaignStatus.SENT))

    groups = client.put(
        f"{URL}/{campaign['id']}/groups", headers=api_headers, json={"groups": ["Thinkers"]}
    )
    variant = put_variant(client, api_headers, campaign["id"], "fallback", subject="x", mjml="x")

    for response in (groups, variant):
        error = error_of(response, 409)
        assert (error["code"], error["field"]) == ("conflict", "campaign")
        assert "can no longer be changed" in error["message"]
    assert campaign_of(client, api_headers, campaign["id"])["status"] == "sent"


UNKNOWN = 987654
CAMPAIGN_REQUESTS = [
    ("GET", f"{URL}/{UNKNOWN}", None),
    ("PUT", f"{URL}/{UNKNOWN}/groups", {"groups": []}),
    ("PUT", f"{URL}/{UNKNOWN}/variants/fallback", {"subject": "s", "mjml": EVERYONE}),
    ("GET", f"{URL}/{UNKNOWN}/audience", None),
    ("GET", f"{URL}/{UNKNOWN}/preview", None),
    ("POST", f"{URL}/{UNKNOWN}/test", {"to": "qa@example.org"}),
]


@pytest.mark.parametrize(("method", "url", "body"), CAMPAIGN_REQUESTS)
def test_an_unknown_campaign_is_404(
    client: FlaskClient, api_headers: Headers, method: str, url: str, body: Json | None
) -> None:
    response = client.open(url, method=method, headers=api_headers, json=body)

    error = error_of(response, 404)
    assert (error["code"], error["field"]) == ("not_found", "campaign")


def test_an_id_beyond_the_integer_range_is_404(client: FlaskClient, api_headers: Headers) -> None:
    response = client.get(f"{URL}/{2**31}", headers=api_headers)

    assert error_of(response, 404)["code"] == "not_found"


@pytest.mark.parametrize(
    ("method", "url", "body"),
    [
        ("GET", URL, None),
        ("POST", URL, {"name": "March", "from": SENDER}),
        ("GET", f"{URL}/layout", None),
        *CAMPAIGN_REQUESTS,
    ],
)
@pytest.mark.parametrize("authorization", [None, "Bearer not-a-token"])
def test_every_campaign_route_needs_a_token(
    client: FlaskClient,
    admin_user: str,
    method: str,
    url: str,
    body: Json | None,
    authorization: str | None,
) -> None:
    headers = {"Authorization": authorization} if authorization else {}

    response = client.open(url, method=method, headers=headers, json=body)

    assert error_of(response, 401)["code"] == "unauthorized"
    assert response.headers["WWW-Authenticate"] == "Bearer"


def test_a_variant_of_a_dropped_group_is_kept_out_until_it_comes_back(
    client: FlaskClient, api_headers: Headers, campaign: Json
) -> None:
    url = f"{URL}/{campaign['id']}/groups"

    dropped = ok(client.put(url, headers=api_headers, json={"groups": ["Managers"]}))
    back = ok(client.put(url, headers=api_headers, json={"groups": ["Consultants", "Managers"]}))

    assert [(v["group"], v["group_id"]) for v in dropped["variants"]] == [("fallback", None)]
    assert [v["group"] for v in back["variants"]] == ["Consultants", "fallback"]


def test_a_sender_name_longer_than_the_column_is_refused(
    client: FlaskClient, api_headers: Headers
) -> None:
    response = client.post(
        URL, headers=api_headers, json={"name": "March", "from": "N" * 201 + " <a@example.org>"}
    )

    assert error_of(response, 422)["field"] == "from"


class TestTestMessages:
    """Test sends go through the real SMTP sink, marked as tests and counted nowhere."""

    @pytest.fixture
    def app(self, mail_app: Flask) -> Flask:
        return mail_app

    def test_one_test_message_per_variant(
        self,
        app: Flask,
        client: FlaskClient,
        api_headers: Headers,
        campaign: Json,
        smtp_sink: SmtpSink,
    ) -> None:
        response = client.post(
            f"{URL}/{campaign['id']}/test", headers=api_headers, json={"to": "qa@example.org"}
        )

        assert ok(response) == {"sent": 2}
        received = smtp_sink.received()
        assert sorted(m["Subject"] for m in received) == [
            "[TEST] For all",
            "[TEST] For consultants",
        ]
        for message in received:
            assert message["X-Outreach-Test"] == "yes"
            assert message["To"].endswith("<qa@example.org>") or message["To"] == "qa@example.org"
            assert message["From"] == SENDER
            assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
            assert "unsubscribe" in text_of(message).lower()
        consultants = next(m for m in received if m["Subject"] == "[TEST] For consultants")
        assert "advice for Consultants." in html_of(consultants)
        with get_db(app).session() as session:
            assert session.scalar(sa.select(sa.func.count(Delivery.id))) == 0

    @pytest.mark.parametrize("group", ["Managers", "fallback"])
    def test_a_test_message_for_one_group(
        self,
        client: FlaskClient,
        api_headers: Headers,
        campaign: Json,
        smtp_sink: SmtpSink,
        group: str,
    ) -> None:
        response = client.post(
            f"{URL}/{campaign['id']}/test",
            headers=api_headers,
            json={"to": "qa@example.org", "group": group},
        )

        assert ok(response) == {"sent": 1}
        (message,) = smtp_sink.received()
        assert message["Subject"] == "[TEST] For all"
        assert message["X-Outreach-Test"] == "yes"
        assert "news for everyone." in html_of(message)

    @pytest.mark.parametrize(
        ("body", "status", "field"),
        [
            # The service names the address "email" (field of normalize_email), not "to".
            ({"to": "not an address"}, 422, None),
            ({"to": "qa@example.org\r\nRCPT TO:<x@y.org>"}, 422, None),
            ({}, 422, "to"),
            ({"to": "qa@example.org", "group": "Nobody"}, 404, "group"),
        ],
    )
    def test_a_bad_test_send_sends_nothing(
        self,
        client: FlaskClient,
        api_headers: Headers,
        campaign: Json,
        smtp_sink: SmtpSink,
        body: Json,
        status: int,
        field: str | None,
    ) -> None:
        response = client.post(f"{URL}/{campaign['id']}/test", headers=api_headers, json=body)

        error = error_of(response, status)
        if field is not None:
            assert error["field"] == field
        else:
            assert "not a valid address" in error["message"], error
        assert smtp_sink.received() == []
