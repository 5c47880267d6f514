"""Group visibility on the public pages: only public topics and sectors are offered to
subscribers, and nothing a subscriber posts reaches a private group."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient, FlaskCliRunner

from outreach.consent import links
from outreach.contacts.models import Contact
from outreach.db import get_db
from outreach.groups.models import Group, GroupMembership
from tests.conftest import csrf_from
from tests.support.consent import form, seed_sectors, subscribe, subscribed

SUBSCRIBER = "cid@example.org"


def ok(runner: FlaskCliRunner, *args: str) -> str:
    result = runner.invoke(args=list(args))
    assert result.exit_code == 0, result.output
    return result.output


def import_people(runner: FlaskCliRunner, tmp_path: Path, rows: str) -> None:
    path = tmp_path / "people.csv"
    path.write_text("email,first_name,sector\n" + rows, encoding="utf-8")
    ok(runner, "contacts", "import", str(path), "--source", "fair", "--status", "subscribed")


def group_id(app: Flask, name: str) -> int:
    with get_db(app).reader() as session:
        found = session.scalar(sa.select(Group.id).where(Group.name == name))
    assert found is not None, name
    return found


def member_names(app: Flask, email: str) -> set[str]:
    with get_db(app).reader() as session:
        return set(
            session.scalars(
                sa.select(Group.name)
                .join(GroupMembership, GroupMembership.group_id == Group.id)
                .join(Contact, Contact.id == GroupMembership.contact_id)
                .where(Contact.email_key == email)
            )
        )


def member_count(app: Flask, name: str) -> int:
    with get_db(app).reader() as session:
        return (
            session.scalar(
                sa.select(sa.func.count())
                .select_from(GroupMembership)
                .join(Group, Group.id == GroupMembership.group_id)
                .where(Group.name == name)
            )
            or 0
        )


def preferences_path(app: Flask, contact_id: int) -> str:
    settings = app.extensions["outreach.settings"]
    return links.preferences_url(settings, contact_id).removeprefix(settings.base_url)


def topics_on(html: str) -> list[str]:
    """The names of the topic checkboxes of a page."""
    return re.findall(
        r'<input type="checkbox" name="groups" value="\d+" ?[a-z]*> ([^<]+?)\s*<', html
    )


def sector_options(html: str) -> list[str]:
    select = html.split('<select name="sector">', 1)[1].split("</select>", 1)[0]
    return re.findall(r"<option[^>]*>([^<]+)</option>", select)[1:]


@pytest.fixture
def vip_and_subscriber(app: Flask, runner: FlaskCliRunner, tmp_path: Path) -> int:
    """VIP, a private group of two made with the CLI, and a third subscriber outside it."""
    import_people(
        runner, tmp_path, "ana@example.org,Ana,Thinkers\nbruno@example.org,Bruno,Thinkers\n"
    )
    ok(runner, "groups", "add", "VIP", "ana@example.org", "bruno@example.org")
    return subscribed(app, SUBSCRIBER)


def test_a_private_group_is_not_on_preferences_and_a_forged_post_does_not_join_it(
    app: Flask, client: FlaskClient, vip_and_subscriber: int
) -> None:
    path = preferences_path(app, vip_and_subscriber)
    page = client.get(path).get_data(as_text=True)
    assert "VIP" not in page and "Topics" not in page
    vip = group_id(app, "VIP")
    thinkers = group_id(app, "Thinkers")

    saved = client.post(
        path,
        data={
            "csrf_token": csrf_from(page),
            "action": "save",
            "groups": [str(vip), str(thinkers), "99999999999999999999"],
        },
    )

    assert saved.status_code == 200 and "Saved." in saved.get_data(as_text=True)
    assert member_count(app, "VIP") == 2
    assert member_names(app, SUBSCRIBER) == set()


def test_saving_preferences_changes_only_public_topics(
    app: Flask, client: FlaskClient, runner: FlaskCliRunner, vip_and_subscriber: int
) -> None:
    ok(runner, "groups", "add", "VIP", SUBSCRIBER)
    ok(runner, "groups", "add", "Book club", "ana@example.org")
    ok(runner, "groups", "publish", "Book club", "--description", "A monthly reading list")
    ok(runner, "groups", "add", "Press", "ana@example.org")
    ok(runner, "groups", "publish", "Press")
    path = preferences_path(app, vip_and_subscriber)
    page = client.get(path).get_data(as_text=True)
    assert topics_on(page) == ["Book club", "Press"]
    assert "A monthly reading list" in page and "VIP" not in page

    client.post(
        path,
        data={"csrf_token": csrf_from(page), "action": "save", "groups": group_id(app, "Press")},
    )
    assert member_names(app, SUBSCRIBER) == {"VIP", "Press"}

    page = client.get(path).get_data(as_text=True)
    client.post(path, data={"csrf_token": csrf_from(page), "action": "save"})  # nothing ticked

    assert member_names(app, SUBSCRIBER) == {"VIP"}  # the private membership is kept
    assert member_count(app, "VIP") == 3


def test_unpublishing_a_topic_keeps_its_members(
    app: Flask, client: FlaskClient, runner: FlaskCliRunner, vip_and_subscriber: int
) -> None:
    ok(runner, "groups", "add", "Book club", SUBSCRIBER)
    ok(runner, "groups", "publish", "Book club")
    ok(runner, "groups", "unpublish", "book CLUB")
    path = preferences_path(app, vip_and_subscriber)
    page = client.get(path).get_data(as_text=True)
    assert "Book club" not in page

    client.post(path, data={"csrf_token": csrf_from(page), "action": "save"})

    assert member_names(app, SUBSCRIBER) == {"Book club"}


def publish_with_cli(app: Flask, name: str, request: pytest.FixtureRequest) -> None:
    runner: FlaskCliRunner = request.getfixturevalue("runner")
    assert (
        ok(runner, "groups", "publish", name).strip()
        == f"{name} is public: subscribers can choose it"
    )


def publish_in_admin(app: Flask, name: str, request: pytest.FixtureRequest) -> None:
    auth: FlaskClient = request.getfixturevalue("auth")
    token = csrf_from(auth.get("/admin/groups").get_data(as_text=True))
    response = auth.post(
        f"/admin/groups/{group_id(app, name)}/visibility", data={"csrf_token": token, "public": "1"}
    )
    assert response.status_code == 302


def publish_with_api(app: Flask, name: str, request: pytest.FixtureRequest) -> None:
    client: FlaskClient = request.getfixturevalue("client")
    headers: dict[str, str] = request.getfixturevalue("api_headers")
    response = client.patch(f"/api/v1/groups/{name}", json={"public": True}, headers=headers)
    assert response.status_code == 200, response.get_json()
    assert response.get_json()["public"] is True


@pytest.mark.parametrize("publish", [publish_with_cli, publish_in_admin, publish_with_api])
def test_an_imported_sector_is_private_until_an_admin_publishes_it(
    app: Flask,
    client: FlaskClient,
    runner: FlaskCliRunner,
    tmp_path: Path,
    request: pytest.FixtureRequest,
    publish: object,
) -> None:
    seed_sectors(app, "Thinkers", "Managers")
    import_people(runner, tmp_path, "ana@example.org,Ana,Artists\n")
    listing = json.loads(runner.invoke(args=["groups", "list", "--json"]).stdout)
    assert {g["name"]: g["public"] for g in listing} == {
        "Artists": False,
        "Managers": True,
        "Thinkers": True,
    }
    assert sector_options(client.get("/subscribe").get_data(as_text=True)) == [
        "Managers",
        "Thinkers",
    ]

    refused = subscribe(client, "eve@example.org", sector="Artists")

    assert refused.status_code == 422
    assert "choose a sector from the list" in refused.get_data(as_text=True)
    with get_db(app).reader() as session:
        assert (
            session.scalar(sa.select(Contact.id).where(Contact.email_key == "eve@example.org"))
            is None
        )

    publish(app, "Artists", request)  # type: ignore[operator]

    assert sector_options(client.get("/subscribe").get_data(as_text=True)) == [
        "Artists",
        "Managers",
        "Thinkers",
    ]
    assert subscribe(client, "eve@example.org", sector="Artists").status_code == 200
    assert "public" in runner.invoke(args=["groups", "list"]).output.split("Artists", 1)[1]


def test_the_sign_up_form_offers_public_topics_and_joins_only_them(
    app: Flask, client: FlaskClient, runner: FlaskCliRunner, vip_and_subscriber: int
) -> None:
    ok(runner, "groups", "add", "Book club", "ana@example.org")
    ok(runner, "groups", "publish", "Book club", "--description", "A monthly reading list")
    ok(runner, "groups", "publish", "Thinkers")
    page = client.get("/subscribe").get_data(as_text=True)
    assert topics_on(page) == ["Book club"]
    assert "A monthly reading list" in page and "VIP" not in page

    response = subscribe(
        client,
        "eve@example.org",
        groups=[str(group_id(app, "Book club")), str(group_id(app, "VIP"))],
    )

    assert response.status_code == 200
    assert member_names(app, "eve@example.org") == {"Book club"}
    assert member_count(app, "VIP") == 2


def test_a_sign_up_for_a_subscribed_address_changes_none_of_its_topics(
    app: Flask, client: FlaskClient, runner: FlaskCliRunner, vip_and_subscriber: int
) -> None:
    ok(runner, "groups", "add", "Book club", "ana@example.org")
    ok(runner, "groups", "publish", "Book club")

    response = client.post(
        "/subscribe", data={**form(SUBSCRIBER, sector=""), "groups": group_id(app, "Book club")}
    )

    assert response.status_code == 200
    assert member_names(app, SUBSCRIBER) == set()


def test_a_refused_sign_up_keeps_the_ticked_topics(
    app: Flask, client: FlaskClient, runner: FlaskCliRunner, vip_and_subscriber: int
) -> None:
    ok(runner, "groups", "add", "Book club", "ana@example.org")
    ok(runner, "groups", "publish", "Book club")
    book_club = group_id(app, "Book club")

    response = subscribe(client, "eve@example.org", consent_newsletter="", groups=book_club)

    assert response.status_code == 422
    assert f'value="{book_club}" checked>' in response.get_data(as_text=True)


def test_the_groups_list_shows_visibility(
    app: Flask, runner: FlaskCliRunner, vip_and_subscriber: int
) -> None:
    ok(runner, "groups", "publish", "Thinkers")
    table = ok(runner, "groups", "list").splitlines()
    assert table[0].split() == ["group", "kind", "visibility", "members", "subscribed"]
    assert table[1].split() == ["Thinkers", "sector", "public", "2", "2"]
    assert table[2].split() == ["VIP", "affinity", "private", "2", "2"]
    missing = runner.invoke(args=["groups", "publish", "Nobody"])
    assert missing.exit_code != 0 and "no group named 'Nobody'" in missing.output


@pytest.mark.browser
def test_topics_and_the_groups_page_in_the_browser(
    app: Flask,
    runner: FlaskCliRunner,
    vip_and_subscriber: int,
    admin_user: str,
    live_server: str,
    browser_page: Any,
) -> None:
    """Topics with long descriptions, and the groups page's visibility column and
    buttons: no serious axe-core violation, no horizontal overflow at 1280 and 375 px."""
    from tests.conftest import ADMIN_PASSWORD
    from tests.support.accessibility import check

    ok(runner, "groups", "add", "Book club", SUBSCRIBER)
    long = "Books, essays and long reads on strategy and communication, once a month"
    ok(runner, "groups", "publish", "Book club", "--description", long)
    ok(runner, "groups", "publish", "Thinkers")
    settings = app.extensions["outreach.settings"]
    page = browser_page
    report = check(page, f"{live_server}/subscribe")
    path = links.preferences_url(settings, vip_and_subscriber).removeprefix(settings.base_url)
    report |= check(page, live_server + path)
    page.goto(f"{live_server}/admin/login")
    page.fill("input[name=email]", admin_user)
    page.fill("input[name=password]", ADMIN_PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(f"{live_server}/admin/")
    report |= check(page, f"{live_server}/admin/groups")

    assert report == {}
    page.get_by_role("button", name="Unpublish Book club").click()
    page.wait_for_url(f"{live_server}/admin/groups#row-*")
    assert "Book club is private" in page.content()
