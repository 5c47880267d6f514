"""Per-link statistics (issue 18, item 3): each link's human clickers and clicks per group
and variant, machine clicks apart, equal to a recount from the hits while they exist, and
kept when they are gone; through the command line, the API and the admin."""

from __future__ import annotations

import csv
import io
import json
from datetime import timedelta
from email.message import EmailMessage

import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient

from outreach.campaigns.service import get_campaign
from outreach.consent.models import ConsentAction, Purpose
from outreach.consent.service import Evidence, record_event
from outreach.contacts.models import Contact
from outreach.db import get_db
from outreach.delivery.models import Delivery
from outreach.privacy.erasure import erase
from outreach.reporting.links import LINK_COLUMNS, link_stats
from outreach.reporting.stats import variant_labels
from outreach.reporting.tallies import recount
from outreach.tracking.models import HitKind, LinkClick, TrackingHit
from outreach.tracking.service import Hit, record_hits
from tests.support.links import (
    BROWSER,
    EXPECTED,
    PEOPLE,
    SCANNER,
    A,
    B,
    clicked_campaign,
    delivery_ids,
)
from tests.support.pages import rows_of
from tests.support.statistics import SENT_AT, build_campaign
from tests.support.tracking import click_paths, flush

ARTICLE, SECOND = "https://example.org/article?id=7&x=1", "https://example.org/second"


def report(app: Flask, campaign_id: int) -> dict[str, object]:
    with get_db(app).reader() as session:
        return link_stats(session, get_campaign(session, campaign_id)).to_dict()


def figures(document: dict[str, object]) -> dict[str, dict[tuple[str, str], list[int]]]:
    """url -> (group, variant) -> [human clickers, human clicks, machine clickers, clicks],
    the `all` rows included."""
    found: dict[str, dict[tuple[str, str], list[int]]] = {}
    for link in document["links"]:  # type: ignore[attr-defined]
        for row in [link["total"], *link["groups"]]:
            found.setdefault(link["url"], {})[(row["group"], row["variant"])] = [
                row["human_clickers"],
                row["human_clicks"],
                row["machine_clickers"],
                row["machine_clicks"],
            ]
    return found


def recount_from_hits(app: Flask, campaign_id: int) -> dict[str, dict[tuple[str, str], list[int]]]:
    """The same figures counted straight from the click hits and their deliveries."""
    found: dict[str, dict[tuple[str, str], list[int]]] = {}
    with get_db(app).reader() as session:
        labels = variant_labels(session, campaign_id)
        rows = session.execute(
            sa.select(
                TrackingHit.url,
                Delivery.group_name,
                Delivery.variant_id,
                TrackingHit.machine,
                sa.func.count(sa.distinct(TrackingHit.delivery_id)),
                sa.func.count(),
            )
            .join(Delivery, Delivery.id == TrackingHit.delivery_id)
            .where(TrackingHit.campaign_id == campaign_id, TrackingHit.kind == HitKind.CLICK)
            .group_by(
                TrackingHit.url, Delivery.group_name, Delivery.variant_id, TrackingHit.machine
            )
        ).all()
    for url, group, variant, machine, clickers, clicks in rows:
        for key in ((group, labels[variant]), ("all", "")):
            entry = found.setdefault(url, {}).setdefault(key, [0, 0, 0, 0])
            entry[2 * machine] += clickers
            entry[2 * machine + 1] += clicks
    return found


