"""Alembic migrations build the schema the models describe, from an empty database."""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from flask.testing import FlaskCliRunner

from outreach import create_app
from outreach.db import make_engine
from outreach.migrate import downgrade, upgrade
from outreach.models import Base
from tests.conftest import PG_URL, make_settings, missing_service


@pytest.fixture(params=["sqlite", "postgresql"])
def empty_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'empty.db'}"
    if not PG_URL:
        missing_service("PostgreSQL (OUTREACH_TEST_DATABASE_URL)")
    # A schema of its own, so the other tests' database is left alone; the %-escaped
    # option also proves URLs with % survive Alembic's config parser.
    engine = make_engine(PG_URL)
    with engine.begin() as conn:
        conn.exec_driver_sql("DROP SCHEMA IF EXISTS migration_test CASCADE")
        conn.exec_driver_sql("CREATE SCHEMA migration_test")
    engine.dispose()
    separator = "&" if "?" in PG_URL else "?"
    return f"{PG_URL}{separator}options=-csearch_path%3Dmigration_test"


def _diff(url: str) -> list[object]:
    engine = make_engine(url)
    with engine.connect() as conn:
        diff = compare_metadata(
            MigrationContext.configure(conn, opts={"compare_type": True}), Base.metadata
        )
    engine.dispose()
    return diff


def test_upgrade_from_empty_matches_models(empty_url: str) -> None:
    upgrade(empty_url)
    assert _diff(empty_url) == []


def test_downgrade_to_base_and_up_again(empty_url: str) -> None:
    upgrade(empty_url)
    downgrade(empty_url, "base")
    engine = make_engine(empty_url)
    assert sa.inspect(engine).get_table_names() == ["alembic_version"]
    engine.dispose()
    upgrade(empty_url)
    assert _diff(empty_url) == []


def test_db_upgrade_command_creates_the_database(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'fresh' / 'outreach.db'}"
    app = create_app(make_settings(tmp_path, url))
    runner: FlaskCliRunner = app.test_cli_runner()
    result = runner.invoke(args=["db", "upgrade"])
    assert result.exit_code == 0, result.output
    assert "database at head" in result.output
    assert _diff(url) == []
    # Running it again is harmless.
    assert runner.invoke(args=["db", "upgrade"]).exit_code == 0


def test_group_visibility_keeps_the_sectors_that_were_offered(empty_url: str) -> None:
    upgrade(empty_url, "0011")
    engine = make_engine(empty_url)
    with engine.begin() as conn:
        conn.execute(
            sa.text(
                "INSERT INTO groups (name, name_key, kind, description, created_at) "
                "VALUES (:name, :key, :kind, '', CURRENT_TIMESTAMP)"
            ),
            [
                {"name": "Thinkers", "key": "thinkers", "kind": "sector"},
                {"name": "VIP", "key": "vip", "kind": "affinity"},
            ],
        )
    upgrade(empty_url, "0012")
    with engine.connect() as conn:
        rows = dict(conn.execute(sa.text("SELECT name, is_public FROM groups")).all())
    engine.dispose()
    # Sectors were on the sign-up form before: they stay there; every other group is private.
    assert {name: bool(public) for name, public in rows.items()} == {
        "Thinkers": True,
        "VIP": False,
    }
