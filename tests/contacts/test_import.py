"""Importing contacts from CSV, through the command line and the service."""

from __future__ import annotations

import io
import json
from pathlib import Path

import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskCliRunner
from sqlalchemy.orm import Session

from outreach.consent.models import ConsentAction, ConsentEvent, Purpose
from outreach.contacts.identity import email_hmac
from outreach.contacts.importer import ImportOptions, import_csv
from outreach.contacts.models import Contact, ContactStatus
from outreach.delivery.models import Suppression
from outreach.groups.models import Group, GroupMembership
from tests.conftest import SECRET

HEADER = "email,first_name,last_name,sector,organization,language,city\n"


def write(tmp_path: Path, text: str, name: str = "contacts.csv", bom: bool = False) -> Path:
    path = tmp_path / name
    path.write_bytes((b"\xef\xbb\xbf" if bom else b"") + text.encode("utf-8"))
    return path


def run_import(runner: FlaskCliRunner, path: Path, *extra: str) -> dict:
    result = runner.invoke(
        args=["contacts", "import", str(path), "--source", "test fair", "--json", *extra]
    )
    assert result.exit_code == 0, result.output
    assert result.stderr == ""  # --json mode: one document, no progress bar
    return json.loads(result.stdout)


def contacts(session: Session) -> dict[str, Contact]:
    session.rollback()
    return {c.email_key: c for c in session.scalars(sa.select(Contact))}


def test_import_creates_contacts_groups_and_attributes(
    runner: FlaskCliRunner, session: Session, tmp_path: Path
) -> None:
    path = write(
        tmp_path,
        HEADER
        + "ana@example.org,Ana,García,Consultants,Acme,es,Madrid\n"
        + "Bruno@Example.ORG,Bruno,Martin,Managers,,fr,\n",
        bom=True,
    )
    report = run_import(runner, path)
    assert (report["created"], report["invalid"], report["rows"]) == (2, 0, 2)
    assert sorted(report["groups_created"]) == ["Consultants", "Managers"]
    found = contacts(session)
    assert set(found) == {"ana@example.org", "bruno@example.org"}
    assert found["bruno@example.org"].email == "Bruno@example.org"  # domain lower-cased
    assert found["ana@example.org"].attributes == {"city": "Madrid"}
    assert found["ana@example.org"].status is ContactStatus.PENDING
    session.rollback()
    members = session.execute(
        sa.select(Group.name, GroupMembership.contact_id).join(GroupMembership)
    ).all()
    assert {name for name, _ in members} == {"Consultants", "Managers"}


def test_bom_header_is_read(runner: FlaskCliRunner, tmp_path: Path) -> None:
    report = run_import(runner, write(tmp_path, "email\nx@example.org\n", bom=True))
    assert report["created"] == 1


def test_missing_email_column_is_a_clear_error(
    runner: FlaskCliRunner, session: Session, tmp_path: Path
) -> None:
    path = write(tmp_path, "mail,first_name\nx@example.org,X\n", name="people.csv")
    result = runner.invoke(args=["contacts", "import", str(path), "--source", "s"])
    assert result.exit_code == 1
    assert "people.csv: line 1: no 'email' column" in result.output
    assert "'mail'" in result.output
    assert contacts(session) == {}


def test_invalid_rows_are_reported_and_the_rest_imported(
    runner: FlaskCliRunner, session: Session, tmp_path: Path
) -> None:
    huge = "x" * 1_000_000
    path = write(
        tmp_path,
        HEADER
        + "good@example.org,Good,,Thinkers,,en,\n"
        + "not-an-address,Bad,,Thinkers,,en,\n"
        + f"big@example.org,Big,,Thinkers,,en,{huge}\n"
        + "lang@example.org,Lang,,Thinkers,,not a tag,\n"
        + "extra@example.org,Extra,,Thinkers,,en,,surplus\n"
        + ",Empty,,Thinkers,,en,\n"
        + "last@example.org,Last,,Thinkers,,en,\n",
    )
    report = run_import(runner, path)
    assert report["created"] == 2
    assert report["invalid"] == 5
    problems = {p["row"]: p for p in report["problems"]}
    assert problems[3]["column"] == "email" and "not-an-address" in problems[3]["reason"]
    assert problems[4]["column"] == "city" and "longer than" in problems[4]["reason"]
    assert problems[5]["column"] == "language"
    assert "more cells" in problems[6]["reason"]
    assert problems[7]["reason"] == "email is empty"
    assert set(contacts(session)) == {"good@example.org", "last@example.org"}


def test_invalid_rows_are_printed_for_people(runner: FlaskCliRunner, tmp_path: Path) -> None:
    path = write(tmp_path, HEADER + "oops,Bad,,Thinkers,,en,\n")
    result = runner.invoke(args=["contacts", "import", str(path), "--source", "s"])
    assert result.exit_code == 0
    assert "1 rows: 0 created" in result.stdout
    assert "row 2 [email]: invalid: 'oops' is not a valid address" in result.stderr


