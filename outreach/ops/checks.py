"""Start-up checks: settings that work but will hurt (shown by serve, worker and the admin)."""

from __future__ import annotations

from outreach.config import Settings
from outreach.errors import ConfigurationError


def dkim_alignment(settings: Settings, from_address: str) -> str | None:
    """Why mail from `from_address` would fail DMARC alignment with the DKIM domain."""
    from outreach.rendering.dkim import aligned

    if not settings.dkim_domain:
        return None
    domain = from_address.rpartition("@")[2]
    if aligned(domain, settings.dkim_domain):
        return None
    return (
        f"DKIM signs as d={settings.dkim_domain} but mail is sent From {domain}: receivers "
        "checking DMARC will not count the signature (use a From address in that domain)"
    )


def startup_warnings(settings: Settings) -> list[str]:
    """Problems of the configuration as it stands."""
    from outreach.mail import sender
    from outreach.rendering.dkim import signer_for

    found = []
    try:
        signer_for(settings)
    except ConfigurationError as exc:
        found.append(exc.message)
    misaligned = dkim_alignment(settings, sender(settings)[1])
    if misaligned:
        found.append(f"{misaligned} (OUTREACH_MAIL_FROM)")
    return found
