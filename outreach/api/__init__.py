"""The JSON API at /api/v1, described by a generated OpenAPI 3 document."""

from __future__ import annotations

from typing import Any

from flask import Flask, jsonify
from flask_smorest import Api
from flask_wtf.csrf import CSRFProtect
from marshmallow import Schema, fields
from werkzeug.exceptions import HTTPException

from outreach.api.base import API_PREFIX


class ErrorBody(Schema):
    code = fields.Str(required=True)
    message = fields.Str(required=True)
    field = fields.Str()


class ErrorDocument(Schema):
    error = fields.Nested(ErrorBody, required=True)


class OutreachApi(Api):
    """flask-smorest's Api with Outreach's JSON error shape, documented as such."""

    ERROR_SCHEMA = ErrorDocument

    def handle_http_exception(self, error: HTTPException) -> Any:  # type: ignore[override]
        code = (error.name or "error").lower().replace(" ", "_")
        body: dict[str, Any] = {"code": code, "message": error.description}
        data = getattr(error, "data", None) or {}
        messages = data.get("messages") if isinstance(data, dict) else None
        if messages:
            body.update(_describe(messages))
        return jsonify(error=body), error.code


def _describe(messages: dict[str, Any]) -> dict[str, Any]:
    """The first problem webargs reported, naming its field when there is one."""
    _location, problems = next(iter(messages.items()))
    if isinstance(problems, dict) and problems:
        field, detail = next(iter(problems.items()))
        text = "; ".join(map(str, _flatten(detail)))
        if field == "_schema":
            return {"code": "invalid", "message": text}
        return {"code": "invalid", "field": field, "message": f"{field}: {text}"}
    return {"code": "invalid", "message": "; ".join(map(str, _flatten(problems)))}


def _flatten(problems: Any) -> list[Any]:
    if isinstance(problems, dict):
        return [f"{k}: {'; '.join(map(str, _flatten(v)))}" for k, v in problems.items()]
    return list(problems) if isinstance(problems, list) else [problems]


def init_api(app: Flask, csrf: CSRFProtect) -> None:
    """Register the API blueprints and the OpenAPI document; `csrf` (the web wiring's)
    exempts them: API requests carry a bearer token, not a cookie."""
    from outreach.api.campaigns import blp as campaigns_blp
    from outreach.api.contacts import blp as contacts_blp
    from outreach.api.groups import blp as groups_blp
    from outreach.api.outbox import blp as outbox_blp
    from outreach.api.privacy import blp as privacy_blp
    from outreach.api.settings import blp as settings_blp
    from outreach.api.stats import blp as stats_blp
    from outreach.api.tokens import blp as tokens_blp

    app.config.update(
        API_TITLE="Outreach API",
        API_VERSION="v1",
        OPENAPI_VERSION="3.0.3",
        OPENAPI_URL_PREFIX=API_PREFIX,
        OPENAPI_JSON_PATH="openapi.json",
    )
    api = OutreachApi(
        app,
        spec_kwargs={
            "components": {"securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}}},
            "security": [{"bearer": []}],
        },
    )
    for blp in (
        contacts_blp,
        groups_blp,
        campaigns_blp,
        stats_blp,
        privacy_blp,
        outbox_blp,
        tokens_blp,
        settings_blp,
    ):
        csrf.exempt(blp)
        api.register_blueprint(blp)
    app.extensions["outreach.api"] = api
