"""Pre-send checks that block what must not reach a recipient (the controller named, links
that work, DKIM aligned) and warn about placeholders that render empty; the mailto
List-Unsubscribe only when configured. Through the CLI, the API and the mail that arrives."""

from __future__ import annotations

import html as html_lib
import json
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import Result
from flask import Flask
from flask.testing import FlaskClient

from outreach.db import get_db
from tests.conftest import CONTROLLER, SmtpSink, drain, queued_app
from tests.support.campaigns import MJML
from tests.support.dkim import PEM

URL = "/api/v1/campaigns"
CONTROLLER_ERRORS = ("identity (name)", "postal address", "contact email")


@pytest.fixture
def overrides() -> dict[str, Any]:
    """Settings of the test's app (parametrize to change them)."""
    return {}


@pytest.fixture
def app(
    tmp_path: Path, database_url: str, smtp_sink: SmtpSink, overrides: dict[str, Any]
) -> Iterator[Flask]:
    """An app sending to the SMTP sink through the embedded queue, with `overrides`."""
    with queued_app(tmp_path, database_url, smtp_sink, retry_base_ms=50, **overrides) as made:
        yield made


def cli(app: Flask, *args: str) -> Result:
    return app.test_cli_runner().invoke(args=list(args))


def letter(
    app: Flask,
    tmp_path: Path,
    subject: str = "News for {{ contact.first_name }}",
    mjml: str = MJML,
    sender: str = "Ana <ana@example.org>",
) -> str:
    """A campaign to Thinkers with one variant, made with the command line; its id."""
    campaign = cli(app, "campaigns", "create", "Letter", "--from", sender, "--groups", "Thinkers")
    assert campaign.exit_code == 0, campaign.output
    path = tmp_path / "letter.mjml"
    path.write_text(mjml, encoding="utf-8")
    number = campaign.output.strip()
    options = ["--group", "Thinkers", "--subject", subject, "--mjml", str(path)]
    saved = cli(app, "campaigns", "variant", number, *options)
    assert saved.exit_code == 0, saved.output
    return number


def problems(app: Flask, campaign: str) -> list[tuple[str, str, str]]:
    """(level, variant, message) of `outreach campaigns audience --json`."""
    result = cli(app, "campaigns", "audience", campaign, "--json")
    assert result.exit_code == 0, result.output
    return [(p["level"], p["variant"], p["message"]) for p in json.loads(result.stdout)["problems"]]


def errors(app: Flask, campaign: str) -> list[str]:
    return [message for level, _variant, message in problems(app, campaign) if level == "error"]


def name_the_controller(app: Flask, **controller: str) -> None:
    """What Admin › Settings does (the notice texts kept)."""
    from outreach.consent.notice import current_notice, save_notice

    with get_db(app).session() as session:
        notice = current_notice(session)
        save_notice(session, {**CONTROLLER, **controller}, notice.first_layer, notice.full_text)


# --- the controller's identity -------------------------------------------------------------


@pytest.mark.fresh_notice
def test_a_fresh_installation_sends_nothing_until_the_controller_is_named(
    app: Flask, make_subscriber: Callable[..., int], tmp_path: Path, smtp_sink: SmtpSink
) -> None:
    make_subscriber("tina@example.org", first_name="Tina", sector="Thinkers")
    campaign = letter(app, tmp_path)

    found = errors(app, campaign)
    refused = cli(app, "campaigns", "send", campaign)
    drain(app)

    assert [m.split(" is ")[0] for m in found] == [
        f"the controller's {what}" for what in CONTROLLER_ERRORS
    ]
    assert refused.exit_code == 1
    assert "cannot be sent: -: the controller's identity (name) is " in refused.output
    assert smtp_sink.received() == []

    name_the_controller(app)
    assert errors(app, campaign) == []
    sent = cli(app, "campaigns", "send", campaign)
    drain(app)
    assert sent.exit_code == 0, sent.output
    assert [m["Subject"] for m in smtp_sink.to("tina@example.org")] == ["News for Tina"]


