"""Settings read from OUTREACH_* environment variables (and a .env file)."""

from __future__ import annotations

import ipaddress
import os
import secrets
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from dotenv import dotenv_values

from outreach.errors import ConfigurationError

DEFAULT_INSTANCE = Path("instance")


def _secret_from_instance(instance: Path) -> str:
    """Read the secret key generated once into instance/, creating it on first use."""
    path = instance / "secret_key"
    if path.exists():
        return path.read_text().strip()
    instance.mkdir(parents=True, exist_ok=True)
    key = secrets.token_urlsafe(48)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(key)
    return key


@dataclass(frozen=True)
class Settings:
    """Every setting of PRODUCT.md, with the embedded defaults."""

    instance_path: Path = DEFAULT_INSTANCE
    database_url: str = ""
    broker_url: str = "memory://"
    smtp_url: str = ""
    base_url: str = "http://127.0.0.1:5000"
    # Links in mail to a loopback, private or http base URL: only for local trials (demo).
    allow_insecure_links: bool = False
    secret_key: str = ""
    send_rate: float = 0.0
    mail_from: str = ""
    lead_magnet: str = ""
    subscribe_rate_limit: str = "10 per minute"
    dkim_domain: str = ""
    dkim_selector: str = ""
    dkim_key_file: str = ""
    unsubscribe_mailto: str = ""
    # Campaign mail's envelope sender: bounces+<delivery tag>@ this domain (VERP), so that a
    # bounce names its delivery; unset: the campaign's From address.
    bounce_domain: str = ""
    soft_bounce_limit: int = 3  # soft bounces in a row (one per message) that count as hard
    inbound_retention_days: int = 30  # processed inbound messages are kept this long
    language: str = "en"  # `lang` of campaign mail to contacts without a language
    worker_threads: int = 4
    pause_after: int = 50
    retry_base_ms: int = 5000
    lease_seconds: int = 300
    batch_size: int = 500  # deliveries per broker message (fewer under a send rate)
    session_idle_minutes: int = 120  # an admin session unused this long ends
    session_hours: int = 12  # and any admin session ends this long after sign-in
    # Sign-in throttle (outreach.accounts.throttle): failures free per account and per client
    # address within the window, then delays doubling from 1 s up to the cap.
    sign_in_free_failures: int = 5
    sign_in_ip_free_failures: int = 20
    sign_in_window_minutes: int = 15
    sign_in_max_delay_seconds: int = 900
    heartbeat_seconds: float = 5.0  # a worker silent for 3 beats has its claims released
    confirm_token_hours: int = 48
    pending_retention_days: int = 14
    # Retention (days; 0 keeps for ever): individual opens and clicks, then the personal
    # link of delivery rows of finished campaigns, then audit entries. Statistics stay.
    hit_retention_days: int = 395
    delivery_retention_days: int = 730
    audit_retention_days: int = 1095
    outbox_retention_days: int = 30  # sent and failed transactional emails
    privacy_approval: bool = False  # access, erasure, objection wait for an admin
    privacy_verify_hours: int = 48  # request verification link lifetime
    testing: bool = False
    extra: dict[str, str] = field(default_factory=dict)

    @classmethod
    def from_env(cls, **overrides: Any) -> Settings:
        """Settings from .env then the environment (the environment wins), then overrides."""
        env: dict[str, str | None] = {**dotenv_values(".env"), **os.environ}
        values: dict[str, Any] = {}
        for f in fields(cls):
            raw = env.get(f"OUTREACH_{f.name.upper()}")
            if raw is None or raw == "" or f.name == "extra":
                continue
            values[f.name] = _coerce(f.name, raw, f.type)
        values.update(overrides)
        return cls(**values).resolved()

    def resolved(self) -> Settings:
        """Fill the defaults that depend on the instance folder."""
        instance = Path(self.instance_path).resolve()
        database_url = self.database_url or f"sqlite:///{instance / 'outreach.db'}"
        smtp_url = self.smtp_url or f"maildir://{instance / 'outbox'}"
        secret = self.secret_key or _secret_from_instance(instance)
        return replace(
            self,
            instance_path=instance,
            database_url=_explicit_driver(database_url),
            smtp_url=smtp_url,
            secret_key=secret,
            base_url=self.base_url.rstrip("/"),
        )

    @property
    def secure_cookies(self) -> bool:
        """Cookies are marked Secure whenever the public URL is HTTPS."""
        return self.base_url.startswith("https://")

    def flask_config(self) -> dict[str, Any]:
        """The Flask settings derived from these."""
        return {
            "SECRET_KEY": self.secret_key,
            "TESTING": self.testing,
            "SESSION_COOKIE_HTTPONLY": True,
            "SESSION_COOKIE_SAMESITE": "Lax",
            "SESSION_COOKIE_SECURE": self.secure_cookies,
            "REMEMBER_COOKIE_HTTPONLY": True,
            "REMEMBER_COOKIE_SECURE": self.secure_cookies,
            "MAX_CONTENT_LENGTH": 64 * 1024 * 1024,
            "WTF_CSRF_TIME_LIMIT": 8 * 3600,
        }


def _coerce(name: str, raw: str, kind: Any) -> Any:
    kind = str(kind)
    try:
        if "Path" in kind:
            return Path(raw)
        if "bool" in kind:
            return raw.strip().lower() in {"1", "true", "yes", "on"}
        if "int" in kind:
            return int(raw)
        if "float" in kind:
            return float(raw)
    except ValueError as exc:
        raise ConfigurationError(f"OUTREACH_{name.upper()}: {raw!r} is not a {kind}") from exc
    return raw


def insecure_link_reasons(base_url: str) -> list[str]:
    """Why links built on `base_url` would not work for recipients elsewhere: not https, or
    a host that is this machine or a private network (empty: the links are fine). Names are
    not resolved: only `localhost` (and `*.localhost`) count as loopback names."""
    parts = urlsplit(base_url)
    reasons = [] if parts.scheme == "https" else [f"{parts.scheme or 'no scheme'}, not https"]
    return [*reasons, *local_host_reasons(parts.hostname or "")]


def local_host_reasons(host: str) -> list[str]:
    """Why `host` names no machine others can reach (empty: it may be a public one)."""
    host = host.strip("[]").rstrip(".").lower()
    if not host:
        return ["without a host"]
    if host == "localhost" or host.endswith((".localhost", ".localdomain")):
        return ["a loopback host"]
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return []
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped:
        address = address.ipv4_mapped
    if address.is_loopback:
        return ["a loopback address"]
    if address.is_link_local:
        return ["a link-local address"]
    if address.is_private or address.is_reserved or address.is_unspecified:
        return ["a private address"]
    return []


def _explicit_driver(url: str) -> str:
    """SQLAlchemy 2.1 wants the psycopg driver spelled out."""
    for prefix in ("postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url
