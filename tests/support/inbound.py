"""A corpus of inbound mail as real servers write it, built around a message Outreach sent:
Postfix, Microsoft 365 and Gmail delivery status notifications (RFC 3464), a Yahoo delay
notice, an Exim text bounce, an ARF complaint (RFC 5965), an auto-reply and a mailed
unsubscribe."""

from __future__ import annotations

from email.message import EmailMessage
from email.mime.text import MIMEText
from email.utils import make_msgid


def _headers_of(original: EmailMessage) -> str:
    return "".join(f"{k}: {v}\r\n" for k, v in original.items())


def _verp(original: EmailMessage) -> str:
    return getattr(original, "envelope_from", "") or "bounces@example.org"


def _recipient(original: EmailMessage) -> str:
    return str(original["To"]).split("<")[-1].rstrip(">")


def _report(
    report_type: str,
    headers: dict[str, str],
    human: str,
    machine_type: str,
    machine: str,
    returned: str,
) -> bytes:
    """A multipart/report as servers write it: the text, the machine-readable part, then
    the original (headers only, or whole)."""
    boundary = "=_report_" + make_msgid().strip("<>").split("@")[0].replace(".", "")
    head = "".join(f"{k}: {v}\r\n" for k, v in headers.items())
    return (
        f"{head}MIME-Version: 1.0\r\n"
        f'Content-Type: multipart/report; report-type={report_type}; boundary="{boundary}"\r\n'
        f"\r\n--{boundary}\r\nContent-Type: text/plain; charset=us-ascii\r\n\r\n{human}\r\n"
        f"\r\n--{boundary}\r\nContent-Type: {machine_type}\r\n\r\n{machine}\r\n"
        f"\r\n--{boundary}\r\n{returned}\r\n--{boundary}--\r\n"
    ).encode()


def dsn(
    original: EmailMessage,
    *,
    status: str = "5.1.1",
    action: str = "failed",
    mta: str = "mx.example.net",
    human: str = "This is the mail system at host relay.example.org.\r\n\r\nI'm sorry to "
    "have to inform you that your message could not be delivered to one or more recipients.",
    diagnostic: str = "smtp; 550 5.1.1 <{rcpt}>: Recipient address rejected: User unknown",
    returned: str = "headers",
) -> bytes:
    """A delivery status notification about `original` (Postfix's shape by default)."""
    rcpt = _recipient(original)
    machine = (
        "Reporting-MTA: dns; relay.example.org\r\n\r\n"
        f"Final-Recipient: rfc822; {rcpt}\r\nOriginal-Recipient: rfc822;{rcpt}\r\n"
        f"Action: {action}\r\nStatus: {status}\r\nRemote-MTA: dns; {mta}\r\n"
        f"Diagnostic-Code: {diagnostic.format(rcpt=rcpt)}\r\n"
    )
    if returned == "headers":
        back = "Content-Type: text/rfc822-headers\r\n\r\n" + _headers_of(original)
    else:
        back = "Content-Type: message/rfc822\r\n\r\n" + original.as_string()
    headers = {
        "From": "MAILER-DAEMON@relay.example.org (Mail Delivery System)",
        "To": _verp(original),
        "Delivered-To": _verp(original),
        "Subject": "Undelivered Mail Returned to Sender",
        "Message-ID": make_msgid(domain="relay.example.org"),
        "Auto-Submitted": "auto-replied",
    }
    return _report(
        "delivery-status",
        headers,
        human.format(rcpt=rcpt),
        "message/delivery-status",
        machine,
        back,
    )


def microsoft_dsn(original: EmailMessage) -> bytes:
    """Exchange Online's non-delivery report."""
    return dsn(
        original,
        status="5.1.10",
        mta="outlook-com.olc.protection.outlook.com",
        human="Delivery has failed to these recipients or groups:\n\nThe email address you "
        "entered couldn't be found.",
        diagnostic="smtp; 550 5.1.10 RESOLVER.ADR.RecipientNotFound; Recipient not found by "
        "SMTP address lookup",
        returned="message",
    )


def gmail_dsn(original: EmailMessage) -> bytes:
    """Gmail's: 'Address not found'."""
    return dsn(
        original,
        mta="gmail-smtp-in.l.google.com",
        human="** Address not found **\n\nYour message wasn't delivered to {rcpt} because the "
        "address couldn't be found, or is unable to receive mail.",
        diagnostic="smtp; 550-5.1.1 The email account that you tried to reach does not exist.",
    )


