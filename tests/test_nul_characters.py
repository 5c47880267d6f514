"""A NUL character (U+0000) in any form, query or path is refused with a 4xx naming the
field, on every surface: PostgreSQL text cannot hold it, so it used to be a 500 there."""

from __future__ import annotations

import pytest
from flask.testing import FlaskClient

from tests.conftest import csrf_from


def test_an_admin_form_with_a_nul_is_refused_naming_the_field(auth: FlaskClient) -> None:
    token = csrf_from(auth.get("/admin/groups").get_data(as_text=True))

    response = auth.post(
        "/admin/groups", data={"csrf_token": token, "name": "VIP\x00", "description": ""}
    )

    assert response.status_code == 422
    assert "name contains a NUL character" in response.get_data(as_text=True)
    assert "VIP" not in auth.get("/admin/groups").get_data(as_text=True).split("<main", 1)[1]


@pytest.mark.parametrize(
    "url", ["/admin/contacts?search=a%00b", "/admin/groups/x%00/members", "/subscribe?sector=%00"]
)
def test_a_query_or_path_with_a_nul_is_refused(auth: FlaskClient, url: str) -> None:
    response = auth.get(url)

    assert response.status_code in (404, 422), response.get_data(as_text=True)[:500]


def test_the_sign_up_form_with_a_nul_is_refused(client: FlaskClient) -> None:
    response = client.post(
        "/subscribe",
        data={"email": "ana@example.org", "first_name": "A\x00na", "consent_newsletter": "1"},
    )

    assert response.status_code == 422
    assert "first_name contains a NUL character" in response.get_data(as_text=True)


def test_the_login_form_with_a_nul_is_refused(client: FlaskClient) -> None:
    token = csrf_from(client.get("/admin/login").get_data(as_text=True))

    response = client.post(
        "/admin/login", data={"csrf_token": token, "email": "a\x00@example.org", "password": "x"}
    )

    assert response.status_code == 422
