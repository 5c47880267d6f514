"""Open pixel and click redirect: only with consent, machine hits apart, honest statistics."""

from __future__ import annotations

import re
from collections.abc import Callable
from email.message import EmailMessage

import pytest
import sqlalchemy as sa
from flask import Flask

from outreach.campaigns.service import create_campaign, get_campaign
from outreach.consent.models import ConsentAction, Purpose
from outreach.consent.service import Evidence, record_event
from outreach.db import get_db, utcnow
from outreach.delivery.models import Delivery
from outreach.tracking.models import TrackingHit
from tests.support.campaigns import MJML
from tests.support.tracking import BASE, click_paths, flush, html, pixel_path


def test_pixel_and_links_only_with_their_own_consent(sent: dict[str, EmailMessage]) -> None:
    assert "/t/o/" not in html(sent["none@example.org"]) and not click_paths(
        sent["none@example.org"]
    )
    assert "/t/o/" in html(sent["opens@example.org"]) and not click_paths(sent["opens@example.org"])
    assert "/t/o/" not in html(sent["clicks@example.org"])
    assert len(click_paths(sent["clicks@example.org"])) == 2
    assert (
        "/t/o/" in html(sent["both@example.org"])
        and len(click_paths(sent["both@example.org"])) == 2
    )
    for message in sent.values():  # unsubscribe and preferences links stay direct
        assert re.search(rf'href="{BASE}/unsubscribe/', html(message))
    assert 'href="https://example.org/article?id=7&amp;x=1"' in html(sent["none@example.org"])


def test_pixel_is_an_uncached_image_and_counts_unique_human_opens(
    app: Flask, sent: dict[str, EmailMessage]
) -> None:
    client = app.test_client()
    path = pixel_path(sent["both@example.org"])
    for _ in range(2):
        response = client.get(path, headers={"User-Agent": "Mozilla/5.0 (Macintosh) Firefox/130"})
        assert response.status_code == 200 and response.mimetype == "image/gif"
        assert "no-store" in response.headers["Cache-Control"]
    broken = client.get(path[:-4] + "abcd")
    assert broken.status_code == 200 and broken.mimetype == "image/gif"
    flush(app)
    with get_db(app).reader() as session:
        row = session.execute(
            sa.select(Delivery.human_opens, Delivery.machine_opens, Delivery.first_open_at).where(
                Delivery.human_opens > 0
            )
        ).one()
    assert (row[0], row[1]) == (2, 0) and row[2] is not None


@pytest.mark.parametrize(
    ("headers", "remote", "method", "reason"),
    [
        (
            {"User-Agent": "Mozilla/5.0 (via ggpht.com GoogleImageProxy)"},
            "66.249.1.1",
            "GET",
            "user agent: gmail-proxy",
        ),
        ({"User-Agent": "Mozilla/5.0"}, "17.58.1.2", "GET", "user agent: apple-privacy-proxy"),
        ({"User-Agent": "Mozilla/5.0 Firefox/130"}, "198.51.100.1", "HEAD", "HEAD request"),
        ({"User-Agent": ""}, "198.51.100.1", "GET", "user agent: none"),
    ],
)
def test_machine_opens_are_counted_apart(
    app: Flask, sent: dict[str, EmailMessage], headers: dict, remote: str, method: str, reason: str
) -> None:
    app.test_client().open(
        pixel_path(sent["opens@example.org"]),
        method=method,
        headers=headers,
        environ_base={"REMOTE_ADDR": remote},
    )
    flush(app)
    with get_db(app).reader() as session:
        hit = session.scalars(sa.select(TrackingHit)).one()
        counts = session.execute(
            sa.select(Delivery.human_opens, Delivery.machine_opens).where(
                Delivery.id == hit.delivery_id
            )
        ).one()
    assert hit.machine and hit.reason == reason
    assert tuple(counts) == (0, 1)


def test_open_seconds_after_delivery_is_a_machine(
    app: Flask, sent: dict[str, EmailMessage]
) -> None:
    with get_db(app).session() as session:
        session.execute(sa.update(Delivery).values(sent_at=utcnow()))
    app.test_client().get(
        pixel_path(sent["opens@example.org"]), headers={"User-Agent": "Mozilla/5.0 Firefox/130"}
    )
    flush(app)
    with get_db(app).reader() as session:
        assert session.scalar(sa.select(TrackingHit.reason)) == "seconds after delivery"


def test_click_redirects_to_the_signed_target_only(
    app: Flask, sent: dict[str, EmailMessage]
) -> None:
    client = app.test_client()
    first, _second = click_paths(sent["clicks@example.org"])
    response = client.get(first, headers={"User-Agent": "Mozilla/5.0 Firefox/130"})
    assert response.status_code == 302
    assert response.headers["Location"] == "https://example.org/article?id=7&x=1"
    for tampered in (first[:-3] + "xyz", "/t/c/aHR0cHM6Ly9ldmlsLmV4YW1wbGU", "/t/c/garbage"):
        broken = client.get(tampered)
        assert broken.status_code == 404 and "Location" not in broken.headers
    flush(app)
    with get_db(app).reader() as session:
        assert session.scalar(sa.select(sa.func.sum(Delivery.clicks))) == 1


