"""Transports: where finished messages go (SMTP server or a Maildir on disk).

Every failure says in which phase of the SMTP dialogue it happened. Connection, TLS, AUTH,
EHLO and MAIL FROM belong to the sending path: they say nothing about the recipient, so no
recipient may fail because of them. Only the answers to RCPT TO and to the end of DATA
concern the recipient (ENGINEERING.md: a wrong password once failed 50 real recipients).
"""

from __future__ import annotations

import mailbox
import os
import re
import smtplib
import ssl
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol
from urllib.parse import parse_qs, unquote, urlsplit

from outreach.config import Settings
from outreach.errors import ConfigurationError, OutreachError

PATH_PHASES = ("connect", "tls", "auth", "helo", "mail")
RECIPIENT_PHASES = ("rcpt", "data")


class TransportError(OutreachError):
    """A message could not be handed over, in `phase`; `permanent` says whether retrying
    the same message can help (a 5xx answer) or not."""

    status = 502
    code = "transport"

    def __init__(
        self,
        message: str,
        *,
        phase: str = "connect",
        permanent: bool = False,
        code: int | None = None,
    ):
        super().__init__(message)
        self.phase = phase
        self.permanent = permanent
        self.smtp_code = code

    @property
    def concerns_recipient(self) -> bool:
        """True for RCPT TO and end-of-DATA answers; False when the sending path is broken."""
        return self.phase in RECIPIENT_PHASES

    @property
    def bounce(self) -> bool:
        """A permanent `5.1.x` answer: the address does not exist."""
        return (
            self.concerns_recipient
            and self.permanent
            and self.message[4:7] == "5.1"
            and self.message[:1] == "5"
        )


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
        # mailbox.Maildir(create=True) creates tmp/ only if the folder itself is new: two
        # threads opening a fresh outbox raced, one writing into a tmp/ not there yet.
        for sub in ("tmp", "new", "cur"):
            os.makedirs(path / sub, mode=0o700, exist_ok=True)
        self.box = mailbox.Maildir(path, create=False)

    def send(self, envelope: Envelope, message: bytes) -> None:
        """Store the message in new/."""
        try:
            self.box.add(message)
        except OSError as exc:
            raise TransportError(f"Maildir {self.path}: {exc}", phase="connect") from exc

    def close(self) -> None:
        """Nothing to close."""


class SmtpTransport:
    """One reused SMTP connection (smtp:// with optional STARTTLS, smtps://).

    Query options: `starttls=true`, `timeout=SECONDS`, `cafile=PATH` (trust a private CA).
    """

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
        self.cafile = options.get("cafile") or None
        self.connection: smtplib.SMTP | None = None

    @property
    def where(self) -> str:
        """host:port, for error messages."""
        return f"{self.host}:{self.port}"

    def _connect(self) -> smtplib.SMTP:
        context = ssl.create_default_context(cafile=self.cafile)
        try:
            if self.implicit_tls:
                conn: smtplib.SMTP = smtplib.SMTP_SSL(
                    self.host, self.port, timeout=self.timeout, context=context
                )
            else:
                conn = smtplib.SMTP(self.host, self.port, timeout=self.timeout)
        except ssl.SSLError as exc:
            raise TransportError(f"TLS with {self.where}: {exc}", phase="tls") from exc
        except (OSError, smtplib.SMTPException) as exc:
            raise _failure("connect", f"cannot connect to {self.where}", exc) from exc
        try:
            self._greet(conn, context)
        except BaseException:
            conn.close()
            raise
        return conn

    def _greet(self, conn: smtplib.SMTP, context: ssl.SSLContext) -> None:
        phase = "helo"
        try:
            conn.ehlo_or_helo_if_needed()
            if self.starttls:
                phase = "tls"
                conn.starttls(context=context)
                conn.ehlo()
            if self.user:
                phase = "auth"
                conn.login(self.user, self.password or "")
        except ssl.SSLError as exc:
            raise TransportError(f"TLS with {self.where}: {exc}", phase="tls") from exc
        except (OSError, smtplib.SMTPException) as exc:
            raise _failure(phase, f"{phase.upper()} with {self.where}", exc) from exc

    def send(self, envelope: Envelope, message: bytes) -> None:
        """Send over the open connection, reconnecting once if an idle one was dropped."""
        for attempt in (1, 2):
            reused = self.connection is not None
            if self.connection is None:
                self.connection = self._connect()
            try:
                self._transaction(self.connection, envelope, message)
                return
            except _Dropped as dropped:
                self.close()
                # An idle connection the server closed fails at MAIL FROM: try a fresh one.
                if not (reused and dropped.error.phase == "mail" and attempt == 1):
                    raise dropped.error from None
            except TransportError as exc:
                if exc.concerns_recipient:
                    self._reset()
                else:
                    self.close()
                raise

    def _transaction(self, conn: smtplib.SMTP, envelope: Envelope, message: bytes) -> None:
        """MAIL FROM, RCPT TO, DATA, each answer judged in its own phase; the three in one
        write when the server offers PIPELINING (RFC 2920), then the message."""
        phase = "mail"
        try:
            if conn.has_extn("pipelining"):
                self._pipelined_envelope(conn, envelope)
            else:
                self._envelope(conn, envelope)
            phase = "data"
            conn.send(_on_the_wire(message))
            code, reply = conn.getreply()
            if code != 250:
                raise _answer("data", code, reply)
        except (OSError, smtplib.SMTPServerDisconnected) as exc:
            raise _Dropped(
                TransportError(f"SMTP {self.where} during {phase.upper()}: {exc}", phase=phase)
            ) from exc

    @staticmethod
    def _envelope(conn: smtplib.SMTP, envelope: Envelope) -> None:
        """One command, one answer at a time."""
        for phase, command in _commands(envelope):
            code, reply = conn.docmd(command)
            if code not in _EXPECTED[phase]:
                raise _answer(phase, code, reply)

    @staticmethod
    def _pipelined_envelope(conn: smtplib.SMTP, envelope: Envelope) -> None:
        """MAIL FROM, every RCPT TO and DATA sent together, their answers read in order:
        one round trip instead of three. The first refusal is the one reported, in its
        phase, exactly as if each command had waited for its answer."""
        commands = _commands(envelope)
        conn.send("".join(f"{command}\r\n" for _, command in commands))
        refused: TransportError | None = None
        for phase, _ in commands:
            code, reply = conn.getreply()
            if code in _EXPECTED[phase]:
                if phase == "data" and refused is not None:
                    # DATA was opened although a command before it failed: end it empty
                    # (no recipient takes it) so the connection stays in step.
                    conn.send(b".\r\n")
                    conn.getreply()
            elif refused is None:
                refused = _answer(phase, code, reply)
        if refused is not None:
            raise refused

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
                self.connection.close()
            self.connection = None


