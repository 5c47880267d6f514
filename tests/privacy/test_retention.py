"""Retention through the daily maintenance: people's traces go, the statistics stay."""

from __future__ import annotations

from datetime import timedelta
from email.message import EmailMessage

import sqlalchemy as sa
from flask import Flask

from outreach.campaigns.models import Campaign
from outreach.campaigns.service import get_campaign
from outreach.db import get_db, utcnow
from outreach.delivery.models import Delivery
from outreach.ops.service import daily_jobs_if_due
from outreach.privacy.models import AuditEntry
from outreach.reporting.stats import campaign_stats
from outreach.tracking.models import TrackingHit
from tests.support.tracking import click_paths, flush, pixel_path

BROWSER = {"User-Agent": "Mozilla/5.0 (Macintosh) Firefox/130"}


def report(app: Flask) -> dict[str, object]:
    with get_db(app).reader() as session:
        campaign_id = session.scalar(sa.select(Campaign.id))
        return campaign_stats(session, get_campaign(session, campaign_id)).to_dict()


def count(app: Flask, column: sa.ColumnElement[object]) -> int:
    with get_db(app).reader() as session:
        return session.scalar(sa.select(sa.func.count(column))) or 0


def daily_job(app: Flask) -> dict[str, int]:
    with get_db(app).session() as session:
        done = daily_jobs_if_due(session, app.extensions["outreach.settings"])
    assert done
    return done


def test_old_hits_deliveries_and_audit_entries_go_and_the_report_stays(
    app: Flask, sent: dict[str, EmailMessage]
) -> None:
    client = app.test_client()
    client.get(pixel_path(sent["both@example.org"]), headers=BROWSER)
    client.get(click_paths(sent["clicks@example.org"])[0], headers=BROWSER)
    flush(app)
    before = report(app)
    assert before["total"]["unique_human_opens"] == 1  # type: ignore[index]
    settings = app.extensions["outreach.settings"]
    long_ago = utcnow() - timedelta(days=settings.delivery_retention_days + 1)
    with get_db(app).session() as session:
        session.execute(sa.update(TrackingHit).values(occurred_at=long_ago))
        session.execute(sa.update(Campaign).values(finished_at=long_ago))
        older = utcnow() - timedelta(days=settings.audit_retention_days + 1)
        session.add(AuditEntry(actor="a", action="old", subject_type="t", occurred_at=older))
        session.add(AuditEntry(actor="a", action="recent", subject_type="t"))

    done = daily_job(app)

    assert done["hits_deleted"] == 2 and count(app, TrackingHit.id) == 0
    assert done["deliveries_anonymized"] == 4 and count(app, Delivery.contact_id) == 0
    assert count(app, Delivery.message_id) == 0 and count(app, Delivery.id) == 4
    assert done["audit_entries_deleted"] == 1
    with get_db(app).reader() as session:
        assert list(session.scalars(sa.select(AuditEntry.action))) == ["recent"]
    assert report(app) == before


def test_recent_traces_are_kept(app: Flask, sent: dict[str, EmailMessage]) -> None:
    app.test_client().get(pixel_path(sent["both@example.org"]), headers=BROWSER)
    flush(app)

    done = daily_job(app)

    assert done == {
        "purged_pending": 0,
        "expired_requests": 0,
        "hits_deleted": 0,
        "deliveries_anonymized": 0,
        "audit_entries_deleted": 0,
        "outbox_deleted": 0,
        "inbound_deleted": 0,
    }
    assert count(app, TrackingHit.id) == 1 and count(app, Delivery.contact_id) == 4
