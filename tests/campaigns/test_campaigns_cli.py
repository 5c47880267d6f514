"""`outreach campaigns create|variant|audience|preview|test` through the command line."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
import sqlalchemy as sa
from flask import Flask

from outreach.db import get_db
from outreach.delivery.models import Delivery
from tests.conftest import DKIM_NOT_CONFIGURED, SmtpSink
from tests.support.campaigns import MJML


@pytest.fixture
def app(mail_app: Flask) -> Flask:
    return mail_app


@pytest.fixture
def campaign(app: Flask, make_subscriber: Callable[..., int], tmp_path: Path) -> str:
    make_subscriber("tina@example.org", first_name="Tina", sector="Thinkers")
    make_subscriber("max@example.org", first_name="Max", sector="Managers")
    runner = app.test_cli_runner()
    created = runner.invoke(
        args=[
            "campaigns",
            "create",
            "June letter",
            "--from",
            "Ana García <ana@example.org>",
            "--reply-to",
            "replies@example.org",
            "--groups",
            "Thinkers,Managers",
        ]
    )
    assert created.exit_code == 0, created.output
    campaign_id = created.output.strip()
    (tmp_path / "t.mjml").write_text(MJML.replace("Hello", "Dear thinker"))
    (tmp_path / "m.mjml").write_text(MJML.replace("Hello", "Dear manager"))
    for group, path, subject in (
        ("Thinkers", "t.mjml", "Ideas, {{ contact.first_name }}"),
        ("Managers", "m.mjml", "Results, {{ contact.first_name }}"),
    ):
        result = runner.invoke(
            args=[
                "campaigns",
                "variant",
                campaign_id,
                "--group",
                group,
                "--subject",
                subject,
                "--mjml",
                str(tmp_path / path),
            ]
        )
        assert result.exit_code == 0, result.output
    return campaign_id


def test_audience_lists_each_variant(app: Flask, campaign: str) -> None:
    result = app.test_cli_runner().invoke(args=["campaigns", "audience", campaign, "--json"])
    document = json.loads(result.stdout)
    assert [(v["label"], v["recipients"]) for v in document["variants"]] == [
        ("Thinkers", 1),
        ("Managers", 1),
    ]
    assert document["problems"] == [DKIM_NOT_CONFIGURED]
    table = app.test_cli_runner().invoke(args=["campaigns", "audience", campaign]).output
    assert "Thinkers" in table and "Managers" in table


def test_preview_for_a_real_contact(app: Flask, campaign: str, tmp_path: Path) -> None:
    runner = app.test_cli_runner()
    out = tmp_path / "preview.html"
    result = runner.invoke(
        args=[
            "campaigns",
            "preview",
            campaign,
            "--group",
            "Managers",
            "--contact",
            "max@example.org",
            "--out",
            str(out),
        ]
    )
    assert result.exit_code == 0, result.output
    html = out.read_text()
    assert "Dear manager Max" in html and "For Managers" in html
    sample = runner.invoke(args=["campaigns", "preview", campaign, "--group", "Thinkers"]).output
    assert "Dear thinker Alex" in sample


def test_test_send_is_marked_and_not_counted(
    app: Flask, campaign: str, smtp_sink: SmtpSink
) -> None:
    result = app.test_cli_runner().invoke(
        args=["campaigns", "test", campaign, "--to", "qa@example.org"]
    )
    assert result.output.strip() == "2 test messages sent to qa@example.org"
    subjects = sorted(m["Subject"] for m in smtp_sink.received())
    assert subjects == ["[TEST] Ideas, Alex", "[TEST] Results, Alex"]
    assert all(m["X-Outreach-Test"] == "yes" for m in smtp_sink.received())
    assert all(m["To"].endswith("<qa@example.org>") for m in smtp_sink.received())
    with get_db(app).reader() as session:
        assert session.scalar(sa.select(sa.func.count()).select_from(Delivery)) == 0


def test_bad_variant_names_the_variant_and_line(app: Flask, campaign: str, tmp_path: Path) -> None:
    bad = tmp_path / "bad.mjml"
    bad.write_text(MJML.replace("{{ group.name }}", "{{ contact.shoe_size }}"))
    result = app.test_cli_runner().invoke(
        args=[
            "campaigns",
            "variant",
            campaign,
            "--group",
            "Thinkers",
            "--subject",
            "S",
            "--mjml",
            str(bad),
        ]
    )
    assert result.exit_code == 1
    assert "variant Thinkers: mjml, line 2: unknown variable 'contact.shoe_size'" in result.output


def test_missing_variant_is_a_presend_error(
    app: Flask, make_subscriber: Callable[..., int], tmp_path: Path
) -> None:
    make_subscriber("j@example.org", sector="Journalists")
    runner = app.test_cli_runner()
    campaign_id = runner.invoke(
        args=["campaigns", "create", "C", "--from", "a@example.org", "--groups", "Journalists"]
    ).output.strip()
    (tmp_path / "no-unsub.mjml").write_text(
        "<mjml><mj-body><mj-section><mj-column><mj-image src='https://x.example/a.png' />"
        "<mj-text>Hi</mj-text></mj-column></mj-section></mj-body></mjml>"
    )
    report = json.loads(runner.invoke(args=["campaigns", "audience", campaign_id, "--json"]).stdout)
    assert {
        "level": "error",
        "variant": "Journalists",
        "message": "no variant for this group and no fallback variant",
    } in report["problems"]
    runner.invoke(
        args=[
            "campaigns",
            "variant",
            campaign_id,
            "--fallback",
            "--subject",
            "S",
            "--mjml",
            str(tmp_path / "no-unsub.mjml"),
        ]
    )
    report = json.loads(runner.invoke(args=["campaigns", "audience", campaign_id, "--json"]).stdout)
    messages = {(p["level"], p["message"]) for p in report["problems"]}
    assert ("error", "no visible unsubscribe link: add {{ unsubscribe_url }}") in messages
    assert ("warning", "an image has no alt text") in messages


def test_bad_sender_is_refused(app: Flask) -> None:
    result = app.test_cli_runner().invoke(
        args=["campaigns", "create", "C", "--from", "Ana <not-an-address>"]
    )
    assert result.exit_code == 1 and "from:" in result.output


@pytest.mark.parametrize(
    ("at", "said"),
    [
        ("2001-01-01T09:00+00:00", "2001-01-01 09:00 UTC has passed: choose a time in the future"),
        ("2099-01-01T09:00", "give the time with its zone"),
    ],
)
def test_send_at_a_time_passed_or_without_zone_is_refused(
    app: Flask, campaign: str, smtp_sink: SmtpSink, at: str, said: str
) -> None:
    """The rule of every surface (outreach.application.campaigns.send_time)."""
    result = app.test_cli_runner().invoke(args=["campaigns", "send", campaign, "--at", at])

    assert result.exit_code == 1 and said in result.output, result.output
    status = app.test_cli_runner().invoke(args=["campaigns", "status", campaign, "--json"])
    assert '"status": "draft"' in status.output
