"""/api/v1/privacy: data-subject requests, the access export and erasure."""

from __future__ import annotations

from typing import Any

from flask import g
from flask.views import MethodView
from marshmallow import RAISE, Schema, fields
from marshmallow.validate import Length, OneOf, Range

from outreach.api.base import api_blueprint
from outreach.api.campaigns import MAX_ID
from outreach.application import privacy as use_cases
from outreach.db import get_session
from outreach.privacy.erasure import erase
from outreach.privacy.export import access_export
from outreach.privacy.models import RequestKind, RequestState
from outreach.privacy.requests import (
    MAX_EXTENSION_MONTHS,
    MAX_IDENTITY_CHECK,
    MAX_TEXT,
    RECTIFIABLE,
    SOURCES,
)

blp = api_blueprint(
    "privacy", "Data-subject requests (access, rectification, erasure, restriction, objection)"
)

REQUEST = f"/requests/<int(max={MAX_ID}):request_id>"
KINDS = [kind.value for kind in RequestKind]
STATES = [state.value for state in RequestState]


class ChangesSchema(Schema):
    """The corrections a rectification asks for."""

    class Meta:
        unknown = RAISE

    first_name = fields.Str()
    last_name = fields.Str()
    sector = fields.Str(metadata={"description": "The name of an existing sector."})
    organization = fields.Str()
    language = fields.Str(metadata={"description": "A language tag such as en or fr-FR."})


class RequestSchema(Schema):
    """A data-subject request with its deadline."""

    id = fields.Int()
    kind = fields.Str(metadata={"enum": KINDS})
    state = fields.Str(metadata={"enum": STATES})
    email = fields.Str(
        allow_none=True, metadata={"description": "Null once erased or expired unverified."}
    )
    source = fields.Str(allow_none=True, metadata={"enum": list(SOURCES)})
    changes = fields.Nested(ChangesSchema)
    note = fields.Str()
    received_at = fields.Str(
        metadata={
            "format": "date-time",
            "description": "When it reached us: the deadline runs from it.",
        }
    )
    recorded_at = fields.Str(
        metadata={"format": "date-time", "description": "When it was entered here."}
    )
    verified_at = fields.Str(allow_none=True, metadata={"format": "date-time"})
    identity_checked = fields.Str(
        allow_none=True,
        metadata={"description": "How an administrator checked the requester's identity."},
    )
    due_at = fields.Str(
        allow_none=True,
        metadata={
            "format": "date-time",
            "description": "One month after receipt: at once when an administrator recorded "
            "it, once verified for a public request.",
        },
    )
    days_left = fields.Int(
        allow_none=True, metadata={"description": "Whole days until due; negative when overdue."}
    )
    overdue = fields.Bool()
    extended_at = fields.Str(allow_none=True, metadata={"format": "date-time"})
    extension_reason = fields.Str(allow_none=True)
    completed_at = fields.Str(allow_none=True, metadata={"format": "date-time"})
    outcome = fields.Str(allow_none=True)
    restriction_lifted_at = fields.Str(allow_none=True, metadata={"format": "date-time"})


class AuditEntrySchema(Schema):
    """One step of a request."""

    at = fields.Str(metadata={"format": "date-time"})
    actor = fields.Str(metadata={"description": "requester, system, or an administrator."})
    action = fields.Str()
    details = fields.Dict(keys=fields.Str())


class RequestDetailSchema(RequestSchema):
    """A request and its history."""

    history = fields.List(fields.Nested(AuditEntrySchema))


class QueueArgsSchema(Schema):
    """Which requests to list."""

    class Meta:
        unknown = RAISE

    overdue = fields.Bool(load_default=False, metadata={"description": "Only overdue ones."})
    all = fields.Bool(load_default=False, metadata={"description": "Closed ones too."})


class NewRequestSchema(Schema):
    """A request recorded on someone's behalf, due one month after its date of receipt; a
    verification link goes to the address unless `identity_checked` says how its identity
    was checked (the request is then verified at once)."""

    class Meta:
        unknown = RAISE

    kind = fields.Str(required=True, validate=OneOf(KINDS))
    email = fields.Str(required=True, metadata={"format": "email"})
    changes = fields.Nested(ChangesSchema, load_default=dict)
    note = fields.Str(load_default="", validate=Length(max=MAX_TEXT))
    received_on = fields.Date(
        load_default=None,
        allow_none=True,
        metadata={
            "description": "The date it was received (UTC), default today; not in the "
            "future, at most a year ago."
        },
    )
    identity_checked = fields.Str(
        load_default="",
        validate=Length(max=MAX_IDENTITY_CHECK),
        metadata={
            "description": "How the requester's identity was checked, e.g. 'letter "
            "with a copy of an ID document'; empty: a verification link is emailed."
        },
    )


class FulfilSchema(Schema):
    """How to fulfil a verified request."""

    class Meta:
        unknown = RAISE

    fields_ = fields.List(
        fields.Str(validate=OneOf(RECTIFIABLE)),
        data_key="fields",
        metadata={"description": "Rectification: the corrections to apply (default: all)."},
    )
    note = fields.Str(load_default="", validate=Length(max=MAX_TEXT))


class ReasonSchema(Schema):
    """Why a request is refused."""

    class Meta:
        unknown = RAISE

    reason = fields.Str(required=True, validate=Length(min=1, max=MAX_TEXT))


