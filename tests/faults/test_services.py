"""The broker or the database goes away mid-campaign and comes back: nothing is lost, and
sending resumes without waiting for any lease."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from tests.faults.conftest import THREADS, Echo, Fleet

pytestmark = pytest.mark.faults
PEOPLE = 2000
WORKERS = 2


def test_redis_restart_strands_no_batch(fleet: Callable[..., Fleet], echo: Echo) -> None:
    """40 batches, far more than two workers prefetch: Redis restarts empty once a quarter
    is sent, and the batches whose broker messages it lost are sent all the same."""
    sending = fleet(PEOPLE, OUTREACH_BATCH_SIZE="50")
    sending.send()
    sending.wait_for_deliveries(PEOPLE // 4)
    waiting = sending.redis.waiting("delivery")  # the batches the restart strands
    cleared = sending.redis.restart(down_seconds=2)
    done = sending.wait_until_sent(120)
    outcome = sending.outcome("redis-restart", cleared, stranded=waiting)
    echo(outcome.line())
    assert waiting > 0, (
        f"{outcome.line()}: no batch was waiting in Redis at the restart, the fault stranded "
        "nothing (is OUTREACH_BATCH_SIZE=50 applied?)"
    )
    assert done and outcome.lost == 0 and outcome.duplicates == 0, outcome.line()


def _postgres_restart(fleet: Callable[..., Fleet], echo: Echo, mode: str, fault: str) -> None:
    """PostgreSQL down ~3 s once a quarter is sent: at most one re-sent message per worker
    thread, nobody lost, sending again within 60 s of the database coming back."""
    sending = fleet(PEOPLE)
    sending.send()
    sending.wait_for_deliveries(PEOPLE // 4)
    cleared = sending.postgres.restart(mode=mode, down_seconds=3)
    done = sending.wait_until_sent(62)  # the bound is 60 s
    outcome = sending.outcome(fault, cleared)
    echo(outcome.line())
    assert done and outcome.lost == 0, outcome.line()
    assert outcome.duplicates <= WORKERS * THREADS, outcome.line()
    assert outcome.recovery is not None and outcome.recovery <= 60, outcome.line()


def test_postgres_restart_fast(fleet: Callable[..., Fleet], echo: Echo) -> None:
    _postgres_restart(fleet, echo, "fast", "postgres-restart-fast")


def test_postgres_crash_immediate(fleet: Callable[..., Fleet], echo: Echo) -> None:
    _postgres_restart(fleet, echo, "immediate", "postgres-crash-immediate")
