"""A worker killed mid-campaign, and a batch that outlives its lease at a slow rate."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import pytest

from tests.faults.conftest import THREADS, Echo, Fleet

pytestmark = pytest.mark.faults
PEOPLE = 2000


def suspected_duplicates(status: dict[str, Any]) -> int | None:
    """`suspected_duplicates` of `campaigns status --json` (top level, or summed over the
    groups); None while the engine does not report it."""
    if "suspected_duplicates" in status:
        return int(status["suspected_duplicates"])
    counts = [g["suspected_duplicates"] for g in status["groups"] if "suspected_duplicates" in g]
    return sum(counts) if counts else None


def test_sigkilled_worker(fleet: Callable[..., Fleet], echo: Echo) -> None:
    """SIGKILL one of two workers once a quarter is sent, a replacement 2 s later: at most
    one re-send per thread of the killed worker, each counted as suspected, nobody lost, and
    no waiting for the 300 s lease."""
    sending = fleet(PEOPLE)
    sending.send()
    sending.wait_for_deliveries(PEOPLE // 4)
    victim = sending.busiest_worker()
    connections = sending.smtp_connections(sending.workers[victim])
    sending.kill_worker(victim)
    time.sleep(2)
    cleared = sending.start_workers(1)  # from the replacement's start
    done = sending.wait_until_sent(62)  # the bound is 60 s
    suspected = suspected_duplicates(sending.product.status(sending.campaign))
    outcome = sending.outcome(
        "sigkill-worker",
        cleared,
        killed_connections=connections,
        suspected="absent" if suspected is None else suspected,
    )
    echo(outcome.line())
    assert connections > 0, f"{outcome.line()}: the killed worker was sending nothing"
    assert done and outcome.lost == 0, outcome.line()
    assert outcome.duplicates <= THREADS, outcome.line()
    assert outcome.recovery is not None and outcome.recovery < 60, outcome.line()
    if suspected is not None:  # strict as soon as the engine reports it
        assert outcome.duplicates <= suspected, outcome.line()


def test_slow_rate_with_short_lease_sends_each_once(
    fleet: Callable[..., Fleet], echo: Echo
) -> None:
    """2 messages/s for 100 people is 50 s, longer than a 30 s lease: a batch still being
    sent is not claimed again by the other worker."""
    sending = fleet(100, OUTREACH_SEND_RATE="2", OUTREACH_LEASE_SECONDS="30")
    sending.send()
    done = sending.wait_until_sent(100)
    outcome = sending.outcome("slow-rate-short-lease", None)
    echo(outcome.line())
    assert done and outcome.lost == 0 and outcome.duplicates == 0, outcome.line()
