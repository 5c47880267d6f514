"""The lead magnet sent with the welcome message: a bundled ebook, a file, or a URL."""

from __future__ import annotations

from pathlib import Path

from outreach.config import Settings
from outreach.paths import ROOT

BUNDLED = ROOT / "templates" / "lead_magnet" / "segment-dont-spray.html"


def lead_magnet(settings: Settings) -> Path | str | None:
    """The configured lead magnet: a Path, an https URL, or None when disabled."""
    value = settings.lead_magnet.strip()
    if value.lower() == "none":
        return None
    if not value:
        return BUNDLED
    if value.startswith(("https://", "http://")):
        return value
    return Path(value)
