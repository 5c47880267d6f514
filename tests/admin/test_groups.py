"""The groups page: counts, new affinity groups, membership by address."""

from __future__ import annotations

import re
from collections.abc import Callable

import pytest
import sqlalchemy as sa
from flask.testing import FlaskClient

from outreach.groups.models import Group, GroupKind, GroupMembership
from tests.conftest import csrf_from
from tests.support.pages import Transaction, rows_of

HEADER = "email,first_name,sector\n"


@pytest.fixture
def people(seed: Callable[..., object]) -> None:
    seed(
        HEADER + "ana@example.org,Ana,Managers\nbruno@example.org,Bruno,Managers\n",
        status="subscribed",
    )
    seed(HEADER + "carla@example.org,Carla,Thinkers\n")


def group_ids(db: Transaction) -> dict[str, int]:
    with db() as session:
        return dict(session.execute(sa.select(Group.name, Group.id)).all())


def members(db: Transaction, group_id: int) -> int:
    with db() as session:
        return (
            session.scalar(sa.select(sa.func.count()).where(GroupMembership.group_id == group_id))
            or 0
        )


def post(auth: FlaskClient, url: str, **data: str) -> str:
    """Post a form of the groups page, follow the redirect, return the page."""
    token = csrf_from(auth.get("/admin/groups").get_data(as_text=True))
    response = auth.post(url, data={"csrf_token": token, **data})
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/admin/groups")
    page = auth.get("/admin/groups")
    assert page.status_code == 200
    return page.get_data(as_text=True)


def messages_of(html: str, form_id: str) -> list[str]:
    """The flashed messages shown inside one form."""
    form = html.split(f'id="{form_id}"', 1)[1].split("</form>", 1)[0]
    return re.findall(r'<p class="flash[^"]*" role="[a-z]+">([^<]*)</p>', form)


def test_groups_page_lists_counts_and_forms(
    auth: FlaskClient, people: None, db: Transaction
) -> None:
    html = auth.get("/admin/groups").get_data(as_text=True)
    assert rows_of(html) == [
        "Managers Over time sector private 2 2 Publish",
        "Thinkers Over time sector private 1 0 Publish",
    ]
    ids = group_ids(db)
    assert f'href="/admin/contacts?group={ids["Managers"]}"' in html
    assert 'id="new-group"' in html and "/members" not in html  # no affinity group yet


def test_create_group_then_add_members(auth: FlaskClient, people: None, db: Transaction) -> None:
    html = post(auth, "/admin/groups", name="  Press   friends ", description="met at fairs")
    assert messages_of(html, "new-group") == ["Group &#39;Press friends&#39; created."]
    vip = group_ids(db)["Press friends"]
    assert "Press friends met at fairs Over time affinity private 0 0 Publish" in rows_of(html)

    html = post(
        auth,
        f"/admin/groups/{vip}/members",
        action="add",
        emails="ana@example.org\r\nCARLA@example.org, ana@example.org",
    )
    assert messages_of(html, f"group-{vip}") == ["2 of 3 added to Press friends."]
    assert "Press friends met at fairs Over time affinity private 2 1 Publish" in rows_of(html)
    assert messages_of(html, "new-group") == []  # each message sits next to its own form

    html = post(auth, f"/admin/groups/{vip}/members", action="remove", emails="ana@example.org")
    assert messages_of(html, f"group-{vip}") == ["1 of 1 removed from Press friends."]
    assert members(db, vip) == 1


