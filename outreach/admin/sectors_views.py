"""Admin › Groups › Sector rules: the keywords that give contacts a sector from their job
title or company, edited with a preview of what they would do before applying them."""

from __future__ import annotations

from typing import Any

from flask import render_template, request

from outreach.admin.blueprint import bp
from outreach.application.sectors import DEFAULT_COLUMNS, classify
from outreach.contacts.sectors import load_rules, parse_rules, save_rules
from outreach.db import get_session
from outreach.errors import OutreachError


@bp.route("/groups/sector-rules", methods=["GET", "POST"])
def sector_rules() -> Any:
    """Show the rules and what they would do; preview edited ones, or save and apply."""
    session = get_session()
    text = request.form.get("rules") if request.method == "POST" else None
    try:
        rules = load_rules(session) if text is None else parse_rules(text)
        applying = request.method == "POST" and request.form.get("action") == "apply"
        if applying:
            save_rules(session, rules)
        result = classify(session, rules, columns=DEFAULT_COLUMNS, apply=applying)
    except OutreachError as exc:
        session.rollback()
        return render_template(
            "admin/sector_rules.html", text=text or "", result=None, error=exc.message, saved=False
        ), exc.status
    if applying:
        session.commit()
    else:
        session.rollback()
    return render_template(
        "admin/sector_rules.html",
        text=rules.to_text() if text is None else text,
        result=result,
        error=None,
        saved=applying,
        columns=DEFAULT_COLUMNS,
    )
