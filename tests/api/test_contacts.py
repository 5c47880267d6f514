"""/api/v1/contacts: create, read, search, update, delete, and how errors look."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from outreach.contacts.models import Contact
from outreach.db import get_db
from tests.conftest import ADMIN_EMAIL
from tests.support.api import Json, error_of

URL = "/api/v1/contacts"
AddContact = Callable[..., Json]


def stored_contact(app: Flask, contact_id: int) -> Contact | None:
    """The contact row as the database holds it (read in a short transaction)."""
    with get_db(app).session() as db_session:
        return db_session.get(Contact, contact_id)


def emails_of(page: Json) -> list[str]:
    return [item["email"] for item in page["items"]]


def test_create_returns_the_pending_contact_with_its_sector_group(
    app: Flask, client: FlaskClient, api_headers: dict[str, str]
) -> None:
    response = client.post(
        URL,
        headers=api_headers,
        json={
            "email": "Ann@Example.org",
            "first_name": " Ann ",
            "last_name": "Lee",
            "sector": "Health",
            "organization": "Clinic",
            "language": "fr-FR",
            "attributes": {"city": "Lyon", "seats": 3},
        },
    )

    assert response.status_code == 201, response.get_json()
    doc = response.get_json()
    assert doc["email"] == "Ann@example.org"  # the domain is normalized, the local part kept
    assert doc["status"] == "pending"
    assert doc["first_name"] == "Ann"
    assert (doc["sector"], doc["organization"], doc["language"]) == ("Health", "Clinic", "fr-FR")
    assert doc["attributes"] == {"city": "Lyon", "seats": 3}
    assert doc["groups"] == ["Health"]
    assert isinstance(doc["id"], int) and doc["created_at"] and doc["updated_at"]
    stored = stored_contact(app, doc["id"])
    assert stored is not None and stored.source == f"api:{ADMIN_EMAIL}"
    assert client.get(f"{URL}/{doc['id']}", headers=api_headers).get_json() == doc


def test_list_searches_filters_and_paginates(
    client: FlaskClient, api_headers: dict[str, str], add_contact: AddContact
) -> None:
    add_contact("ann@example.org", sector="Health", organization="Clinic du Parc")
    add_contact("bob@example.org", sector="Education")
    add_contact("cid@example.org", sector="Health", last_name="Parker")
    add_contact("dee@example.org")

    def page(**query: Any) -> Json:
        response = client.get(URL, query_string=query, headers=api_headers)
        assert response.status_code == 200, response.get_json()
        return response.get_json()  # type: ignore[no-any-return]

    everyone = page()
    assert emails_of(everyone) == [
        "ann@example.org",
        "bob@example.org",
        "cid@example.org",
        "dee@example.org",
    ]
    assert (everyone["total"], everyone["page"], everyone["per_page"]) == (4, 1, 50)
    assert everyone["items"][0]["groups"] == ["Health"]
    assert emails_of(page(search="PAR")) == ["ann@example.org", "cid@example.org"]
    assert emails_of(page(group="health")) == ["ann@example.org", "cid@example.org"]
    assert page(status="pending")["total"] == 4
    assert page(status="subscribed") == {"items": [], "total": 0, "page": 1, "per_page": 50}
    second = page(page=2, per_page=3)
    assert emails_of(second) == ["dee@example.org"]
    assert (second["total"], second["page"], second["per_page"]) == (4, 2, 3)


def test_update_changes_fields_and_moves_the_sector_group(
    client: FlaskClient, api_headers: dict[str, str], add_contact: AddContact
) -> None:
    contact = add_contact("ann@example.org", sector="Health", attributes={"city": "Lyon"})

    response = client.patch(
        f"{URL}/{contact['id']}",
        headers=api_headers,
        json={
            "email": "ann.lee@example.org",
            "sector": "Education",
            "attributes": {"city": "Nice"},
        },
    )

    assert response.status_code == 200, response.get_json()
    doc = response.get_json()
    assert (doc["email"], doc["sector"], doc["groups"]) == (
        "ann.lee@example.org",
        "Education",
        ["Education"],
    )
    assert doc["attributes"] == {"city": "Nice"}
    assert doc["first_name"] == contact["first_name"]
    assert client.get(f"{URL}/{contact['id']}", headers=api_headers).get_json() == doc

    cleared = client.patch(f"{URL}/{contact['id']}", headers=api_headers, json={"sector": None})
    assert cleared.get_json()["sector"] is None
    assert cleared.get_json()["groups"] == []


def test_update_to_another_contacts_address_conflicts(
    client: FlaskClient, api_headers: dict[str, str], add_contact: AddContact
) -> None:
    add_contact("ann@example.org")
    bob = add_contact("bob@example.org")

    response = client.patch(
        f"{URL}/{bob['id']}", headers=api_headers, json={"email": "ANN@example.org"}
    )

    error = error_of(response, 409)
    assert (error["code"], error["field"]) == ("conflict", "email")
    assert client.get(f"{URL}/{bob['id']}", headers=api_headers).get_json()["email"] == (
        "bob@example.org"
    )


def test_delete_removes_the_contact(
    client: FlaskClient, api_headers: dict[str, str], add_contact: AddContact
) -> None:
    contact = add_contact("ann@example.org", sector="Health")

    response = client.delete(f"{URL}/{contact['id']}", headers=api_headers)

    assert response.status_code == 204
    assert response.get_data() == b""
    assert error_of(client.get(f"{URL}/{contact['id']}", headers=api_headers), 404)["code"] == (
        "not_found"
    )
    assert error_of(client.delete(f"{URL}/{contact['id']}", headers=api_headers), 404)
    assert client.get(URL, headers=api_headers).get_json()["total"] == 0


def test_unknown_contact_is_404_for_every_method(
    client: FlaskClient, api_headers: dict[str, str]
) -> None:
    for method in ("GET", "PATCH", "DELETE"):
        response = client.open(f"{URL}/999", method=method, headers=api_headers, json={})
        assert error_of(response, 404)["code"] == "not_found", method


def test_a_known_address_conflicts_whatever_its_case(
    client: FlaskClient, api_headers: dict[str, str], add_contact: AddContact
) -> None:
    add_contact("ann@example.org")

    response = client.post(URL, headers=api_headers, json={"email": "ANN@Example.org"})

    error = error_of(response, 409)
    assert (error["code"], error["field"]) == ("conflict", "email")
    assert client.get(URL, headers=api_headers).get_json()["total"] == 1


@pytest.mark.parametrize("email", ["not-an-address", "ann@", "", "   "])
def test_an_invalid_address_is_refused(
    client: FlaskClient, api_headers: dict[str, str], email: str
) -> None:
    response = client.post(URL, headers=api_headers, json={"email": email})

    error = error_of(response, 422)
    assert (error["code"], error["field"]) == ("invalid", "email")
    assert client.get(URL, headers=api_headers).get_json()["total"] == 0


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({}, "email"),
        ({"email": "ann@example.org", "nickname": "Annie"}, "nickname"),
        ({"email": "ann@example.org", "first_name": 5}, "first_name"),
        ({"email": "ann@example.org", "first_name": None}, "first_name"),
        ({"email": ["ann@example.org"]}, "email"),
        ({"email": "ann@example.org", "attributes": ["city"]}, "attributes"),
        ({"email": "ann@example.org", "language": "not a tag"}, "language"),
        ({"email": "ann@example.org", "last_name": "x" * 201}, "last_name"),
        ({"email": "ann@example.org", "attributes": {"bad name": 1}}, "bad name"),
    ],
)
def test_a_bad_field_is_422_naming_the_field(
    client: FlaskClient, api_headers: dict[str, str], body: Json, field: str
) -> None:
    response = client.post(URL, headers=api_headers, json=body)

    error = error_of(response, 422)
    assert (error["code"], error["field"]) == ("invalid", field)
    assert field in error["message"]
    assert client.get(URL, headers=api_headers).get_json()["total"] == 0


def test_a_bad_field_in_an_update_changes_nothing(
    client: FlaskClient, api_headers: dict[str, str], add_contact: AddContact
) -> None:
    contact = add_contact("ann@example.org", first_name="Ann")

    for body, field in [
        ({"first_name": "Annie", "age": 3}, "age"),
        ({"first_name": "Annie", "email": "nope"}, "email"),
    ]:
        response = client.patch(f"{URL}/{contact['id']}", headers=api_headers, json=body)
        assert error_of(response, 422)["field"] == field

    assert client.get(f"{URL}/{contact['id']}", headers=api_headers).get_json() == contact


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ({"status": "asleep"}, "status"),
        ({"per_page": "1000"}, "per_page"),
        ({"page": "0"}, "page"),
        ({"page": "two"}, "page"),
        ({"sort": "email"}, "sort"),
    ],
)
def test_bad_list_parameters_are_422_naming_the_parameter(
    client: FlaskClient, api_headers: dict[str, str], query: dict[str, str], field: str
) -> None:
    response = client.get(URL, query_string=query, headers=api_headers)

    error = error_of(response, 422)
    assert (error["code"], error["field"]) == ("invalid", field)


def test_filtering_by_an_unknown_group_is_404(
    client: FlaskClient, api_headers: dict[str, str]
) -> None:
    response = client.get(URL, query_string={"group": "nobody"}, headers=api_headers)

    error = error_of(response, 404)
    assert (error["code"], error["field"]) == ("not_found", "group")


def test_a_body_that_is_not_json_is_refused_with_a_json_error(
    client: FlaskClient, api_headers: dict[str, str]
) -> None:
    malformed = client.post(
        URL, headers=api_headers, data="{not json", content_type="application/json"
    )
    assert "Invalid JSON" in error_of(malformed, 400)["message"]

    not_an_object = client.post(URL, headers=api_headers, json=["ann@example.org"])
    error = error_of(not_an_object, 422)
    assert error["code"] == "invalid" and "field" not in error

    form = client.post(URL, headers=api_headers, data={"email": "ann@example.org"})
    error = error_of(form, 400)
    assert error["code"] == "malformed" and "must be JSON" in error["message"]
    assert client.get(URL, headers=api_headers).get_json()["total"] == 0


@pytest.mark.parametrize(
    "authorization",
    [
        None,
        "",
        "Bearer",
        "Bearer ",
        "Bearer not-a-real-token",
        "Basic YWRtaW46cGFzcw==",
    ],
)
def test_missing_or_invalid_token_is_401_json(
    client: FlaskClient, api_headers: dict[str, str], authorization: str | None
) -> None:
    headers = {} if authorization is None else {"Authorization": authorization}

    for method, url in [
        ("GET", URL),
        ("POST", URL),
        ("GET", f"{URL}/1"),
        ("POST", f"{URL}/import"),
        ("GET", "/api/v1/groups"),
    ]:
        response = client.open(
            url,
            method=method,
            headers=headers,
            json={"email": "ann@example.org"} if method == "POST" else None,
        )
        assert error_of(response, 401)["code"] == "unauthorized", (method, url)
        assert response.headers["WWW-Authenticate"] == "Bearer"

    assert client.get(URL, headers=api_headers).get_json()["total"] == 0
