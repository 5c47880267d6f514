"""`outreach groups …`"""

from __future__ import annotations

from dataclasses import asdict

import click

from outreach.commands.support import OutreachGroup, emit_json, json_option, session_scope
from outreach.groups.service import add_members, list_groups, remove_members, update_group

groups_cli = OutreachGroup("groups", help="Sector and affinity groups.")


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
