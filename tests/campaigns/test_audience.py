"""The audience rule over every combination of three groups, with and without fallback."""

from __future__ import annotations

import itertools
from collections.abc import Callable

import pytest
import sqlalchemy as sa
from flask import Flask

from outreach.campaigns.audience import audience_report, recipients
from outreach.campaigns.models import Variant
from outreach.campaigns.service import create_campaign, get_campaign, set_variant
from outreach.consent.models import Suppression
from outreach.contacts.models import Contact
from outreach.db import get_db
from outreach.groups.service import create_group
from tests.support.campaigns import MJML

GROUPS = ("Alpha", "Beta", "Gamma")
COMBOS = [c for n in (1, 2, 3) for c in itertools.combinations(GROUPS, n)]


def _slug(combo: tuple[str, ...]) -> str:
    return "-".join(g.lower() for g in combo)


@pytest.fixture
def audience(app: Flask, make_subscriber: Callable[..., int]) -> dict[str, int]:
    """One subscriber per combination of groups, plus excluded ones in every group."""
    with get_db(app).session() as session:
        for name in GROUPS:
            create_group(session, name)
    ids = {_slug(combo): make_subscriber(f"{_slug(combo)}@example.org", *combo) for combo in COMBOS}
    for kind in ("unsubscribed", "restricted", "suppressed", "withdrawn"):
        ids[kind] = make_subscriber(f"{kind}@example.org", *GROUPS)
    with get_db(app).session() as session:
        session.execute(
            sa.update(Contact)
            .where(Contact.email_key == "unsubscribed@example.org")
            .values(status="unsubscribed")
        )
        session.execute(
            sa.update(Contact)
            .where(Contact.email_key == "restricted@example.org")
            .values(status="restricted")
        )
        digest = session.scalar(
            sa.select(Contact.email_hmac).where(Contact.email_key == "suppressed@example.org")
        )
        session.add(Suppression(email_hmac=digest, reason="bounced"))
        from outreach.consent.models import ConsentAction, Purpose
        from outreach.consent.service import Evidence, record_event

        record_event(
            session, ids["withdrawn"], Purpose.NEWSLETTER, ConsentAction.WITHDRAWN, Evidence("test")
        )
    return ids


def _campaign(app: Flask, fallback: bool) -> int:
    with get_db(app).session() as session:
        campaign = create_campaign(session, "June", "Ana <ana@example.org>", groups=list(GROUPS))
        set_variant(session, campaign, "Alpha", subject="A", mjml=MJML)
        set_variant(session, campaign, "Beta", subject="B", mjml=MJML)
        if fallback:
            set_variant(session, campaign, None, subject="F", mjml=MJML)
        return campaign.id


def _expected(combo: tuple[str, ...], fallback: bool) -> str | None:
    for group in ("Alpha", "Beta"):  # priority order; Gamma has no variant of its own
        if group in combo:
            return group
    return "fallback" if fallback else None


@pytest.mark.parametrize("fallback", [False, True])
def test_every_contact_gets_exactly_the_first_groups_variant(
    app: Flask, audience: dict[str, int], fallback: bool
) -> None:
    campaign_id = _campaign(app, fallback)
    with get_db(app).reader() as session:
        campaign = get_campaign(session, campaign_id)
        labels = {
            v.id: (v.subject if v.group_id else "F") for v in session.scalars(sa.select(Variant))
        }
        rows = session.execute(recipients(session, campaign)).all()
    got = {
        row.contact_id: (
            {"A": "Alpha", "B": "Beta", "F": "fallback"}[labels[row.variant_id]],
            row.group_name,
        )
        for row in rows
    }
    assert len(got) == len(rows)  # exactly one row per contact
    for combo in COMBOS:
        expected = _expected(combo, fallback)
        contact_id = audience[_slug(combo)]
        if expected is None:
            assert contact_id not in got, combo
            continue
        variant, group_name = got[contact_id]
        assert variant == expected, combo
        # The group snapshot is the variant's group, or the first group for the fallback.
        assert group_name == (combo[0] if expected == "fallback" else expected), combo
    for kind in ("unsubscribed", "restricted", "suppressed", "withdrawn"):
        assert audience[kind] not in got, kind


@pytest.mark.parametrize("fallback", [False, True])
def test_report_counts_recipients_and_exclusions(
    app: Flask, audience: dict[str, int], fallback: bool
) -> None:
    campaign_id = _campaign(app, fallback)
    with get_db(app).reader() as session:
        report = {r.label: r for r in audience_report(session, get_campaign(session, campaign_id))}
    # Alpha: every combo with Alpha (4). Beta: combos with Beta and not Alpha (2).
    assert report["Alpha"].recipients == 4
    assert report["Beta"].recipients == 2
    assert report["Alpha"].excluded == {
        "not subscribed": 1,
        "restricted": 1,
        "suppressed": 1,
        "no consent": 1,
    }
    # Beta members who get Alpha's variant instead: alpha-beta and alpha-beta-gamma.
    assert report["Beta"].excluded["in a higher-priority group"] == 2
    if fallback:
        assert report["fallback"].recipients == 1  # gamma alone
        assert report["Gamma"].recipients == 0 and not report["Gamma"].has_variant
    else:
        assert "fallback" not in report
        assert report["Gamma"].excluded == {"no variant": 1}


def test_recipients_follow_priority_order(app: Flask, audience: dict[str, int]) -> None:
    from outreach.campaigns.service import set_target_groups

    campaign_id = _campaign(app, fallback=False)
    with get_db(app).session() as session:
        set_target_groups(session, get_campaign(session, campaign_id), ["Beta", "Alpha", "Gamma"])
    with get_db(app).reader() as session:
        campaign = get_campaign(session, campaign_id)
        rows = {r.contact_id: r.group_name for r in session.execute(recipients(session, campaign))}
    assert rows[audience["alpha-beta"]] == "Beta"
    assert rows[audience["alpha"]] == "Alpha"
