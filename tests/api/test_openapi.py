"""The OpenAPI document is generated from the code, valid, and describes every API route."""

from __future__ import annotations

import re

from flask import Flask
from flask.testing import FlaskClient
from openapi_spec_validator import validate

from tests.support.api import Json

ENDPOINTS = {
    "/api/v1/campaigns": {"get", "post"},
    "/api/v1/campaigns/layout": {"get"},
    "/api/v1/campaigns/{campaign_id}": {"get", "delete"},
    "/api/v1/campaigns/{campaign_id}/duplicate": {"post"},
    "/api/v1/campaigns/{campaign_id}/followup": {"post"},
    "/api/v1/campaigns/{campaign_id}/recipients": {"get"},
    "/api/v1/campaigns/{campaign_id}/recipients.csv": {"get"},
    "/api/v1/campaigns/{campaign_id}/recipients/group": {"post"},
    "/api/v1/campaigns/{campaign_id}/groups": {"put"},
    "/api/v1/campaigns/{campaign_id}/variants/{group}": {"put"},
    "/api/v1/campaigns/{campaign_id}/audience": {"get"},
    "/api/v1/campaigns/{campaign_id}/preview": {"get"},
    "/api/v1/campaigns/{campaign_id}/test": {"post"},
    "/api/v1/campaigns/{campaign_id}/send": {"post"},
    "/api/v1/campaigns/{campaign_id}/status": {"get"},
    "/api/v1/campaigns/{campaign_id}/pause": {"post"},
    "/api/v1/campaigns/{campaign_id}/resume": {"post"},
    "/api/v1/campaigns/{campaign_id}/retry": {"post"},
    "/api/v1/outbox": {"get"},
    "/api/v1/outbox/{outbox_id}/retry": {"post"},
    "/api/v1/campaigns/{campaign_id}/cancel": {"post"},
    "/api/v1/contacts": {"get", "post"},
    "/api/v1/contacts/{contact_id}": {"get", "patch", "delete"},
    "/api/v1/contacts/import": {"post"},
    "/api/v1/contacts/import/preview": {"post"},
    "/api/v1/contacts/imports": {"get"},
    "/api/v1/groups": {"get", "post"},
    "/api/v1/groups/{name_or_id}": {"get", "patch"},
    "/api/v1/groups/{name_or_id}/trend": {"get"},
    "/api/v1/groups/{name_or_id}/rule": {"put"},
    "/api/v1/groups/rule-preview": {"post"},
    "/api/v1/groups/{name_or_id}/members": {"get", "post", "delete"},
    "/api/v1/groups/sector-rules": {"get", "put"},
    "/api/v1/groups/sector-rules/classify": {"post"},
    "/api/v1/privacy/requests": {"get", "post"},
    "/api/v1/privacy/requests/{request_id}": {"get"},
    "/api/v1/privacy/requests/{request_id}/fulfil": {"post"},
    "/api/v1/privacy/requests/{request_id}/refuse": {"post"},
    "/api/v1/privacy/requests/{request_id}/extend": {"post"},
    "/api/v1/privacy/requests/{request_id}/lift": {"post"},
    "/api/v1/privacy/export": {"get"},
    "/api/v1/privacy/erase": {"post"},
    "/api/v1/statistics/{campaign_id}": {"get"},
    "/api/v1/statistics/{campaign_id}.csv": {"get"},
    "/api/v1/statistics/{campaign_id}/links": {"get"},
    "/api/v1/statistics/{campaign_id}/links.csv": {"get"},
    "/api/v1/settings": {"get", "patch"},
    "/api/v1/tokens": {"get", "post"},
    "/api/v1/tokens/{token_id}": {"delete"},
}
# Operations whose success is not a JSON document: path, method, content type.
NOT_JSON = {
    ("/api/v1/campaigns/{campaign_id}/preview", "get"): "text/html",
    ("/api/v1/statistics/{campaign_id}.csv", "get"): "text/csv",
    ("/api/v1/statistics/{campaign_id}/links.csv", "get"): "text/csv",
    ("/api/v1/campaigns/{campaign_id}/recipients.csv", "get"): "text/csv",
}
HTTP_METHODS = {"get", "put", "post", "delete", "options", "head", "patch", "trace"}


def openapi(client: FlaskClient) -> Json:
    response = client.get("/api/v1/openapi.json")
    assert response.status_code == 200
    return response.get_json()  # type: ignore[no-any-return]


def test_the_document_is_valid_openapi_3(client: FlaskClient) -> None:
    document = openapi(client)

    validate(document)  # raises on an invalid document
    assert document["openapi"].startswith("3.")
    assert document["security"] == [{"bearer": []}]