def test_duplicates_in_file_and_database_merge(
    runner: FlaskCliRunner, session: Session, tmp_path: Path
) -> None:
    run_import(runner, write(tmp_path, HEADER + "ana@example.org,Ana,,Consultants,,,\n", "a.csv"))
    path = write(
        tmp_path,
        HEADER + "ANA@example.org,,García,,,es,Madrid\n" + "ana@EXAMPLE.org,Anita,,Thinkers,,,\n",
        "b.csv",
    )
    report = run_import(runner, path)
    assert (report["created"], report["updated"]) == (0, 1)
    ana = contacts(session)["ana@example.org"]
    assert (ana.first_name, ana.last_name, ana.sector, ana.language) == (
        "Anita",
        "García",
        "Thinkers",
        "es",
    )
    groups = session.scalars(
        sa.select(Group.name).join(GroupMembership).where(GroupMembership.contact_id == ana.id)
    ).all()
    assert groups == ["Thinkers"]  # moved out of Consultants


def test_reimport_changes_nothing(runner: FlaskCliRunner, session: Session, tmp_path: Path) -> None:
    path = write(
        tmp_path,
        HEADER
        + "ana@example.org,Ana,G,Consultants,Acme,es,Madrid\n"
        + "bo@example.org,Bo,,Managers,,,\n",
    )
    run_import(runner, path, "--status", "subscribed")
    before = {k: (c.updated_at, c.attributes) for k, c in contacts(session).items()}
    events = session.scalar(sa.select(sa.func.count()).select_from(ConsentEvent))
    session.rollback()
    report = run_import(runner, path, "--status", "subscribed")
    assert (report["created"], report["updated"], report["unchanged"]) == (0, 0, 2)
    assert {k: (c.updated_at, c.attributes) for k, c in contacts(session).items()} == before
    assert session.scalar(sa.select(sa.func.count()).select_from(ConsentEvent)) == events


def test_unknown_sector_creates_a_sector_group(
    runner: FlaskCliRunner, session: Session, tmp_path: Path
) -> None:
    report = run_import(runner, write(tmp_path, HEADER + "a@example.org,,,Astronauts,,,\n"))
    assert report["groups_created"] == ["Astronauts"]
    assert session.scalar(sa.select(Group.kind).where(Group.name == "Astronauts")) == "sector"


def test_sector_column_option(runner: FlaskCliRunner, session: Session, tmp_path: Path) -> None:
    path = write(tmp_path, "email,industry\na@example.org,Journalists\n")
    run_import(runner, path, "--sector-column", "industry")
    assert contacts(session)["a@example.org"].sector == "Journalists"


def test_subscribed_import_records_confirmed_consent_with_source(
    runner: FlaskCliRunner, session: Session, tmp_path: Path
) -> None:
    run_import(
        runner, write(tmp_path, HEADER + "a@example.org,A,,Thinkers,,,\n"), "--status", "subscribed"
    )
    contact = contacts(session)["a@example.org"]
    assert contact.status is ContactStatus.SUBSCRIBED
    event = session.scalars(sa.select(ConsentEvent)).one()
    assert (event.purpose, event.action) == (Purpose.NEWSLETTER, ConsentAction.CONFIRMED)
    assert event.source == "import:contacts.csv (test fair)"
    assert event.confirmed_at is not None and event.occurred_at.tzinfo is not None


def test_import_never_resubscribes_an_unsubscribed_contact(
    runner: FlaskCliRunner, session: Session, tmp_path: Path
) -> None:
    path = write(tmp_path, HEADER + "a@example.org,A,,Thinkers,,,\n")
    run_import(runner, path, "--status", "subscribed")
    session.execute(sa.update(Contact).values(status=ContactStatus.UNSUBSCRIBED))
    session.commit()
    run_import(runner, path, "--status", "subscribed")
    assert contacts(session)["a@example.org"].status is ContactStatus.UNSUBSCRIBED


def test_suppressed_address_is_never_imported(
    runner: FlaskCliRunner, session: Session, tmp_path: Path
) -> None:
    session.add(Suppression(email_hmac=email_hmac(SECRET, "gone@example.org"), reason="erased"))
    session.commit()
    path = write(tmp_path, HEADER + "Gone@Example.org,G,,Thinkers,,,\nok@example.org,,,,,,\n")
    report = run_import(runner, path, "--status", "subscribed")
    assert (report["created"], report["skipped"]) == (1, 1)
    assert "suppressed (erased)" in report["problems"][0]["reason"]
    assert set(contacts(session)) == {"ok@example.org"}


def test_not_utf8_is_reported_with_its_line(runner: FlaskCliRunner, tmp_path: Path) -> None:
    path = tmp_path / "latin1.csv"
    path.write_bytes(b"email,first_name\nz@example.org,Jos\xe9\n")
    result = runner.invoke(args=["contacts", "import", str(path), "--source", "s"])
    assert result.exit_code == 1
    assert "latin1.csv: line 2: not UTF-8" in result.output


def test_source_is_required(app: Flask, session: Session) -> None:
    from outreach.errors import ValidationError

    try:
        import_csv(
            session,
            io.BytesIO(b"email\na@example.org\n"),
            ImportOptions(source="  "),
            secret=SECRET,
        )
    except ValidationError as exc:
        assert exc.field == "source"
    else:
        raise AssertionError("an empty source was accepted")


def test_chunks_larger_than_one_batch(app: Flask, session: Session) -> None:
    rows = "".join(f"p{i}@example.org,P{i},,S{i % 3}\n" for i in range(4500))
    report = import_csv(
        session,
        io.BytesIO(("email,first_name,last_name,sector\n" + rows).encode()),
        ImportOptions(source="bulk"),
        secret=SECRET,
    )
    session.commit()
    assert report.created == 4500
    assert session.scalar(sa.select(sa.func.count()).select_from(GroupMembership)) == 4500
