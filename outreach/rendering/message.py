"""Message assembly: a per-variant skeleton, then per contact only substitution and MIME.

Hand-assembled MIME (ENGINEERING.md: `EmailMessage` costs ~1 ms a message, this ~0.05 ms):
multipart/alternative, text and HTML quoted-printable, CRLF line ends, no line over 998
bytes, the unsubscribe headers of RFC 2369/8058 (DKIM is added by the transport).
"""

from __future__ import annotations

import os
import random
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from email.header import Header
from email.utils import formataddr, formatdate
from functools import lru_cache
from typing import Any, Protocol
from urllib.parse import quote

from markupsafe import Markup

from outreach.rendering.bounds import MAX_LINE_OUTPUT, bounded, render_bounded
from outreach.rendering.pipeline import CompiledVariant
from outreach.rendering.qp import encode
from outreach.rendering.templates import ContactView


class Recipient(Protocol):
    """What a message needs to know about its contact."""

    id: int
    email: str
    first_name: str
    last_name: str


def encode_header(value: str) -> str:
    """A header value: ASCII as it is, anything else RFC 2047 encoded (CR/LF refused)."""
    if "\r" in value or "\n" in value:
        raise ValueError("header values cannot contain line breaks")
    if value.isascii() and len(value) < 900:
        return value
    return Header(value, "utf-8", maxlinelen=76).encode(linesep="\r\n")


@dataclass(frozen=True)
class Tracking:
    """What a message to a contact who allowed tracking carries (None: nothing)."""

    open_url: str | None = None
    click: Callable[[str], str] | None = None
    keep: tuple[str, ...] = ()


@dataclass(frozen=True)
class Links:
    """The per-contact URLs a message carries."""

    unsubscribe: str
    preferences: str


class _Clock:
    """Date header, formatted at most once a second."""

    def __init__(self) -> None:
        self.second = 0
        self.value = ""

    def now(self) -> str:
        second = int(time.time())
        if second != self.second:
            self.second, self.value = second, formatdate(second, usegmt=True)
        return self.value


_clock = _Clock()

# Message-IDs and MIME boundaries need to be unique, not secret: a generator seeded from
# the system's randomness per process (again in each forked child), not a system call per
# message (secrets.token_hex: two a message, each giving up the GIL).
_unique = random.Random(os.urandom(16))  # noqa: S311 (unique, not secret)
os.register_at_fork(after_in_child=lambda: _unique.seed(os.urandom(16)))


def _hex(digits: int) -> str:
    return f"{_unique.getrandbits(digits * 4):0{digits}x}"


