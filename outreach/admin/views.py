"""The admin interface: login, dashboard, and each area's pages."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from flask import flash, redirect, render_template, request, url_for
from flask_login import current_user, login_required, login_user, logout_user

from outreach.accounts.sessions import begin_admin_session
from outreach.accounts.throttle import sign_in
from outreach.admin.blueprint import bp
from outreach.contacts.service import count_by_status
from outreach.db import get_session, settings_of
from outreach.errors import AuthenticationError, TooManyAttempts
from outreach.groups.service import list_groups
from outreach.ops.checks import startup_warnings
from outreach.ops.service import last_heartbeat
from outreach.outbox.service import counts as outbox_counts


def safe_next(target: str | None) -> str:
    """A local path to go to after login; anything else goes to the dashboard."""
    if target:
        parts = urlsplit(target)
        if (
            not parts.scheme
            and not parts.netloc
            and target.startswith("/")
            and not target.startswith("//")
            and "\\" not in target
        ):
            return target
    return url_for("admin.dashboard")


@bp.route("/login", methods=["GET", "POST"])
def login() -> Any:
    """Sign in with address and password (throttled: outreach.accounts.throttle)."""
    if request.method == "POST":
        session = get_session()
        form = request.form
        try:
            user = sign_in(
                session, form.get("email", ""), form.get("password", ""), _client_address()
            )
        except TooManyAttempts as exc:
            headers = {"Retry-After": str(exc.retry_after)}
            page = render_template("admin/login.html", error=exc.message, email=form.get("email"))
            return page, 429, headers
        except AuthenticationError as exc:
            session.commit()  # the failure counts
            page = render_template("admin/login.html", error=exc.message, email=form.get("email"))
            return page, 401
        session.commit()
        login_user(user)
        begin_admin_session(user)
        return redirect(safe_next(request.args.get("next")))
    return render_template("admin/login.html", error=None)


def _client_address() -> str:
    """The client's address as the WSGI server (or a ProxyFix in front) reports it."""
    return request.remote_addr or "unknown"


@bp.post("/logout")
@login_required
def logout() -> Any:
    """Sign out: every copy of this session ends, here and on any other device."""
    session = get_session()
    user = session.get(type(current_user._get_current_object()), current_user.id)
    if user is not None:
        user.session_generation += 1
        session.commit()
    logout_user()
    flash("Signed out.")
    return redirect(url_for("admin.login"))


@bp.get("/")
def dashboard() -> Any:
    """Counts by status, groups and the last worker heartbeat."""
    session = get_session()
    counts = count_by_status(session)
    return render_template(
        "admin/dashboard.html",
        counts=counts,
        total=sum(counts.values()),
        groups=list_groups(session),
        heartbeat=last_heartbeat(session),
        outbox=outbox_counts(session),
        warnings=startup_warnings(settings_of(session)),
    )