@pytest.mark.parametrize("field", ["name", "address", "email"])
def test_each_placeholder_field_of_the_controller_is_an_error(
    app: Flask, make_subscriber: Callable[..., int], tmp_path: Path, field: str
) -> None:
    from outreach.campaigns.checks import PLACEHOLDER_CONTROLLER

    make_subscriber("tina@example.org", sector="Thinkers")
    campaign = letter(app, tmp_path)
    assert errors(app, campaign) == []

    name_the_controller(app, **{field: PLACEHOLDER_CONTROLLER[field]})

    what = dict(zip(["name", "address", "email"], CONTROLLER_ERRORS, strict=True))[field]
    assert [m.split(" is ")[0] for m in errors(app, campaign)] == [f"the controller's {what}"]


@pytest.mark.parametrize(
    ("overrides", "level"),
    [
        ({}, "error"),
        ({"base_url": "http://127.0.0.1:5000", "allow_insecure_links": True}, "warning"),
    ],
)
def test_the_demos_sample_controller_blocks_a_real_instance_only(
    app: Flask, make_subscriber: Callable[..., int], tmp_path: Path, level: str
) -> None:
    """`outreach demo` names a sample controller when there is none; on an instance that
    sends for real (no local-trial allowance), a campaign is not sent in its name."""
    from outreach.campaigns.checks import SAMPLE_CONTROLLER

    make_subscriber("tina@example.org", sector="Thinkers")
    campaign = letter(app, tmp_path)
    name_the_controller(app, **SAMPLE_CONTROLLER)

    found = [(lv, m) for lv, _v, m in problems(app, campaign) if "demo's sample" in m]

    assert [lv for lv, _m in found] == [level]
    assert found[0][1].startswith(
        "the controller's identity (name), postal address and contact email are still the "
        "demo's sample"
    )
    assert (cli(app, "campaigns", "send", campaign).exit_code == 1) == (level == "error")
    if level == "error":  # one field of the sample left is enough to refuse
        name_the_controller(app, **{**CONTROLLER, "email": SAMPLE_CONTROLLER["email"]})
        [message] = [m for _lv, _v, m in problems(app, campaign) if "demo's sample" in m]
        assert message == (
            "the controller's contact email is still the demo's sample: set your own in "
            "Admin › Settings (or `outreach settings set contact_email …`)"
        )


@pytest.mark.fresh_notice
def test_the_starter_layout_signs_with_the_controller_and_never_with_the_placeholder(
    app: Flask, client: FlaskClient, api_headers: dict[str, str], smtp_sink: SmtpSink
) -> None:
    from tests.support.campaigns import subscribe

    subscribe(app, "theo@example.org", first_name="Theo", sector="Thinkers")
    created = client.post(
        URL,
        headers=api_headers,
        json={"name": "Year end", "from": "Ana <ana@example.org>", "groups": ["Thinkers"]},
    )
    campaign = created.get_json()["id"]
    starter = client.get(f"{URL}/layout", headers=api_headers).get_json()["mjml"]
    assert "The newsletter's publisher" in starter and "&#x27;" not in starter
    variant = {"subject": "Hi {{ contact.first_name }}", "mjml": starter}
    client.put(f"{URL}/{campaign}/variants/Thinkers", headers=api_headers, json=variant)

    name_the_controller(app, name="Signal & Noise's Letters")
    audience = client.get(f"{URL}/{campaign}/audience", headers=api_headers).get_json()
    refused = client.post(f"{URL}/{campaign}/send", headers=api_headers)

    assert {
        "level": "error",
        "variant": "Thinkers",
        "message": 'the message still says "The newsletter\'s publisher": replace it with '
        "the controller's identity (Admin › Settings, then the starter layout shows it)",
    } in audience["problems"]
    assert refused.status_code == 422 and "still says" in refused.get_json()["error"]["message"]

    starter = client.get(f"{URL}/layout", headers=api_headers).get_json()["mjml"]
    assert "Signal & Noise's Letters · 1 Test Street, 28013 Madrid, Spain" in starter
    variant["mjml"] = starter
    saved = client.put(f"{URL}/{campaign}/variants/Thinkers", headers=api_headers, json=variant)
    assert saved.status_code == 200, saved.get_json()
    audience = client.get(f"{URL}/{campaign}/audience", headers=api_headers).get_json()
    assert [p for p in audience["problems"] if p["level"] == "error"] == []
    assert client.post(f"{URL}/{campaign}/send", headers=api_headers).status_code == 202
    drain(app)
    [message] = smtp_sink.to("theo@example.org")
    html = message.get_body(("html",)).get_content()  # type: ignore[union-attr]
    text = message.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    identity = "Signal & Noise's Letters · 1 Test Street, 28013 Madrid, Spain"
    assert identity in html_lib.unescape(html) and identity in text
    assert "publisher" not in html and "Set the postal address" not in text


