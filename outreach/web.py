"""Web wiring: CSRF, login, blueprints and the error handlers of each surface (the admin
session rules are outreach.accounts.sessions', the embedded runtime's start-up is
outreach.embedded's)."""

from __future__ import annotations

from typing import Any

from flask import Flask, current_app, jsonify, render_template, request
from flask_login import LoginManager
from flask_wtf.csrf import CSRFError, CSRFProtect
from werkzeug.exceptions import HTTPException

from outreach.accounts.sessions import load_admin
from outreach.errors import OutreachError, TooManyAttempts

csrf = CSRFProtect()
login_manager = LoginManager()
login_manager.login_view = "admin.login"
login_manager.login_message = "Please sign in."
login_manager.session_protection = "strong"


login_manager.user_loader(load_admin)


def init_app(app: Flask) -> None:
    """Register extensions, blueprints and error handlers."""
    from flask_limiter import Limiter
    from flask_limiter.util import get_remote_address

    from outreach.admin.pages import bp as admin_bp
    from outreach.api import init_api
    from outreach.api.limits import refuse_nul_characters
    from outreach.public import consent as consent_views

    csrf.init_app(app)
    login_manager.init_app(app)
    app.before_request(refuse_nul_characters)  # PostgreSQL text cannot hold U+0000
    settings = app.extensions["outreach.settings"]
    storage = settings.broker_url if settings.broker_url.startswith("redis") else "memory://"
    app.extensions["outreach.limiter"] = Limiter(
        get_remote_address,
        app=app,
        storage_uri=storage,
        default_limits=[],
        key_prefix=f"outreach-{id(app)}" if settings.testing else "outreach",
    )
    # The sign-up form may be embedded in other sites (double opt-in is its protection)
    # and RFC 8058 one-click unsubscribe posts come from mail clients without cookies.
    csrf.exempt(consent_views.subscribe)
    csrf.exempt(consent_views.unsubscribe_post)
    app.register_blueprint(consent_views.bp)
    from outreach.public import privacy as privacy_views

    app.register_blueprint(privacy_views.bp)
    from outreach.public import tracking as tracking_views

    app.register_blueprint(tracking_views.bp)
    app.extensions["outreach.limiter"].exempt(tracking_views.bp)
    from outreach.public.tracking_middleware import TrackingFastPath

    app.wsgi_app = TrackingFastPath(app.wsgi_app, app)  # type: ignore[method-assign]
    app.register_blueprint(admin_bp)
    init_api(app, csrf)
    # Replaces flask-smorest's handler, which answered every HTTP error with JSON.
    app.register_error_handler(HTTPException, _http_error)
    app.register_error_handler(OutreachError, _outreach_error)
    app.register_error_handler(CSRFError, _csrf_error)
    app.after_request(_security_headers)
    from outreach.embedded import start_on_first_request

    start_on_first_request(app)


def wants_json() -> bool:
    """True for API requests: errors are JSON there, and only there."""
    return request.path == "/api" or request.path.startswith("/api/")


HEADINGS = {
    404: "Page not found",
    405: "This page does not take that request",
    500: "Something went wrong on our side",
}
SERVER_ERROR = "The error was logged. Try again in a moment; if it goes on, tell the administrator."


def _http_error(exc: HTTPException) -> Any:
    """An HTTP error (unknown URL, wrong method, an unexpected exception…): the API's JSON
    document under /api, an HTML page everywhere else, never a traceback."""
    if wants_json():
        return current_app.extensions["outreach.api"].handle_http_exception(exc)
    status = exc.code or 500
    message = SERVER_ERROR if status >= 500 else (exc.description or exc.name)
    headers = [(k, v) for k, v in exc.get_headers() if k.lower() != "content-type"]  # a 405's Allow
    page = render_template(
        "error.html", status=status, heading=HEADINGS.get(status, exc.name), message=message
    )
    return page, status, headers


def _outreach_error(exc: OutreachError) -> Any:
    headers = {"WWW-Authenticate": "Bearer"} if exc.status == 401 and wants_json() else {}
    if isinstance(exc, TooManyAttempts):
        headers["Retry-After"] = str(exc.retry_after)
    if wants_json():
        return jsonify(error=exc.to_dict()), exc.status, headers
    page = render_template("error.html", status=exc.status, message=exc.message)
    return page, exc.status, headers


def _csrf_error(exc: CSRFError) -> Any:
    message = "The form expired or was not sent from this site; reload the page and try again."
    if wants_json():  # the API is exempt; a stray CSRF check there still answers JSON
        return jsonify(error={"code": "csrf", "message": message}), 400
    page = render_template("error.html", status=400, heading="The form expired", message=message)
    return page, 400


def _security_headers(response: Any) -> Any:
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    response.headers.setdefault("X-Frame-Options", "DENY")
    response.headers.setdefault("Referrer-Policy", "same-origin")
    return response
