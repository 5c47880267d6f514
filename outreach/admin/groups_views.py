"""Admin pages for groups: counts, visibility, new groups, membership by address, and
the rule editor of rule groups (with a live count of what a rule matches)."""

from __future__ import annotations

import json
import re
from dataclasses import asdict
from typing import Any

from flask import flash, jsonify, redirect, render_template, request, url_for

from outreach.admin.blueprint import bp
from outreach.db import as_id, get_session
from outreach.errors import OutreachError, ValidationError
from outreach.groups.models import Group, GroupKind
from outreach.groups.rules import (
    BEHAVIOURS,
    PROFILE_FIELDS,
    Rule,
    describe,
    parse,
    parse_line,
    to_doc,
)
from outreach.groups.service import (
    add_members,
    create_group,
    get_group,
    list_groups,
    preview_rule,
    remove_members,
    set_rule,
    update_group,
)

# Addresses come pasted from spreadsheets and mail clients: lines, commas or semicolons.
_ADDRESS_SEPARATORS = re.compile(r"[\s,;]+")


def form_flash(form_id: str, message: str, *, error: bool = False) -> None:
    """Flash a message shown next to one form of the page (see `form_messages`)."""
    flash(message, f"form:{form_id}:{'error' if error else 'ok'}")


def addresses_from(text: str) -> list[str]:
    """The addresses of a textarea, one per line or separated by commas."""
    addresses = [a for a in _ADDRESS_SEPARATORS.split(text or "") if a]
    if not addresses:
        raise ValidationError("enter at least one address", field="emails")
    return addresses


@bp.get("/groups")
def groups() -> Any:
    """Every group with its counts, and the forms that change affinity groups."""
    return render_template("admin/groups.html", groups=list_groups(get_session()))


@bp.post("/groups")
def create_affinity_group() -> Any:
    """Create a group: affinity (or, with kind=sector, a sector for the sign-up list)."""
    session = get_session()
    try:
        kind = request.form.get("kind") or "affinity"
        if kind not in (GroupKind.AFFINITY, GroupKind.SECTOR):
            raise ValidationError(
                "choose affinity group or sector (a rule group is made in the rule editor)",
                field="kind",
            )
        group = create_group(
            session,
            request.form.get("name", ""),
            request.form.get("description", "").strip(),
            kind=GroupKind(kind),
            public=bool(request.form.get("public")),
        )
    except OutreachError as exc:
        session.rollback()
        form_flash("new-group", exc.message, error=True)
        return redirect(url_for("admin.groups", _anchor="new-group"))
    session.commit()
    form_flash("new-group", f"Group {group.name!r} created.")
    return redirect(url_for("admin.groups", _anchor=f"group-{group.id}"))


@bp.post("/groups/<int:group_id>/visibility")
def change_visibility(group_id: int) -> Any:
    """Publish (public=1) or unpublish (public=0) a group; its members stay."""
    session = get_session()
    try:
        group = update_group(session, group_id, public=request.form.get("public") == "1")
    except OutreachError as exc:
        session.rollback()
        flash(exc.message, "error")
        return redirect(url_for("admin.groups"))
    session.commit()
    if group.is_public:
        where = "the sign-up form's sector list" if group.kind is GroupKind.SECTOR else "topics"
        flash(f"{group.name} is public: subscribers can choose it ({where}).", "message")
    else:
        flash(f"{group.name} is private: only admins see it; its members stay.", "message")
    return redirect(url_for("admin.groups", _anchor=f"row-{group.id}"))


@bp.post("/groups/<int:group_id>/members")
def change_members(group_id: int) -> Any:
    """Add (or, with action=remove, remove) contacts of an affinity group by address."""
    session = get_session()
    removing = request.form.get("action") == "remove"
    group: Group | None = None
    try:
        group = get_group(session, group_id)
        emails = addresses_from(request.form.get("emails", ""))
        # By id: a group whose name is all digits would otherwise be read as an id.
        change = remove_members if removing else add_members
        count = change(session, str(group.id), emails)
    except OutreachError as exc:
        session.rollback()
        return _members_changed(group, exc.message, error=True)
    session.commit()
    verb = "removed from" if removing else "added to"
    return _members_changed(group, f"{count} of {len(emails)} {verb} {group.name}.")


