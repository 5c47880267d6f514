"""An SMTP server that refuses, hangs up in DATA, or stalls its answer mid-campaign: every
recipient still gets the campaign, and only a stalled answer may cause a duplicate."""

from __future__ import annotations

import time
from collections.abc import Callable

import pytest

from tests.faults.conftest import SMTP_TIMEOUT, Echo, Fleet

pytestmark = pytest.mark.faults
PEOPLE = 600


@pytest.mark.parametrize(
    ("fault", "every", "name"),
    [("refuse_every", 10, "smtp-421-every-10th"), ("drop_every", 50, "smtp-drop-every-50th")],
)
def test_smtp_refusals_and_drops_in_data_are_retried_once(
    fleet: Callable[..., Fleet], echo: Echo, fault: str, every: int, name: str
) -> None:
    """A 421 at the end of DATA, or the connection cut before the answer: the message was
    not kept, so its retry is no duplicate."""
    sending = fleet(PEOPLE)
    setattr(sending.sink, fault, every)
    sending.send()
    done = sending.wait_until_sent(120)
    last_fault = max((t for _kind, t in sending.sink.faults), default=None)
    outcome = sending.outcome(name, last_fault, injected=len(sending.sink.faults))
    echo(outcome.line())
    assert done and outcome.lost == 0 and outcome.duplicates == 0, outcome.line()
    assert sending.sink.faults, f"{name}: the fault was never injected"


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
