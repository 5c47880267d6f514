"""Rule groups: each kind of condition matches exactly the contacts it should, on SQLite
and PostgreSQL, machine opens and clicks never counting; bad rules are refused naming the
faulty condition; the one-line form reads back what `describe` writes."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient, FlaskCliRunner

from outreach.contacts.models import Contact
from outreach.db import get_db, utcnow
from outreach.errors import ValidationError
from outreach.groups.models import Group, GroupKind
from outreach.groups.rules import describe, parse, parse_line, to_doc
from outreach.groups.service import preview_rule, set_rule
from tests.groups.conftest import LINK
from tests.support.admin import form_post
from tests.support.api import error_of
from tests.support.pages import rows_of


def _matching(app: Flask, rule: Any) -> set[str]:
    with get_db(app).session() as session:
        condition_rule = parse_line(rule) if isinstance(rule, str) else parse(rule)
        from outreach.groups.rules import Compiler

        emails = session.scalars(
            sa.select(Contact.email).where(Compiler(session).condition(condition_rule))
        )
        return {e.split("@")[0] for e in emails}


FIELD_CASES = [
    ({"field": "first_name", "op": "equals", "value": "ANA"}, {"ana"}),
    ({"field": "first_name", "op": "not_equals", "value": "ana"}, {"ben", "cleo", "dan", "eve"}),
    ({"field": "organization", "op": "contains", "value": "press"}, {"ben"}),
    ({"field": "organization", "op": "contains", "value": "%"}, set()),
    ({"field": "organization", "op": "starts_with", "value": "acme"}, {"ana"}),
    ({"field": "email", "op": "starts_with", "value": "d"}, {"dan"}),
    ({"field": "attributes.city", "op": "one_of", "value": ["Madrid", "Paris"]}, {"ana", "cleo"}),
    ({"field": "attributes.city", "op": "not_one_of", "value": ["madrid"]}, {"ben", "dan", "eve"}),
    ({"field": "attributes.city", "op": "is_empty"}, {"dan", "eve"}),
    ({"field": "attributes.city", "op": "is_not_empty"}, {"ana", "ben", "cleo"}),
    ({"field": "sector", "op": "is_empty"}, {"cleo", "eve"}),
    ({"field": "language", "op": "equals", "value": "es"}, {"ana"}),
    ({"field": "attributes.age", "op": "gt", "value": 40}, {"ben"}),
    ({"field": "attributes.age", "op": "lte", "value": 34}, {"ana"}),
    ({"field": "attributes.age", "op": "gte", "value": 34.5}, {"ben"}),
    ({"field": "attributes.age", "op": "lt", "value": 100}, {"ana", "ben"}),
    ({"field": "attributes.joined", "op": "before", "value": "2025-01-01"}, {"ana"}),
    ({"field": "attributes.joined", "op": "after", "value": "2025-06-30"}, {"ben"}),
    ({"field": "attributes.joined", "op": "after", "value": "2025-07-01"}, set()),
    ({"field": "signed_up", "op": "within_days", "value": 30}, {"ana", "dan"}),
    ({"field": "status", "op": "equals", "value": "subscribed"}, {"ana", "ben"}),
    ({"field": "status", "op": "one_of", "value": ["pending", "unsubscribed"]}, {"cleo", "dan"}),
    ({"field": "status", "op": "not_equals", "value": "subscribed"}, {"cleo", "dan", "eve"}),
    ({"group": "VIP", "op": "in"}, {"ana", "cleo"}),
    ({"group": "vip", "op": "not_in"}, {"ben", "dan", "eve"}),
]

BEHAVIOUR_CASES = [
    ({"behaviour": "opened"}, {"ana", "ben"}),
    # Ana's only Summer "open" was her privacy proxy's: she did not open it.
    ({"behaviour": "opened", "campaign": "Summer"}, {"ben"}),
    ({"behaviour": "not_opened", "campaign": "summer"}, {"ana"}),
    # Ben's Autumn was not tracked: he cannot be known as a non-opener of it.
    ({"behaviour": "not_opened", "last": 1}, {"dan"}),
    ({"behaviour": "not_opened", "last": 2}, {"dan"}),
    ({"behaviour": "opened", "last": 2}, {"ana", "ben"}),
    ({"behaviour": "opened", "within_days": 10}, {"ana"}),
    ({"behaviour": "received", "within_days": 30}, {"ana", "ben", "dan"}),
    ({"behaviour": "received", "campaign": "Spring"}, {"ana"}),
    # Ben's clicks were a link scanner's: they are not clicks.
    ({"behaviour": "clicked"}, {"ana"}),
    ({"behaviour": "clicked", "link": LINK}, {"ana"}),
    ({"behaviour": "clicked", "link": LINK, "campaign": "Summer"}, set()),
    ({"behaviour": "clicked", "link": "https://example.org/other"}, set()),
    ({"behaviour": "bounced"}, {"ben"}),
    ({"behaviour": "bounced", "within_days": 30}, set()),
    # An erased contact's delivery (no contact) changes nothing, negated or not.
    ({"not": {"behaviour": "opened"}}, {"cleo", "dan", "eve"}),
    ({"not": {"behaviour": "not_opened", "last": 1}}, {"ana", "ben", "cleo", "eve"}),
]

COMBINED_CASES = [
    (
        {
            "all": [
                {"field": "status", "op": "one_of", "value": ["subscribed", "pending"]},
                # An absent or unreadable value (Cleo's age "n/a") does not match a
                # comparison, so "not" of it does.
                {
                    "not": {
                        "any": [
                            {"behaviour": "bounced"},
                            {"field": "attributes.age", "op": "gt", "value": 30},
                        ]
                    }
                },
            ]
        },
        {"cleo"},
    ),
    (
        {
            "any": [
                {"all": [{"group": "VIP", "op": "in"}, {"behaviour": "opened"}]},
                {"field": "sector", "op": "equals", "value": "journalists"},
            ]
        },
        {"ana", "ben", "dan"},
    ),
]


@pytest.mark.usefixtures("people")
def test_each_condition_matches_exactly_its_contacts(app: Flask) -> None:
    """Every case on one arranged database (a fresh database per case cost a second each
    on PostgreSQL); the failures are listed together."""
    wrong = {}
    for rule, expected in FIELD_CASES + BEHAVIOUR_CASES + COMBINED_CASES:
        found = _matching(app, rule)
        if found != expected:
            wrong[json.dumps(rule)] = (sorted(found), sorted(expected))
    assert wrong == {}


@pytest.mark.usefixtures("people")
def test_a_rule_group_can_use_another_rule_group_but_never_itself(app: Flask) -> None:
    with get_db(app).session() as session:
        set_rule(session, "Openers", parse({"behaviour": "opened"}))
        group, created = set_rule(
            session, "Subscribed openers", parse_line("in group Openers and status = subscribed")
        )
        assert created and group.kind is GroupKind.RULE
    assert _matching(app, {"group": "Subscribed openers"}) == {"ana", "ben"}
    with get_db(app).session() as session, pytest.raises(ValidationError, match="itself"):
        set_rule(session, "Openers", parse_line("in group 'Subscribed openers'"))
    with get_db(app).session() as session, pytest.raises(ValidationError, match="no group named"):
        set_rule(session, "Openers", parse_line("in group Nobody"))
    with get_db(app).session() as session:
        # Refused changes left the rule as it was.
        rule = session.scalar(sa.select(Group.rule).where(Group.name == "Openers"))
        assert rule == {"behaviour": "opened"}


@pytest.mark.usefixtures("people")
def test_the_preview_counts_and_samples_without_the_restricted(app: Flask) -> None:
    before = (utcnow() - timedelta(days=500)).date().isoformat()
    with get_db(app).session() as session:
        found = preview_rule(session, parse_line(f"signed up before {before} or status = pending"))
    # Eve (restricted, signed up 1000 days ago) is counted but never shown.
    assert (found.matching, found.subscribed) == (2, 0)
    assert [p["email"] for p in found.sample] == ["cleo@example.org"]


@pytest.mark.parametrize(
    ("doc", "message"),
    [
        ({"all": []}, 'rule (top level): "all" needs a non-empty list'),
        (
            {"all": [{"field": "city", "op": "equals", "value": "x"}]},
            "rule all[0]: unknown field 'city'",
        ),
        (
            {
                "any": [
                    {"field": "sector", "op": "equals", "value": "x"},
                    {"field": "sector", "op": "gt", "value": 3},
                ]
            },
            "rule any[1]: sector takes the operators equals",
        ),
        ({"all": [{"not": {"behaviour": "liked"}}]}, "rule all[0].not: unknown behaviour 'liked'"),
        ({"field": "attributes.age", "op": "gt", "value": "old"}, "compares with a number"),
        ({"field": "status", "op": "equals", "value": "happy"}, "unknown status 'happy'"),
        ({"field": "signed_up", "op": "before", "value": "soon"}, "'soon' is not a date"),
        ({"behaviour": "opened", "last": 3, "within_days": 9}, "choose one scope"),
        ({"behaviour": "opened", "link": LINK}, '"link" goes with the behaviour "clicked" only'),
        ({"behaviour": "opened", "last": 0}, '"last" is a number of campaigns from 1 to 1000'),
        ({"group": "VIP", "op": "maybe"}, '"op": "in" or "not_in"'),
        ({"colour": "red"}, "unknown condition ['colour']"),
        ([1, 2], "a condition is a JSON object"),
        ({"field": "email", "op": "equals", "value": "a", "extra": 1}, "unexpected key ['extra']"),
    ],
)
def test_a_bad_rule_is_refused_naming_the_faulty_condition(doc: Any, message: str) -> None:
    with pytest.raises(ValidationError) as refused:
        parse(doc)
    assert message in refused.value.message


@pytest.mark.parametrize(
    "line",
    [
        "sector = Journalists and opened last 3",
        "attributes.city in Madrid, Lisbon or signed up within 30 days",
        "organization contains 'Beta Press' and not bounced",
        "not opened campaign Summer",
        "clicked link https://example.org/report within 7 days",
        "attributes.age >= 18 and attributes.age < 65 and status != unsubscribed",
        "in group VIP and not in group 'Press list'",
        "first_name is empty or attributes.joined after 2025-01-01",
    ],
)
def test_the_one_line_form_reads_back_what_describe_writes(line: str) -> None:
    rule = parse_line(line)
    assert parse_line(describe(rule)) == rule
    assert parse(json.loads(json.dumps(to_doc(rule)))) == rule


def test_a_one_line_rule_that_mixes_and_with_or_is_sent_to_json() -> None:
    with pytest.raises(ValidationError, match="not both"):
        parse_line("opened and status = subscribed or bounced")
    with pytest.raises(ValidationError, match="condition 2: cannot read"):
        parse_line("opened and whatever")


@pytest.mark.usefixtures("people")
def test_groups_rule_and_members_on_the_command_line(
    runner: FlaskCliRunner, tmp_path: Path
) -> None:
    rule = tmp_path / "rule.json"
    rule.write_text(
        json.dumps(
            {
                "all": [
                    {"behaviour": "opened"},
                    {"field": "status", "op": "equals", "value": "subscribed"},
                ]
            }
        )
    )
    made = runner.invoke(args=["groups", "rule", "Readers", "--file", str(rule)])
    assert made.exit_code == 0, made.output
    assert made.output.splitlines()[0] == "Readers created: opened and status = subscribed"
    assert "2 contacts match now (2 subscribed)" in made.output
    members = json.loads(runner.invoke(args=["groups", "members", "readers", "--json"]).stdout)
    assert [m["email"] for m in members] == ["ana@example.org", "ben@example.org"]
    listing = json.loads(runner.invoke(args=["groups", "list", "--json"]).stdout)
    readers = next(g for g in listing if g["name"] == "Readers")
    assert (readers["kind"], readers["members"], readers["subscribed"]) == ("rule", 2, 2)
    # The one-line form replaces the rule; a dry run stores nothing.
    changed = runner.invoke(args=["groups", "rule", "Readers", "--where", "opened campaign Summer"])
    assert changed.output.splitlines()[0] == "Readers now: opened campaign Summer"
    dry = runner.invoke(args=["groups", "rule", "Readers", "--where", "bounced", "--dry-run"])
    assert "Readers would be bounced" in dry.output
    shown = runner.invoke(args=["groups", "rule", "Readers"])
    assert shown.output.splitlines()[0] == "Readers is opened campaign Summer"
    plain = runner.invoke(args=["groups", "members", "Readers"])
    assert plain.stdout.splitlines() == ["ben@example.org  Ben  subscribed"]
    # A bad rule: a clear message naming the condition, nothing changed.
    rule.write_text(json.dumps({"any": [{"behaviour": "opened"}, {"field": "age", "op": "gt"}]}))
    bad = runner.invoke(args=["groups", "rule", "Readers", "--file", str(rule)])
    assert bad.exit_code == 1 and "rule any[1]: unknown field 'age'" in bad.output
    rule.write_text("{oops")
    broken = runner.invoke(args=["groups", "rule", "Readers", "--file", str(rule)])
    assert broken.exit_code == 1 and "not JSON (line 1, column 2" in broken.output
    sector = runner.invoke(args=["groups", "rule", "VIP", "--where", "opened"])
    assert sector.exit_code == 1
    assert "'VIP' is not a rule group (affinity): a rule goes on a rule group" in sector.output


@pytest.mark.usefixtures("people")
def test_rule_groups_through_the_api(client: FlaskClient, api_headers: dict[str, str]) -> None:
    url = "/api/v1/groups"
    rule = {
        "all": [{"behaviour": "opened"}, {"field": "status", "op": "equals", "value": "subscribed"}]
    }
    preview = client.post(f"{url}/rule-preview", json={"rule": rule}, headers=api_headers)
    assert preview.status_code == 200, preview.get_json()
    found = preview.get_json()
    assert (found["matching"], found["subscribed"]) == (2, 2)
    assert found["text"] == "opened and status = subscribed"
    assert [p["email"] for p in found["sample"]] == ["ana@example.org", "ben@example.org"]
    made = client.put(f"{url}/Readers/rule", json={"rule": rule}, headers=api_headers)
    assert made.status_code == 200, made.get_json()
    assert made.get_json() | {"id": 0} == {
        "id": 0,
        "name": "Readers",
        "kind": "rule",
        "public": False,
        "description": "",
        "members": 2,
        "subscribed": 2,
        "rule": rule,
        "rule_text": "opened and status = subscribed",
    }
    changed = client.put(
        f"{url}/readers/rule",
        json={"text": "not opened campaign Summer", "description": "Summer's non-openers"},
        headers=api_headers,
    )
    assert changed.status_code == 200, changed.get_json()
    assert changed.get_json()["members"] == 1
    members = client.get(f"{url}/Readers/members", headers=api_headers).get_json()
    assert [m["email"] for m in members["items"]] == ["ana@example.org"]
    shown = client.get(f"{url}/Readers", headers=api_headers).get_json()
    assert shown["description"] == "Summer's non-openers"
    assert shown["rule"] == {"behaviour": "not_opened", "campaign": "Summer"}
    bad = client.put(
        f"{url}/Readers/rule",
        json={
            "rule": {"any": [{"behaviour": "opened"}, {"field": "status", "op": "gt", "value": 1}]}
        },
        headers=api_headers,
    )
    assert "rule any[1]: status takes the operators" in error_of(bad, 422)["message"]
    both = client.put(
        f"{url}/Readers/rule", json={"rule": rule, "text": "opened"}, headers=api_headers
    )
    assert "as `rule` (a document) or as `text`" in error_of(both, 422)["message"]
    affinity = client.put(f"{url}/VIP/rule", json={"text": "opened"}, headers=api_headers)
    assert "is not a rule group" in error_of(affinity, 409)["message"]
    refused = client.post(
        f"{url}/Readers/members", json={"emails": ["dan@example.org"]}, headers=api_headers
    )
    assert "is a rule group" in error_of(refused, 422)["message"]


@pytest.mark.usefixtures("people")
def test_the_rule_editor_without_scripts(auth: FlaskClient) -> None:
    new = "/admin/groups/rules/new"
    status, _, body = form_post(
        auth, new, "/admin/groups/rules", name="Readers", rule="opened", action="preview"
    )
    assert status == 200 and '<strong id="rule-count">2</strong>' in body
    status, _, body = form_post(
        auth, new, "/admin/groups/rules", name="Readers", rule='{"all": [', action="save"
    )
    assert status == 422 and "rule: not JSON (line 1, column 10" in body
    assert "Readers" in body and "{&#34;all&#34;: [" in body  # what was typed is kept
    status, where, _ = form_post(
        auth,
        new,
        "/admin/groups/rules",
        name="Readers",
        rule='{"any": [{"behaviour": "bounced"}, {"group": "VIP"}]}',
        action="save",
    )
    assert status == 302 and where.endswith("/rule")
    edit = auth.get(where).get_data(as_text=True)
    # A rule the one-line form cannot hold as it is stays JSON in the editor.
    assert "bounced or in group VIP" in edit and '<strong id="rule-count">3</strong>' in edit
    groups = auth.get("/admin/groups").get_data(as_text=True)
    readers = next(r for r in rows_of(groups) if r.startswith("Readers"))
    assert readers.startswith("Readers bounced or in group VIP Edit rule Over time rule private 3")
    status, _, body = form_post(auth, "/admin/groups", "/admin/groups", name="Sneaky", kind="rule")
    assert status == 302
    assert "a rule group is made in the rule editor" in auth.get("/admin/groups").get_data(
        as_text=True
    )
    vip = auth.get("/admin/groups").get_data(as_text=True).split('id="group-', 1)[1].split('"')[0]
    assert auth.get(f"/admin/groups/{vip}/rule").status_code == 302


@pytest.mark.usefixtures("people")
def test_a_rule_of_behaviour_alone_is_counted_per_contact(app: Flask) -> None:
    """Its EXISTS is correlated to each contact, never true once for the whole table."""
    from outreach.groups.service import group_count, member_rows

    with get_db(app).session() as session:
        group, _ = set_rule(session, "Recent", parse_line("received within 30 days"))
        counted = group_count(session, group)
        assert (counted.members, counted.subscribed) == (3, 2)
        assert preview_rule(session, parse({"behaviour": "opened"})).matching == 2
        assert [m["email"] for m in member_rows(session, group)] == [
            "ana@example.org",
            "ben@example.org",
            "dan@example.org",
        ]
