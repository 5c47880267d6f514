"""Profile field rules shared by every surface that writes a contact."""

from __future__ import annotations

import re
from typing import Any

from outreach.errors import ValidationError

PROFILE_LIMITS = {
    "first_name": 200,
    "last_name": 200,
    "sector": 200,
    "organization": 300,
    "language": 35,
}
PROFILE_FIELDS = tuple(PROFILE_LIMITS)
MAX_ATTRIBUTE_VALUE = 10_000
MAX_ATTRIBUTES = 100
# A CSV file: the address, the profile fields and one column per attribute.
MAX_IMPORT_COLUMNS = 1 + len(PROFILE_FIELDS) + MAX_ATTRIBUTES
_LANGUAGE = re.compile(r"^[A-Za-z]{2,3}([-_][A-Za-z0-9]{2,8})*$")
_ATTRIBUTE_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,62}$")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def clean_text(field: str, value: Any, limit: int) -> str:
    """Trim a text value and refuse line breaks, control characters and oversize values."""
    text = "" if value is None else str(value).strip()
    if len(text) > limit:
        raise ValidationError(f"{field} is longer than {limit} characters", field=field)
    if _CONTROL.search(text):
        raise ValidationError(f"{field} contains a line break or control character", field=field)
    return text


def clean_profile(values: dict[str, Any]) -> dict[str, Any]:
    """Validated profile fields among `values` (only those present)."""
    cleaned: dict[str, Any] = {}
    for field, limit in PROFILE_LIMITS.items():
        if field in values:
            cleaned[field] = clean_text(field, values[field], limit)
    if cleaned.get("language") and not _LANGUAGE.match(cleaned["language"]):
        raise ValidationError(
            f"language {cleaned['language']!r} is not a language tag such as 'en' or 'fr-FR'",
            field="language",
        )
    if "sector" in cleaned:
        cleaned["sector"] = cleaned["sector"] or None
    return cleaned


def clean_attributes(values: dict[str, Any]) -> dict[str, Any]:
    """Validated free attributes: safe names usable as `contact.attributes.NAME`."""
    check_attribute_count(len(values))
    cleaned: dict[str, Any] = {}
    for name, value in values.items():
        key = str(name).strip()
        if not _ATTRIBUTE_NAME.match(key):
            raise ValidationError(
                f"attribute name {key!r} must be letters, digits and underscores", field=key
            )
        if isinstance(value, str):
            value = clean_attribute_value(key, value)
        elif len(str(value)) > MAX_ATTRIBUTE_VALUE:
            raise ValidationError(
                f"{key} is longer than {MAX_ATTRIBUTE_VALUE} characters", field=key
            )
        cleaned[key] = value
    return cleaned


def check_attribute_count(count: int) -> None:
    """Refuse a contact with more than MAX_ATTRIBUTES free attributes."""
    if count > MAX_ATTRIBUTES:
        raise ValidationError(
            f"{count} attributes, more than the {MAX_ATTRIBUTES} a contact may have",
            field="attributes",
        )


def clean_attribute_value(name: str, value: str) -> str:
    """One string attribute value, trimmed and capped."""
    value = value.strip()
    if len(value) > MAX_ATTRIBUTE_VALUE:
        raise ValidationError(f"{name} is longer than {MAX_ATTRIBUTE_VALUE} characters", field=name)
    return value
