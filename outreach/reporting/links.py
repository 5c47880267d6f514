"""Per-link statistics of a campaign: for each link, per group and variant, the recipients
who clicked it and their clicks, human and machine apart.

Read from `link_clicks` (one row per delivery and link, written in the transaction that
records the hits, and kept when retention removes them): one GROUP BY over the campaign's
own rows, never a scan of its deliveries. Clickers count recipients (deliveries), clicks
count every click; a recipient whose link scanner followed a link and who then clicked it
counts in both, as in outreach.reporting.stats. Clicks are only ever recorded for
recipients who allowed click tracking (outreach.tracking.service discards the others).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import IO, Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from outreach.campaigns.models import Campaign
from outreach.reporting.stats import REMOVED_VARIANT, variant_labels
from outreach.spreadsheet import SafeWriter
from outreach.tracking.models import LinkClick


@dataclass
class LinkFigures:
    """One link's figures for one group and variant (or, as a link's total, `all`)."""

    group: str
    variant: str
    human_clickers: int
    human_clicks: int
    machine_clickers: int
    machine_clicks: int

    def rank(self) -> tuple[int, int, int, int]:
        """The order of the report: most human clicks first, then clickers, then machines'."""
        return (
            -self.human_clicks,
            -self.human_clickers,
            -self.machine_clicks,
            -self.machine_clickers,
        )


@dataclass
class LinkStats:
    """One link: its total over the groups, and each group's figures."""

    url: str
    total: LinkFigures
    groups: list[LinkFigures]


@dataclass
class CampaignLinks:
    """The per-link report of one campaign, links sorted by human clicks."""

    campaign_id: int
    name: str
    links: list[LinkStats]

    def to_dict(self) -> dict[str, Any]:
        """The JSON document of `outreach stats --links --json` and the API."""
        return {
            "campaign": self.campaign_id,
            "name": self.name,
            "links": [
                {
                    "url": link.url,
                    "total": asdict(link.total),
                    "groups": [asdict(g) for g in link.groups],
                }
                for link in self.links
            ],
        }


COUNTS = ("human_clickers", "human_clicks", "machine_clickers", "machine_clicks")
LINK_COLUMNS = ["url", *(f.name for f in fields(LinkFigures))]


def _clickers(clicks: sa.orm.InstrumentedAttribute[int]) -> sa.ColumnElement[int]:
    return sa.func.count(sa.case((clicks > 0, 1)))


def link_stats(session: Session, campaign: Campaign) -> CampaignLinks:
    """Each link's clickers and clicks per group and variant, and over all groups."""
    rows = session.execute(
        sa.select(
            LinkClick.url,
            LinkClick.group_name,
            LinkClick.variant_id,
            _clickers(LinkClick.human_clicks),
            sa.func.sum(LinkClick.human_clicks),
            _clickers(LinkClick.machine_clicks),
            sa.func.sum(LinkClick.machine_clicks),
        )
        .where(LinkClick.campaign_id == campaign.id)
        .group_by(LinkClick.url, LinkClick.group_name, LinkClick.variant_id)
    ).all()
    labels = variant_labels(session, campaign.id)
    by_url: dict[str, list[LinkFigures]] = {}
    for url, group, variant, *counts in rows:
        by_url.setdefault(url, []).append(
            LinkFigures(group, labels.get(variant) or REMOVED_VARIANT, *map(int, counts))
        )
    links = []
    for url, groups in by_url.items():
        groups.sort(key=lambda g: (g.rank(), g.group, g.variant))
        sums = {c: sum(getattr(g, c) for g in groups) for c in COUNTS}
        links.append(LinkStats(url, LinkFigures("all", "", **sums), groups))
    links.sort(key=lambda link: (link.total.rank(), link.url))
    return CampaignLinks(campaign.id, campaign.name, links)


def write_links_csv(report: CampaignLinks, out: IO[str]) -> None:
    """The report as CSV: per link, a row per group and variant, then its total (`all`)."""
    writer = SafeWriter(out)
    writer.writerow(LINK_COLUMNS)
    for link in report.links:
        for figures in [*link.groups, link.total]:
            writer.writerow([link.url, *asdict(figures).values()])
