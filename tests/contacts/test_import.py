"""Importing contacts from CSV, through the command line and the service."""

from __future__ import annotations

import io
from pathlib import Path

import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskCliRunner
from sqlalchemy.orm import Session

from outreach.consent.models import ConsentAction, ConsentEvent, Purpose, Suppression
from outreach.contacts.fields import MAX_ATTRIBUTE_VALUE, MAX_ATTRIBUTES, MAX_IMPORT_COLUMNS
from outreach.contacts.identity import email_hmac
from outreach.contacts.importer import CHUNK, MAX_LINE, ImportOptions, import_csv
from outreach.contacts.models import Contact, ContactStatus
from outreach.groups.models import Group, GroupMembership
from tests.conftest import SECRET
from tests.support.contacts import HEADER, run_import, write


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
    path = write(tmp_path, "contact,first_name\nx@example.org,X\n", name="people.csv")
    result = runner.invoke(args=["contacts", "import", str(path), "--source", "s"])
    assert result.exit_code == 1
    assert "people.csv: line 1: no email column in the header" in result.output
    assert "'contact'" in result.output and '--map "COLUMN=email"' in result.output
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
    assert "1 row: 0 created" in result.stdout
    assert "row 2 [email]: invalid: 'oops' is not a valid address" in result.stderr


def test_the_first_row_of_an_address_merges_with_the_database_and_later_ones_are_reported(
    runner: FlaskCliRunner, session: Session, tmp_path: Path
) -> None:
    run_import(runner, write(tmp_path, HEADER + "ana@example.org,Ana,,Consultants,,,\n", "a.csv"))
    path = write(
        tmp_path,
        HEADER + "ANA@example.org,,García,,,es,Madrid\n" + "ana@EXAMPLE.org,Anita,,Thinkers,,,\n",
        "b.csv",
    )
    report = run_import(runner, path)
    assert (report["rows"], report["created"], report["updated"], report["duplicates"]) == (
        2,
        0,
        1,
        1,
    )
    assert [(p["row"], p["kind"], p["reason"]) for p in report["problems"]] == [
        (
            3,
            "duplicate",
            "same address as line 2; kept line 2's values "
            "(this line's first_name, sector not imported)",
        )
    ]
    ana = contacts(session)["ana@example.org"]
    assert (ana.first_name, ana.last_name, ana.sector, ana.language) == (
        "Ana",  # line 2's empty cell erases nothing; line 3's "Anita" is not imported
        "García",
        "Consultants",
        "es",
    )
    groups = session.scalars(
        sa.select(Group.name).join(GroupMembership).where(GroupMembership.contact_id == ana.id)
    ).all()
    assert groups == ["Consultants"]


def test_a_duplicate_row_is_counted_and_printed_and_never_overwrites_the_first(
    runner: FlaskCliRunner, session: Session, tmp_path: Path
) -> None:
    """7 rows = 4 created + 2 invalid + 1 duplicate, the duplicate's name not imported."""
    path = write(
        tmp_path,
        HEADER
        + "ana@example.org,Ana,García,Consultants,,,\n"  # line 2
        + "bo@example.org,Bo,,Managers,,,\n"
        + "oops,Bad,,Thinkers,,,\n"
        + "Ana@Example.org,Anabel,,,,,\n"  # line 5: line 2's address
        + "cy@example.org,Cy,,Thinkers,,,\n"
        + "dee@,Dee,,,,,\n"
        + "eve@example.org,Eve,,,,,\n",
    )
    result = runner.invoke(args=["contacts", "import", str(path), "--source", "s"])
    assert result.exit_code == 0, result.output
    assert (
        "7 rows: 4 created, 0 updated, 0 unchanged, 0 skipped, 2 invalid, 1 duplicates"
        in result.stdout
    )
    assert (
        "  line 5: same address as line 2; kept line 2's values "
        "(this line's first_name not imported)\n" in result.stderr
    )
    assert contacts(session)["ana@example.org"].first_name == "Ana"