class _Dropped(Exception):
    """The connection broke in the middle of a transaction."""

    def __init__(self, error: TransportError) -> None:
        super().__init__(error.message)
        self.error = error


_EXPECTED = {"mail": (250,), "rcpt": (250, 251), "data": (354,)}


def _commands(envelope: Envelope) -> list[tuple[str, str]]:
    """The envelope's commands up to DATA, each with its phase."""
    commands = [("mail", f"MAIL FROM:{smtplib.quoteaddr(envelope.sender)}")]
    commands += [("rcpt", f"RCPT TO:{smtplib.quoteaddr(r)}") for r in envelope.recipients]
    return [*commands, ("data", "DATA")]


def _on_the_wire(message: bytes) -> bytes:
    """The message as DATA carries it: lines beginning with a dot doubled (RFC 5321
    4.5.2), a final line break, then the lone dot. Campaign messages are CRLF throughout
    and their quoted-printable encoder never begins a line with a dot (outreach.rendering.
    qp), so the search (C speed) finds nothing and the message goes to the socket as it
    is; smtplib's data() runs a regular expression over every message (11% of a worker's
    time on a 10 KB newsletter). Other mail (the outbox's) is stuffed where it needs it."""
    if message[:1] == b"." or _LINE_DOT.search(message):  # ~5 µs for 15 KB; `in`: 13
        message = _LEADING_DOT.sub(b"..", message)
    if message[-2:] != b"\r\n":
        message += b"\r\n"
    return message + b".\r\n"


_LEADING_DOT = re.compile(rb"(?m)^\.")
_LINE_DOT = re.compile(rb"\n\.")


def _answer(phase: str, code: int, reply: bytes | str) -> TransportError:
    text = reply.decode(errors="replace") if isinstance(reply, bytes) else str(reply)
    return TransportError(
        f"{code} {text}"[:1000], phase=phase, permanent=500 <= code < 600, code=code
    )


def _failure(phase: str, what: str, exc: BaseException) -> TransportError:
    if isinstance(exc, smtplib.SMTPResponseException):
        failure = _answer(phase, exc.smtp_code, exc.smtp_error)
        failure.message = f"{what}: {failure.message}"
        failure.args = (failure.message,)
        return failure
    return TransportError(f"{what}: {exc}", phase=phase)


class SignedTransport:
    """Signs every message (DKIM) before handing it over: the one signing path."""

    def __init__(self, inner: Transport, signer: Signer) -> None:
        self.inner = inner
        self.signer = signer

    def send(self, envelope: Envelope, message: bytes) -> None:
        """Sign, then send."""
        self.inner.send(envelope, self.signer.sign(message))

    def close(self) -> None:
        """Close the inner transport."""
        self.inner.close()


class Signer(Protocol):
    """Adds a signature header to a finished message."""

    def sign(self, message: bytes) -> bytes: ...


def open_transport(url: str) -> Transport:
    """The transport for OUTREACH_SMTP_URL."""
    if url.startswith("maildir://"):
        return MaildirTransport(Path(url.removeprefix("maildir://")))
    if url.startswith(("smtp://", "smtps://")):
        return SmtpTransport(url)
    raise ConfigurationError(f"OUTREACH_SMTP_URL: {url!r} is not smtp://, smtps:// or maildir://")


def outgoing(settings: Settings) -> Transport:
    """The configured transport, signing every message when DKIM is configured."""
    from outreach.rendering.dkim import signer_for

    transport = open_transport(settings.smtp_url)
    signer = signer_for(settings)
    return SignedTransport(transport, signer) if signer is not None else transport