class MessageBuilder:
    """Everything one variant's messages share, prepared once."""

    def __init__(
        self,
        compiled: CompiledVariant,
        *,
        campaign_id: int,
        campaign_name: str,
        from_name: str,
        from_email: str,
        reply_to: str | None,
        group_name: str,
        unsubscribe_mailto: str | None = None,
        language: str = "en",
        test: bool = False,
    ) -> None:
        self.compiled = compiled
        self.campaign_id = campaign_id
        self.domain = from_email.rpartition("@")[2]
        self.mailto = unsubscribe_mailto
        self.test = test
        self.language = language
        self.base_context = {"group": {"name": group_name}, "campaign": {"name": campaign_name}}
        fixed = [
            f"From: {formataddr((from_name, from_email), charset='utf-8')}",
            *([f"Reply-To: {reply_to}"] if reply_to else []),
            f"List-Id: {encode_header(campaign_name[:60])} <campaign-{campaign_id}.{self.domain}>",
            "List-Unsubscribe-Post: List-Unsubscribe=One-Click",
            "MIME-Version: 1.0",
            # For the providers' feedback loops: campaign, kind, sender (Gmail's format).
            f"Feedback-ID: {campaign_id}:campaign:outreach:{self.domain}",
            *(["X-Outreach-Test: yes"] if test else []),
        ]
        self.fixed = "\r\n".join(fixed)

    def context(self, contact: Any, links: Links) -> dict[str, Any]:
        """The template variables of one message."""
        return {
            **self.base_context,
            "contact": ContactView.of(contact),
            "unsubscribe_url": links.unsubscribe,
            "preferences_url": links.preferences,
        }

    def build(
        self,
        contact: Recipient,
        links: Links,
        tracking: Tracking | None = None,
        delivery: str | None = None,
    ) -> tuple[str, bytes]:
        """(Message-ID, message bytes) for one contact; within the template bounds, or
        LimitExceeded naming the one this contact's data went over. `delivery`: the
        delivery's signed tag, carried in X-Outreach-Delivery so that a bounce or
        complaint quoting the message names its delivery."""
        context = self.context(contact, links)
        compiled = self.compiled
        with bounded():
            subject = render_bounded(compiled.subject.generate(context), MAX_LINE_OUTPUT, "subject")
            if self.test:
                subject = f"[TEST] {subject}"
            context["preheader"] = render_bounded(
                compiled.preheader.generate(context), MAX_LINE_OUTPUT, "preheader"
            )
            context["subject"] = subject
            context["language"] = language_tag(getattr(contact, "language", "")) or self.language
            if tracking is None:
                html = compiled.html_qp.render(context)
            elif compiled.tracked_qp is not None:  # its links and pixel placed per variant
                html = compiled.tracked_qp.render({**context, **_placed(compiled, tracking)})
            else:  # a link whose address is an expression: rewritten in the rendered HTML
                html = encode(_tracked(render_bounded(compiled.html.generate(context)), tracking))
            text = compiled.text_qp.render(context)
        message_id = f"<{self.campaign_id}.{contact.id}.{_hex(12)}@{self.domain}>"
        name = f"{contact.first_name} {contact.last_name}".strip()
        boundary = f"=_outreach_{_hex(24)}"
        unsubscribe = f"<{links.unsubscribe}>"
        if self.mailto:
            token = links.unsubscribe.rpartition("/")[2]
            unsubscribe += f", <mailto:{self.mailto}?subject={quote('unsubscribe ' + token)}>"
        head = (
            f"{self.fixed}\r\n"
            f"To: {formataddr((name, contact.email), charset='utf-8')}\r\n"
            f"Subject: {encode_header(subject)}\r\n"
            f"Date: {_clock.now()}\r\n"
            f"Message-ID: {message_id}\r\n"
            f"List-Unsubscribe: {unsubscribe}\r\n"
            + (f"X-Outreach-Delivery: {delivery}\r\n" if delivery else "")
            + f'Content-Type: multipart/alternative; boundary="{boundary}"\r\n\r\n'
        )
        part = (
            "--{b}\r\nContent-Type: text/{kind}; charset=utf-8\r\n"
            "Content-Transfer-Encoding: quoted-printable\r\n\r\n"
        )
        body = b"".join(
            (
                part.format(b=boundary, kind="plain").encode(),
                text,
                b"\r\n",
                part.format(b=boundary, kind="html").encode(),
                html,
                b"\r\n",
                f"--{boundary}--\r\n".encode(),
            )
        )
        # Unsigned: the transport signs every outgoing message (one signing path).
        return message_id, head.encode() + body


_TAG = re.compile(r"[A-Za-z]{2,8}(-[A-Za-z0-9]{1,8})*")


@lru_cache(maxsize=256)
def language_tag(language: str | None) -> str:
    """A contact's language as a BCP 47 tag (`pt_BR` → `pt-BR`), "" when it is none."""
    value = (language or "").strip().replace("_", "-")
    return value if _TAG.fullmatch(value) else ""


def _placed(compiled: CompiledVariant, tracking: Tracking) -> dict[str, Any]:
    """The tracked template's calls for one message: each link through the click
    redirect (or as written, without click tracking, or when it is one to keep), the
    pixel (or nothing)."""
    from outreach.rendering.tracked import LINK, PIXEL, pixel

    click, targets, written = tracking.click, compiled.targets, compiled.written

    def link(n: int) -> Markup:
        target = targets[n]
        if click is None or target.startswith(tracking.keep):
            return Markup(written[n])  # noqa: S704 (the template's own text, escaped there)
        return Markup(click(target))  # noqa: S704 (a signed URL of URL-safe characters)

    shown = pixel(tracking.open_url) if tracking.open_url is not None else ""
    return {LINK: link, PIXEL: Markup(shown)}  # noqa: S704 (our own tag)


def _tracked(html: str, tracking: Tracking) -> str:
    """Rewritten links and the open pixel, as the contact's consents allow."""
    from outreach.rendering.tracked import pixel, rewrite_links

    if tracking.click is not None:
        html = rewrite_links(html, tracking.click, tracking.keep)
    if tracking.open_url is not None:
        tag = pixel(tracking.open_url)
        at = html.lower().rfind("</body>")
        html = html[:at] + tag + html[at:] if at >= 0 else html + tag
    return html
