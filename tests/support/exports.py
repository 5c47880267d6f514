"""Files in the exact formats other tools export (synthetic people, the real column names
and quirks), each with what importing it must do, whichever surface imports it: the
command line, the API or the admin wizard.

`check(session, export)` asserts the contacts, their groups and their consent ledger.
"""

from __future__ import annotations

import io
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa
from openpyxl import Workbook
from sqlalchemy.orm import Session

from outreach.consent.models import ConsentEvent
from outreach.contacts.models import Contact
from outreach.groups.models import Group, GroupMembership

# LinkedIn's Connections.csv starts with notes, and most connections hide their address.
LINKEDIN = (
    "Notes:\n"
    '"When exporting your connection data, you may notice that some of the email addresses '
    "are missing. You will only see email addresses for connections who have allowed their "
    'connections to see or download their email address."\n'
    "\n"
    "First Name,Last Name,URL,Email Address,Company,Position,Connected On\n"
    "Lucía,Pérez,https://www.linkedin.com/in/lucia,lucia@example.org,Diario Sur,"
    "Periodista,12 Mar 2024\n"
    "Tom,Baker,https://www.linkedin.com/in/tom,,Acme,CEO,01 Feb 2023\n"
)
MAILCHIMP_HEADER = (
    "Email Address,First Name,Last Name,Address,Phone Number,MEMBER_RATING,OPTIN_TIME,"
    "OPTIN_IP,CONFIRM_TIME,CONFIRM_IP,LATITUDE,LONGITUDE,GMTOFF,DSTOFF,TIMEZONE,CC,REGION,"
    "LAST_CHANGED,LEID,EUID,NOTES,TAGS"
)
MAILCHIMP = (
    MAILCHIMP_HEADER + "\n"
    "mia@example.org,Mia,Wong,,,2,2023-03-01 10:00:00,203.0.113.5,2023-03-01 10:05:00,"
    '203.0.113.5,,,,,,,,2023-03-01 10:05:00,1,abc,,"""Conference 2023"",""VIP"""\n'
)
UNSUBSCRIBED = (
    MAILCHIMP_HEADER + ",UNSUB_TIME,UNSUB_CAMPAIGN_TITLE,UNSUB_CAMPAIGN_ID,UNSUB_REASON,"
    "UNSUB_REASON_OTHER\n"
    "leo@example.org,Leo,Ruiz,,,2,2022-01-01 09:00:00,198.51.100.7,,,,,,,,,,"
    "2023-05-02 08:00:00,2,def,,,2023-05-02 08:00:00,May news,abc123,NORMAL,\n"
)
CLEANED = (
    MAILCHIMP_HEADER + ",CLEAN_TIME,CLEAN_CAMPAIGN_TITLE,CLEAN_CAMPAIGN_ID\n"
    "gone@example.org,Gone,Away,,,1,,,,,,,,,,,,2023-06-01 00:00:00,3,ghi,,,"
    "2023-06-01 00:00:00,June news,xyz\n"
)
GOOGLE = (
    "First Name,Middle Name,Last Name,Organization Name,Organization Title,"
    "E-mail 1 - Label,E-mail 1 - Value,Labels\n"
    "Ana,,García,Acme,Consultant,* Work,ana@example.org ::: ana@home.example,"
    "* myContacts ::: Friends\n"
)
OUTLOOK = (
    "First Name,Middle Name,Last Name,Title,Company,Department,Job Title,E-mail Address,"
    "E-mail Type,E-mail Display Name,E-mail 2 Address,Categories\n"
    "Ines,,Sousa,Dr.,Jornal Norte,,Editora-chefe,ines@example.org,SMTP,Ines Sousa,"
    "ines@home.example,Press;VIP\n"
)
LISTMONK = (
    "uuid,email,name,attributes,status,created_at,updated_at\n"
    '1b2c,kim@example.org,Kim Lee Park,"{""city"": ""Seoul"", ""score"": 7}",enabled,'
    "2024-01-01,2024-01-02\n"
    "3d4e,spam@example.org,Spam,{},blocklisted,2024-01-01,2024-01-02\n"
)
# Outreach's own `contacts export` (its formula guard on the phone number).
OUTREACH = (
    "email,first_name,last_name,sector,organization,language,status,groups,phone\n"
    "sam@example.org,Sam,Okoro,Managers,Okoro Ltd,en,pending,Managers,'+34 600 000 001\n"
)


