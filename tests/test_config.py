"""Settings come from OUTREACH_* variables and .env, with the embedded defaults."""

from __future__ import annotations

from pathlib import Path

import pytest

from outreach import create_app
from outreach.config import Settings
from outreach.errors import ConfigurationError


def test_embedded_defaults_and_generated_secret(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    for name in ("DATABASE_URL", "BROKER_URL", "SMTP_URL", "SECRET_KEY", "BASE_URL"):
        monkeypatch.delenv(f"OUTREACH_{name}", raising=False)
    settings = Settings.from_env()
    assert settings.database_url == f"sqlite:///{tmp_path / 'instance' / 'outreach.db'}"
    assert settings.broker_url == "memory://"
    assert settings.smtp_url == f"maildir://{tmp_path / 'instance' / 'outbox'}"
    secret_file = tmp_path / "instance" / "secret_key"
    assert secret_file.read_text() == settings.secret_key and len(settings.secret_key) > 40
    assert oct(secret_file.stat().st_mode & 0o777) == "0o600"
    assert Settings.from_env().secret_key == settings.secret_key  # generated once


def test_environment_beats_dotenv(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / ".env").write_text(
        "OUTREACH_BASE_URL=https://from-dotenv.example/\nOUTREACH_SEND_RATE=5\n"
        "OUTREACH_DATABASE_URL=postgresql://u@db/x\n"
    )
    monkeypatch.setenv("OUTREACH_SEND_RATE", "12.5")
    monkeypatch.setenv("OUTREACH_SECRET_KEY", "s" * 40)
    settings = Settings.from_env()
    assert settings.base_url == "https://from-dotenv.example"
    assert settings.send_rate == 12.5
    assert settings.database_url == "postgresql+psycopg://u@db/x"
    assert settings.secure_cookies


def test_malformed_number_names_the_variable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("OUTREACH_SEND_RATE", "fast")
    with pytest.raises(ConfigurationError, match="OUTREACH_SEND_RATE"):
        Settings.from_env()


def test_create_app_has_no_side_effects(tmp_path: Path) -> None:
    db_path = tmp_path / "nothing-here.db"
    app = create_app(
        Settings(
            instance_path=tmp_path, secret_key="k" * 40, database_url=f"sqlite:///{db_path}"
        ).resolved()
    )
    assert app.config["SESSION_COOKIE_HTTPONLY"]
    assert not db_path.exists()  # no migration, no connection


@pytest.mark.parametrize(
    ("base_url", "mail_from", "expected"),
    [
        (
            "http://127.0.0.1:5000",
            "",
            "no-reply@127.0.0.1 (a loopback address, taken from the host",
        ),
        ("http://localhost:5000", "", "no-reply@localhost.localdomain (a loopback host"),
        ("https://news.example.org", "", None),
        ("https://news.example.org", "News <news@example.org>", None),
        (
            "https://news.example.org",
            "News <news@192.168.1.4>",
            "(a private address, taken from OUTREACH_MAIL_FROM)",
        ),
        ("https://news.example.org", "news@93.184.216.34", "(an address, not a domain name"),
    ],
)
def test_the_system_sender_must_be_an_address_receivers_accept(
    base_url: str, mail_from: str, expected: str | None
) -> None:
    from outreach.ops.checks import startup_warnings

    warnings = startup_warnings(Settings(base_url=base_url, mail_from=mail_from))
    found = [w for w in warnings if w.startswith("confirmation and welcome mail")]
    if expected is None:
        assert found == []
    else:
        assert len(found) == 1 and expected in found[0] and "set OUTREACH_MAIL_FROM" in found[0]


def test_serve_warns_about_a_loopback_system_sender(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    for name in ("DATABASE_URL", "BROKER_URL", "SMTP_URL", "BASE_URL", "MAIL_FROM"):
        monkeypatch.delenv(f"OUTREACH_{name}", raising=False)
    import subprocess
    import sys

    done = subprocess.run(
        [sys.executable, "-m", "outreach.cli", "serve", "--port", "1"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert "warning: confirmation and welcome mail would be sent from no-reply@127.0.0.1" in (
        done.stderr
    ), done.stderr
