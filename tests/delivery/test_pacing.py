"""OUTREACH_SEND_RATE holds within ±5% at 1/s and 100/s, in-process and through Redis."""

from __future__ import annotations

import threading
import time

import pytest

from outreach.delivery.pacing import REDIS_KEY, LocalPacer, RedisPacer, pacer_for
from tests.conftest import BROKER_URL, missing_service


def _measure(pacer: object, count: int, threads: int = 4) -> float:
    """Messages per second achieved by `threads` senders sharing `pacer`."""
    started = time.monotonic()
    remaining = [count]
    lock = threading.Lock()

    def work() -> None:
        while True:
            with lock:
                if remaining[0] == 0:
                    return
                remaining[0] -= 1
            pacer.wait()  # type: ignore[attr-defined]

    workers = [threading.Thread(target=work) for _ in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    # The first slot is immediate: n messages span n-1 intervals.
    return (count - 1) / (time.monotonic() - started)


@pytest.mark.parametrize(("rate", "count"), [(100.0, 201), (1.0, 4)])
def test_local_pacer_holds_the_rate(rate: float, count: int) -> None:
    achieved = _measure(LocalPacer(rate), count)
    assert rate * 0.95 <= achieved <= rate * 1.05, achieved


@pytest.mark.parametrize(("rate", "count"), [(100.0, 201), (1.0, 4)])
def test_redis_pacer_holds_the_rate_across_pacers(rate: float, count: int) -> None:
    if not BROKER_URL.startswith("redis"):
        missing_service("Redis (OUTREACH_TEST_BROKER_URL)")
    import redis

    redis.Redis.from_url(BROKER_URL).delete(REDIS_KEY)
    # Two pacers stand for two worker processes sharing one schedule.
    first, second = RedisPacer(rate, BROKER_URL), RedisPacer(rate, BROKER_URL)
    shared = _Alternating(first, second)
    achieved = _measure(shared, count)
    assert rate * 0.95 <= achieved <= rate * 1.05, achieved


class _Alternating:
    def __init__(self, *pacers: RedisPacer) -> None:
        self.pacers = pacers
        self.turn = 0

    def wait(self) -> None:
        self.turn += 1
        self.pacers[self.turn % len(self.pacers)].wait()


def test_no_rate_means_no_waiting() -> None:
    pacer = pacer_for(0, "memory://")
    started = time.monotonic()
    for _ in range(10_000):
        pacer.wait()
    assert time.monotonic() - started < 1
    assert isinstance(pacer_for(5, "memory://"), LocalPacer)
