"""OUTREACH_SEND_RATE: a token schedule shared by every worker thread (and process).

Each send takes the next free slot `1/rate` seconds after the previous one and sleeps
until it (a GCRA-style schedule, so the rate holds exactly, not in bursts). With the
Redis broker the schedule lives in Redis and spans every worker process; otherwise it is
in-process. dramatiq's rate limiters raise instead of waiting, hence this.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Protocol

log = logging.getLogger(__name__)
REDIS_KEY = "outreach:send-rate:next"
_SCRIPT = """
local now = redis.call('TIME')
local now_us = tonumber(now[1]) * 1000000 + tonumber(now[2])
local interval = tonumber(ARGV[1])
local next_us = tonumber(redis.call('GET', KEYS[1]) or '0')
if next_us < now_us then next_us = now_us end
redis.call('SET', KEYS[1], next_us + interval, 'PX', 60000)
return next_us - now_us
"""


class Pacer(Protocol):
    """Blocks until the caller may send one message."""

    def wait(self) -> None: ...


class Unlimited:
    """No pacing."""

    def wait(self) -> None:
        """Return at once."""


class LocalPacer:
    """The schedule for one process."""

    def __init__(self, rate: float) -> None:
        self.interval = 1.0 / rate
        self.next = 0.0
        self.lock = threading.Lock()

    def wait(self) -> None:
        """Sleep until this caller's slot."""
        with self.lock:
            now = time.monotonic()
            slot = max(self.next, now)
            self.next = slot + self.interval
        if slot > now:
            time.sleep(slot - now)


class RedisPacer:
    """The schedule shared through Redis by every worker process."""

    def __init__(self, rate: float, url: str) -> None:
        import redis

        self.interval_us = int(1_000_000 / rate)
        self.fallback = LocalPacer(rate)
        self.client = redis.Redis.from_url(url, socket_timeout=5)
        self.script = self.client.register_script(_SCRIPT)

    def wait(self) -> None:
        """Sleep until this caller's slot (Redis' clock decides); while Redis is away, this
        process keeps the rate on its own rather than failing the batch."""
        try:
            delay_us = int(self.script(keys=[REDIS_KEY], args=[self.interval_us]))
        except redis_errors() as exc:
            log.warning("send rate: Redis is away (%s); pacing this process alone", exc)
            self.fallback.wait()
            return
        if delay_us > 0:
            time.sleep(delay_us / 1_000_000)


def redis_errors() -> tuple[type[Exception], ...]:
    """What a Redis that restarts or went away raises."""
    import redis

    return (redis.ConnectionError, redis.TimeoutError)


_pacers: dict[tuple[float, str], Pacer] = {}
_pacers_lock = threading.Lock()


def pacer_for(rate: float, broker_url: str) -> Pacer:
    """The pacer for OUTREACH_SEND_RATE (0: unlimited): one per process and rate, shared by
    every engine of the process (two schedules side by side would double the rate)."""
    if rate <= 0:
        return Unlimited()
    redis = broker_url.startswith(("redis://", "rediss://"))
    key = (rate, broker_url if redis else "local")
    with _pacers_lock:
        if key not in _pacers:
            _pacers[key] = RedisPacer(rate, broker_url) if redis else LocalPacer(rate)
        return _pacers[key]
