"""Driving the JSON API through the test client: the error document, and a campaign with a
Consultants variant and a fallback written through /api/v1/campaigns."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from flask.testing import FlaskClient
from werkzeug.test import TestResponse

Json = dict[str, Any]


def error_of(response: TestResponse, status: int) -> Json:
    """The JSON error document of a response, after checking its status."""
    assert response.status_code == status, (response.status_code, response.get_data(as_text=True))
    assert response.is_json, response.get_data(as_text=True)
    body = response.get_json()
    assert set(body) == {"error"}, body
    assert {"code", "message"} <= set(body["error"]), body
    return body["error"]  # type: ignore[no-any-return]


CAMPAIGNS_URL = "/api/v1/campaigns"
SENDER = "Outreach Team <news@example.org>"
Headers = dict[str, str]

CSV = (
    "email,first_name,sector\n"
    "ana@example.org,Ana,Consultants\n"
    "ben@example.org,Ben,Consultants\n"
    "cid@example.org,Cid,Consultants\n"
    "dan@example.org,Dan,Managers\n"
    "eve@example.org,Eve,Managers\n"
    "fay@example.org,Fay,Thinkers\n"
    "hal@example.org,Hal,R&D / Labs\n"
)


def mjml(body: str) -> str:
    """A complete MJML document around `body`, with the required unsubscribe link."""
    return (
        "<mjml>\n<mj-body>\n<mj-section>\n<mj-column>\n"
        f"<mj-text>{body}</mj-text>\n"
        '<mj-text><a href="{{ unsubscribe_url }}">Unsubscribe</a></mj-text>\n'
        "</mj-column>\n</mj-section>\n</mj-body>\n</mjml>\n"
    )


CONSULTANTS = mjml("Hello {{ contact.first_name }}, advice for {{ group.name }}.")
EVERYONE = mjml("Dear {{ contact.first_name }}, news for everyone.")


def ok(response: TestResponse, status: int = 200) -> Any:
    """The JSON body of a response, after checking its status."""
    assert response.status_code == status, (response.status_code, response.get_data(as_text=True))
    return response.get_json()


def variant_url(campaign_id: int, group: str | int) -> str:
    return f"{CAMPAIGNS_URL}/{campaign_id}/variants/{quote(str(group), safe='')}"


def create(client: FlaskClient, headers: Headers, **body: Any) -> Json:
    """Create a campaign (name and sender by default); returns its document."""
    response = client.post(
        CAMPAIGNS_URL, headers=headers, json={"name": "March", "from": SENDER, **body}
    )
    return ok(response, 201)  # type: ignore[no-any-return]


def put_variant(
    client: FlaskClient, headers: Headers, campaign_id: int, group: str | int, **body: Any
) -> TestResponse:
    return client.put(variant_url(campaign_id, group), headers=headers, json=body)


def campaign_of(client: FlaskClient, headers: Headers, campaign_id: int) -> Json:
    return ok(client.get(f"{CAMPAIGNS_URL}/{campaign_id}", headers=headers))  # type: ignore[no-any-return]


def letter(client: FlaskClient, headers: Headers, **body: Any) -> Json:
    """A campaign to Consultants, Managers and Thinkers with a Consultants and a fallback
    variant."""
    campaign = create(client, headers, groups=["Consultants", "Managers", "Thinkers"], **body)
    ok(
        put_variant(
            client,
            headers,
            campaign["id"],
            "Consultants",
            subject="For consultants",
            mjml=CONSULTANTS,
            preheader="Hi {{ contact.first_name }}",
        )
    )
    ok(put_variant(client, headers, campaign["id"], "fallback", subject="For all", mjml=EVERYONE))
    return campaign_of(client, headers, campaign["id"])
