"""Files as people have them: other tools' headers, Excel's encodings and delimiters,
lines before the header, column mappings, and Outreach's own export imported again."""

from __future__ import annotations

from pathlib import Path

import sqlalchemy as sa
from flask.testing import FlaskCliRunner
from sqlalchemy.orm import Session

from outreach.contacts.models import Contact
from tests.support.contacts import run_import, write
from tests.support.exports import GOOGLE, LINKEDIN, MAILCHIMP


def people(session: Session) -> dict[str, Contact]:
    session.rollback()
    return {c.email_key: c for c in session.scalars(sa.select(Contact))}


def test_a_linkedin_export_skips_its_notes_and_reads_its_columns(
    runner: FlaskCliRunner, session: Session, tmp_path: Path
) -> None:
    report = run_import(runner, write(tmp_path, LINKEDIN, name="Connections.csv"))

    assert report["layout"] == "UTF-8, comma, 3 lines before the header skipped"
    assert (report["rows"], report["created"], report["invalid"]) == (2, 1, 1)
    assert report["problems"][0]["row"] == 6  # the physical line of Tom (no address)
    assert report["columns"]["Email Address"] == "email"
    assert report["columns"]["Company"] == "organization"
    lucia = people(session)["lucia@example.org"]
    assert (lucia.first_name, lucia.last_name, lucia.organization) == (
        "Lucía",
        "Pérez",
        "Diario Sur",
    )
    assert lucia.attributes["position"] == "Periodista"


def test_mailchimp_and_google_headers_fill_the_profile(
    runner: FlaskCliRunner, session: Session, tmp_path: Path
) -> None:
    run_import(runner, write(tmp_path, MAILCHIMP, name="subscribed_members.csv"))
    report = run_import(runner, write(tmp_path, GOOGLE, name="contacts.csv"))

    assert report["columns"]["E-mail 1 - Value"] == "email"
    found = people(session)
    assert (found["mia@example.org"].first_name, found["mia@example.org"].last_name) == (
        "Mia",
        "Wong",
    )
    ana = found["ana@example.org"]
    assert (ana.first_name, ana.last_name, ana.organization) == ("Ana", "García", "Acme")


def test_an_excel_semicolon_file_in_windows_1252(
    runner: FlaskCliRunner, session: Session, tmp_path: Path
) -> None:
    path = tmp_path / "excel.csv"
    text = "email;first_name;last_name;sector\r\njose@example.org;José;Müller;Thinkers\r\n"
    path.write_bytes(text.encode("cp1252"))

    report = run_import(runner, path)

    assert report["layout"] == "cp1252, semicolon"
    jose = people(session)["jose@example.org"]
    assert (jose.first_name, jose.last_name) == ("José", "Müller")


def test_a_utf16_tab_file(runner: FlaskCliRunner, session: Session, tmp_path: Path) -> None:
    path = tmp_path / "unicode.txt"
    path.write_bytes("email\tfirst_name\r\nzoe@example.org\tZoë\r\n".encode("utf-16"))

    report = run_import(runner, path)

    assert report["layout"] == "UTF-16, tab"
    assert people(session)["zoe@example.org"].first_name == "Zoë"


def test_columns_mapped_by_hand_and_a_bad_mapping(
    runner: FlaskCliRunner, session: Session, tmp_path: Path
) -> None:
    path = write(tmp_path, "Contacto,Puesto,Notas\nleo@example.org,Gerente,x\n")

    report = run_import(
        runner,
        path,
        "--map",
        "Contacto=email",
        "--map",
        "Puesto=attributes.role",
        "--map",
        "Notas=ignore",
    )

    assert report["columns"] == {
        "Contacto": "email",
        "Puesto": "attributes.role",
        "Notas": "ignored",
    }
    assert people(session)["leo@example.org"].attributes == {"role": "Gerente"}
    args = ["contacts", "import", str(path), "--source", "s", "--map", "Puesto=attributes.role"]
    summary = runner.invoke(args=[*args, "--map", "Contacto=email"]).output
    assert "columns: Contacto → email, Puesto → attributes.role\n" in summary
    plain = write(tmp_path, "email,Puesto\nleo@example.org,Gerente\n")  # its own name
    assert (
        "columns:"
        not in runner.invoke(args=["contacts", "import", str(plain), "--source", "s"]).output
    )
    refused = runner.invoke(
        args=["contacts", "import", str(path), "--source", "s", "--map", "Contacto=mail"]
    )
    assert refused.exit_code == 1 and "--map: 'mail' is not a field" in refused.output


