"""Hostile variants through the API, the admin composer and a real send: MJML that used to
segfault the compiler, and templates that used to allocate gigabytes, are refused on save
with their reason; one contact's data that goes over a bound fails that delivery alone."""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient
from werkzeug.test import TestResponse

from outreach.db import get_db
from outreach.delivery.models import Delivery, DeliveryStatus
from outreach.rendering import mjml_compiler
from tests.conftest import SmtpSink, csrf_from, drain
from tests.support.api import error_of

URL = "/api/v1/campaigns"
Headers = dict[str, str]
DEEP = 10_000
UNSUBSCRIBE = '<mj-text><a href="{{ unsubscribe_url }}">Unsubscribe</a></mj-text>'


def mjml(text: str = "Hi {{ contact.first_name }}", *, raw: str = "", wrappers: int = 0) -> str:
    column = (
        f"<mj-section><mj-column><mj-text>{text}</mj-text>{UNSUBSCRIBE}</mj-column></mj-section>"
    )
    body = "<mj-wrapper>" * wrappers + column + "</mj-wrapper>" * wrappers
    return f"<mjml><mj-body>{f'<mj-raw>{raw}</mj-raw>' if raw else ''}{body}</mj-body></mjml>"


SHAPES = {
    "divs in mj-text": mjml("<div>" * DEEP + "x" + "</div>" * DEEP),
    "divs in mj-raw": mjml(raw="<div>" * DEEP + "x" + "</div>" * DEEP),
    "nested mj-wrappers": mjml(wrappers=DEEP),
    "unclosed <b> repeated": mjml("<b>" * DEEP + "x"),
}


def ok(response: TestResponse, status: int = 200) -> Any:
    assert response.status_code == status, (response.status_code, response.get_data(as_text=True))
    return response.get_json()


@pytest.fixture
def app(sending_app: Flask) -> Flask:
    return sending_app


@pytest.fixture
def campaign(
    client: FlaskClient, api_headers: Headers, upload_csv: Callable[..., TestResponse]
) -> int:
    """A campaign to three subscribed Thinkers, with a Thinkers variant."""
    people = "email,first_name,sector,n\n" + "".join(
        f"{name}@example.org,{name.capitalize()},Thinkers,{n}\n"
        for name, n in (("ana", 3), ("ben", 2), ("cid", 1))
    )
    ok(upload_csv(people, source="trade fair", status="subscribed"))
    created = client.post(
        URL,
        headers=api_headers,
        json={"name": "March", "from": "Team <news@example.org>", "groups": ["Thinkers"]},
    )
    campaign_id: int = ok(created, 201)["id"]
    ok(put(client, api_headers, campaign_id, "Thinkers", subject="News", mjml=mjml()))
    return campaign_id


def put(client: FlaskClient, headers: Headers, campaign_id: int, group: str, **body: Any) -> Any:
    return client.put(f"{URL}/{campaign_id}/variants/{group}", headers=headers, json=body)


@pytest.mark.parametrize("shape", SHAPES)
def test_deeply_nested_mjml_is_refused_through_the_api_and_the_server_lives_on(
    client: FlaskClient, api_headers: Headers, campaign: int, shape: str
) -> None:
    error = error_of(
        put(client, api_headers, campaign, "Thinkers", subject="S", mjml=SHAPES[shape]), 422
    )

    assert error["code"] == "template"
    assert error["message"].startswith("variant Thinkers: mjml, line 1: elements nested more ")
    assert "than 100 deep" in error["message"]
    ok(put(client, api_headers, campaign, "Thinkers", subject="Still here", mjml=mjml()))


def composer_group(auth: FlaskClient, campaign: int) -> str:
    """The id the composer uses for the Thinkers tab."""
    page = auth.get(f"/admin/campaigns/{campaign}").get_data(as_text=True)
    group = re.search(r'name="group" value="(\d+)"', page)
    assert group is not None
    return group.group(1)


@pytest.mark.parametrize("shape", SHAPES)
def test_deeply_nested_mjml_is_refused_by_the_composer(
    auth: FlaskClient, campaign: int, shape: str
) -> None:
    page = f"/admin/campaigns/{campaign}"
    token = csrf_from(auth.get(page).get_data(as_text=True))
    response = auth.post(
        f"{page}/variants",
        data={
            "csrf_token": token,
            "group": composer_group(auth, campaign),
            "subject": "S",
            "mjml": SHAPES[shape],
        },
    )

    assert response.status_code == 422
    assert "elements nested more than 100 deep" in response.get_data(as_text=True)


