"""Schemathesis over the OpenAPI document: no operation answers 500, whatever it is sent.

Every operation of /api/v1/openapi.json is fuzzed through the WSGI app with a valid token
(schemathesis' coverage and fuzzing phases, valid and invalid data; the responses checked
for a 5xx and against their documented schemas), on a database holding contacts, sector
groups, a campaign with variants and a privacy request, so that the small ids tried first
reach real rows. No operation is left out: test and send are safe here (the test app
delivers into a Maildir in its instance folder, and its broker is in memory with no worker).
Then, read from the same document, each operation that takes a JSON body is sent hostile
bodies (nested 5,000 deep, over 8 MB, not UTF-8, not JSON), every integer parameter numbers
beyond the database's, and text parameters a NUL character.
"""

from __future__ import annotations

import gc
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import schemathesis
from flask import Flask
from flask.testing import FlaskClient
from hypothesis import HealthCheck, settings
from schemathesis import Case
from schemathesis.checks import not_a_server_error, response_schema_conformance
from werkzeug.test import TestResponse

from outreach import create_app
from tests.conftest import make_settings
from tests.support.api import CSV, Json, error_of, letter

OPENAPI = "/api/v1/openapi.json"
Upload = Callable[..., TestResponse]


@pytest.fixture
def seeded(client: FlaskClient, api_headers: dict[str, str], upload_csv: Upload) -> dict[str, str]:
    """Contacts in three sector groups, a campaign with variants, a privacy request."""
    assert upload_csv(CSV, source="fuzzing", status="subscribed").status_code == 200
    # Saving a variant refuses a trial render slower than 0.2 s of wall-clock time, and a
    # full garbage collection of this module's heap takes 0.1-0.2 s: without one, the
    # seeded variants are not refused at random ("takes too long to render").
    gc.disable()
    try:
        letter(client, api_headers)
    finally:
        gc.enable()
    request = client.post(
        "/api/v1/privacy/requests",
        json={"email": "ana@example.org", "kind": "access"},
        headers=api_headers,
    )
    assert request.status_code == 201, request.get_json()
    return api_headers


def openapi_document(app: Flask) -> Json:
    response = app.test_client().get(OPENAPI)
    assert response.status_code == 200
    return response.get_json()  # type: ignore[no-any-return]


def _collected_document() -> Json:
    """The document at collection time, from an app that never opens its database."""
    with tempfile.TemporaryDirectory() as folder:
        return openapi_document(create_app(make_settings(Path(folder), "sqlite://")))


# Loaded from a dict, not from the fixture app: schemathesis' fixture loader
# (schemathesis.pytest.from_fixture) fails under pytest 9 ('Function' has no '_nodeid').
# The cases are sent to each test's own app; tests/api/test_openapi.py keeps the document
# in step with the routes.
schema = schemathesis.openapi.from_dict(_collected_document())


# Fuzzed on one database (PostgreSQL in CI): the cases exercise the HTTP layer; the
# database's own limits (integer range, NUL characters) are tested on both, below.
@pytest.mark.one_backend
@schema.parametrize()
@settings(
    max_examples=15,  # fuzzing cases per operation, after ~30 coverage cases each
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=list(HealthCheck),
)
def test_no_operation_answers_500(case: Case, app: Flask, seeded: dict[str, str]) -> None:
    case.call_and_validate(
        app=app, headers=seeded, checks=[not_a_server_error, response_schema_conformance]
    )


HTTP_METHODS = {"get", "put", "post", "patch", "delete"}


def operations(document: Json) -> Iterator[tuple[str, str, Json, list[Json]]]:
    """(method, path, operation, parameters with the path's own) of every operation."""
    for path, item in document["paths"].items():
        for method, operation in item.items():
            if method in HTTP_METHODS:
                yield (
                    method,
                    path,
                    operation,
                    item.get("parameters", []) + operation.get("parameters", []),
                )


def sample_path(path: str, **values: object) -> str:
    """The path with its parameters filled in: the given values, else the seeded rows'."""
    samples = {"group": "fallback", "name_or_id": "Thinkers", **values}
    return path.format_map(_Samples(samples))


class _Samples(dict[str, object]):
    def __missing__(self, key: str) -> object:
        return 1  # the first row of each table, seeded


