"""Tracking tests use the sending app (embedded workers, real SMTP sink) and share a
campaign sent to subscribers with every combination of tracking consent."""

from __future__ import annotations

from email.message import EmailMessage

import pytest
from flask import Flask

from tests.conftest import SmtpSink
from tests.support.tracking import send_tracked_campaign


@pytest.fixture
def app(sending_app: Flask) -> Flask:
    return sending_app


@pytest.fixture
def sent(app: Flask, smtp_sink: SmtpSink) -> dict[str, EmailMessage]:
    """A campaign sent to four subscribers with every combination of tracking consent."""
    return send_tracked_campaign(app, smtp_sink)