def test_a_compiler_crash_costs_only_its_child_process(
    client: FlaskClient, api_headers: Headers, campaign: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Were a shape to slip past the scanner, the segfault would be the child's."""
    monkeypatch.setattr(mjml_compiler, "check_shape", lambda source, part="mjml": None)
    deep = SHAPES["divs in mj-text"].replace("Unsubscribe", "Leave")

    error = error_of(put(client, api_headers, campaign, "Thinkers", subject="S", mjml=deep), 422)

    assert error["message"] == "variant Thinkers: mjml: the MJML compiler crashed on this source"
    ok(put(client, api_headers, campaign, "Thinkers", subject="Next", mjml=mjml("after")))


HOSTILE = {
    "a constant folded at compile time": ("mjml", "{{ 'a' * 10**8 }}", "a repeated value"),
    "a product of products": ("mjml", "{{ ('a' * 10**8) * 2 }}", "a repeated value"),
    "the same in the subject": ("subject", "{{ 'a' * 10**8 }}", "a repeated value"),
    "nested loops": (
        "mjml",
        "{% for i in range(100000) %}{% for j in range(1000) %}{% endfor %}{% endfor %}",
        "the loops run more than 100,000 times",
    ),
    "a doubling macro": (
        "mjml",
        "{% macro d(s, n) %}{% if n %}{{ d(s ~ s, n - 1) }}{% else %}{{ s }}{% endif %}"
        "{% endmacro %}{{ d('a', 40) }}",
        "joined output would be",
    ),
    "a wide format": ("mjml", "{{ '%0100000000d' % 1 }}", "format width"),
    "a centred string": ("mjml", "{{ 'a'|center(100000000) }}", "center filter"),
    "a string method": ("mjml", "{{ 'a'.ljust(100000000) }}", "ljust()"),
}


@pytest.mark.parametrize("case", HOSTILE)
def test_templates_that_would_allocate_without_bound_are_refused_quickly(
    client: FlaskClient, api_headers: Headers, campaign: int, case: str
) -> None:
    part, template, reason = HOSTILE[case]
    body = {"subject": "S", "mjml": mjml()}
    body[part] = template if part == "subject" else mjml(template)
    started = time.monotonic()

    error = error_of(put(client, api_headers, campaign, "Thinkers", **body), 422)

    assert time.monotonic() - started < 3
    assert error["code"] == "template"
    assert error["message"].startswith(f"variant Thinkers: {part}: not allowed in a template: ")
    assert reason in error["message"]


GROWING = mjml("{{ 'a' * (contact.attributes.n|int) }}")


def set_n(client: FlaskClient, headers: Headers, email: str, n: int) -> None:
    found = ok(client.get("/api/v1/contacts", headers=headers, query_string={"search": email}))
    [contact] = [c for c in found["items"] if c["email"] == email]
    patch = {"attributes": {"n": str(n)}}
    ok(client.patch(f"/api/v1/contacts/{contact['id']}", headers=headers, json=patch))


def test_a_variant_is_checked_on_save_against_real_contacts(
    client: FlaskClient, api_headers: Headers, campaign: int
) -> None:
    set_n(client, api_headers, "ben@example.org", 10**8)

    error = error_of(put(client, api_headers, campaign, "Thinkers", subject="S", mjml=GROWING), 422)

    assert re.match(
        r"variant Thinkers, for contact #\d+: mjml: not allowed in a template: ", error["message"]
    )
    assert "100,000,000" in error["message"]


@pytest.fixture
def grown(client: FlaskClient, api_headers: Headers, campaign: int) -> Iterator[int]:
    """The growing variant saved while every n is small, then one contact's n made huge."""
    ok(put(client, api_headers, campaign, "Thinkers", subject="S", mjml=GROWING))
    set_n(client, api_headers, "ben@example.org", 10**8)
    yield campaign


def test_the_preview_of_a_contact_over_the_bound_is_refused_not_100_mb(
    client: FlaskClient, api_headers: Headers, auth: FlaskClient, grown: int
) -> None:
    api = client.get(
        f"{URL}/{grown}/preview",
        headers=api_headers,
        query_string={"group": "Thinkers", "contact": "ben@example.org"},
    )
    admin = auth.get(
        f"/admin/campaigns/{grown}/preview",
        query_string={"group": composer_group(auth, grown), "contact": "ben@example.org"},
    )

    assert "a repeated value would be 100,000,000 long" in error_of(api, 422)["message"], (
        api.get_data()
    )
    assert admin.status_code == 422
    assert len(admin.get_data()) < 10_000
    assert "a repeated value would be 100,000,000 long" in admin.get_data(as_text=True)


def test_sending_fails_only_the_delivery_whose_data_goes_over_the_bound(
    app: Flask, client: FlaskClient, api_headers: Headers, grown: int, smtp_sink: SmtpSink
) -> None:
    ok(client.post(f"{URL}/{grown}/send", headers=api_headers), 202)
    drain(app)

    assert sorted(m["To"].rpartition("<")[2].rstrip(">") for m in smtp_sink.received()) == [
        "ana@example.org",
        "cid@example.org",
    ]
    with get_db(app).reader() as session:
        failed = session.execute(
            sa.select(Delivery.status, Delivery.last_error).where(
                Delivery.status == DeliveryStatus.FAILED
            )
        ).all()
    [(status, reason)] = failed
    assert reason.startswith("cannot build message: a repeated value would be 100,000,000 long")
    status = ok(client.get(f"{URL}/{grown}/status", headers=api_headers))
    assert status["status"] == "sent"