def test_many_links_at_once_is_a_scanner(app: Flask, sent: dict[str, EmailMessage]) -> None:
    client = app.test_client()
    for path in click_paths(sent["both@example.org"]) * 2:
        client.get(path, headers={"User-Agent": "Mozilla/5.0 Firefox/130"})
    flush(app)
    with get_db(app).reader() as session:
        reasons = session.scalars(sa.select(TrackingHit.reason)).all()
    assert reasons.count("many links at once") >= 2


def test_hits_after_withdrawal_are_discarded(app: Flask, sent: dict[str, EmailMessage]) -> None:
    with get_db(app).session() as session:
        from outreach.contacts.service import get_contact

        contact = get_contact(session, "opens@example.org")
        record_event(
            session, contact.id, Purpose.OPEN_TRACKING, ConsentAction.WITHDRAWN, Evidence("test")
        )
    app.test_client().get(
        pixel_path(sent["opens@example.org"]), headers={"User-Agent": "Mozilla/5.0 Firefox/130"}
    )
    flush(app)
    with get_db(app).reader() as session:
        assert session.scalar(sa.select(sa.func.count()).select_from(TrackingHit)) == 0
        assert session.scalar(sa.select(sa.func.sum(Delivery.human_opens))) == 0


def test_statistics_match_hand_computed_figures(
    app: Flask, make_subscriber: Callable[..., int]
) -> None:
    """Three groups, crafted ledger rows, figures computed by hand."""
    from outreach.campaigns.service import set_variant
    from outreach.reporting.stats import campaign_stats
    from outreach.reporting.tallies import recount

    ids = {}
    for sector, count in (("Alpha", 4), ("Beta", 3), ("Gamma", 2)):
        for i in range(count):
            ids[f"{sector}{i}"] = make_subscriber(f"{sector.lower()}{i}@example.org", sector=sector)
    with get_db(app).session() as session:
        campaign = create_campaign(
            session, "Crafted", "a@example.org", groups=["Alpha", "Beta", "Gamma"]
        )
        for sector in ("Alpha", "Beta"):
            set_variant(session, campaign, sector, subject="S", mjml=MJML)
        set_variant(session, campaign, None, subject="F", mjml=MJML)
        from outreach.delivery.service import freeze_audience

        freeze_audience(session, campaign)
        campaign_id = campaign.id

    def set_row(key: str, **values: object) -> None:
        with get_db(app).session() as session:
            session.execute(
                sa.update(Delivery).where(Delivery.contact_id == ids[key]).values(**values)
            )

    base = {"status": "sent", "sent_at": utcnow()}
    set_row("Alpha0", **base, tracking_opens=True, tracking_clicks=True, human_opens=3, clicks=1)
    set_row("Alpha1", **base, tracking_opens=True, machine_opens=2)
    set_row("Alpha2", **base, tracking_opens=False, unsubscribed_at=utcnow())
    set_row("Alpha3", status="failed")
    set_row(
        "Beta0", **base, tracking_opens=True, tracking_clicks=True, human_opens=1, machine_opens=1
    )
    set_row("Beta1", **base, tracking_opens=True)
    set_row("Beta2", status="bounced")
    set_row("Gamma0", **base, tracking_opens=True, human_opens=1)
    set_row("Gamma1", status="skipped", skip_reason="not subscribed")
    with get_db(app).session() as session:  # crafted rows bypass the engine: recount as it would
        recount(session, campaign_id)
    with get_db(app).reader() as session:
        stats = campaign_stats(session, get_campaign(session, campaign_id))
    rows = {r.group: r for r in stats.rows}
    alpha, beta, gamma = rows["Alpha"], rows["Beta"], rows["Gamma"]
    assert (alpha.variant, beta.variant, gamma.variant) == ("Alpha", "Beta", "fallback")
    assert (alpha.recipients, alpha.sent, alpha.failed) == (4, 3, 1)
    assert (alpha.unique_human_opens, alpha.machine_opens, alpha.open_tracked) == (1, 1, 2)
    assert alpha.open_rate == 0.5 and alpha.unsubscribes == 1
    assert (alpha.unique_clicks, alpha.click_tracked, alpha.click_rate) == (1, 1, 1.0)
    assert (beta.recipients, beta.sent, beta.bounced) == (3, 2, 1)
    assert (beta.unique_human_opens, beta.machine_opens, beta.open_tracked) == (1, 1, 2)
    assert beta.open_rate == 0.5 and beta.click_rate == 0.0
    assert (gamma.recipients, gamma.sent, gamma.skipped, gamma.open_rate) == (2, 1, 1, 1.0)
    assert gamma.click_rate is None  # nobody allowed click tracking: no rate, not 0%
    total = stats.total
    assert (total.recipients, total.sent, total.unique_human_opens, total.open_tracked) == (
        9,
        6,
        3,
        5,
    )
    assert total.open_rate == 0.6
