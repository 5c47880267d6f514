"""Admin pages for contacts: list and search, one contact (the import: import_views)."""

from __future__ import annotations

from typing import Any

from flask import render_template, request, url_for
from werkzeug.datastructures import MultiDict

from outreach.admin.blueprint import bp
from outreach.consent.queries import consent_history
from outreach.contacts.models import Contact, ContactStatus
from outreach.contacts.service import ContactQuery, get_contact, groups_of, search_contacts
from outreach.db import get_session
from outreach.delivery.queries import deliveries_of
from outreach.errors import OutreachError
from outreach.groups.service import list_groups

PER_PAGE = 50


def _contact_query(args: MultiDict[str, str]) -> ContactQuery:
    """The list filters from the query string; an unreadable page number means page 1."""
    return ContactQuery(
        search=args.get("q", "").strip(),
        group=args.get("group", "").strip() or None,
        status=args.get("status", "").strip() or None,
        page=max(1, args.get("page", 1, type=int) or 1),
        per_page=PER_PAGE,
    )


def _page_url(query: ContactQuery, page: int) -> str:
    """The list URL of another page with the same filters (empty filters left out)."""
    filters: dict[str, Any] = {"q": query.search, "group": query.group, "status": query.status}
    return url_for("admin.contacts", page=page, **{k: v for k, v in filters.items() if v})


def _pager(query: ContactQuery, total: int, shown: int) -> dict[str, Any]:
    """Where this page sits among all matches, and links to its neighbours."""
    last_page = max(1, -(-total // PER_PAGE))
    offset = (query.page - 1) * PER_PAGE
    return {
        "first": offset + 1 if shown else 0,
        "last": offset + shown,
        # Past the end, "previous" leads back to the last page that has rows.
        "previous": _page_url(query, min(query.page - 1, last_page)) if query.page > 1 else None,
        "next": _page_url(query, query.page + 1) if query.page < last_page else None,
        "number": query.page,
        "count": last_page,
    }


@bp.get("/contacts")
def contacts() -> Any:
    """Search and filter contacts, one page at a time; unusable filters are explained."""
    session = get_session()
    query = _contact_query(request.args)
    error, status = None, 200
    try:
        found, total = search_contacts(session, query)
    except OutreachError as exc:
        found, total, error, status = [], 0, exc.message, exc.status
    return render_template(
        "admin/contacts.html",
        query=query,
        contacts=found,
        total=total,
        page=_pager(query, total, len(found)),
        groups=list_groups(session),
        statuses=[s.value for s in ContactStatus],
        memberships=groups_of(session, [c.id for c in found]),
        error=error,
    ), status


@bp.get("/contacts/<int:contact_id>")
def contact(contact_id: int) -> Any:
    """One contact: profile, attributes, groups, consent timeline and deliveries."""
    session = get_session()
    person: Contact = get_contact(session, contact_id)
    return render_template(
        "admin/contact.html",
        contact=person,
        groups=groups_of(session, [person.id])[person.id],
        events=consent_history(session, person.id),
        deliveries=deliveries_of(session, person.id),
    )
