"""Fixtures for driving the JSON API through the test client."""

from __future__ import annotations

import io
from collections.abc import Callable
from typing import Any

import pytest
from flask.testing import FlaskClient
from werkzeug.test import TestResponse

from tests.support.api import Json


@pytest.fixture
def add_contact(client: FlaskClient, api_headers: dict[str, str]) -> Callable[..., Json]:
    """Create a contact through the API; returns its document."""

    def add(email: str, **fields: Any) -> Json:
        response = client.post(
            "/api/v1/contacts", json={"email": email, **fields}, headers=api_headers
        )
        assert response.status_code == 201, response.get_json()
        return response.get_json()  # type: ignore[no-any-return]

    return add


@pytest.fixture
def upload_csv(client: FlaskClient, api_headers: dict[str, str]) -> Callable[..., TestResponse]:
    """POST a CSV file (bytes or text) to the import endpoint with extra form fields."""

    def upload(content: str | bytes, name: str = "contacts.csv", **form: str) -> TestResponse:
        raw = content.encode() if isinstance(content, str) else content
        data: dict[str, Any] = {"file": (io.BytesIO(raw), name), **form}
        return client.post(
            "/api/v1/contacts/import",
            data=data,
            headers=api_headers,
            content_type="multipart/form-data",
        )

    return upload
