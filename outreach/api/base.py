"""What every API resource module shares: the URL prefix and the blueprint whose routes
need a bearer token (outreach.api registers the blueprints; resources import only this)."""

from __future__ import annotations

from flask import g, request
from flask_smorest import Blueprint

from outreach.api.limits import bounded_json
from outreach.errors import AuthenticationError

API_PREFIX = "/api/v1"


def require_token() -> None:
    """Authenticate the bearer token of an API request (every API blueprint calls this);
    wrong tokens are throttled per client address (outreach.accounts.throttle)."""
    from outreach.accounts.throttle import token_user
    from outreach.db import get_session

    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise AuthenticationError("send 'Authorization: Bearer <token>' (outreach admin token)")
    session = get_session()
    try:
        g.api_user = token_user(session, token.strip(), request.remote_addr or "unknown")
    finally:
        session.commit()  # the last use, or the failure counted


def api_blueprint(name: str, description: str) -> Blueprint:
    """A blueprint under /api/v1/NAME whose every route needs a bearer token."""
    blp = Blueprint(
        name, f"outreach.api.{name}", url_prefix=f"{API_PREFIX}/{name}", description=description
    )
    blp.before_request(require_token)
    blp.before_request(bounded_json)
    return blp