def yahoo_delay(original: EmailMessage) -> bytes:
    """Yahoo's deferral: a soft bounce."""
    return dsn(
        original,
        status="4.7.0",
        action="delayed",
        mta="mta7.am0.yahoodns.net",
        human="This is an automatically generated Delivery Status Notification.\n\n"
        "THIS IS A WARNING MESSAGE ONLY. YOU DO NOT NEED TO RESEND YOUR MESSAGE.",
        diagnostic="smtp; 421 4.7.0 [TSS04] Messages from 192.0.2.1 temporarily deferred",
    )


def mailbox_full(original: EmailMessage) -> bytes:
    """A permanent-looking report with a 4.x.x status: a soft bounce (mailbox full)."""
    return dsn(
        original,
        status="4.2.2",
        diagnostic="smtp; 452 4.2.2 <{rcpt}>: Mailbox full",
    )


def exim_bounce(original: EmailMessage) -> bytes:
    """Exim's plain-text bounce (no RFC 3464 part), with the original quoted."""
    rcpt = _recipient(original)
    text = (
        "This message was created automatically by mail delivery software.\n\n"
        "A message that you sent could not be delivered to one or more of its\n"
        "recipients. This is a permanent error. The following address(es) failed:\n\n"
        f"  {rcpt}\n    host mx.example.net [192.0.2.25]\n"
        f"    SMTP error from remote mail server after RCPT TO:<{rcpt}>:\n"
        "    550 5.1.1 User unknown\n\n"
        "------ This is a copy of the message, including all the headers. ------\n\n"
        + _headers_of(original)
    )
    bounce = MIMEText(text, "plain")
    bounce["From"] = "Mail Delivery System <Mailer-Daemon@mail.example.net>"
    bounce["To"] = _verp(original)
    bounce["Subject"] = "Mail delivery failed: returning message to sender"
    bounce["Message-ID"] = make_msgid(domain="mail.example.net")
    bounce["X-Failed-Recipients"] = rcpt
    bounce["Auto-Submitted"] = "auto-replied"
    return bounce.as_bytes()


def arf_complaint(original: EmailMessage, feedback: str = "abuse") -> bytes:
    """A feedback-loop report (RFC 5965), the recipient's address redacted as Yahoo does."""
    machine = (
        f"Feedback-Type: {feedback}\r\nUser-Agent: Yahoo!-Mail-Feedback/2.0\r\nVersion: 1\r\n"
        "Original-Mail-From: <bounces@example.org>\r\n"
        "Arrival-Date: Tue, 8 Dec 2026 01:00:00 +0000\r\n"
    )
    redacted = "".join(
        f"{k}: {'redacted@yahoo.example' if k == 'To' else v}\r\n" for k, v in original.items()
    )
    back = "Content-Type: message/rfc822\r\n\r\n" + redacted + "\r\n(body redacted)\r\n"
    headers = {
        "From": "feedback@arf.mail.yahoo.com",
        "To": "fbl@example.org",
        "Subject": "FW: complaint",
        "Message-ID": make_msgid(domain="arf.mail.yahoo.com"),
    }
    return _report(
        "feedback-report",
        headers,
        "This is an email abuse report for an email message received.",
        "message/feedback-report",
        machine,
        back,
    )


def auto_reply(original: EmailMessage) -> bytes:
    """An out-of-office answer to the return path."""
    reply = EmailMessage()
    reply["From"] = original["To"]
    reply["To"] = _verp(original)
    reply["Subject"] = f"Automatic reply: {original['Subject']}"
    reply["Auto-Submitted"] = "auto-replied"
    reply["Message-ID"] = make_msgid(domain="example.org")
    reply.set_content("I am out of the office until Monday.")
    return reply.as_bytes()


def mailed_unsubscribe(original: EmailMessage, mailto: str) -> bytes:
    """What a mail client sends for the List-Unsubscribe mailto: its subject as given."""
    value = str(original["List-Unsubscribe"])
    subject = value.split("mailto:", 1)[1].split("?subject=", 1)[1].rstrip(">")
    from urllib.parse import unquote

    request = EmailMessage()
    request["From"] = original["To"]
    request["To"] = mailto
    request["Subject"] = unquote(subject)
    request["Message-ID"] = make_msgid(domain="example.org")
    request.set_content("")
    return request.as_bytes()
