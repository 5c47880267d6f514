"""/api/v1/groups: list and create groups, add, list and remove members."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from urllib.parse import quote

import pytest
from flask.testing import FlaskClient
from werkzeug.test import TestResponse

from tests.support.api import Json, error_of

URL = "/api/v1/groups"
AddContact = Callable[..., Json]


def members_url(group: str | int) -> str:
    return f"{URL}/{quote(str(group), safe='')}/members"


def groups(client: FlaskClient, headers: dict[str, str]) -> dict[str, Json]:
    response = client.get(URL, headers=headers)
    assert response.status_code == 200, response.get_json()
    return {g["name"]: g for g in response.get_json()}


def member_emails(
    client: FlaskClient, headers: dict[str, str], group: str | int, **query: Any
) -> list[str]:
    response = client.get(members_url(group), query_string=query, headers=headers)
    assert response.status_code == 200, response.get_json()
    return [item["email"] for item in response.get_json()["items"]]


@pytest.fixture
def people(add_contact: AddContact) -> list[Json]:
    """Three contacts, two in the Health sector."""
    return [
        add_contact("ann@example.org", sector="Health"),
        add_contact("bob@example.org", sector="Health"),
        add_contact("cid@example.org"),
    ]


def test_create_an_affinity_group(client: FlaskClient, api_headers: dict[str, str]) -> None:
    response = client.post(
        URL, headers=api_headers, json={"name": "  Board   members ", "description": "Who decides"}
    )

    assert response.status_code == 201, response.get_json()
    doc = response.get_json()
    assert doc == {
        "id": doc["id"],
        "name": "Board members",
        "kind": "affinity",
        "public": False,
        "description": "Who decides",
        "members": 0,
        "subscribed": 0,
        "rule": None,
        "rule_text": None,
    }
    assert groups(client, api_headers)["Board members"] == doc


@pytest.mark.parametrize(
    ("body", "status", "field"),
    [
        ({"name": "board MEMBERS"}, 409, "name"),
        ({"name": "Health"}, 409, "name"),
        ({"name": "   "}, 422, "name"),
        ({"name": "x" * 201}, 422, "name"),
        ({}, 422, "name"),
        ({"name": 7}, 422, "name"),
        ({"name": "VIPs", "kind": "rule"}, 422, "kind"),
        ({"name": "VIPs", "public": "maybe"}, 422, "public"),
        ({"name": "VIPs", "description": "x" * 1001}, 422, "description"),
    ],
)
def test_a_bad_group_is_refused(
    client: FlaskClient,
    api_headers: dict[str, str],
    add_contact: AddContact,
    body: Json,
    status: int,
    field: str,
) -> None:
    add_contact("ann@example.org", sector="Health")
    client.post(URL, headers=api_headers, json={"name": "Board members"})

    response = client.post(URL, headers=api_headers, json=body)

    assert error_of(response, status)["field"] == field
    assert set(groups(client, api_headers)) == {"Health", "Board members"}


def test_add_list_and_remove_members(
    client: FlaskClient, api_headers: dict[str, str], people: list[Json]
) -> None:
    client.post(URL, headers=api_headers, json={"name": "Speakers"})
    url = members_url("speakers")

    added = client.post(
        url, headers=api_headers, json={"emails": ["ANN@example.org", "cid@example.org"]}
    )
    again = client.post(url, headers=api_headers, json={"emails": ["cid@example.org"]})

    assert added.status_code == 200, added.get_json()
    assert added.get_json() == {"added": 2}
    assert again.get_json() == {"added": 0}
    assert member_emails(client, api_headers, "Speakers") == ["ann@example.org", "cid@example.org"]
    assert groups(client, api_headers)["Speakers"]["members"] == 2
    contact = client.get(f"/api/v1/contacts/{people[0]['id']}", headers=api_headers).get_json()
    assert contact["groups"] == ["Health", "Speakers"]

    removed = client.delete(
        url, headers=api_headers, json={"emails": ["ann@example.org", "bob@example.org"]}
    )

    assert removed.status_code == 200, removed.get_json()
    assert removed.get_json() == {"removed": 1}
    assert member_emails(client, api_headers, "Speakers") == ["cid@example.org"]


def test_members_are_paged_and_groups_are_found_by_id(
    client: FlaskClient, api_headers: dict[str, str], people: list[Json]
) -> None:
    health_id = groups(client, api_headers)["Health"]["id"]

    response = client.get(
        members_url(health_id), query_string={"per_page": 1, "page": 2}, headers=api_headers
    )

    assert response.status_code == 200, response.get_json()
    page = response.get_json()
    assert [i["email"] for i in page["items"]] == ["bob@example.org"]
    assert (page["total"], page["page"], page["per_page"]) == (2, 2, 1)
    assert page["items"][0]["groups"] == ["Health"]


def test_a_group_name_may_contain_a_slash(
    client: FlaskClient, api_headers: dict[str, str], people: list[Json]
) -> None:
    response = client.post(
        members_url("R&D / Labs"), headers=api_headers, json={"emails": ["bob@example.org"]}
    )

    assert response.get_json() == {"added": 1}
    assert groups(client, api_headers)["R&D / Labs"]["kind"] == "affinity"
    assert member_emails(client, api_headers, "R&D / Labs") == ["bob@example.org"]


def test_adding_an_unknown_address_adds_nobody(
    client: FlaskClient, api_headers: dict[str, str], people: list[Json]
) -> None:
    client.post(URL, headers=api_headers, json={"name": "Speakers"})

    response = client.post(
        members_url("Speakers"),
        headers=api_headers,
        json={"emails": ["ann@example.org", "zed@example.org"]},
    )

    error = error_of(response, 404)
    assert (error["code"], error["field"]) == ("not_found", "email")
    assert "zed@example.org" in error["message"]
    assert member_emails(client, api_headers, "Speakers") == []


@pytest.mark.parametrize("method", ["POST", "DELETE"])
def test_sector_membership_cannot_be_changed_by_hand(
    client: FlaskClient, api_headers: dict[str, str], people: list[Json], method: str
) -> None:
    response = client.open(
        members_url("Health"),
        method=method,
        headers=api_headers,
        json={"emails": ["cid@example.org", "ann@example.org"]},
    )

    error = error_of(response, 422)
    assert (error["code"], error["field"]) == ("invalid", "group")
    assert member_emails(client, api_headers, "Health") == ["ann@example.org", "bob@example.org"]


def test_an_unknown_group_is_404(
    client: FlaskClient, api_headers: dict[str, str], people: list[Json]
) -> None:
    responses: list[TestResponse] = [
        client.get(members_url("Nobody"), headers=api_headers),
        client.get(members_url(999), headers=api_headers),
        client.delete(
            members_url("Nobody"), headers=api_headers, json={"emails": ["ann@example.org"]}
        ),
    ]

    for response in responses:
        error = error_of(response, 404)
        assert (error["code"], error["field"]) == ("not_found", "group")
    assert "Nobody" not in groups(client, api_headers)


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({}, "emails"),
        ({"emails": []}, "emails"),
        ({"emails": "ann@example.org"}, "emails"),
        ({"emails": [3]}, "emails"),
        ({"emails": ["ann@example.org"], "role": "chair"}, "role"),
        ({"emails": ["not an address"]}, "email"),
    ],
)
def test_bad_member_lists_are_422_naming_the_field(
    client: FlaskClient, api_headers: dict[str, str], people: list[Json], body: Json, field: str
) -> None:
    client.post(URL, headers=api_headers, json={"name": "Speakers"})

    for method in ("POST", "DELETE"):
        response = client.open(
            members_url("Speakers"), method=method, headers=api_headers, json=body
        )
        assert error_of(response, 422)["field"] == field, method
    assert member_emails(client, api_headers, "Speakers") == []


def test_member_list_parameters_are_checked(
    client: FlaskClient, api_headers: dict[str, str], people: list[Json]
) -> None:
    for query, field in [({"per_page": 0}, "per_page"), ({"status": "pending"}, "status")]:
        response = client.get(members_url("Health"), query_string=query, headers=api_headers)
        assert error_of(response, 422)["field"] == field


def test_publish_unpublish_and_describe_a_group(
    client: FlaskClient, api_headers: dict[str, str], people: list[Json]
) -> None:
    health = groups(client, api_headers)["Health"]
    assert (health["kind"], health["public"]) == ("sector", False)  # a sector from a contact
    assert "Health" not in client.get("/subscribe").get_data(as_text=True)

    published = client.patch(f"{URL}/Health", headers=api_headers, json={"public": True})

    assert published.status_code == 200, published.get_json()
    assert published.get_json() == {**health, "public": True}
    assert "<option >Health</option>" in client.get("/subscribe").get_data(as_text=True)
    assert client.get(f"{URL}/{health['id']}", headers=api_headers).get_json()["public"] is True

    described = client.patch(
        f"{URL}/{health['id']}",
        headers=api_headers,
        json={"public": False, "description": "  Clinics and hospitals "},
    )

    assert described.get_json() == {
        **health,
        "public": False,
        "description": "Clinics and hospitals",
    }
    assert "Health" not in client.get("/subscribe").get_data(as_text=True)
    assert member_emails(client, api_headers, "Health") == ["ann@example.org", "bob@example.org"]


def test_a_public_topic_and_a_sector_can_be_created(
    client: FlaskClient, api_headers: dict[str, str]
) -> None:
    topic = client.post(
        URL,
        headers=api_headers,
        json={"name": "Book club", "description": "A monthly reading list", "public": True},
    )
    sector = client.post(URL, headers=api_headers, json={"name": "Designers", "kind": "sector"})

    assert topic.status_code == 201 and topic.get_json()["public"] is True
    assert (sector.get_json()["kind"], sector.get_json()["public"]) == ("sector", False)
    page = client.get("/subscribe").get_data(as_text=True)
    assert "A monthly reading list" in page and "Designers" not in page


@pytest.mark.parametrize(
    ("target", "body", "status", "field"),
    [
        ("Nobody", {"public": True}, 404, "group"),
        ("999", {"public": True}, 404, "group"),
        ("Health", {"public": "yes please"}, 422, "public"),
        ("Health", {"description": "x" * 1001}, 422, "description"),
        ("Health", {"kind": "affinity"}, 422, "kind"),
    ],
)
def test_bad_group_changes_are_refused(
    client: FlaskClient,
    api_headers: dict[str, str],
    people: list[Json],
    target: str,
    body: Json,
    status: int,
    field: str,
) -> None:
    response = client.patch(f"{URL}/{target}", headers=api_headers, json=body)

    assert error_of(response, status)["field"] == field
    assert groups(client, api_headers)["Health"]["public"] is False
