"""/api/v1/outbox: the emails that are not campaign deliveries, and their retry."""

from __future__ import annotations

from typing import Any

from flask.views import MethodView
from marshmallow import RAISE, Schema, fields
from marshmallow.validate import OneOf, Range

from outreach.api.base import api_blueprint
from outreach.api.campaigns import MAX_ID
from outreach.db import get_session
from outreach.outbox.models import OutboxStatus
from outreach.outbox.service import listing, retry, to_dict

blp = api_blueprint("outbox", "Confirmation, invitation, welcome, request and test emails")


class OutboxArgsSchema(Schema):
    """Which outbox emails to list."""

    class Meta:
        unknown = RAISE

    status = fields.Str(validate=OneOf([s.value for s in OutboxStatus]))
    limit = fields.Int(load_default=100, validate=Range(min=1, max=1000))
    before = fields.Int(
        validate=Range(min=1, max=MAX_ID),
        metadata={"description": "Only emails with a smaller id (paging)."},
    )


class OutboxEmailSchema(Schema):
    """One outbox email (without its body)."""

    id = fields.Int()
    kind = fields.Str(metadata={"description": "consent:confirm, privacy:verify, test…"})
    to = fields.Str()
    subject = fields.Str()
    status = fields.Str(metadata={"enum": [s.value for s in OutboxStatus]})
    attempts = fields.Int()
    last_error = fields.Str(allow_none=True, metadata={"description": "The server's answer."})
    created_at = fields.Str()
    next_attempt_at = fields.Str(allow_none=True)
    sent_at = fields.Str(allow_none=True)


@blp.route("")
class Outbox(MethodView):
    @blp.arguments(OutboxArgsSchema, location="query")
    @blp.response(200, OutboxEmailSchema(many=True))
    def get(self, args: dict[str, Any]) -> Any:
        """Outbox emails, newest first (optionally of one status)."""
        session = get_session()
        rows = [
            to_dict(r)
            for r in listing(session, args.get("status"), args["limit"], args.get("before"))
        ]
        session.commit()
        return rows


@blp.route(f"/<int(max={MAX_ID}):outbox_id>/retry")
class OutboxRetry(MethodView):
    @blp.response(200, OutboxEmailSchema)
    @blp.alt_response(404, response="NOT_FOUND")
    @blp.alt_response(409, response="CONFLICT")
    def post(self, outbox_id: int) -> Any:
        """Send a failed email again."""
        session = get_session()
        document = to_dict(retry(session, outbox_id))
        session.commit()
        return document