def test_a_duplicate_in_a_later_chunk_never_overwrites_the_first_row(
    runner: FlaskCliRunner, session: Session, tmp_path: Path
) -> None:
    """The file is merged a chunk at a time; the first row still wins across chunks."""
    rows = "".join(f"p{i}@example.org,P{i},,Thinkers,,,\n" for i in range(CHUNK + 5))
    path = write(tmp_path, HEADER + rows + "P1@example.org,Changed,,Managers,,,\n")
    report = run_import(runner, path)
    assert (report["created"], report["updated"], report["duplicates"]) == (CHUNK + 5, 0, 1)
    assert report["problems"] == [
        {
            "row": CHUNK + 7,
            "kind": "duplicate",
            "column": "email",
            "reason": "same address as line 3; kept line 3's values",
        }
    ]
    found = contacts(session)["p1@example.org"]
    assert (found.first_name, found.sector) == ("P1", "Thinkers")


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
    """Said to be UTF-8 (--encoding), bytes that are not fail at their line."""
    path = tmp_path / "latin1.csv"
    path.write_bytes(b"email,first_name\nz@example.org,Jos\xe9\n")
    args = ["contacts", "import", str(path), "--source", "s", "--encoding", "utf-8"]
    result = runner.invoke(args=args)
    assert result.exit_code == 1
    assert "latin1.csv: line 2: not UTF-8 text" in result.output
    assert "--encoding" in result.output


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


def attribute_header(count: int) -> str:
    return "email," + ",".join(f"a{i}" for i in range(count)) + "\n"


def attribute_row(email: str, filled: int, width: int) -> str:
    return email + "," + ",".join("v" if i < filled else "" for i in range(width)) + "\n"


def test_a_file_wider_than_the_limit_is_refused_before_anything_is_imported(
    runner: FlaskCliRunner, session: Session, tmp_path: Path
) -> None:
    # Given a file of 10,000 columns (which once put 9,999 attributes on one contact)
    path = write(
        tmp_path,
        attribute_header(9999) + attribute_row("wide@example.org", 9999, 9999),
        name="wide.csv",
    )
    # When it is imported, then it is refused at its header, naming the count and the limit
    result = runner.invoke(args=["contacts", "import", str(path), "--source", "s"])
    assert result.exit_code == 1
    assert f"wide.csv: line 1: 10000 columns, more than the {MAX_IMPORT_COLUMNS}" in result.output
    assert MAX_IMPORT_COLUMNS == 1 + 5 + MAX_ATTRIBUTES  # email, the profile, 100 attributes
    assert contacts(session) == {}


def test_a_row_with_more_attributes_than_the_api_allows_is_reported_and_the_rest_imported(
    runner: FlaskCliRunner, session: Session, tmp_path: Path
) -> None:
    width = MAX_IMPORT_COLUMNS - 1  # no profile columns: room for 105 attribute columns
    path = write(
        tmp_path,
        attribute_header(width)
        + attribute_row("many@example.org", MAX_ATTRIBUTES + 1, width)  # line 2
        + attribute_row("full@example.org", MAX_ATTRIBUTES, width)  # line 3
        + attribute_row("few@example.org", 3, width),  # line 4
    )
    report = run_import(runner, path)
    assert (report["rows"], report["created"], report["invalid"]) == (3, 2, 1)
    assert report["problems"] == [
        {
            "row": 2,
            "kind": "invalid",
            "column": None,
            "reason": "101 attributes, more than the 100 a contact may have",
        }
    ]
    found = contacts(session)
    assert set(found) == {"full@example.org", "few@example.org"}
    assert len(found["full@example.org"].attributes) == MAX_ATTRIBUTES


def test_attributes_added_to_the_stored_ones_stay_within_the_limit(
    runner: FlaskCliRunner, session: Session, tmp_path: Path
) -> None:
    # Given a contact with 60 attributes
    first = "email," + ",".join(f"a{i}" for i in range(60)) + "\n"
    run_import(runner, write(tmp_path, first + "ana@example.org" + ",v" * 60 + "\n", "a.csv"))
    # When a file brings 50 more for it (and one new attribute for another contact)
    second = "email," + ",".join(f"b{i}" for i in range(50)) + "\n"
    path = write(
        tmp_path,
        second + "ana@example.org" + ",w" * 50 + "\n" + "bo@example.org,x" + "," * 49 + "\n",
        "b.csv",
    )
    report = run_import(runner, path)
    # Then that row is refused (a contact never gets more than the API allows)
    assert (report["created"], report["updated"], report["invalid"]) == (1, 0, 1)
    assert report["problems"][0]["row"] == 2
    assert report["problems"][0]["reason"] == (
        "110 attributes with those stored, more than the 100 a contact may have"
    )
    found = contacts(session)
    assert len(found["ana@example.org"].attributes) == 60
    assert found["bo@example.org"].attributes == {"b0": "x"}


