"""Admin › Groups › Sector rules: edit the keywords, preview what they do, save and
apply; a sector set by hand never changes."""

from __future__ import annotations

from collections.abc import Callable

import sqlalchemy as sa
from flask.testing import FlaskClient

from outreach.contacts.importer import ImportReport
from outreach.contacts.models import Contact
from tests.conftest import csrf_from
from tests.support.pages import Transaction

PEOPLE = (
    "email,sector,position,organization\n"
    "a@example.org,,Senior Consultant,Acme\n"
    "b@example.org,Thinkers,Head of Sales,Acme\n"
    "c@example.org,,Plumber,Pipes\n"
)


def sectors(db: Transaction) -> dict[str, str | None]:
    with db() as session:
        return dict(session.execute(sa.select(Contact.email, Contact.sector)).all())


def post(auth: FlaskClient, rules: str, action: str) -> tuple[int, str]:
    token = csrf_from(auth.get("/admin/groups/sector-rules").get_data(as_text=True))
    response = auth.post(
        "/admin/groups/sector-rules", data={"csrf_token": token, "rules": rules, "action": action}
    )
    return response.status_code, response.get_data(as_text=True)


def test_preview_then_save_and_apply(
    auth: FlaskClient, db: Transaction, seed: Callable[..., ImportReport]
) -> None:
    seed(PEOPLE)
    page = auth.get("/admin/groups/sector-rules").get_data(as_text=True)
    assert "Consultants: consultant, consultor" in page  # the defaults, editable
    assert "1 contacts would be given a sector; 1 with a sector set by hand" in page

    status, html = post(auth, "Trades: plumber\nConsultants: consultant", "preview")
    assert status == 200 and "2 contacts would be given a sector" in html
    assert sectors(db)["c@example.org"] is None  # a preview changes nothing

    status, html = post(auth, "Trades: plumber\nConsultants: consultant", "apply")
    assert status == 200 and "Rules saved and applied: 2 contacts given a sector" in html
    assert sectors(db) == {
        "a@example.org": "Consultants",
        "b@example.org": "Thinkers",
        "c@example.org": "Trades",
    }
    assert "Trades: plumber" in auth.get("/admin/groups/sector-rules").get_data(as_text=True)

    status, html = post(auth, "Trades plumber", "apply")
    assert status == 422 and "sector rules, line 1: &#39;Trades plumber&#39; is not" in html