# --- links that work ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("overrides", "reasons"),
    [
        ({"base_url": "http://127.0.0.1:5000"}, "http, not https, a loopback address"),
        ({"base_url": "https://localhost:8443"}, "a loopback host"),
        ({"base_url": "https://news.localhost"}, "a loopback host"),
        ({"base_url": "https://[::1]:5000"}, "a loopback address"),
        ({"base_url": "https://10.1.2.3"}, "a private address"),
        ({"base_url": "https://192.168.0.10:5000"}, "a private address"),
        ({"base_url": "https://169.254.10.1"}, "a link-local address"),
        ({"base_url": "https://[fe80::1]"}, "a link-local address"),
        ({"base_url": "https://[::ffff:127.0.0.1]"}, "a loopback address"),
        ({"base_url": "http://news.example.org"}, "http, not https"),
    ],
    indirect=False,
)
def test_links_recipients_cannot_open_block_sending(
    app: Flask,
    make_subscriber: Callable[..., int],
    tmp_path: Path,
    smtp_sink: SmtpSink,
    overrides: dict[str, Any],
    reasons: str,
) -> None:
    make_subscriber("tina@example.org", sector="Thinkers")
    campaign = letter(app, tmp_path)

    found = errors(app, campaign)
    refused = cli(app, "campaigns", "send", campaign)
    drain(app)

    base = overrides["base_url"]
    assert found == [
        f"links in the mail point at {base} ({reasons}): recipients cannot open them and "
        "mail providers ignore such a List-Unsubscribe; set OUTREACH_BASE_URL to the public "
        "https address (or OUTREACH_ALLOW_INSECURE_LINKS=true for a local trial)"
    ]
    assert refused.exit_code == 1 and "cannot be sent: -: links in the mail" in refused.output
    assert smtp_sink.received() == []


@pytest.mark.parametrize(
    "overrides", [{"base_url": "http://127.0.0.1:5000", "allow_insecure_links": True}]
)
def test_insecure_links_are_a_warning_when_allowed_for_a_local_trial(
    app: Flask, make_subscriber: Callable[..., int], tmp_path: Path, smtp_sink: SmtpSink
) -> None:
    make_subscriber("tina@example.org", sector="Thinkers")
    campaign = letter(app, tmp_path)

    assert (
        "warning",
        "-",
        "links in the mail point at http://127.0.0.1:5000 (http, not https, a loopback "
        "address): allowed by OUTREACH_ALLOW_INSECURE_LINKS for a local trial; recipients "
        "elsewhere cannot use them",
    ) in problems(app, campaign)
    assert errors(app, campaign) == []
    assert cli(app, "campaigns", "send", campaign).exit_code == 0
    drain(app)
    [message] = smtp_sink.to("tina@example.org")
    assert message["List-Unsubscribe"].startswith("<http://127.0.0.1:5000/unsubscribe/")


def test_the_allowance_is_read_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    from outreach.config import Settings

    monkeypatch.setenv("OUTREACH_SECRET_KEY", "k" * 40)
    assert Settings.from_env().allow_insecure_links is False
    monkeypatch.setenv("OUTREACH_ALLOW_INSECURE_LINKS", "true")
    assert Settings.from_env().allow_insecure_links is True


# --- DKIM -----------------------------------------------------------------------------------


@pytest.fixture
def dkim_key(tmp_path: Path) -> str:
    path = tmp_path / "dkim.pem"
    path.write_bytes(PEM)
    return str(path)


