"""What an inbound message is, and which delivery it is about: no database, no side effect.

Kinds: a hard bounce, a soft bounce, a complaint (an RFC 5965 ARF feedback report), an
auto-reply, a mailed unsubscribe (to the List-Unsubscribe mailto, its subject carrying the
subscription token), or unclassified. Delivery status notifications are read as RFC 3464
says (the `message/delivery-status` part: Action and Status per recipient); what is not a
standard DSN goes to flufl.bounce, the detectors Mailman uses for the formats real servers
produce. The delivery is named by the message's own tag: the VERP address it was sent to
(`bounces+TAG@`), or the `X-Outreach-Delivery` header of the returned original.
"""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.message import EmailMessage, Message
from urllib.parse import unquote

from flufl.bounce import all_failures


class Kind(enum.StrEnum):
    """What an inbound message was judged to be."""

    HARD_BOUNCE = "hard_bounce"
    SOFT_BOUNCE = "soft_bounce"
    COMPLAINT = "complaint"
    AUTO_REPLY = "auto_reply"
    UNSUBSCRIBE = "unsubscribe"
    UNCLASSIFIED = "unclassified"


@dataclass
class Classified:
    """The verdict on one message, and what it points at."""

    kind: Kind
    reason: str
    tags: list[str] = field(default_factory=list)  # delivery tags found, first the likeliest
    recipients: list[str] = field(default_factory=list)  # failed addresses the report names
    status: str | None = None  # the DSN status code (5.1.1) or the feedback type (abuse)
    unsubscribe_token: str | None = None


_VERP = re.compile(r"bounces\+([0-9a-f]+-[0-9a-f]+-[0-9a-f]{20})@", re.IGNORECASE)
_TAG = re.compile(r"\b([0-9a-f]+-[0-9a-f]+-[0-9a-f]{20})\b", re.IGNORECASE)
_UNSUBSCRIBE = re.compile(r"^\s*unsubscribe\s+(\S+)\s*$", re.IGNORECASE)
_AUTO_SUBJECT = re.compile(
    r"^(out of (the )?office|automatic reply|auto(matic)?[- ]?reply|autoreply|vacation|"
    r"abwesenheit|fuera de la oficina|absence|respuesta autom)",
    re.IGNORECASE,
)


def parse(raw: bytes) -> EmailMessage:
    """The message, parsed leniently (a damaged header never stops the processing)."""
    return message_from_bytes(raw, policy=policy.default)  # type: ignore[return-value]


def classify(message: EmailMessage, *, unsubscribe_mailto: str = "") -> Classified:
    """The kind of an inbound message and the deliveries it names."""
    tags = _tags(message)
    report_type = message.get_param("report-type", header="content-type")
    content_type = message.get_content_type()
    if content_type == "multipart/report" and str(report_type).lower() == "feedback-report":
        return _complaint(message, tags)
    if content_type == "multipart/report" and str(report_type).lower() == "delivery-status":
        found = _dsn(message, tags)
        if found is not None:
            return found
    if unsubscribe_mailto and _addressed_to(message, unsubscribe_mailto):
        match = _UNSUBSCRIBE.match(str(message.get("subject", "")))
        if match:
            return Classified(
                Kind.UNSUBSCRIBE,
                "an unsubscribe request mailed to the List-Unsubscribe address",
                tags,
                unsubscribe_token=unquote(match.group(1)),
            )
    temporary, permanent = all_failures(message)
    for failed, kind, word in (
        (permanent, Kind.HARD_BOUNCE, "permanent"),
        (temporary, Kind.SOFT_BOUNCE, "temporary"),
    ):
        if failed:
            addresses = sorted(a.decode(errors="replace") for a in failed)
            return Classified(kind, f"a {word} failure (flufl.bounce)", tags, addresses)
    if _auto_reply(message):  # after the bounce detectors: bounces are auto-submitted too
        return Classified(Kind.AUTO_REPLY, "an automatic reply", tags)
    return Classified(Kind.UNCLASSIFIED, "not a bounce, complaint or unsubscribe", tags)


def _parts(message: Message) -> list[Message]:
    """Every part, the returned original's and its headers-only part included."""
    found = []
    for part in message.walk():
        found.append(part)
        if part.get_content_type() == "text/rfc822-headers":
            payload = part.get_payload(decode=True)
            if isinstance(payload, bytes):
                found.append(message_from_bytes(payload, policy=policy.default))
    return found