def test_every_api_route_is_documented(app: Flask, client: FlaskClient) -> None:
    paths = openapi(client)["paths"]
    routes: dict[str, set[str]] = {}
    for rule in app.url_map.iter_rules():
        if rule.rule.startswith("/api/v1/") and not rule.rule.endswith("openapi.json"):
            path = re.sub(r"<(?:[^:>]+:)?([^>]+)>", r"{\1}", rule.rule)
            routes.setdefault(path, set()).update(
                m.lower() for m in (rule.methods or set()) - {"HEAD", "OPTIONS"}
            )

    assert routes == ENDPOINTS
    assert {path: set(item) & HTTP_METHODS for path, item in paths.items()} == ENDPOINTS


def test_every_operation_has_a_summary_and_a_documented_success(client: FlaskClient) -> None:
    for path, item in openapi(client)["paths"].items():
        for method in set(item) & HTTP_METHODS:
            operation = item[method]
            assert operation.get("summary"), (method, path)
            success = [s for s in operation["responses"] if s.startswith("2")]
            assert len(success) == 1, (method, path)
            if success != ["204"]:
                content = operation["responses"][success[0]]["content"]
                media = NOT_JSON.get((path, method), "application/json")
                assert list(content) == [media], (method, path)
                assert content[media]["schema"], (method, path)


def test_bodies_and_errors_are_described(client: FlaskClient) -> None:
    document = openapi(client)
    paths, schemas = document["paths"], document["components"]["schemas"]

    upload = paths["/api/v1/contacts/import"]["post"]["requestBody"]["content"]
    form = upload["multipart/form-data"]["schema"]["$ref"].rsplit("/", 1)[-1]
    assert schemas[form]["properties"]["file"] == {
        "type": "string",
        "format": "binary",
        "description": "A CSV file (encoding and delimiter detected) or an .xlsx.",
    }
    assert set(schemas[form]["required"]) == {"file", "source"}
    new_contact = paths["/api/v1/contacts"]["post"]["requestBody"]["content"]
    created = new_contact["application/json"]["schema"]["$ref"].rsplit("/", 1)[-1]
    assert schemas[created]["required"] == ["email"]
    assert schemas[created]["additionalProperties"] is False
    item = paths["/api/v1/contacts/{contact_id}"]
    assert {"404", "409", "422"} <= set(item["patch"]["responses"])
    assert "409" in paths["/api/v1/contacts"]["post"]["responses"]
    assert "404" in paths["/api/v1/groups/{name_or_id}/members"]["post"]["responses"]
    variant = paths["/api/v1/campaigns/{campaign_id}/variants/{group}"]
    assert {"404", "409", "422"} <= set(variant["put"]["responses"])
    source = variant["put"]["requestBody"]["content"]["application/json"]["schema"]
    source_schema = schemas[source["$ref"].rsplit("/", 1)[-1]]
    assert set(source_schema["required"]) == {"subject", "mjml"}
    assert source_schema["additionalProperties"] is False
    assert "502" in paths["/api/v1/campaigns/{campaign_id}/test"]["post"]["responses"]


def test_the_preview_is_documented_as_html(client: FlaskClient) -> None:
    operation = openapi(client)["paths"]["/api/v1/campaigns/{campaign_id}/preview"]["get"]

    assert operation["responses"]["200"]["content"] == {"text/html": {"schema": {"type": "string"}}}
    assert {p["name"] for p in operation["parameters"] if p["in"] == "query"} == {
        "group",
        "contact",
    }


def test_statistics_are_documented_with_their_denominators_and_as_csv(
    client: FlaskClient,
) -> None:
    document = openapi(client)
    paths, schemas = document["paths"], document["components"]["schemas"]

    report = paths["/api/v1/statistics/{campaign_id}"]["get"]
    assert "404" in report["responses"]
    content = report["responses"]["200"]["content"]["application/json"]["schema"]
    properties = schemas[content["$ref"].rsplit("/", 1)[-1]]["properties"]
    assert set(properties) == {
        "campaign",
        "name",
        "groups",
        "total",
        "hourly",
        "failures",
        "suspected_duplicates",
    }
    group = schemas[properties["total"]["$ref"].rsplit("/", 1)[-1]]["properties"]
    assert group["open_rate"]["nullable"] is True and "open_tracked" in group
    assert "denominator" in group["open_tracked"]["description"]
    as_csv = paths["/api/v1/statistics/{campaign_id}.csv"]["get"]
    assert as_csv["responses"]["200"]["content"] == {"text/csv": {"schema": {"type": "string"}}}
    assert "404" in as_csv["responses"]
