"""An SMTP server that refuses, hangs up in DATA, or stalls its answer mid-campaign: every
recipient still gets the campaign, and only a stalled answer may cause a duplicate."""

from __future__ import annotations

import time
from collections.abc import Callable

import pytest

from tests.faults.conftest import SMTP_TIMEOUT, Echo, Fleet

pytestmark = pytest.mark.faults
PEOPLE = 600


def test_smtp_421_every_tenth(fleet: Callable[..., Fleet], echo: Echo) -> None:
    sending = fleet(PEOPLE)
    sending.sink.refuse_every = 10
    sending.send()
    done = sending.wait_until_sent(120)
    last_fault = max((t for _kind, t in sending.sink.faults), default=None)
    outcome = sending.outcome("smtp-421-every-10th", last_fault, refused=len(sending.sink.faults))
    echo(outcome.line())
    assert done and outcome.lost == 0 and outcome.duplicates == 0, outcome.line()
    assert sending.sink.faults, "the sink refused nothing: the fault was never injected"


def test_smtp_drop_mid_data_every_fiftieth(fleet: Callable[..., Fleet], echo: Echo) -> None:
    sending = fleet(PEOPLE)
    sending.sink.drop_every = 50
    sending.send()
    done = sending.wait_until_sent(120)
    last_fault = max((t for _kind, t in sending.sink.faults), default=None)
    outcome = sending.outcome("smtp-drop-every-50th", last_fault, dropped=len(sending.sink.faults))
    echo(outcome.line())
    assert done and outcome.lost == 0 and outcome.duplicates == 0, outcome.line()
    assert sending.sink.faults, "the sink dropped nothing: the fault was never injected"


def test_smtp_stall(fleet: Callable[..., Fleet], echo: Echo) -> None:
    """The answer to one DATA comes 60 s late, long after the client's 10 s timeout; the
    message was kept all the same, so its re-send is the one duplicate allowed."""
    stall = 60.0
    assert stall > SMTP_TIMEOUT
    sending = fleet(PEOPLE)
    sending.sink.stall_after, sending.sink.stall_seconds = PEOPLE // 4, stall
    sending.send()
    done = sending.wait_until_sent(stall + 60)
    # The stalled message is kept only when its stall ends: count after that.
    deadline = sending.sent_at + stall + 90
    while sending.sink.stalled and sending.sink.stall_over is None:
        assert time.monotonic() < deadline, "the stall never ended"
        time.sleep(0.5)
    outcome = sending.outcome("smtp-stall-60s", sending.sink.stall_over)
    echo(outcome.line())
    assert sending.sink.stalled, "the sink never stalled: the fault was never injected"
    assert done and outcome.lost == 0 and outcome.duplicates <= 1, outcome.line()
