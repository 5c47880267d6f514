"""`outreach stats CAMPAIGN`"""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import IO, TypeVar

import click

from outreach.campaigns.service import get_campaign
from outreach.commands.support import emit_json, outreach_command, session_scope
from outreach.reporting.links import CampaignLinks, link_stats, write_links_csv
from outreach.reporting.recipients import combined_reach
from outreach.reporting.stats import CampaignStats, campaign_stats, percent, write_csv

Report = TypeVar("Report", CampaignStats, CampaignLinks)


@outreach_command("stats")
@click.argument("campaign")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON document.")
@click.option("--csv", "as_csv", is_flag=True, help="Print CSV.")
@click.option("--links", "per_link", is_flag=True, help="Per link: clickers and clicks per group.")
def stats_command(campaign: str, as_json: bool, as_csv: bool, per_link: bool) -> None:
    """Per group and variant: reach, human and machine opens and clicks, unsubscribes
    (with --links: each link's human and machine clickers and clicks)."""
    with session_scope() as session:
        found = get_campaign(session, campaign)
        report = link_stats(session, found) if per_link else campaign_stats(session, found)
        first = get_campaign(session, found.followup_of) if found.followup_of else None
        combined = combined_reach(session, first.id, found.id) if first else []
        first_name = first.name if first else ""
    if isinstance(report, CampaignLinks):
        show(report, as_json, as_csv, write_links_csv, print_links)
        return
    show(report, as_json, as_csv, write_csv, print_table)
    if first_name and not (as_json or as_csv):
        click.echo(f"\na follow-up to {first_name}: people reached, opened and clicked in either")
        click.echo(f"{'group':<20}{'reached':>8}{'opened':>8}{'clicked':>8}  ({first_name} alone)")
        for r in combined:
            click.echo(
                f"{r.group:<20}{r.reached:>8}{r.openers:>8}{r.clickers:>8}  "
                f"({r.first_reached}, {r.first_openers}, {r.first_clickers})"
            )


def show(
    report: Report,
    as_json: bool,
    as_csv: bool,
    write: Callable[[Report, IO[str]], None],
    table: Callable[[Report, Callable[[str], None]], None],
) -> None:
    """A report as one JSON document, as CSV, or as a table for a person."""
    if as_json:
        emit_json(report.to_dict())
    elif as_csv:
        write(report, sys.stdout)
    else:
        table(report, click.echo)


def print_links(report: CampaignLinks, echo: Callable[[str], None]) -> None:
    """The per-link report as a table for a person: each link, then its groups."""
    echo(f"{report.name} (campaign {report.campaign_id}): links by human clicks")
    if not report.links:
        echo("no click recorded yet")
        return
    head = (
        f"{'  group':<16}{'variant':<13}{'clickers':>9}{'clicks':>8}"
        f"{'machine clickers':>18}{'machine clicks':>16}"
    )
    echo(head)
    for link in report.links:
        echo("-" * len(head))
        echo(link.url)
        for row in [*link.groups, link.total]:
            echo(
                f"  {row.group:<14}{row.variant:<13}{row.human_clickers:>9}{row.human_clicks:>8}"
                f"{row.machine_clickers:>18}{row.machine_clicks:>16}"
            )
    echo(
        "clickers are recipients, clicks every click; machine clicks (link scanners) are "
        "counted apart."
    )


def print_table(stats: CampaignStats, echo: Callable[[str], None]) -> None:
    """The report as a table for a person."""
    echo(f"{stats.name} (campaign {stats.campaign_id})")
    head = (
        f"{'group':<14}{'variant':<13}{'recip.':>7}{'sent':>6}{'failed':>7}{'bounced':>8}"
        f"{'human opens':>12}{'machine opens':>14}{'machine clicks':>15}{'open rate':>16}"
        f"{'clicks':>7}{'click rate':>16}{'unsub.':>7}"
    )
    echo(head)
    echo("-" * len(head))
    for row in [*stats.rows, stats.total]:
        if row is stats.total:
            echo("-" * len(head))
        opens = f"{percent(row.open_rate)} of {row.open_tracked}"
        clicks = f"{percent(row.click_rate)} of {row.click_tracked}"
        echo(
            f"{row.group:<14}{row.variant:<13}{row.recipients:>7}{row.sent:>6}"
            f"{row.failed:>7}{row.bounced:>8}{row.unique_human_opens:>12}"
            f"{row.machine_opens:>14}{row.machine_clicks:>15}{opens:>16}{row.unique_clicks:>7}"
            f"{clicks:>16}{row.unsubscribes:>7}"
        )
    echo("open and click rates count only recipients who allowed tracking (the 'of N');")
    echo(
        "machine opens and clicks (mail privacy proxies, link scanners) are recipients "
        "counted apart, never in the rates."
    )
    print_troubles(stats.failures, stats.suspected_duplicates, echo)


def print_troubles(
    failures: list[tuple[str, int]], suspected: int, echo: Callable[[str], None]
) -> None:
    """Why deliveries failed, and the copies that may have gone twice (never hidden)."""
    for reason, count in failures:
        echo(f"failed × {count}: {reason}")
    if suspected:
        echo(
            f"suspected duplicates: {suspected} (claimed again after their message may have "
            "reached the server: a worker killed mid-send, a DATA answer that never came)"
        )
