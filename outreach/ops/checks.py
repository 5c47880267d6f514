"""Start-up checks: settings that work but will hurt (shown by serve, worker and the admin)."""

from __future__ import annotations

import ipaddress

from outreach.config import Settings, local_host_reasons
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


def system_sender_problem(settings: Settings) -> str | None:
    """Why confirmation and welcome mail would come from an address receivers reject."""
    from outreach.outbox.transactional import sender

    address = sender(settings)[1]
    host = address.rpartition("@")[2]
    reasons = local_host_reasons(host)
    if not reasons and _is_address(host):
        reasons = ["an address, not a domain name"]
    if not reasons:
        return None
    origin = "OUTREACH_MAIL_FROM" if settings.mail_from else "the host of OUTREACH_BASE_URL"
    return (
        f"confirmation and welcome mail would be sent from {address} ({reasons[0]}, taken "
        f"from {origin}): receivers reject it; set OUTREACH_MAIL_FROM to an address of "
        "your domain"
    )


def _is_address(host: str) -> bool:
    try:
        ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return False
    return True


def startup_warnings(settings: Settings) -> list[str]:
    """Problems of the configuration as it stands."""
    from outreach.outbox.transactional import sender
    from outreach.rendering.dkim import signer_for

    found = []
    try:
        signer_for(settings)
    except ConfigurationError as exc:
        found.append(exc.message)
    misaligned = dkim_alignment(settings, sender(settings)[1])
    if misaligned:
        found.append(f"{misaligned} (OUTREACH_MAIL_FROM)")
    unreachable = system_sender_problem(settings)
    if unreachable:
        found.append(unreachable)
    return found