def test_importing_outreachs_own_export_changes_nothing(
    runner: FlaskCliRunner, session: Session, tmp_path: Path
) -> None:
    source = write(
        tmp_path,
        "email,first_name,last_name,sector,organization,language,phone,note\n"
        "ana@example.org,Ana,García,Consultants,=Acme,es,+34 600 000 001,-3 days\n"
        "bo@example.org,Bo,,Managers,,,,\n",
    )
    run_import(runner, source, "--status", "subscribed")
    exported = tmp_path / "export.csv"
    assert runner.invoke(args=["contacts", "export", str(exported)]).exit_code == 0
    assert "'+34 600 000 001" in exported.read_text()  # the formula guard, for spreadsheets

    again = run_import(runner, exported, "--status", "subscribed")

    assert (again["created"], again["updated"], again["unchanged"]) == (0, 0, 2)
    assert again["columns"]["status"].startswith("ignored")
    ana = people(session)["ana@example.org"]
    assert ana.organization == "=Acme"
    assert ana.attributes == {"phone": "+34 600 000 001", "note": "-3 days"}


def test_a_mailchimp_export_keeps_its_opt_in_evidence_and_its_tags(
    runner: FlaskCliRunner, session: Session, tmp_path: Path
) -> None:
    import json

    path = write(tmp_path, MAILCHIMP, name="subscribed_members.csv")

    report = run_import(runner, path, "--status", "subscribed")

    assert report["columns"]["OPTIN_TIME"] == "consent evidence"
    assert report["tag_groups_created"] == ["Conference 2023", "VIP"]
    proof = runner.invoke(args=["consent", "proof", "mia@example.org"])
    events = json.loads(proof.stdout)["events"]
    assert [(e["action"], e["occurred_at"][:19], e["ip"]) for e in events[:2]] == [
        ("given", "2023-03-01T10:00:00", "203.0.113.5"),
        ("confirmed", "2023-03-01T10:05:00", "203.0.113.5"),
    ]
    assert events[0]["source"] == "Mailchimp export subscribed_members.csv"
    assert events[0]["basis"].startswith("recorded by the tool the contact was imported from")
    assert events[2]["action"] == "confirmed" and "test fair" in events[2]["source"]
    assert events[2]["basis"] == "declared by the importer"
    assert report["preset"] == "Mailchimp audience export (subscribed)"
    groups = runner.invoke(args=["groups", "list", "--json"])
    visible = {g["name"]: g for g in json.loads(groups.stdout)}
    assert visible["VIP"]["kind"] == "affinity" and visible["VIP"]["members"] == 1
    assert visible["VIP"]["public"] is False
    again = run_import(runner, path, "--status", "subscribed")  # nothing twice
    assert (again["unchanged"], again["tag_groups_created"]) == (1, [])
    events_again = json.loads(runner.invoke(args=["consent", "proof", "mia@example.org"]).stdout)
    assert len(events_again["events"]) == len(events)


def test_google_labels_become_groups_without_its_own(
    runner: FlaskCliRunner, session: Session, tmp_path: Path
) -> None:
    report = run_import(runner, write(tmp_path, GOOGLE, name="contacts.csv"))

    assert report["tag_groups_created"] == ["Friends"]


def test_bad_evidence_is_reported_with_its_column(
    runner: FlaskCliRunner, session: Session, tmp_path: Path
) -> None:
    text = (
        "Email Address,OPTIN_TIME,OPTIN_IP\nx@example.org,yesterday,1.2.3.4\ny@example.org,,nope\n"
    )

    report = run_import(runner, write(tmp_path, text), "--status", "subscribed")

    assert [(p["row"], p["column"]) for p in report["problems"]] == [
        (2, "OPTIN_TIME"),
        (3, "OPTIN_IP"),
    ]
    assert report["invalid"] == 2
