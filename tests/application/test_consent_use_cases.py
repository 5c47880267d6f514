"""The consent use cases, called as every surface calls them: a session and plain values."""

from __future__ import annotations

from datetime import timedelta

import pytest
import sqlalchemy as sa
from flask import Flask
from sqlalchemy.orm import Session

from outreach.application import consent as use_cases
from outreach.consent import links
from outreach.consent.models import ConsentEvent, Purpose
from outreach.consent.notice import current_notice
from outreach.consent.service import RESEND_AFTER, Evidence, SignupOutcome
from outreach.contacts.models import Contact, ContactStatus
from outreach.contacts.service import create_contact
from outreach.db import get_db, utcnow
from outreach.errors import NotFound, ValidationError
from outreach.groups.service import add_members, create_group
from outreach.outbox.models import OutboxMessage
from outreach.privacy.requests import RESEND_AFTER as REQUEST_RESEND_AFTER
from outreach.tokens import TokenError
from tests.support.consent import seed_sectors

FORM = Evidence("form:https://news.example.org/subscribe", "198.51.100.7", "TestBrowser/1.0")
ANA = "ana@example.org"


def sign_up(session: Session, email: str = ANA, **overrides: object) -> use_cases.Subscription:
    values: dict[str, object] = {
        "email": email,
        "first_name": "Ana",
        "sector": "",
        "purposes": [Purpose.NEWSLETTER, Purpose.OPEN_TRACKING],
        "topics": set(),
        "evidence": FORM,
    }
    values.update(overrides)
    return use_cases.subscribe(session, **values)  # type: ignore[arg-type]


def ledger(session: Session, contact_id: int) -> list[tuple[str, str, str]]:
    rows = session.execute(
        sa.select(ConsentEvent.purpose, ConsentEvent.action, ConsentEvent.source)
        .where(ConsentEvent.contact_id == contact_id)
        .order_by(ConsentEvent.id)
    )
    return [(str(p), str(a), s) for p, a, s in rows]


def confirm_token(app: Flask, contact_id: int, *, invitation: bool = False) -> str:
    url = links.confirm_url(app.extensions["outreach.settings"], contact_id, invitation=invitation)
    return url.rsplit("/", 1)[1]


def subscription_token(app: Flask, contact_id: int, campaign_id: int | None = None) -> str:
    return links.subscription_token(app.extensions["outreach.settings"], contact_id, campaign_id)


def subscriber(app: Flask, session: Session) -> int:
    """A confirmed subscriber who gave open tracking on the form."""
    contact_id = sign_up(session).contact_id
    use_cases.confirm(session, confirm_token(app, contact_id), Evidence("confirmation link"))
    return contact_id


def test_subscribe_records_given_consents_and_owes_the_confirmation(session: Session) -> None:
    # Given the notice in force, when a visitor signs up ticking newsletter and open tracking
    notice = current_notice(session)
    signup = sign_up(session, evidence=FORM)
    # Then each purpose is given, citing the notice shown, and a confirmation email is queued
    assert signup.outcome is SignupOutcome.CONFIRMATION_SENT
    assert ledger(session, signup.contact_id) == [
        ("newsletter", "given", FORM.source),
        ("open_tracking", "given", FORM.source),
    ]
    cited = session.scalars(sa.select(ConsentEvent.notice_version_id)).all()
    assert set(cited) == {notice.id}
    kinds = session.scalars(
        sa.select(OutboxMessage.kind).where(OutboxMessage.contact_id == signup.contact_id)
    )
    assert list(kinds) == ["consent:confirm"]


def test_subscribe_never_commits(app: Flask, session: Session) -> None:
    sign_up(session)
    session.rollback()
    with get_db(app).reader() as other:
        assert other.scalar(sa.select(sa.func.count()).select_from(Contact)) == 0


def test_a_second_sign_up_within_resend_after_is_throttled(session: Session) -> None:
    first = sign_up(session)
    again = sign_up(session)
    assert again.outcome is SignupOutcome.THROTTLED and again.contact_id == first.contact_id
    # One definition of the window, for sign-ups and data-subject requests alike.
    assert RESEND_AFTER == REQUEST_RESEND_AFTER == timedelta(minutes=10)


