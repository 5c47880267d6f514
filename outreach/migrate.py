"""Alembic, driven from Outreach's settings."""

from __future__ import annotations

from alembic import command
from alembic.config import Config

from outreach.paths import ROOT


def alembic_config(database_url: str) -> Config:
    """An Alembic Config pointing at migrations/ and the given database."""
    config = Config()
    config.set_main_option("script_location", str(ROOT / "migrations"))
    # ConfigParser interpolation: a literal % in a password must be doubled.
    config.set_main_option("sqlalchemy.url", database_url.replace("%", "%%"))
    return config


def upgrade(database_url: str, revision: str = "head", secret_key: str | None = None) -> None:
    """Create or migrate the database to `revision` (data migrations may need the key)."""
    config = alembic_config(database_url)
    config.attributes["secret_key"] = secret_key
    command.upgrade(config, revision)


def downgrade(database_url: str, revision: str) -> None:
    """Migrate the database down to `revision`."""
    command.downgrade(alembic_config(database_url), revision)
