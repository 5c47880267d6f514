"""The privacy notice: controller identity, first and second layer, immutable versions."""

from __future__ import annotations

import hashlib
import json
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from outreach.consent.models import NoticeVersion, Setting
from outreach.errors import ValidationError

FIRST_LAYER_FIELDS = (
    "responsible",
    "purpose",
    "legitimation",
    "recipients",
    "rights",
    "additional",
)
CONTROLLER_FIELDS = ("name", "address", "email")

DEFAULT_CONTROLLER = {
    "name": "The newsletter's publisher",
    "address": "Set the postal address in Admin › Settings",
    "email": "privacy@example.org",
}
DEFAULT_FIRST_LAYER = {
    "responsible": "The publisher named below is responsible for your data.",
    "purpose": "Sending you the monthly newsletter and the free ebook you asked for; "
    "if you allow it, measuring opens and clicks to improve it.",
    "legitimation": "Your consent, which you can withdraw at any time with one click.",
    "recipients": "No one else, except the email service that delivers our messages.",
    "rights": "Access, rectify and delete your data, and the other rights described in "
    "the full notice.",
    "additional": "Read the full privacy notice for details.",
}
DEFAULT_FULL_TEXT = (
    "Controller: see above.\n\n"
    "What we keep: your email address, the name and sector you gave us, your consent "
    "history (time, IP address, browser and the text of this notice you were shown), "
    "and the messages we sent you, with opens and clicks only if you allowed tracking.\n\n"
    "Why: to send you the newsletter you asked for (your consent) and, separately and "
    "only with your consent, to measure opens and clicks.\n\n"
    "How long: until you unsubscribe or ask us to erase your data. Unconfirmed sign-ups "
    "are deleted after 14 days.\n\n"
    "Your rights: access, rectification, erasure, restriction, objection and data "
    "portability, at /privacy/request; we answer within one month. You may also "
    "complain to your data protection authority."
)
MAX_NOTICE = 50_000


def _hash(controller: dict[str, str], first_layer: dict[str, str], full_text: str) -> str:
    canonical = json.dumps([controller, first_layer, full_text], sort_keys=True, ensure_ascii=False)
    return hashlib.sha256(canonical.encode()).hexdigest()


CURRENT_KEY = "notice.current"


def current_notice(session: Session) -> NoticeVersion:
    """The notice in force (the defaults become version 1 on first use)."""
    setting = session.get(Setting, CURRENT_KEY)
    notice = session.get(NoticeVersion, setting.value) if setting else None
    if notice is None:
        notice = save_notice(session, DEFAULT_CONTROLLER, DEFAULT_FIRST_LAYER, DEFAULT_FULL_TEXT)
    return notice


def _clean(values: dict[str, Any], names: tuple[str, ...], what: str) -> dict[str, str]:
    cleaned = {name: str(values.get(name) or "").strip() for name in names}
    for name, text in cleaned.items():
        if not text:
            raise ValidationError(f"{what} {name.replace('_', ' ')} is required", field=name)
        if len(text) > MAX_NOTICE:
            raise ValidationError(f"{what} {name} is too long", field=name)
    return cleaned


def save_notice(
    session: Session, controller: dict[str, Any], first_layer: dict[str, Any], full_text: str
) -> NoticeVersion:
    """Store a new notice version unless identical to an existing one; return the version."""
    controller_clean = _clean(controller, CONTROLLER_FIELDS, "controller")
    layer_clean = _clean(first_layer, FIRST_LAYER_FIELDS, "notice")
    full = (full_text or "").strip()
    if not full or len(full) > MAX_NOTICE:
        raise ValidationError(
            "the full privacy notice is required (at most 50,000 characters)", field="full_text"
        )
    digest = _hash(controller_clean, layer_clean, full)
    notice = session.scalar(sa.select(NoticeVersion).where(NoticeVersion.hash == digest))
    if notice is None:
        notice = NoticeVersion(
            hash=digest, controller=controller_clean, first_layer=layer_clean, full_text=full
        )
        session.add(notice)
        session.flush()
    setting = session.get(Setting, CURRENT_KEY)
    if setting is None:
        session.add(Setting(key=CURRENT_KEY, value=notice.id))
    else:
        setting.value = notice.id
    session.flush()
    return notice


def notice_to_dict(notice: NoticeVersion) -> dict[str, Any]:
    """A notice version as cited in consent proofs."""
    return {
        "version": notice.id,
        "hash": notice.hash,
        "controller": notice.controller,
        "first_layer": notice.first_layer,
        "full_text": notice.full_text,
        "created_at": notice.created_at.isoformat(),
    }
