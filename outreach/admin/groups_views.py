"""Admin pages for groups: counts, visibility, new groups, membership by address."""

from __future__ import annotations

import re
from typing import Any

from flask import flash, redirect, render_template, request, url_for

from outreach.admin.blueprint import bp
from outreach.db import get_session
from outreach.errors import OutreachError, ValidationError
from outreach.groups.models import Group, GroupKind
from outreach.groups.service import (
    add_members,
    create_group,
    get_group,
    list_groups,
    remove_members,
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
        if kind not in {k.value for k in GroupKind}:
            raise ValidationError("choose affinity group or sector", field="kind")
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
