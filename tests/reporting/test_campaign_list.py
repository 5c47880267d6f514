"""Campaigns as a list a sender can steer: `campaigns list`, the API's list, the admin's
campaign and statistics lists (status, date, recipients, rates from the tallies);
duplicate a campaign with its variants; delete a draft, and only a draft."""

from __future__ import annotations

import json
from email.message import EmailMessage
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient

from outreach.campaigns.models import Campaign, CampaignGroup, Variant
from outreach.db import get_db
from outreach.privacy.models import AuditEntry
from tests.support.admin import form_post
from tests.support.campaigns import one_variant_campaign
from tests.support.pages import rows_of
from tests.support.tracking import click_paths, flush, pixel_path

BROWSER = {"User-Agent": "Mozilla/5.0 (Macintosh) Firefox/130"}


@pytest.fixture
def engaged(app: Flask, sent: dict[str, EmailMessage]) -> int:
    """The sent campaign, opened by one of the two who allowed open tracking and clicked
    by one of the two who allowed click tracking; its id."""
    client = app.test_client()
    client.get(pixel_path(sent["both@example.org"]), headers=BROWSER)
    client.get(click_paths(sent["clicks@example.org"])[0], headers=BROWSER)
    flush(app)
    with get_db(app).reader() as session:
        return int(session.scalar(sa.select(sa.func.max(Campaign.id))) or 0)


def listed(app: Flask) -> dict[str, dict[str, Any]]:
    result = app.test_cli_runner().invoke(args=["campaigns", "list", "--json"])
    assert result.exit_code == 0, result.output
    return {row["name"]: row for row in json.loads(result.output)}


def test_the_list_says_where_each_campaign_stands_and_how_it_did(
    app: Flask, engaged: int, auth: FlaskClient, api_headers: dict[str, str]
) -> None:
    draft = one_variant_campaign(app, "Next", "Thinkers")
    rows = listed(app)
    sent, new = rows["T"], rows["Next"]
    assert (sent["status"], sent["recipients"], sent["sent"]) == ("sent", 4, 4)
    assert (sent["open_rate"], sent["click_rate"]) == (0.5, 0.5)
    assert sent["date"] == sent["finished_at"] and sent["groups"] == ["Thinkers"]
    assert (new["id"], new["status"], new["date"], new["recipients"]) == (draft, "draft", None, 0)
    assert (new["open_rate"], new["click_rate"]) == (None, None)  # nobody reached yet
    assert list(rows) == ["Next", "T"]  # newest first

    text = app.test_cli_runner().invoke(args=["campaigns", "list"]).output
    line = next(row for row in text.splitlines() if " T " in row)
    assert line.split()[1:4] == ["T", "sent", sent["date"][:10]]
    assert "50.0%" in line and line.rstrip().endswith("Thinkers")

    api = {c["name"]: c for c in auth.get("/api/v1/campaigns", headers=api_headers).get_json()}
    assert {k: api["T"][k] for k in sent} == sent | {"groups": ["Thinkers"]}
    assert api["T"]["from"] == "a@example.org"

    table = rows_of(auth.get("/admin/campaigns").get_data(as_text=True), "campaigns")
    assert table[1].startswith(f"T sent {sent['date'][:10]} ")
    assert " UTC Thinkers 4 50.0% 50.0% " in table[1]
    assert table[0].startswith("Next draft — Thinkers — - - ")  # no date, nobody reached
    stats = rows_of(auth.get("/admin/statistics").get_data(as_text=True), "statistics-campaigns")
    assert stats[1].startswith("T sent 4 4 50.0% 50.0% ")


def _variants(app: Flask, campaign_id: int) -> list[tuple[Any, ...]]:
    with get_db(app).reader() as session:
        return [
            (v.group_id, v.subject, v.preheader, v.mjml, v.text_source)
            for v in session.scalars(
                sa.select(Variant).where(Variant.campaign_id == campaign_id).order_by(Variant.id)
            )
        ]


