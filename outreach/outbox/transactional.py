"""Transactional emails (confirmation, welcome, notices): rendered into the outbox.

They are written to the outbox in the transaction of the event that causes them and sent
by the workers (outreach.outbox.tasks), signed on the way out like every other message.
"""

from __future__ import annotations

from email.message import EmailMessage
from email.policy import SMTP
from email.utils import format_datetime, formataddr, make_msgid, parseaddr
from functools import lru_cache
from typing import Any
from urllib.parse import urlsplit

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape
from sqlalchemy.orm import Session

from outreach.config import Settings
from outreach.db import settings_of, utcnow
from outreach.delivery.transport import Envelope
from outreach.outbox.models import OutboxMessage
from outreach.outbox.service import queue_email
from outreach.paths import ROOT


@lru_cache(maxsize=1)
def _environment() -> Environment:
    # Our own templates (not user-written): autoescape HTML, strict about missing values.
    return Environment(
        loader=FileSystemLoader(ROOT / "templates" / "email"),
        autoescape=select_autoescape(["html"]),
        undefined=StrictUndefined,
        keep_trailing_newline=True,
    )


def sender(settings: Settings) -> tuple[str, str]:
    """(display name, address) of transactional mail."""
    name, address = parseaddr(settings.mail_from)
    if not address:
        host = urlsplit(settings.base_url).hostname or "localhost"
        address = f"no-reply@{host if '.' in host else host + '.localdomain'}"
    return name or "Outreach", address


def transactional(
    settings: Settings, template: str, to: str, subject: str, context: dict[str, Any]
) -> tuple[Envelope, bytes, str]:
    """(envelope, message, Message-ID) of a text + HTML message from
    templates/email/TEMPLATE.{txt,html}."""
    env = _environment()
    values = {**context, "base_url": settings.base_url}
    name, address = sender(settings)
    message_id = make_msgid(domain=address.rpartition("@")[2])
    message = EmailMessage(policy=SMTP)
    message["From"] = formataddr((name, address))
    message["To"] = to
    message["Subject"] = subject.replace("\r", " ").replace("\n", " ")
    message["Date"] = format_datetime(utcnow())
    message["Message-ID"] = message_id
    message["Auto-Submitted"] = "auto-generated"
    message.set_content(env.get_template(f"{template}.txt").render(values), cte="quoted-printable")
    message.add_alternative(
        env.get_template(f"{template}.html").render(values), subtype="html", cte="quoted-printable"
    )
    return Envelope(address, (to,)), message.as_bytes(), message_id


def queue_transactional(
    session: Session,
    kind: str,
    template: str,
    to: str,
    subject: str,
    context: dict[str, Any],
    **refs: Any,
) -> OutboxMessage:
    """Render a transactional email into the outbox, in the caller's transaction."""
    envelope, message, message_id = transactional(
        settings_of(session), template, to, subject, context
    )
    return queue_email(
        session, kind, envelope, message, subject=subject, message_id=message_id, **refs
    )