@pytest.mark.parametrize(
    ("signing", "sender", "expected"),
    [
        (None, "ana@example.org", "warning: DKIM is not configured"),
        ("example.org", "ana@example.org", None),
        ("example.org", "ana@news.example.org", None),
        ("example.org", "ana@elsewhere.example", "error: DKIM signs as d=example.org"),
        ("mail.example.org", "ana@example.org", None),
        ("example.org.evil", "ana@example.org", "error: DKIM signs as d=example.org.evil"),
    ],
)
def test_dkim_must_sign_for_the_from_domain(
    tmp_path: Path,
    database_url: str,
    smtp_sink: SmtpSink,
    dkim_key: str,
    signing: str | None,
    sender: str,
    expected: str | None,
) -> None:
    settings = (
        {"dkim_domain": signing, "dkim_selector": "news", "dkim_key_file": dkim_key}
        if signing
        else {}
    )
    with queued_app(tmp_path, database_url, smtp_sink, **settings) as app:
        from tests.support.campaigns import subscribe

        subscribe(app, "tina@example.org", sector="Thinkers")
        campaign = letter(app, tmp_path, sender=f"Ana <{sender}>")
        found = [f"{level}: {m}" for level, v, m in problems(app, campaign) if "DKIM" in m]
        sent = cli(app, "campaigns", "send", campaign)
        drain(app)
        received = smtp_sink.to("tina@example.org")

    if expected is None:
        assert found == [] and sent.exit_code == 0 and len(received) == 1
        assert f"d={signing};" in str(received[0]["DKIM-Signature"])
    else:
        [finding] = found
        assert finding.startswith(expected)
        blocked = expected.startswith("error")
        assert sent.exit_code == (1 if blocked else 0) and len(received) == (0 if blocked else 1)
    if expected and expected.startswith("error"):
        domain = sender.rpartition("@")[2]
        assert f"but the campaign is sent From {domain}" in found[0]


# --- placeholders that render empty --------------------------------------------------------

PEOPLE = (
    "email,first_name,sector,organization,city\n"
    "ana@example.org,Ana,Thinkers,Northwind,Lyon\n"
    "ben@example.org,Ben,Thinkers,,Leeds\n"
    "cid@example.org,,Thinkers,,\n"
    "dan@example.org,Dan,Thinkers,Acme,\n"
)


@pytest.fixture
def thinkers(app: Flask, tmp_path: Path) -> None:
    """Four subscribed Thinkers: two without an organization, two without a city, one
    without a first name."""
    path = tmp_path / "people.csv"
    path.write_text(PEOPLE, encoding="utf-8")
    imported = cli(
        app, "contacts", "import", str(path), "--source", "test", "--status", "subscribed"
    )
    assert imported.exit_code == 0, imported.output


def body(text: str) -> str:
    return MJML.replace("<h1>Hello {{ contact.first_name }}</h1>", f"<p>{text}</p>")


def test_a_placeholder_empty_for_some_recipients_is_a_warning_with_their_number(
    app: Flask, thinkers: None, tmp_path: Path, smtp_sink: SmtpSink
) -> None:
    campaign = letter(
        app,
        tmp_path,
        subject="Year-end data pack for {{ contact.organization }}",
        mjml=body("Greetings from {{ contact.attributes.city | upper }}, {{ contact.first_name }}"),
    )

    found = [(level, v, m) for level, v, m in problems(app, campaign) if "renders empty" in m]

    assert found == [
        (
            "warning",
            "Thinkers",
            "{{ contact.organization }} in the subject renders empty for 2 of 4 recipients: "
            'write {{ contact.organization | default("…", true) }}',
        ),
        (
            "warning",
            "Thinkers",
            "{{ contact.attributes.city }} in the body renders empty for 2 of 4 recipients: "
            'write {{ contact.attributes.city | default("…", true) }}',
        ),
        (
            "warning",
            "Thinkers",
            "{{ contact.first_name }} in the body renders empty for 1 of 4 recipients: "
            'write {{ contact.first_name | default("…", true) }}',
        ),
    ]
    assert cli(app, "campaigns", "send", campaign).exit_code == 0  # a warning does not block
    drain(app)
    assert smtp_sink.to("ben@example.org")[0]["Subject"] == "Year-end data pack for "


