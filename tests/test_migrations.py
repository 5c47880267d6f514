"""Alembic migrations build the schema the models describe, from an empty database."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from flask.testing import FlaskCliRunner

from outreach import create_app
from outreach.db import UTCDateTime, make_engine
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


def _table(name: str, *columns: str, times: tuple[str, ...] = ()) -> sa.TableClause:
    """Enough of a table to insert rows at an old revision (times stored as the app does)."""
    return sa.table(
        name, *(sa.column(c) for c in columns), *(sa.column(t, UTCDateTime()) for t in times)
    )


def _rows(table: str, common: dict[str, object], *rows: dict[str, object]) -> Any:
    """An INSERT of these rows, each with the common values ("_at" columns are times)."""
    columns = [*common, *rows[0]]
    times = tuple(c for c in columns if c.endswith("_at"))
    plain = [c for c in columns if c not in times]
    return _table(table, *plain, times=times).insert().values([{**common, **r} for r in rows])


AT = datetime(2026, 5, 4, 9, tzinfo=UTC)
SENT_DELIVERY = {
    "campaign_id": 1,
    "status": "sent",
    "attempts": 1,
    "suspected_duplicate": False,
    "tracking_opens": False,
    "tracking_clicks": True,
    "human_opens": 0,
    "machine_opens": 0,
    "clicks": 0,
    "machine_clicks": 0,
    "queued_at": AT,
}


def _hit(
    delivery: int, kind: str, machine: bool, url: str | None, minutes: int
) -> dict[str, object]:
    return {
        "delivery_id": delivery,
        "kind": kind,
        "machine": machine,
        "url": url,
        "occurred_at": AT + timedelta(minutes=minutes),
    }


def test_link_clicks_are_filled_from_the_click_hits_still_kept(empty_url: str) -> None:
    """Revision 0020: a campaign clicked before it keeps its per-link figures, as far as
    its hits remain (an erased person's hits have no URL: they count in no link)."""
    upgrade(empty_url, "0019")
    engine = make_engine(empty_url)
    a, b = "https://example.org/a", "https://example.org/b"
    with engine.begin() as conn:
        campaign = {"name": "May", "from_name": "", "from_email": "a@example.org"}
        conn.execute(
            _rows(
                "campaigns",
                {**campaign, "status": "sent", "created_at": AT, "updated_at": AT},
                {"id": 1},
            )
        )
        conn.execute(
            _rows(
                "deliveries",
                SENT_DELIVERY,
                {"id": 1, "group_name": "Thinkers", "variant_id": 7},
                {"id": 2, "group_name": "Managers", "variant_id": None},
            )
        )
        conn.execute(
            _rows(
                "tracking_hits",
                {"campaign_id": 1},
                _hit(1, "click", False, a, 30),
                _hit(1, "click", False, a, 10),
                _hit(1, "click", True, a, 1),
                _hit(1, "open", False, None, 5),
                _hit(2, "click", True, b, 2),
                _hit(2, "click", False, None, 3),  # an erased person's click
            )
        )
    upgrade(empty_url)
    clicks = _table(
        "link_clicks",
        "delivery_id",
        "group_name",
        "variant_id",
        "url",
        "human_clicks",
        "machine_clicks",
        times=("first_human_at",),
    )
    with engine.connect() as conn:
        rows = conn.execute(sa.select(clicks).order_by(clicks.c.delivery_id)).all()
    engine.dispose()
    assert [tuple(r) for r in rows] == [
        (1, "Thinkers", 7, a, 2, 1, AT + timedelta(minutes=10)),
        (2, "Managers", 0, b, 0, 1, None),
    ]


def test_rule_groups_pass_the_kind_check_and_other_kinds_do_not(empty_url: str) -> None:
    """0019 replaced the check constraint of groups.kind (SQLite: by rebuilding the table)."""
    upgrade(empty_url)
    engine = make_engine(empty_url)
    insert = sa.text(
        "INSERT INTO groups (name, name_key, kind, description, is_public, rule, created_at) "
        "VALUES (:name, :name, :kind, '', false, :rule, CURRENT_TIMESTAMP)"
    )
    with engine.begin() as conn:
        conn.execute(insert, {"name": "readers", "kind": "rule", "rule": '{"behaviour": "opened"}'})
    with pytest.raises(sa.exc.IntegrityError), engine.begin() as conn:
        conn.execute(insert, {"name": "odd", "kind": "bogus", "rule": None})
    engine.dispose()
