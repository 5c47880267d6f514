"""/api/v1/tokens: the API tokens, listed without their secret, made and revoked."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from flask import g
from flask.views import MethodView
from marshmallow import RAISE, Schema, fields
from marshmallow.validate import Length

from outreach.accounts.service import (
    MAX_TOKEN_NAME,
    TokenInfo,
    describe_token,
    issue_token,
    list_tokens,
    revoke_token,
)
from outreach.api.base import api_blueprint
from outreach.api.campaigns import MAX_ID
from outreach.db import get_session

blp = api_blueprint("tokens", "API bearer tokens: listed, made, revoked")


class TokenSchema(Schema):
    """An API token as listed: never its secret, only its visible prefix."""

    id = fields.Int()
    name = fields.Str()
    owner = fields.Str(metadata={"description": "The administrator it acts as."})
    prefix = fields.Str(metadata={"description": "Its first 12 characters (otk_…)."})
    created_at = fields.Str(metadata={"format": "date-time"})
    last_used_at = fields.Str(allow_none=True, metadata={"format": "date-time"})
    revoked_at = fields.Str(allow_none=True, metadata={"format": "date-time"})


class NewTokenSchema(Schema):
    """A token to make for the calling administrator."""

    class Meta:
        unknown = RAISE

    name = fields.Str(required=True, validate=Length(min=1, max=MAX_TOKEN_NAME))


class CreatedTokenSchema(TokenSchema):
    """A new token with its secret, shown this once (only its hash is kept)."""

    token = fields.Str(metadata={"description": "Send it as 'Authorization: Bearer <token>'."})


def token_document(token: TokenInfo) -> dict[str, Any]:
    """A token as its JSON document."""
    return {
        "id": token.id,
        "name": token.name,
        "owner": token.owner,
        "prefix": token.prefix,
        "created_at": _iso(token.created_at),
        "last_used_at": _iso(token.last_used_at),
        "revoked_at": _iso(token.revoked_at),
    }


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


@blp.route("")
class Tokens(MethodView):
    @blp.response(200, TokenSchema(many=True))
    def get(self) -> Any:
        """List every API token, newest first, revoked ones included."""
        return [token_document(t) for t in list_tokens(get_session())]

    @blp.arguments(NewTokenSchema)
    @blp.response(201, CreatedTokenSchema)
    def post(self, data: dict[str, Any]) -> Any:
        """Make a named token for the calling administrator; its secret is shown once."""
        session = get_session()
        secret = issue_token(session, g.api_user, name=data["name"])
        document = {**token_document(describe_token(session, secret)), "token": secret}
        session.commit()
        return document


@blp.route(f"/<int(max={MAX_ID}):token_id>")
class TokenItem(MethodView):
    @blp.response(200, TokenSchema)
    @blp.alt_response(404, response="NOT_FOUND")
    @blp.alt_response(409, response="CONFLICT")
    def delete(self, token_id: int) -> Any:
        """Revoke a token (this one too): it is refused from the next request on."""
        session = get_session()
        document = token_document(revoke_token(session, token_id, by=g.api_user.email))
        session.commit()
        return document