def test_per_link_counts_per_group_and_variant_equal_a_recount_from_the_hits(
    app: Flask,
) -> None:
    """Given clicks in two groups and variants over two batches — people, a link scanner,
    and someone who never allowed click tracking — the per-link report is the recount
    from the hits: machine clicks apart, the untracked click discarded, most clicked first."""
    campaign_id = clicked_campaign(app)

    document = report(app, campaign_id)

    assert figures(document) == recount_from_hits(app, campaign_id) == EXPECTED
    assert [link["url"] for link in document["links"]] == [A, B]  # type: ignore[attr-defined]
    first = document["links"][0]  # type: ignore[index]
    assert [g["group"] for g in first["groups"]] == ["Thinkers", "Managers"]  # by clicks
    with get_db(app).reader() as session:
        ids = delivery_ids(app, campaign_id)
        assert not session.scalar(
            sa.select(sa.func.count()).where(LinkClick.delivery_id == ids["t3@example.org"])
        )
        first_human = session.scalar(
            sa.select(LinkClick.first_human_at).where(
                LinkClick.delivery_id == ids["t2@example.org"], LinkClick.url == A
            )
        )
    assert first_human == SENT_AT + timedelta(hours=4)  # the earliest, not the first recorded


def test_the_endpoints_record_each_link_and_discard_what_is_not_allowed(
    app: Flask, sent: dict[str, EmailMessage]
) -> None:
    """Through the real click redirect: people's clicks per link, a scanner's apart, and
    the click of a recipient who withdrew click tracking discarded."""
    with get_db(app).session() as session:
        contact = session.scalar(sa.select(Contact).where(Contact.email == "both@example.org"))
        assert contact is not None
        record_event(
            session, contact.id, Purpose.CLICK_TRACKING, ConsentAction.WITHDRAWN, Evidence("t")
        )
    client = app.test_client()
    article, second = click_paths(sent["clicks@example.org"])
    client.get(article, headers={"User-Agent": BROWSER})
    client.get(second, headers={"User-Agent": BROWSER})
    flush(app)
    client.get(article, headers={"User-Agent": SCANNER})
    client.get(click_paths(sent["both@example.org"])[0], headers={"User-Agent": BROWSER})
    flush(app)
    with get_db(app).reader() as session:
        campaign_id = int(session.scalar(sa.select(Delivery.campaign_id).limit(1)) or 0)

    document = report(app, campaign_id)

    assert figures(document) == recount_from_hits(app, campaign_id)
    assert figures(document) == {
        ARTICLE: {("all", ""): [1, 1, 1, 1], ("Thinkers", "Thinkers"): [1, 1, 1, 1]},
        SECOND: {("all", ""): [1, 1, 0, 0], ("Thinkers", "Thinkers"): [1, 1, 0, 0]},
    }


def test_the_figures_outlive_the_hits_and_a_recount(app: Flask) -> None:
    """Retention deletes the hits and anonymizes the deliveries; the tallies' recount runs
    again: the per-link figures stay (link_clicks is their ledger)."""
    campaign_id = clicked_campaign(app)
    before = report(app, campaign_id)
    with get_db(app).session() as session:
        session.execute(sa.delete(TrackingHit))
        session.execute(sa.update(Delivery).values(contact_id=None, message_id=None))
        recount(session, campaign_id)

    assert report(app, campaign_id) == before
    assert figures(before) == EXPECTED


def test_an_erasure_keeps_the_counts_without_the_persons_own_addresses(app: Flask) -> None:
    """An erased recipient's clicks stay in the figures; a link only they clicked (it may
    be personalised) keeps only its origin, so no row carries their address."""
    campaign_id = clicked_campaign(app)
    ids = delivery_ids(app, campaign_id)
    personal = "https://example.org/welcome?who=m1@example.org"
    with get_db(app).session() as session:
        at = SENT_AT + timedelta(hours=6)
        record_hits(
            session,
            [
                Hit(HitKind.CLICK, ids["m1@example.org"], at, BROWSER, None, url=personal),
                Hit(HitKind.CLICK, ids["m1@example.org"], at, BROWSER, None, url=f"{personal}#2"),
            ],
        )
    with get_db(app).session() as session:
        erase(session, "m1@example.org", actor="test")

    after = figures(report(app, campaign_id))

    assert after[A] == EXPECTED[A] and after[B] == EXPECTED[B]  # shared links stay
    assert after["https://example.org/"] == {
        ("all", ""): [1, 2, 0, 0],
        ("Managers", "fallback"): [1, 2, 0, 0],
    }
    with get_db(app).reader() as session:
        urls = session.scalars(sa.select(LinkClick.url)).all()
    assert not [u for u in urls if "m1@" in u]


