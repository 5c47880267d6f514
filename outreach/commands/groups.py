"""`outreach groups …`"""

from __future__ import annotations

from dataclasses import asdict
from typing import IO, TYPE_CHECKING

import click

from outreach.commands.support import OutreachGroup, emit_json, json_option, session_scope
from outreach.groups.service import add_members, list_groups, remove_members, update_group

if TYPE_CHECKING:
    from outreach.groups.rules import Rule

groups_cli = OutreachGroup("groups", help="Sector, affinity and rule groups.")


@groups_cli.command("list")
@json_option
def list_command(as_json: bool) -> None:
    """Groups with their visibility, member and subscribed counts."""
    with session_scope() as session:
        groups = list_groups(session)
    if as_json:
        emit_json([asdict(g) for g in groups])
        return
    width = max([len(g.name) for g in groups] + [5])
    click.echo(
        f"{'group':<{width}}  {'kind':<8}  {'visibility':<10}  {'members':>8}  {'subscribed':>10}"
    )
    for g in groups:
        shown = "public" if g.public else "private"
        click.echo(
            f"{g.name:<{width}}  {g.kind:<8}  {shown:<10}  {g.members:>8}  {g.subscribed:>10}"
        )


@groups_cli.command("publish")
@click.argument("group")
@click.option("--description", help="Text shown to subscribers next to a topic's name.")
def publish_command(group: str, description: str | None) -> None:
    """Offer a group to subscribers: a sector in the sign-up form's list, an affinity
    group as a topic on the sign-up and preferences pages."""
    with session_scope() as session:
        name = update_group(session, group, public=True, description=description).name
    click.echo(f"{name} is public: subscribers can choose it")


@groups_cli.command("unpublish")
@click.argument("group")
def unpublish_command(group: str) -> None:
    """Make a group private again (admins only); its members stay members."""
    with session_scope() as session:
        name = update_group(session, group, public=False).name
    click.echo(f"{name} is private: only admins see it")


@groups_cli.command("add")
@click.argument("group")
@click.argument("emails", nargs=-1, required=True)
def add_command(group: str, emails: tuple[str, ...]) -> None:
    """Add contacts to an affinity group (created when new)."""
    with session_scope() as session:
        added = add_members(session, group, emails)
    click.echo(f"{added} added to {group}")


@groups_cli.command("remove")
@click.argument("group")
@click.argument("emails", nargs=-1, required=True)
def remove_command(group: str, emails: tuple[str, ...]) -> None:
    """Remove contacts from an affinity group."""
    with session_scope() as session:
        removed = remove_members(session, group, emails)
    click.echo(f"{removed} removed from {group}")


@groups_cli.command("trend")
@click.argument("group")
@click.option("--last", default=12, show_default=True, help="How many of its last campaigns.")
@json_option
@click.option("--csv", "as_csv", is_flag=True, help="Print CSV.")
def trend_command(group: str, last: int, as_json: bool, as_csv: bool) -> None:
    """A group's human open and click rates over its last campaigns (oldest first): is it
    warming or cooling? Rates count the members sent each one who allowed that tracking."""
    import sys

    from outreach.groups.service import get_group
    from outreach.reporting.stats import group_trend, percent, write_trend_csv

    with session_scope() as session:
        history = group_trend(session, get_group(session, group).name, last)
    if as_json:
        emit_json(
            [asdict(h) | {"sent_at": h.sent_at.isoformat() if h.sent_at else None} for h in history]
        )
        return
    if as_csv:
        write_trend_csv(history, sys.stdout)
        return
    if not history:
        click.echo(f"no campaign has reached {group} yet")
        return
    width = max([len(h.name) for h in history] + [8])
    click.echo(
        f"{'campaign':<{width}}  {'started':<10}  {'sent':>6}  {'open rate':>16}  click rate"
    )
    for h in history:
        started = h.sent_at.strftime("%Y-%m-%d") if h.sent_at else "-"
        opens = f"{percent(h.open_rate)} of {h.open_tracked}"
        clicks = f"{percent(h.click_rate)} of {h.click_tracked}"
        click.echo(f"{h.name:<{width}}  {started:<10}  {h.sent:>6}  {opens:>16}  {clicks}")


@groups_cli.command("rule")
@click.argument("name")
@click.option(
    "--file",
    "rule_file",
    type=click.File("r", encoding="utf-8"),
    help="The rule document (JSON; - reads standard input).",
)
@click.option(
    "--where",
    "line",
    metavar="RULE",
    help='The rule in one line, e.g. "sector = Journalists and opened last 3".',
)
@click.option("--description", help="What the group is for, shown to admins.")
@click.option("--dry-run", is_flag=True, help="Count and sample the matching contacts only.")
@json_option
def rule_command(
    name: str,
    rule_file: IO[str] | None,
    line: str | None,
    description: str | None,
    dry_run: bool,
    as_json: bool,
) -> None:
    """Define a rule group: its members are the contacts its rule matches when a campaign's
    audience is frozen (or the group is counted), never a stored list. Without --file or
    --where, show the group's rule. Machine opens and clicks never count."""
    from outreach.groups.rules import describe, parse, to_doc
    from outreach.groups.service import get_group, preview_rule, set_rule

    if rule_file is not None and line is not None:
        raise click.UsageError("give the rule with --file or with --where, not both")
    with session_scope() as session:
        if rule_file is None and line is None:
            group = get_group(session, name)
            if group.rule is None:
                raise click.ClickException(f"{group.name} is a {group.kind} group: it has no rule")
            rule = parse(group.rule)
            verb = "is"
        else:
            rule = _read_rule(rule_file, line)
            verb = "would be" if dry_run else "is"
            if not dry_run:
                group, created = set_rule(session, name, rule, description=description)
                name, verb = group.name, ("created:" if created else "now:")
        found = preview_rule(session, rule)
    if as_json:
        emit_json({"group": name, "rule": to_doc(rule), "text": describe(rule), **asdict(found)})
        return
    click.echo(f"{name} {verb} {describe(rule)}")
    click.echo(f"{found.matching} contacts match now ({found.subscribed} subscribed)")
    for person in found.sample:
        click.echo(f"  {person['email']}  {person['name']}  {person['status']}")


def _read_rule(rule_file: IO[str] | None, line: str | None) -> Rule:
    import json

    from outreach.groups.rules import parse, parse_line

    if line is not None:
        return parse_line(line)
    assert rule_file is not None  # noqa: S101 (the caller checked)
    try:
        doc = json.loads(rule_file.read())
    except json.JSONDecodeError as exc:
        raise click.ClickException(
            f"{rule_file.name}: not JSON (line {exc.lineno}, column {exc.colno}: {exc.msg})"
        ) from None
    return parse(doc)


@groups_cli.command("members")
@click.argument("group")
@click.option("--limit", type=click.IntRange(min=1), help="At most this many, first by id.")
@json_option
def members_command(group: str, limit: int | None, as_json: bool) -> None:
    """The current members of a group (a rule group's: its rule evaluated now)."""
    from outreach.groups.service import get_group, member_rows

    with session_scope() as session:
        rows = member_rows(session, get_group(session, group), limit=limit)
    if as_json:
        emit_json(rows)
        return
    for row in rows:
        click.echo(f"{row['email']}  {row['name']}  {row['status']}")
    click.echo(f"{len(rows)} member{'' if len(rows) == 1 else 's'}", err=True)
