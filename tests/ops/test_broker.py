"""Actors are declared on Outreach's broker whatever is imported first."""

from __future__ import annotations

import subprocess
import sys

import pytest


@pytest.mark.parametrize(
    "first",
    [
        "outreach.delivery.tasks",
        "outreach.ops.tasks",
        "outreach.outbox.tasks",
        "outreach.tracking.tasks",
        "outreach.tasks",
    ],
)
def test_any_actor_module_imported_first_declares_on_the_configured_broker(first: str) -> None:
    # dramatiq makes a RabbitMQ broker of its own for the first actor nobody gave a broker.
    code = (
        f"import {first}, dramatiq; from dramatiq.brokers.stub import StubBroker; "
        "broker = dramatiq.get_broker(); "
        "assert isinstance(broker, StubBroker), broker; "
        "from outreach.broker import current_broker; assert broker is current_broker()"
    )
    env = {"OUTREACH_SECRET_KEY": "x" * 40, "OUTREACH_BROKER_URL": "memory://"}
    done = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stderr