def _tags(message: EmailMessage) -> list[str]:
    """Delivery tags: the VERP address first (the envelope recipient of a bounce), then any
    X-Outreach-Delivery header of the message or of the original it returns."""
    tags: list[str] = []
    for name in ("Delivered-To", "X-Original-To", "Envelope-To", "To", "Return-Path"):
        for value in message.get_all(name, []):
            tags += [m.lower() for m in _VERP.findall(str(value))]
    for part in _parts(message):
        for value in part.get_all("X-Outreach-Delivery", []):
            tags += [m.lower() for m in _TAG.findall(str(value))]
    if not tags:  # a report that quotes the original as text
        for part in message.walk():
            if part.get_content_maintype() == "text" and not part.is_multipart():
                try:
                    text = part.get_content()
                except (LookupError, ValueError):
                    continue
                for line in str(text).splitlines():
                    if line.lower().startswith("x-outreach-delivery:"):
                        tags += [m.lower() for m in _TAG.findall(line)]
    return list(dict.fromkeys(tags))


def _fields(part: Message) -> list[dict[str, str]]:
    """The field groups of a message/delivery-status part (per-message, then per
    recipient), as lowercase name -> value."""
    payload = part.get_payload()
    blocks: list[dict[str, str]] = []
    if isinstance(payload, list):  # the email package parses it into header blocks
        for block in payload:
            if isinstance(block, Message):
                blocks.append({k.lower(): str(v) for k, v in block.items()})
        return blocks
    text = payload if isinstance(payload, str) else ""
    for chunk in re.split(r"\r?\n\s*\r?\n", text):
        fields = {}
        for line in chunk.splitlines():
            name, _, value = line.partition(":")
            if value:
                fields[name.strip().lower()] = value.strip()
        if fields:
            blocks.append(fields)
    return blocks


def _dsn(message: EmailMessage, tags: list[str]) -> Classified | None:
    """An RFC 3464 report: failed with a 5.x.x status is hard, failed with 4.x.x or
    delayed is soft; relayed, delivered or expanded is not a failure (None: no verdict)."""
    for part in message.walk():
        if part.get_content_type() != "message/delivery-status":
            continue
        recipients = [b for b in _fields(part) if "action" in b]
        failed = [b for b in recipients if b["action"].lower().startswith("failed")]
        delayed = [b for b in recipients if b["action"].lower().startswith("delayed")]
        for blocks, verdict in ((failed, None), (delayed, Kind.SOFT_BOUNCE)):
            if not blocks:
                continue
            status = blocks[0].get("status", "").split()[0] if blocks[0].get("status") else ""
            kind = verdict or (Kind.SOFT_BOUNCE if status.startswith("4") else Kind.HARD_BOUNCE)
            addresses = [
                b.get("final-recipient", b.get("original-recipient", "")).rpartition(";")[2].strip()
                for b in blocks
            ]
            diagnostic = blocks[0].get("diagnostic-code", "").rpartition(";")[2].strip()
            reason = f"delivery status {status or 'unknown'}" + (
                f": {diagnostic[:300]}" if diagnostic else ""
            )
            return Classified(kind, reason, tags, [a for a in addresses if a], status or None)
        return None
    return None


def _complaint(message: EmailMessage, tags: list[str]) -> Classified:
    feedback = "abuse"
    recipients: list[str] = []
    for part in message.walk():
        if part.get_content_type() == "message/feedback-report":
            for block in _fields(part):
                feedback = block.get("feedback-type", feedback)
                if "original-rcpt-to" in block:
                    recipients.append(block["original-rcpt-to"].strip("<> "))
    return Classified(Kind.COMPLAINT, f"a feedback report ({feedback})", tags, recipients, feedback)


def _addressed_to(message: EmailMessage, address: str) -> bool:
    wanted = address.strip().lower()
    for name in ("To", "Delivered-To", "X-Original-To", "Cc"):
        for value in message.get_all(name, []):
            if wanted in str(value).lower():
                return True
    return False


def _auto_reply(message: EmailMessage) -> bool:
    auto = str(message.get("Auto-Submitted", "")).lower()
    if auto and auto != "no":
        return True
    if message.get("X-Autoreply") or message.get("X-Autorespond"):
        return True
    precedence = str(message.get("Precedence", "")).lower()
    return precedence == "auto_reply" or bool(_AUTO_SUBJECT.match(str(message.get("subject", ""))))