def _members_changed(group: Group | None, message: str, *, error: bool = False) -> Any:
    """Back to the groups page, the message next to the group's form when it has one."""
    if group is None or group.kind is not GroupKind.AFFINITY:
        flash(message, "error" if error else "message")
        return redirect(url_for("admin.groups"))
    form_flash(f"group-{group.id}", message, error=error)
    return redirect(url_for("admin.groups", _anchor=f"group-{group.id}"))


def _rule_from(text: str) -> Rule:
    """The rule of the editor's text: a JSON document, or the one-line form."""
    clean = (text or "").strip()
    if not clean:
        raise ValidationError("write a rule, e.g. sector = Journalists and opened last 3")
    if clean[0] in "{[":
        try:
            return parse(json.loads(clean))
        except json.JSONDecodeError as exc:
            raise ValidationError(
                f"rule: not JSON (line {exc.lineno}, column {exc.colno}: {exc.msg})", field="rule"
            ) from None
    return parse_line(clean)


def _editable(rule: Rule) -> str:
    """A rule as the editor shows it: one line when that reads back the same, else JSON."""
    line = describe(rule)
    try:
        if parse_line(line) == rule:
            return line
    except ValidationError:
        pass
    return json.dumps(to_doc(rule), indent=2)


def _rule_editor(group: Group | None, **shown: Any) -> Any:
    session = get_session()
    return render_template(
        "admin/group_rule.html",
        group=group,
        groups=[g.name for g in list_groups(session) if group is None or g.id != group.id],
        profile_fields=PROFILE_FIELDS,
        behaviours=BEHAVIOURS,
        **shown,
    )


@bp.get("/groups/rules/new")
def new_rule_group() -> Any:
    """The rule editor for a new rule group."""
    return _rule_editor(None, text="", name="", description="")


@bp.get("/groups/<int:group_id>/rule")
def edit_rule_group(group_id: int) -> Any:
    """The rule editor for a rule group, with its rule and what it matches now."""
    session = get_session()
    group = get_group(session, group_id)
    if group.rule is None:
        flash(f"{group.name} is a {group.kind} group: it has no rule.", "error")
        return redirect(url_for("admin.groups"))
    rule = parse(group.rule)
    return _rule_editor(
        group,
        text=_editable(rule),
        name=group.name,
        description=group.description,
        preview=preview_rule(session, rule),
    )


@bp.post("/groups/rules")
def save_rule_group() -> Any:
    """Save a rule group's rule (creating the group when new), or, with action=preview,
    only count what the rule matches (the editor without scripts)."""
    session = get_session()
    form = request.form
    name, text, description = form.get("name", ""), form.get("rule", ""), form.get("description")
    group = session.get(Group, as_id(form.get("group_id", "")) or 0)
    shown = {"text": text, "name": name, "description": description or ""}
    try:
        rule = _rule_from(text)
        if form.get("action") == "preview":
            return _rule_editor(group, preview=preview_rule(session, rule), **shown)
        group, created = set_rule(
            session, group.name if group else name, rule, description=description
        )
    except OutreachError as exc:
        session.rollback()
        return _rule_editor(group, error=exc.message, **shown), 422
    session.commit()
    flash(
        f"Rule group {group.name!r} {'created' if created else 'saved'}: {describe(rule)}.",
        "message",
    )
    return redirect(url_for("admin.edit_rule_group", group_id=group.id))


@bp.post("/groups/rule-preview")
def rule_preview() -> Any:
    """The editor's live count: what the rule in the request matches now, as JSON."""
    session = get_session()
    try:
        rule = _rule_from(request.form.get("rule", ""))
        found = preview_rule(session, rule)
    except OutreachError as exc:
        # An answer, not a failure: the editor shows it while the rule is being typed.
        return jsonify({"error": exc.message})
    return jsonify({"text": describe(rule), **asdict(found)})