@pytest.mark.parametrize(
    ("subject", "warned"),
    [
        ('Data pack for {{ contact.organization | default("your team", true) }}', False),
        ('Data pack for {{ contact.organization | default("your team", boolean=true) }}', False),
        ('Data pack for {{ contact.organization | d("your team", true) | title }}', False),
        ("Data pack{% if contact.organization %} for {{ contact.organization }}{% endif %}", False),
        ("Data pack for {{ contact.organization or 'your team' }}", False),
        ('Data pack for {{ contact.organization | default("your team") }}', True),
        ("Data pack for {{ contact.organization | trim }}", True),
        ("Data pack for {{ contact['organization'] }}", True),
        ("Data pack for {{ contact.email }}", False),
    ],
)
def test_a_default_that_replaces_empty_values_or_an_if_silences_the_warning(
    app: Flask, thinkers: None, tmp_path: Path, subject: str, warned: bool
) -> None:
    campaign = letter(app, tmp_path, subject=subject, mjml=body("Hi"))

    found = [m for _level, _v, m in problems(app, campaign) if "renders empty" in m]

    assert found == (
        [
            "{{ contact.organization }} in the subject renders empty for 2 of 4 recipients: "
            'write {{ contact.organization | default("…", true) }}'
        ]
        if warned
        else []
    )


def test_the_count_is_over_the_would_be_audience_only(
    app: Flask, thinkers: None, tmp_path: Path
) -> None:
    # No city either, but neither would receive it: a subscribed manager, a pending thinker.
    manager, pending = tmp_path / "manager.csv", tmp_path / "pending.csv"
    manager.write_text("email,sector\nmax@example.org,Managers\n", encoding="utf-8")
    pending.write_text("email,sector\npat@example.org,Thinkers\n", encoding="utf-8")
    cli(app, "contacts", "import", str(manager), "--source", "test", "--status", "subscribed")
    cli(app, "contacts", "import", str(pending), "--source", "test")
    campaign = letter(app, tmp_path, subject="For {{ contact.attributes.city }}", mjml=body("Hi"))

    found = [m for _level, _v, m in problems(app, campaign) if "renders empty" in m]

    assert found == [
        "{{ contact.attributes.city }} in the subject renders empty for 2 of 4 recipients: "
        'write {{ contact.attributes.city | default("…", true) }}'
    ]


# --- the mailto List-Unsubscribe ------------------------------------------------------------


@pytest.mark.parametrize(
    ("overrides", "mailto"),
    [({}, None), ({"unsubscribe_mailto": "unsubscribe@news.example.org"}, True)],
)
def test_the_mailto_unsubscribe_is_sent_only_when_configured(
    app: Flask,
    make_subscriber: Callable[..., int],
    tmp_path: Path,
    smtp_sink: SmtpSink,
    overrides: dict[str, Any],
    mailto: bool | None,
) -> None:
    make_subscriber("tina@example.org", sector="Thinkers")
    campaign = letter(app, tmp_path, sender="Ana <ana@example.org>")

    assert cli(app, "campaigns", "send", campaign).exit_code == 0
    drain(app)

    [message] = smtp_sink.to("tina@example.org")
    header = str(message["List-Unsubscribe"])
    url = re.fullmatch(r"<(https://news\.example\.org/unsubscribe/([^>]+))>(.*)", header)
    assert url, header
    if mailto is None:
        assert url.group(3) == "" and "mailto" not in header and "ana@example.org" not in header
    else:
        token = url.group(2)
        assert url.group(3) == (
            f", <mailto:unsubscribe@news.example.org?subject=unsubscribe%20{token}>"
        )
    assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"


@pytest.mark.parametrize("overrides", [{"unsubscribe_mailto": "not an address"}])
def test_a_mailto_that_is_no_address_is_an_error(
    app: Flask, make_subscriber: Callable[..., int], tmp_path: Path
) -> None:
    make_subscriber("tina@example.org", sector="Thinkers")
    campaign = letter(app, tmp_path)

    [error] = errors(app, campaign)

    assert error.startswith("OUTREACH_UNSUBSCRIBE_MAILTO: ")