def test_refusals_are_flashed_next_to_the_form(
    auth: FlaskClient, people: None, db: Transaction
) -> None:
    html = post(auth, "/admin/groups", name="Managers")
    assert messages_of(html, "new-group") == ["group &#39;Managers&#39; already exists"]
    assert 'class="flash error" role="alert"' in html

    vip = int(post(auth, "/admin/groups", name="VIP").split('id="group-')[1].split('"')[0])
    html = post(auth, f"/admin/groups/{vip}/members", emails="ana@example.org, nobody@example.org")
    assert messages_of(html, f"group-{vip}") == ["no contact with address nobody@example.org"]
    assert members(db, vip) == 0  # all or nothing

    html = post(auth, f"/admin/groups/{vip}/members", emails=" \n, ")
    assert messages_of(html, f"group-{vip}") == ["enter at least one address"]

    managers = group_ids(db)["Managers"]
    html = post(auth, f"/admin/groups/{managers}/members", emails="carla@example.org")
    assert (
        '<p class="flash error" role="alert">&#39;Managers&#39; is a sector group: '
        "membership follows the contact&#39;s sector</p>"
    ) in html
    assert members(db, managers) == 2

    html = post(auth, "/admin/groups/999/members", emails="ana@example.org")
    assert '<p class="flash error" role="alert">no group named 999</p>' in html
    with db() as session:
        assert (
            session.scalar(
                sa.select(sa.func.count())
                .select_from(Group)
                .where(Group.kind == GroupKind.AFFINITY)
            )
            == 1
        )


def test_digit_only_group_names_are_refused(
    auth: FlaskClient, people: None, db: Transaction
) -> None:
    html = post(auth, "/admin/groups", name="2024")
    assert "cannot be only digits" in html
    assert "2024" not in group_ids(db)


def test_forms_without_csrf_token_are_refused(
    auth: FlaskClient, people: None, db: Transaction
) -> None:
    assert auth.post("/admin/groups", data={"name": "Sneaky"}).status_code == 400
    post(auth, "/admin/groups", name="VIP")
    vip = group_ids(db)["VIP"]
    response = auth.post(f"/admin/groups/{vip}/members", data={"emails": "ana@example.org"})
    assert response.status_code == 400
    assert members(db, vip) == 0
    assert "Sneaky" not in group_ids(db)


def test_publish_and_unpublish_from_the_groups_page(
    auth: FlaskClient, people: None, db: Transaction
) -> None:
    managers = group_ids(db)["Managers"]
    assert "Managers" not in auth.get("/subscribe").get_data(as_text=True)

    html = post(auth, f"/admin/groups/{managers}/visibility", public="1")

    assert "Managers is public: subscribers can choose it" in html
    assert rows_of(html)[0] == "Managers Over time sector public 2 2 Unpublish"
    assert "<option >Managers</option>" in auth.get("/subscribe").get_data(as_text=True)

    html = post(auth, f"/admin/groups/{managers}/visibility", public="0")

    assert "Managers is private: only admins see it; its members stay." in html
    assert rows_of(html)[0] == "Managers Over time sector private 2 2 Publish"
    assert "Managers" not in auth.get("/subscribe").get_data(as_text=True)
    assert members(db, managers) == 2

    html = post(auth, "/admin/groups/999/visibility", public="1")
    assert '<p class="flash error" role="alert">no group named 999</p>' in html
    response = auth.post(f"/admin/groups/{managers}/visibility", data={"public": "1"})
    assert response.status_code == 400  # no CSRF token
    with db() as session:
        assert session.get(Group, managers).is_public is False  # type: ignore[union-attr]


def test_create_a_public_topic_and_a_sector_for_the_sign_up_list(
    auth: FlaskClient, people: None, db: Transaction
) -> None:
    html = post(
        auth, "/admin/groups", name="Book club", description="A monthly reading list", public="1"
    )
    assert "Book club A monthly reading list Over time affinity public 0 0 Unpublish" in rows_of(
        html
    )
    post(auth, "/admin/groups", name="Designers", kind="sector", public="1")
    html = post(auth, "/admin/groups", name="Odd", kind="rule")
    assert messages_of(html, "new-group") == [
        "choose affinity group or sector (a rule group is made in the rule editor)"
    ]

    page = auth.get("/subscribe").get_data(as_text=True)
    assert "<option >Designers</option>" in page and "Thinkers" not in page
    assert "Book club" in page and "A monthly reading list" in page
    with db() as session:
        designers = session.scalar(sa.select(Group).where(Group.name == "Designers"))
        assert designers is not None and designers.kind is GroupKind.SECTOR
    assert "Odd" not in group_ids(db)
