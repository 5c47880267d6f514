"""The privacy notice: controller identity, first and second layer, immutable versions."""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from outreach.consent.models import NoticeVersion
from outreach.errors import ValidationError
from outreach.stored_settings import Setting

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
    "responsible": "The controller answers for how your data is used.",
    "purpose": "Sending you the monthly newsletter and the free ebook you asked for; "
    "if you allow it, measuring opens and clicks to improve it.",
    "legitimation": "Your consent, which you can withdraw at any time with one click.",
    "recipients": "No one else, except the email service that delivers our messages.",
    "rights": "Access, rectify and delete your data, and the other rights described in "
    "the full notice.",
    "additional": "Read the full privacy notice for details.",
}
DEFAULT_FULL_TEXT = (
    "Controller: the publisher of this newsletter, whose name and addresses head this notice.\n\n"
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


# The name of each notice field for `outreach settings` and /api/v1/settings, and where it
# lives in a NoticeVersion (the admin form names them the same, but for the controller).
SETTING_KEYS: dict[str, tuple[str, str]] = {
    "controller_name": ("controller", "name"),
    "postal_address": ("controller", "address"),
    "contact_email": ("controller", "email"),
    **{f"first_layer_{f}": ("first_layer", f) for f in FIRST_LAYER_FIELDS},
    "full_text": ("full_text", ""),
}
_KEY_OF = {place: key for key, place in SETTING_KEYS.items()}


def normalize_text(text: str) -> str:
    """A notice text as stored and hashed: LF line endings, no trailing spaces on a line,
    no blank lines (nor spaces) at either end; browsers submit CRLF."""
    lines = str(text or "").replace("\r\n", "\n").replace("\r", "\n").split("\n")
    return "\n".join(line.rstrip() for line in lines).strip()


def notice_paragraphs(text: str) -> list[str]:
    """The paragraphs of a notice text (separated by blank lines), for display."""
    return [p.strip() for p in re.split(r"\n\s*\n", normalize_text(text)) if p.strip()]


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


def _clean(values: dict[str, Any], part: str, names: tuple[str, ...], what: str) -> dict[str, str]:
    cleaned = {name: normalize_text(values.get(name) or "") for name in names}
    for name, text in cleaned.items():
        field = _KEY_OF[(part, name)]
        if not text:
            raise ValidationError(f"{what} {name.replace('_', ' ')} is required", field=field)
        if len(text) > MAX_NOTICE:
            raise ValidationError(f"{what} {name} is too long", field=field)
    return cleaned


def _check_address(address: str) -> None:
    from outreach.contacts.identity import normalize_email

    try:
        normalize_email(address)
    except ValidationError as exc:
        raise ValidationError(f"contact email: {exc.message}", field="contact_email") from exc


def save_notice(
    session: Session, controller: dict[str, Any], first_layer: dict[str, Any], full_text: str
) -> NoticeVersion:
    """Store a new notice version unless identical to an existing one; return the version."""
    controller_clean = _clean(controller, "controller", CONTROLLER_FIELDS, "controller")
    _check_address(controller_clean["email"])
    layer_clean = _clean(first_layer, "first_layer", FIRST_LAYER_FIELDS, "notice")
    full = normalize_text(full_text)
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


def notice_versions(session: Session, limit: int = 50) -> list[NoticeVersion]:
    """The latest notice versions, newest first."""
    query = sa.select(NoticeVersion).order_by(NoticeVersion.id.desc()).limit(limit)
    return list(session.scalars(query))


def get_notice(session: Session, number: int) -> NoticeVersion | None:
    """One notice version by its number (None when there is none)."""
    return session.get(NoticeVersion, number)


def times_cited(session: Session, notice_id: int) -> int:
    """How many consent events cite this notice version."""
    from outreach.consent.models import ConsentEvent

    query = sa.select(sa.func.count()).select_from(ConsentEvent)
    return session.scalar(query.where(ConsentEvent.notice_version_id == notice_id)) or 0


def notice_settings(notice: NoticeVersion) -> dict[str, str]:
    """The fields of a notice version by setting key (see SETTING_KEYS)."""
    values: dict[str, str] = {}
    for key, (part, name) in SETTING_KEYS.items():
        values[key] = notice.full_text if part == "full_text" else getattr(notice, part)[name]
    return values


def settings_document(notice: NoticeVersion) -> dict[str, Any]:
    """The notice in force as `outreach settings show --json` and the API show it."""
    return {
        "version": notice.id,
        "hash": notice.hash,
        "created_at": notice.created_at.isoformat(),
        **notice_settings(notice),
    }


def change_settings(session: Session, changes: Mapping[str, Any]) -> tuple[NoticeVersion, bool]:
    """Apply `changes` (setting keys to new values) to the notice in force: a notice whose
    normalized texts differ becomes the version in force (a new one, or the identical earlier
    one); return it and whether the version in force changed. The admin's Settings form,
    `outreach settings set` and PATCH /api/v1/settings all come here."""
    for key in changes:
        if key not in SETTING_KEYS:
            known = ", ".join(SETTING_KEYS)
            raise ValidationError(f"unknown setting {key!r}: choose one of {known}", field=key)
    before = current_notice(session)
    values = {**notice_settings(before), **{k: str(v or "") for k, v in changes.items()}}
    parts: dict[str, dict[str, str]] = {"controller": {}, "first_layer": {}}
    for key, (part, name) in SETTING_KEYS.items():
        if part != "full_text":
            parts[part][name] = values[key]
    notice = save_notice(session, parts["controller"], parts["first_layer"], values["full_text"])
    return notice, notice.id != before.id


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
