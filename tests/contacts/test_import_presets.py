"""Other tools' exports recognised by their header (presets), Excel workbooks, saved
mappings, several addresses in a cell, and sectors from job titles."""

from __future__ import annotations

import json
from pathlib import Path

import sqlalchemy as sa
from flask.testing import FlaskCliRunner
from sqlalchemy.orm import Session

from outreach.contacts.models import Contact, ContactStatus, ImportRun
from tests.contacts.test_import_formats import people
from tests.support.contacts import run_import, write
from tests.support.exports import (
    CLEANED,
    GOOGLE,
    LINKEDIN,
    LISTMONK,
    OUTLOOK,
    UNSUBSCRIBED,
    workbook,
)


def proof(runner: FlaskCliRunner, address: str) -> list[dict]:
    result = runner.invoke(args=["consent", "proof", address])
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)["events"]


def test_a_mailchimp_unsubscribed_export_withdraws_at_its_own_time(
    runner: FlaskCliRunner, session: Session, tmp_path: Path
) -> None:
    run_import(runner, write(tmp_path, "email\nleo@example.org\n"), "--status", "subscribed")

    report = run_import(runner, write(tmp_path, UNSUBSCRIBED, name="unsubscribed_members.csv"))

    assert report["preset"] == "Mailchimp audience export (unsubscribed)"
    assert (report["status"], report["withdrawn"], report["updated"]) == ("unsubscribed", 1, 1)
    assert people(session)["leo@example.org"].status is ContactStatus.UNSUBSCRIBED
    events = proof(runner, "leo@example.org")
    assert [e["action"] for e in events[-2:]] == ["given", "withdrawn"]
    assert events[-2]["ip"] == "198.51.100.7"
    assert events[-1]["occurred_at"][:19] == "2023-05-02T08:00:00"
    assert events[-1]["source"] == "Mailchimp export unsubscribed_members.csv"
    refused = runner.invoke(
        args=[
            "contacts",
            "import",
            str(tmp_path / "unsubscribed_members.csv"),
            "--source",
            "s",
            "--status",
            "subscribed",
        ]
    )
    assert refused.exit_code == 1 and "cannot be imported as subscribed" in refused.output


def test_a_mailchimp_cleaned_export_suppresses_its_addresses(
    runner: FlaskCliRunner, session: Session, tmp_path: Path
) -> None:
    run_import(runner, write(tmp_path, "email\ngone@example.org\n"), "--status", "subscribed")

    report = run_import(runner, write(tmp_path, CLEANED, name="cleaned_members.csv"))

    assert report["preset"] == "Mailchimp audience export (cleaned)"
    assert (report["suppressed"], report["created"]) == (1, 0)
    assert people(session)["gone@example.org"].status is ContactStatus.BOUNCED
    again = run_import(runner, write(tmp_path, "email\ngone@example.org\n", name="again.csv"))
    assert again["skipped"] == 1 and "suppressed" in again["problems"][0]["reason"]


def test_linkedin_positions_give_sectors_and_the_summary_says_how(
    runner: FlaskCliRunner, session: Session, tmp_path: Path
) -> None:
    path = write(tmp_path, LINKEDIN.replace(",,Acme,CEO", ",tom@example.org,Acme,CEO"))
    run_import(runner, write(tmp_path, "email,sector\ntom@example.org,Thinkers\n", name="a.csv"))

    report = run_import(runner, path)

    assert report["preset"] == "LinkedIn Connections"
    assert report["status"] == "pending" and "consent invite" in report["hint"]
    assert report["sectors_from_rules"] == {"Journalists": 1}  # Periodista
    found = people(session)
    assert (found["lucia@example.org"].sector, found["lucia@example.org"].sector_source) == (
        "Journalists",
        "rule",
    )
    assert found["tom@example.org"].sector == "Thinkers"  # set by hand: never overwritten
    result = runner.invoke(
        args=["contacts", "import", str(path), "--source", "linkedin", "--sector-from", "none"]
    )
    assert result.exit_code == 0 and "preset: LinkedIn Connections" in result.output
    assert "sectors from job titles" not in result.output