def test_subscribe_cites_the_notice_in_force_when_the_form_names_an_unknown_one(
    session: Session,
) -> None:
    notice = current_notice(session)
    signup = sign_up(session, evidence=Evidence("form", notice_version_id=notice.id + 99))
    cited = session.scalars(
        sa.select(ConsentEvent.notice_version_id).where(
            ConsentEvent.contact_id == signup.contact_id
        )
    )
    assert set(cited) == {notice.id}


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"first_name": "x" * 1001}, "first_name"),
        ({"sector": "Secret sector"}, "sector"),
        ({"purposes": [Purpose.OPEN_TRACKING]}, "consent_newsletter"),
    ],
)
def test_subscribe_refuses_bad_input(
    app: Flask, session: Session, overrides: dict[str, object], field: str
) -> None:
    seed_sectors(app)
    with pytest.raises(ValidationError) as refused:
        sign_up(session, **overrides)
    assert refused.value.field == field


def test_subscribe_joins_public_topics_only_when_not_yet_subscribed(
    app: Flask, session: Session
) -> None:
    topic = create_group(session, "Essays", public=True)
    private = create_group(session, "VIP")
    signup = sign_up(session, topics={topic.id, private.id})
    shown = use_cases.preferences(session, subscription_token(app, signup.contact_id))
    assert shown.topics == (use_cases.Topic(topic.id, "Essays", ""),)
    assert topic.id in shown.member_of and private.id not in shown.member_of
    # A stranger signing up a subscribed address again changes none of its topics
    other = create_group(session, "Poems", public=True)
    use_cases.confirm(session, confirm_token(app, signup.contact_id), Evidence("link"))
    sign_up(session, topics={other.id})
    shown = use_cases.preferences(session, subscription_token(app, signup.contact_id))
    assert other.id not in shown.member_of


def test_confirm_subscribes_and_a_second_use_says_already_confirmed(
    app: Flask, session: Session
) -> None:
    contact_id = sign_up(session).contact_id
    token = confirm_token(app, contact_id)
    # Following the link changes nothing
    assert use_cases.check_confirmation_link(session, token).already_confirmed is False
    confirmed = use_cases.confirm(session, token, Evidence("confirmation link", "203.0.113.9"))
    assert confirmed == use_cases.Confirmation(contact_id, "Ana", already_confirmed=False)
    assert session.get(Contact, contact_id).status is ContactStatus.SUBSCRIBED  # type: ignore[union-attr]
    assert [a for p, a, _s in ledger(session, contact_id)][-2:] == ["confirmed", "confirmed"]
    # The token is spent: both the page and the button now say what is true
    assert use_cases.check_confirmation_link(session, token).already_confirmed is True
    assert use_cases.confirm(session, token, Evidence("again")).already_confirmed is True


def test_a_spent_link_of_a_contact_who_left_is_refused(app: Flask, session: Session) -> None:
    contact_id = sign_up(session).contact_id
    token = confirm_token(app, contact_id)
    use_cases.confirm(session, token, Evidence("confirmation link"))
    use_cases.unsubscribe(session, subscription_token(app, contact_id), Evidence("test"))
    with pytest.raises(TokenError, match="already been used"):
        use_cases.check_confirmation_link(session, token)
    with pytest.raises(TokenError, match="already been used"):
        use_cases.confirm(session, token, Evidence("again"))


def test_confirming_an_invitation_gives_then_confirms_the_newsletter(
    app: Flask, session: Session
) -> None:
    contact = create_contact(session, {"email": "imp@example.org"}, source="import")
    use_cases.confirm(
        session, confirm_token(app, contact.id, invitation=True), Evidence("confirmation link")
    )
    assert ledger(session, contact.id) == [
        ("newsletter", "given", "invitation accepted:confirmation link"),
        ("newsletter", "confirmed", "confirmation link"),
    ]


def test_a_forged_confirmation_link_is_refused(session: Session) -> None:
    with pytest.raises(TokenError):
        use_cases.confirm(session, "forged.token", Evidence("x"))


