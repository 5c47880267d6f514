"""`outreach demo`: a realistic sample through the real import path."""

from __future__ import annotations

import csv
import random
from collections.abc import Callable
from pathlib import Path

from sqlalchemy.orm import Session

from outreach.config import Settings
from outreach.contacts.importer import ImportOptions, import_csv
from outreach.contacts.models import ContactStatus
from outreach.groups.service import list_groups

SECTORS = ("Consultants", "Managers", "Thinkers", "Journalists")
FIRST = (
    "Ana",
    "Bruno",
    "Carla",
    "David",
    "Elena",
    "Farid",
    "Greta",
    "Hugo",
    "Irene",
    "Jonas",
    "Kenji",
    "Lucía",
    "Marta",
    "Nils",
    "Olga",
    "Pablo",
    "Quentin",
    "Rosa",
    "Sami",
    "Teresa",
)
LAST = (
    "García",
    "Martin",
    "Rossi",
    "Schmidt",
    "Novak",
    "Silva",
    "Dubois",
    "Jensen",
    "Kowalski",
    "Moreau",
    "Okafor",
    "Park",
    "Quint",
    "Ruiz",
    "Sato",
    "Tanaka",
    "Ulrich",
    "Vidal",
)
ORGS = (
    "Northwind",
    "Acme Partners",
    "Blue Harbor",
    "Civic Lab",
    "Daily Ledger",
    "Helix Group",
    "Open Futures",
    "Signal & Noise",
    "Tidewater Media",
    "Umbra Consulting",
)


def write_sample(path: Path, count: int = 320, seed: int = 7) -> Path:
    """A CSV of `count` realistic contacts, a few of them deliberately invalid."""
    rng = random.Random(seed)  # noqa: S311 - sample data, not secrets
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="", encoding="utf-8") as out:
        writer = csv.writer(out)
        writer.writerow(
            ["email", "first_name", "last_name", "sector", "organization", "language", "city"]
        )
        for i in range(count):
            first, last = rng.choice(FIRST), rng.choice(LAST)
            domain = rng.choice(ORGS).lower().replace(" & ", "").replace(" ", "") + ".example"
            email = f"{first}.{last}{i}@{domain}".lower().encode("ascii", "ignore").decode()
            writer.writerow(
                [
                    email,
                    first,
                    last,
                    SECTORS[i % len(SECTORS)],
                    rng.choice(ORGS),
                    rng.choice(["en", "es", "fr", "de"]),
                    rng.choice(["Madrid", "Lyon", "Berlin", "Leeds"]),
                ]
            )
        writer.writerow(["not-an-address", "Broken", "Row", "Managers", "", "en", ""])
        writer.writerow(["someone@", "Half", "Address", "Thinkers", "", "en", ""])
        writer.writerow(["dup@example.org", "Twice", "Listed", "Journalists", "", "xx_bad!", ""])
    return path


def run_demo(session: Session, settings: Settings, echo: Callable[[str], None]) -> None:
    """Seed the sample and print the groups with their counts."""
    sample = write_sample(settings.instance_path / "demo" / "contacts.csv")
    with sample.open("rb") as stream:
        report = import_csv(
            session,
            stream,
            ImportOptions(
                source="demo: consented at a 2026 conference, badge scan",
                status=ContactStatus.SUBSCRIBED,
                file_name=sample.name,
            ),
            secret=settings.secret_key,
        )
    echo(
        f"imported {sample}: {report.created} created, {report.updated} updated, "
        f"{report.unchanged} unchanged, {report.invalid} invalid"
    )
    for problem in report.problems:
        echo(f"  row {problem['row']} [{problem['column']}]: {problem['reason']}")
    echo("")
    echo(f"{'group':<14}{'kind':<10}{'members':>8}{'subscribed':>12}")
    for group in list_groups(session):
        echo(f"{group.name:<14}{group.kind:<10}{group.members:>8}{group.subscribed:>12}")
    echo("")
    echo(f"database: {settings.database_url}")
    echo(
        "admin:    outreach admin create you@example.org && outreach serve, then "
        f"{settings.base_url}/admin"
    )
