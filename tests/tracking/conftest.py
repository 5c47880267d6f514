"""Tracking tests reuse the sending app (embedded workers, real SMTP sink)."""

from __future__ import annotations

from tests.campaigns.conftest import make_subscriber  # noqa: F401
from tests.delivery.conftest import app  # noqa: F401
from tests.tracking.test_tracking import sent  # noqa: F401, E402  (shared with test_tallies)
