"""Admin sessions: which signed-in session still holds, and how one begins.

A session carries the account's session generation and when it began and was last used;
it ends when the generation moves on (signing out anywhere, a password change, a
deactivation), after OUTREACH_SESSION_IDLE_MINUTES unused or OUTREACH_SESSION_HOURS in all.
"""

from __future__ import annotations

import time

from flask import current_app, session

from outreach.accounts.models import AdminUser
from outreach.db import get_session


def load_admin(user_id: str) -> AdminUser | None:
    """The active administrator a session names, if the session still holds (the rule of
    flask-login's user loader)."""
    user = get_session().get(AdminUser, int(user_id)) if user_id.isdigit() else None
    if user is None or not user.is_active or not session_holds(user):
        return None
    return user


def session_holds(user: AdminUser) -> bool:
    """The signed-in session is still this user's: its generation is current (not signed
    out since, anywhere), it was used within the idle lifetime and began within the
    absolute one. A session that holds is marked used now."""
    settings = current_app.extensions["outreach.settings"]
    now = time.time()
    began, seen = session.get("admin_began", 0.0), session.get("admin_seen", 0.0)
    holds = (
        session.get("admin_generation") == user.session_generation
        and now - began < settings.session_hours * 3600
        and now - seen < settings.session_idle_minutes * 60
    )
    if holds:
        session["admin_seen"] = now
    return holds


def begin_admin_session(user: AdminUser) -> None:
    """Mark the session just signed in (see session_holds)."""
    session["admin_generation"] = user.session_generation
    session["admin_began"] = session["admin_seen"] = time.time()
