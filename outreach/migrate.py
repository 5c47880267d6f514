"""Alembic, driven from Outreach's settings."""

from __future__ import annotations

from typing import TYPE_CHECKING

from outreach.paths import ROOT

if TYPE_CHECKING:
    from alembic.config import Config

# Alembic is imported when a migration runs, not when the command line starts (~0.13 s of
# every `outreach` command otherwise).


def alembic_config(database_url: str) -> Config:
    """An Alembic Config pointing at migrations/ and the given database."""
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(ROOT / "migrations"))
    # ConfigParser interpolation: a literal % in a password must be doubled.
    config.set_main_option("sqlalchemy.url", database_url.replace("%", "%%"))
    return config


def upgrade(database_url: str, revision: str = "head", secret_key: str | None = None) -> None:
    """Create or migrate the database to `revision` (data migrations may need the key)."""
    config = alembic_config(database_url)
    config.attributes["secret_key"] = secret_key
    from alembic import command

    command.upgrade(config, revision)


def downgrade(database_url: str, revision: str) -> None:
    """Migrate the database down to `revision`."""
    from alembic import command

    command.downgrade(alembic_config(database_url), revision)