def test_every_surface_shows_the_same_per_link_report(
    app: Flask, auth: FlaskClient, api_headers: dict[str, str]
) -> None:
    """`outreach stats --links` as JSON, CSV and a table, the API's JSON and CSV, and the
    admin page's Links table and CSV, all one report."""
    campaign_id = clicked_campaign(app)
    document = report(app, campaign_id)
    runner = app.test_cli_runner()

    result = runner.invoke(args=["stats", str(campaign_id), "--links", "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.output) == document
    api = auth.get(f"/api/v1/statistics/{campaign_id}/links", headers=api_headers)
    assert api.status_code == 200 and api.get_json() == document

    cli_csv = runner.invoke(args=["stats", str(campaign_id), "--links", "--csv"]).output
    rows = list(csv.reader(io.StringIO(cli_csv)))
    assert rows[0] == LINK_COLUMNS
    assert rows[1:] == [
        [A, "Thinkers", "Thinkers", "2", "4", "1", "1"],
        [A, "Managers", "fallback", "1", "1", "0", "0"],
        [A, "all", "", "3", "5", "1", "1"],
        [B, "Thinkers", "Thinkers", "1", "1", "0", "0"],
        [B, "Managers", "fallback", "0", "0", "1", "1"],
        [B, "all", "", "1", "1", "1", "1"],
    ]
    api_csv = auth.get(f"/api/v1/statistics/{campaign_id}/links.csv", headers=api_headers)
    admin_csv = auth.get(f"/admin/statistics/{campaign_id}/links.csv")
    for response in (api_csv, admin_csv):
        assert response.status_code == 200 and response.mimetype == "text/csv"
        assert response.headers["Content-Disposition"] == (
            f'attachment; filename="campaign-{campaign_id}-links.csv"'
        )
        assert list(csv.reader(io.StringIO(response.get_data(as_text=True)))) == rows

    table = runner.invoke(args=["stats", str(campaign_id), "--links"]).output.splitlines()
    assert table.index(A) < table.index(B)
    assert table[table.index(A) + 1].split() == ["Thinkers", "Thinkers", "2", "4", "1", "1"]

    page = auth.get(f"/admin/statistics/{campaign_id}").get_data(as_text=True)
    assert rows_of(page, "link-stats") == [
        f"{A} All groups 3 5 1 1",
        "Thinkers Thinkers 2 4 1 1",
        "Managers fallback 1 1 0 0",
        f"{B} All groups 1 1 1 1",
        "Thinkers Thinkers 1 1 0 0",
        "Managers fallback 0 0 1 1",
    ]
    assert f'href="/admin/statistics/{campaign_id}/links.csv"' in page
    assert f"<code>{A}</code>" in page  # shown, never a link to follow from the admin


def test_a_campaign_without_clicks_says_so(
    app: Flask, auth: FlaskClient, api_headers: dict[str, str]
) -> None:
    campaign_id = build_campaign(app, PEOPLE[:1], [])

    page = auth.get(f"/admin/statistics/{campaign_id}").get_data(as_text=True)

    assert 'id="no-link-clicks"' in page and 'id="link-stats"' not in page
    assert report(app, campaign_id)["links"] == []
    output = app.test_cli_runner().invoke(args=["stats", str(campaign_id), "--links"]).output
    assert "no click recorded yet" in output
    unknown = campaign_id + 1
    for path in (f"/api/v1/statistics/{unknown}/links", f"/api/v1/statistics/{unknown}/links.csv"):
        assert auth.get(path, headers=api_headers).status_code == 404, path
    assert auth.get(f"/admin/statistics/{unknown}/links.csv").status_code == 404