def json_operations(document: Json) -> list[tuple[str, str]]:
    """(method, sample path) of every operation that takes a JSON body."""
    return [
        (method, sample_path(path))
        for method, path, operation, _ in operations(document)
        if "application/json" in operation.get("requestBody", {}).get("content", {})
    ]


DEEP = b"[" * 5000 + b"]" * 5000
DEEP_ATTRIBUTE = b'{"email": "deep@example.org", "attributes": {"a": ' + DEEP + b"}}"
HUGE = b'{"email": "huge@example.org", "first_name": "' + b"x" * (8 * 1024 * 1024 + 1) + b'"}'
NOT_UTF8 = b'{"email": "\xff\xfe@example.org"}'


@pytest.mark.parametrize(
    ("body", "content_type"),
    [
        (DEEP, "application/json"),
        (DEEP_ATTRIBUTE, "application/json"),
        (HUGE, "application/json"),
        (NOT_UTF8, "application/json"),
        (b'{"email": "ana@example.org"}', "text/plain"),
        (b"email=ana@example.org", "application/x-www-form-urlencoded"),
    ],
    ids=["nested-5000", "attribute-nested-5000", "over-8MB", "not-utf8", "text", "form"],
)
def test_hostile_bodies_are_4xx_json_errors_on_every_json_operation(
    app: Flask, client: FlaskClient, seeded: dict[str, str], body: bytes, content_type: str
) -> None:
    targets = json_operations(openapi_document(app))
    assert len(targets) >= 15, targets  # read from the document: a new operation is included
    for method, path in targets:
        response = client.open(
            path, method=method.upper(), data=body, content_type=content_type, headers=seeded
        )
        assert 400 <= response.status_code < 500, (method, path, response.status_code)
        error_of(response, response.status_code)


BEYOND_THE_IDS = [2**31, 2**63, 10**30]


def test_integers_beyond_the_database_range_are_4xx_not_500(
    app: Flask, client: FlaskClient, seeded: dict[str, str]
) -> None:
    # Found by schemathesis: POST /api/v1/outbox/9223372036854775808/retry answered 500
    # (OverflowError: Python int too large to convert to SQLite INTEGER).
    checked = 0
    for method, path, _, parameters in operations(openapi_document(app)):
        for parameter in parameters:
            if parameter["schema"].get("type") != "integer":
                continue
            for value in BEYOND_THE_IDS:
                name = parameter["name"]
                if parameter["in"] == "path":
                    url, query = sample_path(path, **{name: value}), {}
                else:
                    url, query = sample_path(path), {name: value}
                response = client.open(
                    url, method=method.upper(), query_string=query, json={}, headers=seeded
                )
                assert response.status_code < 500, (method, url, query, response.status)
                if response.status_code >= 400:
                    error_of(response, response.status_code)
                checked += 1
    assert checked >= 3 * 25  # the ids of every table and the paging parameters


NUL_REQUESTS = [
    ("post", "/api/v1/groups", {}, {"name": "x\x00y"}),
    ("post", "/api/v1/campaigns", {}, {"name": "x\x00", "from": "A <a@example.org>"}),
    ("put", "/api/v1/campaigns/1/groups", {}, {"groups": ["\x00"]}),
    ("post", "/api/v1/tokens", {}, {"name": "x\x00"}),
    ("get", "/api/v1/contacts", {"group": "a\x00"}, None),
    ("get", "/api/v1/groups/a%00b/members", {}, None),
    ("get", "/api/v1/campaigns/1/preview", {"group": "\x00"}, None),
]


@pytest.mark.parametrize(("method", "path", "query", "body"), NUL_REQUESTS)
def test_a_nul_character_anywhere_is_422_naming_where(
    client: FlaskClient,
    seeded: dict[str, str],
    method: str,
    path: str,
    query: dict[str, str],
    body: Json | None,
) -> None:
    # PostgreSQL text cannot hold U+0000: each of these was a 500 there (DataError).
    response = client.open(
        path, method=method.upper(), query_string=query, json=body, headers=seeded
    )
    error = error_of(response, 422)
    assert "NUL character" in error["message"], error


def test_a_nul_character_in_an_import_form_field_is_422(
    client: FlaskClient, seeded: dict[str, str], upload_csv: Upload
) -> None:
    error = error_of(upload_csv("email\nnew@example.org\n", source="fair\x00"), 422)
    assert error["field"] == "source"
