"""Privacy tests reuse the sending app (embedded workers, real SMTP sink)."""

from __future__ import annotations

from tests.campaigns.conftest import make_subscriber  # noqa: F401
from tests.delivery.conftest import app  # noqa: F401