def test_outlook_and_google_presets(
    runner: FlaskCliRunner, session: Session, tmp_path: Path
) -> None:
    outlook = run_import(runner, write(tmp_path, OUTLOOK, name="outlook.csv"))
    google = run_import(
        runner,
        write(tmp_path, GOOGLE, name="google.csv"),
    )

    assert outlook["preset"] == "Outlook contacts"
    ines = people(session)["ines@example.org"]
    assert ines.attributes["position"] == "Editora-chefe"
    assert ines.sector == "Journalists"  # "editora", accent- and case-insensitive
    assert google["preset"] == "Google Contacts"
    assert google["notes"] == [
        {
            "row": 2,
            "column": "E-mail 1 - Value",
            "note": "the cell holds 2 addresses: ana@example.org imported, ana@home.example not",
        }
    ]
    assert people(session)["ana@example.org"].sector == "Consultants"  # Organization Title


def test_a_listmonk_export_splits_names_reads_attributes_and_keeps_its_blocklist(
    runner: FlaskCliRunner, session: Session, tmp_path: Path
) -> None:
    report = run_import(runner, write(tmp_path, LISTMONK, name="subscribers.csv"))

    assert report["preset"] == "listmonk subscribers"
    kim = people(session)["kim@example.org"]
    assert (kim.first_name, kim.last_name) == ("Kim", "Lee Park")
    assert kim.attributes == {"city": "Seoul", "score": "7"}
    assert report["skipped"] == 1 and "blocklisted" in report["problems"][0]["reason"]
    assert "spam@example.org" not in people(session)
    again = run_import(runner, write(tmp_path, "email\nspam@example.org\n", name="b.csv"))
    assert again["skipped"] == 1  # the blocklist became a suppression


def test_a_sheet_the_workbook_does_not_have_is_refused_naming_its_sheets(
    runner: FlaskCliRunner, tmp_path: Path
) -> None:
    """(The workbook's import with --sheet is in the catalog: tests/support/exports.py.)"""
    path = tmp_path / "people.xlsx"
    path.write_bytes(workbook())

    missing = runner.invoke(
        args=["contacts", "import", str(path), "--source", "s", "--sheet", "People"]
    )

    assert missing.exit_code == 1
    assert "has no sheet 'People' (its sheets: 'Notes', 'Contacts')" in missing.output


def test_a_saved_mapping_a_forced_preset_and_a_declared_subscription(
    runner: FlaskCliRunner, session: Session, tmp_path: Path
) -> None:
    mapping = tmp_path / "crm.map"
    mapping.write_text("# our CRM\nMail=email\nRole=attributes.role\n", encoding="utf-8")
    path = write(tmp_path, "Mail,Role,First Name\nzed@example.org,Advisor,Zed\n")

    report = run_import(
        runner, path, "--mapping", str(mapping), "--status", "subscribed", "--preset", "none"
    )

    assert report["columns"]["Mail"] == "email" and report["preset"] == ""
    zed = people(session)["zed@example.org"]
    assert (zed.attributes, zed.first_name, zed.status) == (
        {"role": "Advisor"},
        "Zed",
        ContactStatus.SUBSCRIBED,
    )
    [event] = proof(runner, "zed@example.org")
    assert event["basis"] == "declared by the importer" and "declared" in report["hint"]
    forced = run_import(runner, write(tmp_path, "Email Address,Position\nq@example.org,CEO\n"))
    assert forced["preset"] == ""  # not every LinkedIn column: no preset detected
    linked = run_import(
        runner,
        write(tmp_path, "Email Address,Position\nq@example.org,CEO\n", name="l.csv"),
        "--preset",
        "linkedin",
    )
    assert linked["preset"] == "LinkedIn Connections" and linked["sectors_from_rules"] == {
        "Managers": 1
    }


def test_each_import_is_kept_in_the_history(
    runner: FlaskCliRunner, session: Session, tmp_path: Path
) -> None:
    run_import(runner, write(tmp_path, "email\nok@example.org\nbad\n", name="two.csv"))

    session.rollback()
    [run] = session.scalars(sa.select(ImportRun)).all()
    assert (run.file_name, run.source, run.surface, run.status) == (
        "two.csv",
        "test fair",
        "cli",
        "pending",
    )
    assert run.actor.startswith("command line (")
    assert (run.summary["created"], run.summary["invalid"]) == (1, 1)
    assert run.rejected[0]["row"] == 3
    assert session.scalar(sa.select(sa.func.count()).select_from(Contact)) == 1