def test_the_tracking_boxes_show_only_confirmed_consents(app: Flask, session: Session) -> None:
    # Given a pending sign-up that gave open tracking, its boxes stay unticked
    pending = sign_up(session, "bo@example.org").contact_id
    shown = use_cases.preferences(session, subscription_token(app, pending))
    assert dict(shown.tracking) == {Purpose.OPEN_TRACKING: False, Purpose.CLICK_TRACKING: False}
    # Once confirmed, open tracking is ticked
    contact_id = subscriber(app, session)
    shown = use_cases.preferences(session, subscription_token(app, contact_id))
    assert shown.tracking[Purpose.OPEN_TRACKING] and not shown.tracking[Purpose.CLICK_TRACKING]
    assert shown.subscribed and shown.email == ANA


def test_change_preferences_gives_and_withdraws_tracking(app: Flask, session: Session) -> None:
    contact_id = subscriber(app, session)
    token = subscription_token(app, contact_id)
    shown = use_cases.change_preferences(
        session,
        token,
        topics=set(),
        tracking={Purpose.OPEN_TRACKING: False, Purpose.CLICK_TRACKING: True},
        evidence=Evidence("preferences page"),
    )
    assert dict(shown.tracking) == {Purpose.OPEN_TRACKING: False, Purpose.CLICK_TRACKING: True}
    assert ledger(session, contact_id)[-2:] == [
        ("open_tracking", "withdrawn", "preferences page"),
        ("click_tracking", "confirmed", "preferences page"),
    ]


def test_unsubscribe_withdraws_everything_and_names_the_campaign(
    app: Flask, session: Session
) -> None:
    contact_id = subscriber(app, session)
    token = subscription_token(app, contact_id)
    assert use_cases.check_unsubscribe_link(session, token).already is False
    assert use_cases.unsubscribe(session, token, Evidence("one-click (RFC 8058)")) == contact_id
    assert session.get(Contact, contact_id).status is ContactStatus.UNSUBSCRIBED  # type: ignore[union-attr]
    assert {s for _p, a, s in ledger(session, contact_id) if a == "withdrawn"} == {
        "one-click (RFC 8058):campaign None"
    }
    assert use_cases.check_unsubscribe_link(session, token) == use_cases.UnsubscribeLink(
        contact_id, already=True
    )


def test_unsubscribe_for_a_contact_that_is_gone_does_nothing(app: Flask, session: Session) -> None:
    assert use_cases.unsubscribe(session, subscription_token(app, 4242), Evidence("x")) is None
    with pytest.raises(TokenError):
        use_cases.preferences(session, subscription_token(app, 4242))


def test_unsubscribe_everything_from_the_preferences_page(app: Flask, session: Session) -> None:
    contact_id = subscriber(app, session)
    use_cases.unsubscribe_everything(
        session, subscription_token(app, contact_id), Evidence("preferences page")
    )
    assert not use_cases.preferences(session, subscription_token(app, contact_id)).subscribed


def test_invite_queues_once_per_link_lifetime(session: Session) -> None:
    group = create_group(session, "Imported")
    create_contact(session, {"email": "imp@example.org"}, source="import")
    add_members(session, "Imported", ["imp@example.org"])
    first = use_cases.invite(session, "imported")
    assert first.group == group.name and len(first.outbox_ids) == 1
    assert use_cases.invite(session, "Imported").outbox_ids == ()
    with pytest.raises(NotFound):
        use_cases.invite(session, "No such group")


def test_purge_unconfirmed_deletes_stale_sign_ups(session: Session) -> None:
    contact = session.get(Contact, sign_up(session).contact_id)
    assert contact is not None
    contact.confirmation_sent_at = utcnow() - timedelta(days=15)
    session.flush()
    assert use_cases.purge_unconfirmed(session, days=20) == 0
    assert use_cases.purge_unconfirmed(session) == 1  # the configured 14 days


def test_subscriber_and_download_links_name_a_contact(app: Flask, session: Session) -> None:
    contact_id = subscriber(app, session)
    assert use_cases.subscriber(session, subscription_token(app, contact_id)) == (
        use_cases.Subscriber(contact_id, ANA)
    )
    download = links.download_url(app.extensions["outreach.settings"], contact_id)
    assert use_cases.check_download_link(session, download.rsplit("/", 1)[1]) == contact_id
