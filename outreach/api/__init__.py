"""The JSON API at /api/v1, described by a generated OpenAPI 3 document."""

from __future__ import annotations

import threading
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
    """flask-smorest's Api with Outreach's JSON error shape, documented as such.

    The blueprints' views are described in the OpenAPI document when it is first used
    (served, printed), not as they are registered: describing them is two thirds of
    building an application (~40 ms), which every process and every test pays while
    few ever ask for the document."""

    ERROR_SCHEMA = ErrorDocument

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self._undescribed: list[tuple[Any, str, Any]] = []
        self._describing = threading.Lock()
        self._describer: int | None = None  # the thread describing them, meanwhile
        super().__init__(*args, **kwargs)

    @property  # type: ignore[override]
    def spec(self) -> Any:
        """The OpenAPI document, with every registered blueprint described in it."""
        if self._undescribed and self._describer != threading.get_ident():
            with self._describing:
                self._describer = threading.get_ident()
                try:
                    while self._undescribed:
                        blp, name, parameters = self._undescribed.pop(0)
                        blp.register_views_in_doc(
                            self, self._app, self._spec, name=name, parameters=parameters
                        )
                        self._spec.tag({"name": name, "description": blp.description})
                finally:
                    self._describer = None
        return self._spec

    @spec.setter
    def spec(self, value: Any) -> None:
        self._spec = value

    def register_blueprint(self, blp: Any, *, parameters: Any = None, **options: Any) -> None:
        """Register the blueprint's views now; describe them when the document is used."""
        name = options.get("name", blp.name)
        self._app.extensions["flask-smorest"]["blp_name_to_api"][name] = self
        self._app.register_blueprint(blp, **options)
        self._undescribed.append((blp, name, parameters))

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
