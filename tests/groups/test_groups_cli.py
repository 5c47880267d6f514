"""Managing affinity groups from the command line: list, add, remove; sector groups and
unknown addresses refused."""

from __future__ import annotations

import json
from pathlib import Path

from flask.testing import FlaskCliRunner

from tests.support.contacts import HEADER, run_import, write


def test_groups_list_add_remove(runner: FlaskCliRunner, tmp_path: Path) -> None:
    run_import(
        runner,
        write(tmp_path, HEADER + "a@example.org,,,Thinkers,,,\n" + "b@example.org,,,Managers,,,\n"),
        "--status",
        "subscribed",
    )
    assert (
        runner.invoke(
            args=["groups", "add", "VIP", "a@example.org", "B@example.org"]
        ).output.strip()
        == "2 added to VIP"
    )
    listing = json.loads(runner.invoke(args=["groups", "list", "--json"]).stdout)
    vip = next(g for g in listing if g["name"] == "VIP")
    assert (vip["kind"], vip["members"], vip["subscribed"]) == ("affinity", 2, 2)
    assert (
        runner.invoke(args=["groups", "remove", "vip", "a@example.org"]).output.strip()
        == "1 removed from vip"
    )
    table = runner.invoke(args=["groups", "list"]).output
    assert "Thinkers" in table and "VIP" in table


def test_groups_add_refuses_sector_groups_and_unknown_addresses(
    runner: FlaskCliRunner, tmp_path: Path
) -> None:
    run_import(runner, write(tmp_path, HEADER + "a@example.org,,,Thinkers,,,\n"))
    sector = runner.invoke(args=["groups", "add", "Thinkers", "a@example.org"])
    assert sector.exit_code == 1 and "is a sector group" in sector.output
    unknown = runner.invoke(args=["groups", "add", "VIP", "nobody@example.org"])
    assert unknown.exit_code == 1 and "no contact with address nobody@example.org" in unknown.output
