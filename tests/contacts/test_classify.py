"""`outreach contacts classify`: sectors from job titles by the editable sector rules."""

from __future__ import annotations

import json
from pathlib import Path

from flask.testing import FlaskCliRunner
from sqlalchemy.orm import Session

from outreach.contacts.sectors import DEFAULTS, fold
from tests.contacts.test_import_formats import people
from tests.support.contacts import run_import, write

PEOPLE = (
    "email,sector,Position,Company\n"
    "a@example.org,,Senior Consultant,Acme\n"
    "b@example.org,,Gerente de Ventas,Acme\n"
    "c@example.org,,Investigadora,Universidad\n"
    "d@example.org,Thinkers,Managing Director,Acme\n"  # set by hand
    "e@example.org,,Plumber,Pipes Ltd\n"
    "f@example.org,,Periodista,Diario\n"
)


def classify(runner: FlaskCliRunner, *extra: str) -> dict:
    result = runner.invoke(args=["contacts", "classify", "--json", *extra])
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def test_the_default_rules_match_words_without_case_or_accents() -> None:
    assert DEFAULTS.match(["Directora de Comunicación"]) == ("Managers", "directora")
    assert DEFAULTS.match(["PERIODISTA"]) == ("Journalists", "periodista")
    assert DEFAULTS.match(["Investigadora"]) == ("Thinkers", "investigadora")
    assert DEFAULTS.match(["Head of Product"]) == ("Managers", "head of")
    assert DEFAULTS.match(["Consultancy"]) is None  # word boundaries: not "consultant"
    assert DEFAULTS.match(["Plumber", "Editor at large"]) == ("Journalists", "editor")
    assert fold("Jérôme  Müller") == "jerome muller"


def test_a_dry_run_then_applying_never_touches_a_sector_set_by_hand(
    runner: FlaskCliRunner, session: Session, tmp_path: Path
) -> None:
    run_import(runner, write(tmp_path, PEOPLE), "--sector-from", "none")

    preview = classify(runner, "--dry-run")

    assert preview["sectors"] == {
        "Consultants": 1,
        "Journalists": 1,
        "Managers": 1,
        "Thinkers": 1,
    }
    assert (preview["hand_set"], preview["unclassified"], preview["changed"]) == (1, 1, 4)
    assert preview["unclassified_sample"] == ["e@example.org"]
    assert people(session)["a@example.org"].sector is None  # nothing changed
    applied = classify(runner)
    assert applied["applied"] and applied["changed"] == 4
    found = people(session)
    assert (found["b@example.org"].sector, found["b@example.org"].sector_source) == (
        "Managers",
        "rule",
    )
    assert found["d@example.org"].sector == "Thinkers"
    groups = json.loads(runner.invoke(args=["groups", "list", "--json"]).stdout)
    members = {g["name"]: g["members"] for g in groups}
    assert members["Managers"] == 1 and members["Thinkers"] == 2
    assert classify(runner)["changed"] == 0  # nothing twice


def test_edited_rules_are_saved_and_bad_ones_refused_naming_the_line(
    runner: FlaskCliRunner, session: Session, tmp_path: Path
) -> None:
    run_import(runner, write(tmp_path, PEOPLE), "--sector-from", "none")
    rules = tmp_path / "rules.txt"
    rules.write_text("Trades: plumber, electrician\nConsultants: consultant\n", encoding="utf-8")

    result = classify(runner, "--rules", str(rules))

    assert result["sectors"] == {"Consultants": 1, "Trades": 1}
    shown = runner.invoke(args=["contacts", "classify", "--show-rules"])
    assert shown.output == "Trades: plumber, electrician\nConsultants: consultant\n"
    trial = tmp_path / "trial.txt"
    trial.write_text("Plumbing: plumber\n", encoding="utf-8")
    tried = classify(runner, "--dry-run", "--rules", str(trial))
    assert (tried["sectors"], tried["applied"]) == ({"Plumbing": 1}, False)
    again = runner.invoke(args=["contacts", "classify", "--show-rules"])
    assert again.output == shown.output  # a dry run saves no rules
    rules.write_text("Trades: plumber\nno colon here\n", encoding="utf-8")
    bad = runner.invoke(args=["contacts", "classify", "--rules", str(rules)])
    assert bad.exit_code != 0
    assert "sector rules, line 2: 'no colon here' is not 'Sector: keyword, keyword'" in bad.output
    # an import's --sector-from uses the rules in force
    report = run_import(
        runner,
        write(tmp_path, "email,Job\nz@example.org,Electrician\n", name="z.csv"),
        "--sector-from",
        "Job",
    )
    assert report["sectors_from_rules"] == {"Trades": 1}


def test_a_sector_a_rule_gave_at_import_is_kept_not_called_unclassified(
    runner: FlaskCliRunner, session: Session, tmp_path: Path
) -> None:
    """The import read a column (`--sector-from Puesto`) that classify does not read by
    default: the contact keeps its sector and is counted apart, not as unclassified."""
    path = write(tmp_path, "email,Puesto\nana@example.org,Gerente de Ventas\n")
    run_import(runner, path, "--sector-from", "Puesto")

    preview = classify(runner, "--dry-run")

    assert (preview["kept"], preview["unclassified"], preview["changed"]) == (1, 0, 0)
    assert people(session)["ana@example.org"].sector == "Managers"
    shown = runner.invoke(args=["contacts", "classify", "--dry-run"]).output
    assert "kept (a sector an earlier rule gave, from columns not read now): 1" in shown
    assert "unclassified: 0" in shown
