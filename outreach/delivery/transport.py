"""Transports: where finished messages go (SMTP server or a Maildir on disk)."""

from __future__ import annotations

import mailbox
import smtplib
import ssl
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol
from urllib.parse import parse_qs, unquote, urlsplit

from outreach.errors import ConfigurationError, OutreachError


class TransportError(OutreachError):
    """A message could not be handed over; `permanent` says whether retrying is pointless."""

    status = 502
    code = "transport"

    def __init__(self, message: str, *, permanent: bool = False, code: int | None = None):
        super().__init__(message)
        self.permanent = permanent
        self.smtp_code = code


@dataclass(frozen=True)
class Envelope:
    """SMTP envelope: who the server is told the message is from and for."""

    sender: str
    recipients: tuple[str, ...]


class Transport(Protocol):
    """Sends serialized messages."""

    def send(self, envelope: Envelope, message: bytes) -> None: ...

    def close(self) -> None: ...


class MaildirTransport:
    """Every message a file in a Maildir a person can open (the embedded default)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.box = mailbox.Maildir(path, create=True)

    def send(self, envelope: Envelope, message: bytes) -> None:
        """Store the message in new/."""
        self.box.add(message)

    def close(self) -> None:
        """Nothing to close."""


class SmtpTransport:
    """One reused SMTP connection (smtp:// with optional STARTTLS, smtps://)."""

    def __init__(self, url: str, timeout: float = 30.0) -> None:
        parts = urlsplit(url)
        options = {k: v[-1] for k, v in parse_qs(parts.query).items()}
        self.implicit_tls = parts.scheme == "smtps"
        self.host = parts.hostname or "localhost"
        self.port = parts.port or (465 if self.implicit_tls else 25)
        self.user = unquote(parts.username) if parts.username else None
        self.password = unquote(parts.password) if parts.password else None
        self.starttls = options.get("starttls", "false").lower() in {"1", "true", "yes"}
        self.timeout = float(options.get("timeout", timeout))
        self.connection: smtplib.SMTP | None = None

    def _connect(self) -> smtplib.SMTP:
        context = ssl.create_default_context()
        if self.implicit_tls:
            conn: smtplib.SMTP = smtplib.SMTP_SSL(
                self.host, self.port, timeout=self.timeout, context=context
            )
        else:
            conn = smtplib.SMTP(self.host, self.port, timeout=self.timeout)
            if self.starttls:
                conn.starttls(context=context)
        if self.user:
            conn.login(self.user, self.password or "")
        return conn

    def send(self, envelope: Envelope, message: bytes) -> None:
        """Send over the open connection, reconnecting once if the server dropped it."""
        for attempt in (1, 2):
            try:
                if self.connection is None:
                    self.connection = self._connect()
                refused = self.connection.sendmail(
                    envelope.sender, list(envelope.recipients), message
                )
                if refused:
                    code, reply = next(iter(refused.values()))
                    raise _smtp_error(code, reply)
                return
            except smtplib.SMTPServerDisconnected as exc:
                self.connection = None
                if attempt == 2:
                    raise TransportError(f"SMTP server disconnected: {exc}") from exc
            except smtplib.SMTPRecipientsRefused as exc:
                code, reply = next(iter(exc.recipients.values()))
                raise _smtp_error(code, reply) from exc
            except smtplib.SMTPResponseException as exc:
                self._reset()
                raise _smtp_error(exc.smtp_code, exc.smtp_error) from exc
            except (OSError, smtplib.SMTPException) as exc:
                self.close()
                raise TransportError(f"SMTP {self.host}:{self.port}: {exc}") from exc

    def _reset(self) -> None:
        try:
            if self.connection is not None:
                self.connection.rset()
        except (OSError, smtplib.SMTPException):
            self.close()

    def close(self) -> None:
        """Say QUIT and forget the connection."""
        if self.connection is not None:
            try:
                self.connection.quit()
            except (OSError, smtplib.SMTPException):
                pass
            self.connection = None


def _smtp_error(code: int, reply: bytes | str) -> TransportError:
    text = reply.decode(errors="replace") if isinstance(reply, bytes) else str(reply)
    return TransportError(f"{code} {text}"[:1000], permanent=500 <= code < 600, code=code)


def open_transport(url: str) -> Transport:
    """The transport for OUTREACH_SMTP_URL."""
    if url.startswith("maildir://"):
        return MaildirTransport(Path(url.removeprefix("maildir://")))
    if url.startswith(("smtp://", "smtps://")):
        return SmtpTransport(url)
    raise ConfigurationError(f"OUTREACH_SMTP_URL: {url!r} is not smtp://, smtps:// or maildir://")
