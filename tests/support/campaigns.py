"""A campaign letter, and confirmed subscribers in chosen groups."""

from __future__ import annotations

from datetime import timedelta

from flask import Flask

from outreach.consent.models import Purpose
from outreach.consent.service import Evidence, confirm, sign_up
from outreach.db import get_db
from outreach.groups.service import add_members, sector_group_ids
from tests.conftest import forget_arranged_mail

MJML = """<mjml><mj-body><mj-section><mj-column>
<mj-text><h1>Hello {{ contact.first_name }}</h1><p>For {{ group.name }}: {{ campaign.name }}.</p>
<a href="{{ unsubscribe_url }}">Unsubscribe</a></mj-text>
</mj-column></mj-section></mj-body></mjml>"""


def subscribe(
    app: Flask, email: str, *groups: str, first_name: str = "Ana", sector: str | None = None
) -> int:
    """A confirmed subscriber (its consent emails dropped), in `groups`; its id."""
    with get_db(app).session() as session:
        if sector:
            sector_group_ids(session, [sector])
        signup = sign_up(
            session,
            {"email": email, "first_name": first_name, "sector": sector},
            [Purpose.NEWSLETTER],
            Evidence("test"),
            resend_after=timedelta(0),
        )
        confirm(session, signup.contact, Evidence("test"))
        contact_id = signup.contact.id
        forget_arranged_mail(session, contact_id)
        for group in groups:
            add_members(session, group, [email])
    return contact_id


def one_variant_campaign(
    app: Flask, name: str, group: str, *, subject: str = "Hi", mjml: str = MJML
) -> int:
    """A draft campaign to one group, with that group's variant; its id."""
    from outreach.campaigns.service import create_campaign, set_variant

    with get_db(app).session() as session:
        campaign = create_campaign(session, name, "a@example.org", groups=[group])
        set_variant(session, campaign, group, subject=subject, mjml=mjml)
        return campaign.id
