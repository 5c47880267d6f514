"""Request bodies bounded before parsing: deep nesting is a 400 that says so, never a 500."""

from __future__ import annotations

from flask.testing import FlaskClient

from outreach.api.limits import MAX_JSON_DEPTH, json_depth
from tests.support.api import error_of

Headers = dict[str, str]


def post(client: FlaskClient, headers: Headers, body: str) -> object:
    return client.post(
        "/api/v1/contacts",
        data=body,
        headers={**headers, "Content-Type": "application/json"},
    )


def test_an_attribute_nested_thousands_deep_is_refused_with_the_reason(
    client: FlaskClient, api_headers: Headers
) -> None:
    for depth in (5_000, 100_000):
        nested = "[" * depth + "]" * depth
        body = f'{{"email": "deep@example.org", "attributes": {{"a": {nested}}}}}'
        error = error_of(post(client, api_headers, body), 400)  # type: ignore[arg-type]
        assert error["code"] == "malformed"
        assert f"more than {MAX_JSON_DEPTH} levels deep" in error["message"]


def test_a_top_level_of_brackets_is_refused(client: FlaskClient, api_headers: Headers) -> None:
    error = error_of(post(client, api_headers, "[" * 5_000), 400)  # type: ignore[arg-type]
    assert error["code"] == "malformed"


def test_reasonable_nesting_and_brackets_inside_strings_pass(
    client: FlaskClient, api_headers: Headers
) -> None:
    body = (
        '{"email": "ok@example.org", "first_name": "[[[[{{{{' + "[" * 100 + '", "attributes": {}}'
    )
    response = post(client, api_headers, body)
    assert response.status_code == 201, response.get_json()  # type: ignore[attr-defined]


def test_depth_is_counted_outside_strings() -> None:
    assert json_depth(b'{"a": [1, {"b": "[[[\\"]]]"}]}') == 3
    assert json_depth(b'"just a string"') == 0
