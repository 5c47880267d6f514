"""Campaign use cases (outreach.application.campaigns): the rules every surface shares."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from outreach.application import campaigns as use
from outreach.campaigns.models import CampaignStatus
from outreach.errors import ValidationError

NOW = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)


def test_a_send_time_is_now_or_a_zoned_time_in_the_future() -> None:
    assert use.send_time(None, NOW) is None
    later = datetime(2026, 12, 1, 11, 0, tzinfo=timezone(timedelta(hours=1)))
    assert use.send_time(later, NOW) == datetime(2026, 12, 1, 10, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("at", "said"),
    [
        (NOW, "2026-12-01 09:00 UTC has passed: choose a time in the future, or send now"),
        (NOW - timedelta(days=1), "2026-11-30 09:00 UTC has passed"),
        (datetime(2030, 1, 1, 9, 0), "give the time with its zone"),
    ],
)
def test_a_time_passed_or_without_zone_is_refused_never_sent_at_once(
    at: datetime, said: str
) -> None:
    with pytest.raises(ValidationError) as refused:
        use.send_time(at, NOW)

    assert refused.value.message.startswith(said) and refused.value.field == "at"


def test_the_actions_each_state_allows() -> None:
    assert use.allowed_actions(CampaignStatus.DRAFT) == ("send", "schedule")
    assert "cancel" in use.allowed_actions(CampaignStatus.SCHEDULED)
    assert use.allowed_actions(CampaignStatus.SENDING) == ("pause", "retry", "cancel")
    assert use.allowed_actions(CampaignStatus.PAUSED) == ("resume", "retry", "cancel")
    assert use.allowed_actions(CampaignStatus.SENT) == ("retry",)
    assert use.allowed_actions(CampaignStatus.CANCELLED) == ()
    assert set(use.ACTIONS) == set(CampaignStatus)