def workbook() -> bytes:
    """An .xlsx workbook whose contacts are on its second sheet, under a title row."""
    book = Workbook()
    book.active.title = "Notes"
    book.active.append(["nothing here"])
    sheet = book.create_sheet("Contacts")
    sheet.append(["Exported from the CRM"])
    sheet.append(["E-mail", "Vorname", "Nachname", "Firma", "Job Title", "Seit"])
    sheet.append(["jo@example.org", "Jörg", "Weiß", "Presse AG", "Redactor", 2021])
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


@dataclass(frozen=True)
class Person:
    """What one contact must look like after the import."""

    first_name: str
    last_name: str
    status: str
    sector: str | None = None
    organization: str = ""
    groups: frozenset[str] = frozenset()
    attributes: dict[str, Any] = field(default_factory=dict)  # a subset of them
    # (action, basis, ip) of the newsletter consent events, in order
    events: tuple[tuple[str, str, str | None], ...] = ()


@dataclass(frozen=True)
class Export:
    key: str
    file_name: str
    data: bytes
    preset: str  # the label the report names, "" for none
    layout: str
    counts: dict[str, int]  # a subset of the report
    people: dict[str, Person]
    absent: tuple[str, ...] = ()  # addresses that must not become contacts
    options: dict[str, str] = field(default_factory=dict)  # form field -> value

    def cli_options(self) -> list[str]:
        return [a for k, v in self.options.items() for a in (f"--{k.replace('_', '-')}", v)]


PENDING_EVENTS: tuple[tuple[str, str, str | None], ...] = ()  # an invitation asks later
SOURCE = "test fair"

EXPORTS = [
    Export(
        "linkedin",
        "Connections.csv",
        LINKEDIN.encode(),
        "LinkedIn Connections",
        "UTF-8, comma, 3 lines before the header skipped",
        {"rows": 2, "created": 1, "invalid": 1},
        {
            "lucia@example.org": Person(
                "Lucía",
                "Pérez",
                "pending",
                "Journalists",
                "Diario Sur",
                frozenset({"Journalists"}),
                {"position": "Periodista", "linkedin_url": "https://www.linkedin.com/in/lucia"},
                PENDING_EVENTS,
            )
        },
    ),
    Export(
        "mailchimp",
        "subscribed_members_export.csv",
        MAILCHIMP.encode(),
        "Mailchimp audience export (subscribed)",
        "UTF-8, comma",
        {"rows": 1, "created": 1},
        {
            "mia@example.org": Person(
                "Mia",
                "Wong",
                "subscribed",
                groups=frozenset({"Conference 2023", "VIP"}),
                events=(
                    ("given", "imported", "203.0.113.5"),
                    ("confirmed", "imported", "203.0.113.5"),
                    ("confirmed", "declared", None),
                ),
            )
        },
    ),
    Export(
        "mailchimp-unsubscribed",
        "unsubscribed_members_export.csv",
        UNSUBSCRIBED.encode(),
        "Mailchimp audience export (unsubscribed)",
        "UTF-8, comma",
        {"rows": 1, "created": 1, "withdrawn": 1},
        {
            "leo@example.org": Person(
                "Leo",
                "Ruiz",
                "unsubscribed",
                events=(("given", "imported", "198.51.100.7"), ("withdrawn", "imported", None)),
            )
        },
    ),
    Export(
        "mailchimp-cleaned",
        "cleaned_members_export.csv",
        CLEANED.encode(),
        "Mailchimp audience export (cleaned)",
        "UTF-8, comma",
        {"rows": 1, "created": 0, "suppressed": 1},
        {},
        absent=("gone@example.org",),
    ),
    Export(
        "google",
        "contacts.csv",
        GOOGLE.encode(),
        "Google Contacts",
        "UTF-8, comma",
        {"rows": 1, "created": 1},
        {
            "ana@example.org": Person(
                "Ana",
                "García",
                "pending",
                "Consultants",
                "Acme",
                frozenset({"Consultants", "Friends"}),
                events=PENDING_EVENTS,
            )
        },
        absent=("ana@home.example",),
    ),
    Export(
        "outlook",
        "outlook.csv",
        OUTLOOK.encode(),
        "Outlook contacts",
        "UTF-8, comma",
        {"rows": 1, "created": 1},
        {
            "ines@example.org": Person(
                "Ines",
                "Sousa",
                "pending",
                "Journalists",
                "Jornal Norte",
                frozenset({"Journalists", "Press", "VIP"}),
                {"position": "Editora-chefe"},
                PENDING_EVENTS,
            )
        },
    ),
    Export(
        "listmonk",
        "subscribers.csv",
        LISTMONK.encode(),
        "listmonk subscribers",
        "UTF-8, comma",
        {"rows": 2, "created": 1, "skipped": 1},
        {
            "kim@example.org": Person(
                "Kim",
                "Lee Park",
                "pending",
                attributes={"city": "Seoul", "score": "7"},
                events=PENDING_EVENTS,
            )
        },
        absent=("spam@example.org",),
    ),
    Export(
        "outreach",
        "outreach-contacts.csv",
        OUTREACH.encode(),
        "Outreach contacts export",
        "UTF-8, comma",
        {"rows": 1, "created": 1},
        {
            "sam@example.org": Person(
                "Sam",
                "Okoro",
                "pending",
                "Managers",
                "Okoro Ltd",
                frozenset({"Managers"}),
                {"phone": "+34 600 000 001"},
                PENDING_EVENTS,
            )
        },
    ),
    Export(
        "excel-semicolon-cp1252",
        "excel.csv",
        "email;first_name;last_name;sector\r\njose@example.org;José;Müller;Thinkers\r\n".encode(
            "cp1252"
        ),
        "",
        "cp1252, semicolon",
        {"rows": 1, "created": 1},
        {
            "jose@example.org": Person(
                "José",
                "Müller",
                "pending",
                "Thinkers",
                groups=frozenset({"Thinkers"}),
                events=PENDING_EVENTS,
            )
        },
    ),
    Export(
        "utf16-tab",
        "unicode.txt",
        "email\tfirst_name\tJob Title\r\nzoe@example.org\tZoë\tProfesora\r\n".encode("utf-16"),
        "",
        "UTF-16, tab",
        {"rows": 1, "created": 1},
        {
            "zoe@example.org": Person(
                "Zoë",
                "",
                "pending",
                attributes={"job_title": "Profesora"},
                events=PENDING_EVENTS,
            )
        },
    ),
    Export(
        "xlsx",
        "people.xlsx",
        workbook(),
        "",
        "Excel workbook, sheet 'Contacts', 1 row before the header skipped",
        {"rows": 1, "created": 1},
        {
            "jo@example.org": Person(
                "Jörg",
                "Weiß",
                "pending",
                "Journalists",
                "Presse AG",
                frozenset({"Journalists"}),
                {"seit": "2021", "job_title": "Redactor"},
                PENDING_EVENTS,
            )
        },
        options={"sheet": "Contacts", "sector_from": "Job Title"},
    ),
]