class ExtendSchema(ReasonSchema):
    """A one-time extension of the deadline, announced to the requester."""

    months = fields.Int(required=True, validate=Range(min=1, max=MAX_EXTENSION_MONTHS))


class AddressSchema(Schema):
    """One person's address."""

    class Meta:
        unknown = RAISE

    email = fields.Str(required=True, metadata={"format": "email"})


class ExportSchema(Schema):
    """Everything held about one person, as `outreach privacy export` writes it."""

    format = fields.Str()
    generated_at = fields.Str(metadata={"format": "date-time"})
    profile = fields.Dict(allow_none=True)
    consent_events = fields.List(fields.Dict())
    notices = fields.List(fields.Dict())
    deliveries = fields.List(fields.Dict())
    requests = fields.List(fields.Dict())
    suppressed = fields.Str(allow_none=True)


def _answered(step: use_cases.RequestStep) -> dict[str, Any]:
    """The request with its history; the step (and the emails it owes) then committed."""
    document = step.with_history()
    get_session().commit()
    return document


@blp.route("/requests")
class Requests(MethodView):
    @blp.arguments(QueueArgsSchema, location="query", unknown=RAISE)
    @blp.response(200, RequestSchema(many=True))
    def get(self, args: dict[str, Any]) -> Any:
        """Open requests, soonest due first (or only the overdue ones, or all)."""
        session = get_session()
        documents = use_cases.list_requests(
            session, overdue=args["overdue"], everything=args["all"]
        )
        session.commit()  # stale unverified requests were just expired
        return documents

    @blp.arguments(NewRequestSchema)
    @blp.response(201, RequestDetailSchema)
    def post(self, data: dict[str, Any]) -> Any:
        """Record a request on someone's behalf and email the address a verification link."""
        step = use_cases.record_request(
            get_session(),
            data["kind"],
            data["email"],
            source="api",
            actor=g.api_user.email,
            changes=data["changes"],
            note=data["note"],
            received_on=data["received_on"],
            identity_checked=data["identity_checked"],
        )
        return _answered(step)


@blp.route(REQUEST)
class RequestItem(MethodView):
    @blp.response(200, RequestDetailSchema)
    @blp.alt_response(404, response="NOT_FOUND")
    def get(self, request_id: int) -> Any:
        """One request with its history."""
        return use_cases.show_request(get_session(), request_id).with_history()


@blp.route(f"{REQUEST}/fulfil")
class RequestFulfil(MethodView):
    @blp.arguments(FulfilSchema)
    @blp.response(200, RequestDetailSchema)
    @blp.alt_response(404, response="NOT_FOUND")
    @blp.alt_response(409, response="CONFLICT")
    def post(self, data: dict[str, Any], request_id: int) -> Any:
        """Fulfil a verified request (rectification: the chosen corrections); the requester
        is emailed the outcome."""
        step = use_cases.fulfil_request(
            get_session(),
            request_id,
            actor=g.api_user.email,
            fields=data.get("fields_"),
            note=data["note"],
        )
        return _answered(step)


@blp.route(f"{REQUEST}/refuse")
class RequestRefuse(MethodView):
    @blp.arguments(ReasonSchema)
    @blp.response(200, RequestDetailSchema)
    @blp.alt_response(404, response="NOT_FOUND")
    @blp.alt_response(409, response="CONFLICT")
    def post(self, data: dict[str, Any], request_id: int) -> Any:
        """Refuse a verified request; the reason is emailed to the requester."""
        step = use_cases.refuse_request(
            get_session(), request_id, data["reason"], actor=g.api_user.email
        )
        return _answered(step)


@blp.route(f"{REQUEST}/extend")
class RequestExtend(MethodView):
    @blp.arguments(ExtendSchema)
    @blp.response(200, RequestDetailSchema)
    @blp.alt_response(404, response="NOT_FOUND")
    @blp.alt_response(409, response="CONFLICT")
    def post(self, data: dict[str, Any], request_id: int) -> Any:
        """Extend the deadline once, by one or two months, before it passes; the reason is
        emailed to the requester at once."""
        step = use_cases.extend_request(
            get_session(), request_id, data["months"], data["reason"], actor=g.api_user.email
        )
        return _answered(step)


@blp.route(f"{REQUEST}/lift")
class RequestLift(MethodView):
    @blp.response(200, RequestDetailSchema)
    @blp.alt_response(404, response="NOT_FOUND")
    @blp.alt_response(409, response="CONFLICT")
    def post(self, request_id: int) -> Any:
        """Lift the restriction a request put in force; the requester is told."""
        step = use_cases.lift_restriction(get_session(), request_id, actor=g.api_user.email)
        return _answered(step)


@blp.route("/export")
class Export(MethodView):
    @blp.arguments(AddressSchema, location="query", unknown=RAISE)
    @blp.response(200, ExportSchema)
    @blp.alt_response(404, response="NOT_FOUND")
    def get(self, args: dict[str, Any]) -> Any:
        """Everything held about one contact, as `outreach privacy export` writes it."""
        return access_export(get_session(), args["email"])


@blp.route("/erase")
class Erase(MethodView):
    @blp.arguments(AddressSchema)
    @blp.response(204)
    def post(self, data: dict[str, Any]) -> Any:
        """Erase every personal datum of an address and suppress it, as `outreach privacy
        erase` does."""
        session = get_session()
        erase(session, data["email"], actor=g.api_user.email)
        session.commit()
        return None
