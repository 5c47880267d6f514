"""The files other tools export, recognised by their header: which column is which, what
their rows are (subscribed, unsubscribed, cleaned), and where a job title is.

A preset only says what a tool's columns mean; the person's `--map` still wins over it,
and a column no preset or alias knows becomes an attribute as in any file. Header names
are compared by `table.header_key` (no case, accents or punctuation).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

from outreach.errors import ImportFileError


class RowsAre(StrEnum):
    """What the rows of a file are, whatever status the import is asked for."""

    CONTACTS = "contacts"  # people to import as --status says (pending unless stated)
    UNSUBSCRIBED = "unsubscribed"  # people who withdrew: imported as unsubscribed
    CLEANED = "cleaned"  # addresses that bounced: suppressed, never mailed


@dataclass(frozen=True)
class Preset:
    """How one tool's export reads."""

    name: str  # what --preset takes
    label: str  # what the summary says
    signature: frozenset[str]  # header keys that all appear in the tool's export
    mapping: dict[str, str] = field(default_factory=dict)  # header key → field
    rows_are: RowsAre = RowsAre.CONTACTS
    subscribed: bool = False  # its rows carry a recorded opt-in: imported as subscribed
    sector_from: tuple[str, ...] = ()  # header keys of the job title and company
    hint: str = ""  # a sentence for the summary


_MAILCHIMP_MAPPING = {
    "email address": "email",
    "first name": "first_name",
    "last name": "last_name",
    "optin time": "evidence.given_at",
    "optin ip": "evidence.given_ip",
    "confirm time": "evidence.confirmed_at",
    "confirm ip": "evidence.confirmed_ip",
    "tags": "tags",
    "member rating": "attributes.member_rating",
    "unsub time": "evidence.withdrawn_at",
    "unsub reason": "attributes.unsubscribe_reason",
    "clean time": "evidence.cleaned_at",
    # Mailchimp's own identifiers and its geolocation guesses are not the contact's data.
    **{
        key: "ignore"
        for key in (
            "leid",
            "euid",
            "latitude",
            "longitude",
            "gmtoff",
            "dstoff",
            "last changed",
            "unsub campaign title",
            "unsub campaign id",
            "unsub reason other",
            "clean campaign title",
            "clean campaign id",
        )
    },
}
_MAILCHIMP = frozenset({"email address", "member rating", "optin time", "confirm time", "leid"})
_INVITE = (
    "they are pending: `outreach consent invite --group NAME` (or Invite to opt in on the "
    "group's page) asks them to confirm"
)

PRESETS = (
    Preset(
        "mailchimp",
        "Mailchimp audience export (subscribed)",
        _MAILCHIMP,
        _MAILCHIMP_MAPPING,
        subscribed=True,
        hint="the opt-in Mailchimp recorded (times and IPs) is kept in the consent ledger",
    ),
    Preset(
        "mailchimp-unsubscribed",
        "Mailchimp audience export (unsubscribed)",
        _MAILCHIMP | {"unsub time"},
        _MAILCHIMP_MAPPING,
        rows_are=RowsAre.UNSUBSCRIBED,
        hint="imported as unsubscribed, each withdrawal at its UNSUB_TIME",
    ),
    Preset(
        "mailchimp-cleaned",
        "Mailchimp audience export (cleaned)",
        _MAILCHIMP | {"clean time"},
        _MAILCHIMP_MAPPING,
        rows_are=RowsAre.CLEANED,
        hint="cleaned addresses bounced: they are suppressed and never mailed",
    ),
    Preset(
        "linkedin",
        "LinkedIn Connections",
        frozenset({"first name", "last name", "url", "email address", "position", "connected on"}),
        {
            "url": "attributes.linkedin_url",
            "position": "attributes.position",
            "connected on": "attributes.connected_on",
        },
        sector_from=("position", "company"),
        hint=_INVITE,
    ),
    Preset(
        "google",
        "Google Contacts",
        frozenset({"e mail 1 value"}),
        {
            "name": "name",
            "given name": "first_name",
            "family name": "last_name",
            "organization 1 name": "organization",
            "organization title": "attributes.position",
            "organization 1 title": "attributes.position",
            "labels": "tags",
            "group membership": "tags",
            **{
                f"{kind} {n} {part}": "ignore"
                for kind in ("e mail", "phone", "address", "website", "relation", "event")
                for n in range(1, 5)
                for part in ("label", "type")
            },
        },
        sector_from=("organization title", "organization 1 title", "organization name"),
        hint=_INVITE,
    ),
    Preset(
        "outlook",
        "Outlook contacts",
        frozenset({"e mail address", "e mail 2 address", "job title"}),
        {
            "e mail address": "email",
            "e mail 2 address": "attributes.email_2",
            "e mail 3 address": "attributes.email_3",
            "job title": "attributes.position",
            "categories": "tags",
            **{
                f"e mail {n} {part}": "ignore"
                for n in ("", "2", "3")
                for part in ("type", "display name")
            },
            "e mail type": "ignore",
            "e mail display name": "ignore",
        },
        sector_from=("job title", "company"),
        hint=_INVITE,
    ),
    Preset(
        "listmonk",
        "listmonk subscribers",
        frozenset({"email", "name", "attributes"}),
        {
            "name": "name",
            "attributes": "attributes.*",
            "status": "blocklist",
            "uuid": "ignore",
            "created at": "ignore",
            "updated at": "ignore",
            "id": "ignore",
        },
    ),
    Preset(
        "outreach",
        "Outreach contacts export",
        frozenset(
            {"email", "first name", "last name", "sector", "organization", "language", "status"}
        ),
        {"status": "ignore", "groups": "ignore", "created at": "ignore"},
    ),
)
BY_NAME = {p.name: p for p in PRESETS}
NAMES = tuple(BY_NAME)


def detect(keys: set[str]) -> Preset | None:
    """The preset whose signature the header holds, the most specific first (Mailchimp's
    unsubscribed export has every column of its subscribed one, and UNSUB_TIME)."""
    fits = [p for p in PRESETS if p.signature <= keys]
    return max(fits, key=lambda p: len(p.signature)) if fits else None


def named(name: str) -> Preset | None:
    """The preset `--preset NAME` forces (`none`: no preset, only the aliases)."""
    if name == "none":
        return None
    try:
        return BY_NAME[name]
    except KeyError:
        raise ImportFileError(
            f"--preset: {name!r} is not a preset ({', '.join(NAMES)} or none)", field="preset"
        ) from None
