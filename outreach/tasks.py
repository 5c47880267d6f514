"""Every actor, imported after the broker is configured (dramatiq workers load this module)."""

from __future__ import annotations

from outreach.broker import configure_broker
from outreach.config import Settings

configure_broker(Settings.from_env().broker_url)

from outreach.ops import tasks as ops_tasks  # noqa: E402

__all__ = ["ops_tasks"]
