"""A sending app: embedded workers, a real SMTP sink, quick retries, and a campaign."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from flask import Flask

from outreach.campaigns.service import create_campaign, set_variant
from outreach.db import get_db
from tests.support.campaigns import MJML

SECTORS = ("Thinkers", "Managers", "Journalists")


@pytest.fixture
def app(sending_app: Flask) -> Flask:
    return sending_app


@pytest.fixture
def people(make_subscriber: Callable[..., int]) -> dict[str, int]:
    """Nine subscribers, three per sector."""
    return {
        f"{s.lower()}{i}@example.org": make_subscriber(
            f"{s.lower()}{i}@example.org", first_name=f"{s[:-1]}{i}", sector=s
        )
        for s in SECTORS
        for i in range(3)
    }


@pytest.fixture
def campaign(app: Flask, people: dict[str, int]) -> int:
    """A campaign with a variant per sector."""
    with get_db(app).session() as session:
        campaign = create_campaign(session, "June", "Ana <ana@example.org>", groups=list(SECTORS))
        for sector in SECTORS:
            set_variant(
                session,
                campaign,
                sector,
                subject=f"{sector}: {{{{ contact.first_name }}}}",
                mjml=MJML,
            )
        return campaign.id