def test_oversize_cells_and_lines_are_reported_by_line_and_the_rest_imported(
    runner: FlaskCliRunner, session: Session, tmp_path: Path
) -> None:
    header = "email,first_name,notes\n"
    too_long = MAX_ATTRIBUTE_VALUE + 1
    half = "q" * (MAX_LINE // 2 + 10)
    path = write(
        tmp_path,
        header
        + "first@example.org,First,fine\n"  # line 2
        + f"cap@example.org,Cap,{'n' * MAX_ATTRIBUTE_VALUE}\n"  # line 3: at the cap
        + f"over@example.org,Over,{'n' * too_long}\n"  # line 4
        + f"twenty@example.org,Twenty,{'n' * 20_000}\n"  # line 5
        + f"csv@example.org,Csv,{'n' * 200 * 1024}\n"  # line 6: over csv's default 131072
        + f"three@example.org,Three,{'n' * 3 * 1024 * 1024}\n"  # line 7: over the old 2 MB
        + f"line@example.org,Line,{'n' * (MAX_LINE + 1)}\n"  # line 8: over the line limit
        + f'quoted@example.org,Quoted,"{half}\n{half}"\n'  # lines 9-10: one cell over the limit
        + 'multi@example.org,Multi,"two\nlines"\n'  # lines 11-12
        + "last@example.org,Last,\n",  # line 13
    )
    report = run_import(runner, path)
    problems = {p["row"]: (p["column"], p["reason"]) for p in report["problems"]}
    assert problems == {
        4: ("notes", f"notes is longer than {MAX_ATTRIBUTE_VALUE} characters"),
        5: ("notes", f"notes is longer than {MAX_ATTRIBUTE_VALUE} characters"),
        6: ("notes", f"notes is longer than {MAX_ATTRIBUTE_VALUE} characters"),
        7: ("notes", f"notes is longer than {MAX_ATTRIBUTE_VALUE} characters"),
        8: (None, f"the line is longer than {MAX_LINE} bytes"),
        9: (
            None,
            "a quoted cell runs on over lines, longer than 10000 characters (a quote left open?)",
        ),
    }
    assert (report["rows"], report["created"], report["invalid"]) == (10, 4, 6)
    found = contacts(session)
    assert set(found) == {
        "first@example.org",
        "cap@example.org",
        "multi@example.org",
        "last@example.org",
    }
    assert found["multi@example.org"].attributes == {"notes": "two\nlines"}


def test_oversize_cells_are_printed_for_people(runner: FlaskCliRunner, tmp_path: Path) -> None:
    path = write(tmp_path, "email,notes\n" + f"big@example.org,{'n' * 200 * 1024}\n")
    result = runner.invoke(args=["contacts", "import", str(path), "--source", "s"])
    assert result.exit_code == 0, result.output
    assert "row 2 [notes]: invalid: notes is longer than 10000 characters" in result.stderr


def test_a_second_row_of_one_address_adds_no_attributes(
    runner: FlaskCliRunner, session: Session, tmp_path: Path
) -> None:
    width = MAX_IMPORT_COLUMNS - 1
    cells = ["v" if i < 60 else "" for i in range(width)]
    path = write(
        tmp_path,
        attribute_header(width)
        + "carl@example.org,"
        + ",".join(cells)
        + "\n"  # line 2: a0..a59
        + "carl@example.org,"
        + ",".join(reversed(cells))
        + "\n",  # line 3: a45..a104
    )
    report = run_import(runner, path)
    assert (report["created"], report["invalid"], report["duplicates"]) == (1, 0, 1)
    assert [(p["row"], p["kind"]) for p in report["problems"]] == [(3, "duplicate")]
    assert report["problems"][0]["reason"].startswith("same address as line 2; kept line 2's")
    assert len(contacts(session)["carl@example.org"].attributes) == 60


def test_a_file_that_turns_unreadable_in_a_later_chunk_fails_at_its_line(
    runner: FlaskCliRunner, session: Session, tmp_path: Path
) -> None:
    """Rows are parsed a chunk ahead of the one being written: an error found there still
    stops the import with its line, once the chunks before it are done."""
    rows = "".join(f"p{i}@example.org,P{i}\n" for i in range(CHUNK + 5))
    path = tmp_path / "late.csv"
    path.write_bytes(f"email,first_name\n{rows}".encode() + b"z@example.org,Jos\xe9\n")
    args = ["contacts", "import", str(path), "--source", "s", "--encoding", "utf-8"]
    result = runner.invoke(args=args)
    assert result.exit_code == 1
    assert f"late.csv: line {CHUNK + 7}: not UTF-8 text" in result.output
    assert len(contacts(session)) == CHUNK  # the chunk written before it is kept