def _targets(app: Flask, campaign_id: int) -> list[tuple[int, int]]:
    with get_db(app).reader() as session:
        return [
            (t.group_id, t.position)
            for t in session.scalars(
                sa.select(CampaignGroup)
                .where(CampaignGroup.campaign_id == campaign_id)
                .order_by(CampaignGroup.position)
            )
        ]


def test_a_campaign_is_duplicated_with_its_variants_from_every_surface(
    app: Flask, engaged: int, auth: FlaskClient, api_headers: dict[str, str]
) -> None:
    runner = app.test_cli_runner()
    made = runner.invoke(args=["campaigns", "duplicate", str(engaged), "--name", "T again"])
    assert made.exit_code == 0, made.output
    copies = [int(made.output.split()[1])]
    response = auth.post(f"/api/v1/campaigns/{engaged}/duplicate", json={}, headers=api_headers)
    assert response.status_code == 201, response.get_json()
    document = response.get_json()
    assert document["name"] == "Copy of T" and document["status"] == "draft"
    assert [v["subject"] for v in document["variants"]] == ["S"]
    copies.append(document["id"])
    status, location, _ = form_post(
        auth, f"/admin/campaigns/{engaged}", f"/admin/campaigns/{engaged}/duplicate"
    )
    assert status == 302
    copies.append(int(location.rstrip("/").rsplit("/", 1)[1]))
    assert "Duplicated from" in auth.get(location).get_data(as_text=True)
    for copy in copies:
        assert _variants(app, copy) == _variants(app, engaged)
        assert _targets(app, copy) == _targets(app, engaged)
        assert listed(app)["T"]["sent"] == 4  # the model is untouched
    with get_db(app).reader() as session:
        copied = session.scalars(sa.select(Campaign).where(Campaign.id.in_(copies))).all()
        assert {(c.status.value, c.from_email, c.started_at) for c in copied} == {
            ("draft", "a@example.org", None)
        }
        actions = session.scalars(
            sa.select(AuditEntry.action).where(AuditEntry.action == "campaign_duplicated")
        ).all()
    assert len(actions) == 3


def test_only_a_draft_can_be_deleted_from_every_surface(
    app: Flask, engaged: int, auth: FlaskClient, api_headers: dict[str, str]
) -> None:
    runner = app.test_cli_runner()
    refused = runner.invoke(args=["campaigns", "delete", str(engaged), "--yes"])
    assert refused.exit_code == 1 and "only a draft can be deleted" in refused.output
    response = auth.delete(f"/api/v1/campaigns/{engaged}", headers=api_headers)
    assert response.status_code == 409
    status, location, _ = form_post(
        auth, f"/admin/campaigns/{engaged}", f"/admin/campaigns/{engaged}/delete"
    )
    assert status == 302 and location.endswith(f"/admin/campaigns/{engaged}#manage")
    assert "only a draft can be deleted" in auth.get(location).get_data(as_text=True)
    assert listed(app)["T"]["sent"] == 4

    drafts = [one_variant_campaign(app, f"Draft {i}", "Thinkers") for i in range(3)]
    deleted = runner.invoke(args=["campaigns", "delete", str(drafts[0]), "--yes"])
    assert deleted.exit_code == 0 and "'Draft 0' deleted" in deleted.output
    assert auth.delete(f"/api/v1/campaigns/{drafts[1]}", headers=api_headers).status_code == 204
    status, location, _ = form_post(
        auth, f"/admin/campaigns/{drafts[2]}", f"/admin/campaigns/{drafts[2]}/delete"
    )
    assert status == 302 and location.endswith("/admin/campaigns")
    assert "Draft &#39;Draft 2&#39; deleted." in auth.get(location).get_data(as_text=True)
    assert set(listed(app)) == {"T"}
    assert _variants(app, drafts[1]) == [] and _targets(app, drafts[1]) == []
    with get_db(app).reader() as session:
        gone = session.scalars(
            sa.select(AuditEntry.details).where(AuditEntry.action == "campaign_deleted")
        ).all()
    assert sorted(d["name"] for d in gone) == ["Draft 0", "Draft 1", "Draft 2"]