def check(session: Session, export: Export) -> None:
    """The contacts, groups and consent ledger `export` must leave behind."""
    session.rollback()
    keys = [*export.people, *export.absent]
    found = {
        c.email_key: c
        for c in session.scalars(sa.select(Contact).where(Contact.email_key.in_(keys)))
    }
    assert not set(export.absent) & set(found), export.key
    for address, person in export.people.items():
        contact = found[address]
        got = (contact.first_name, contact.last_name, str(contact.status), contact.sector)
        assert got == (person.first_name, person.last_name, person.status, person.sector), (
            export.key
        )
        assert contact.organization == person.organization, export.key
        attributes = contact.attributes or {}
        assert {k: attributes.get(k) for k in person.attributes} == person.attributes, export.key
        groups = session.scalars(
            sa.select(Group.name)
            .join(GroupMembership, GroupMembership.group_id == Group.id)
            .where(GroupMembership.contact_id == contact.id)
        )
        assert set(groups) == person.groups, export.key
        events = session.execute(
            sa.select(ConsentEvent.action, ConsentEvent.basis, ConsentEvent.ip)
            .where(ConsentEvent.contact_id == contact.id, ConsentEvent.purpose == "newsletter")
            .order_by(ConsentEvent.occurred_at, ConsentEvent.id)
        )
        assert [(str(a), b, ip) for a, b, ip in events] == list(person.events), export.key


def check_report(report: dict[str, Any], export: Export) -> None:
    """The import report names how the file was read and counts what it did."""
    assert report.get("preset", "") == export.preset, export.key
    assert report["layout"] == export.layout, export.key
    assert {k: report[k] for k in export.counts} == export.counts, export.key
