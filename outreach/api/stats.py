"""/api/v1/statistics: a campaign's per-group and per-link reports, as `outreach stats
[--links] --json` / `--csv`."""

from __future__ import annotations

from functools import partial
from typing import Any

from flask.views import MethodView
from marshmallow import Schema, fields

from outreach.api.base import api_blueprint
from outreach.api.campaigns import MAX_ID, SUSPECTED, FailureSchema
from outreach.campaigns.service import get_campaign
from outreach.db import get_db
from outreach.reporting.links import CampaignLinks, link_stats, write_links_csv
from outreach.reporting.stats import CampaignStats, campaign_stats, write_csv
from outreach.spreadsheet import csv_download

blp = api_blueprint("statistics", "Per-group campaign statistics")

CAMPAIGN = f"/<int(max={MAX_ID}):campaign_id>"
GROUP = "The group's name when the message was sent; all for the total."
VARIANT = "The variant's group, fallback, or empty for the total."


class GroupStatsSchema(Schema):
    """One group and the variant it received (or, as `total`, every group together)."""

    group = fields.Str(metadata={"description": GROUP})
    variant = fields.Str(metadata={"description": VARIANT})
    recipients = fields.Int(metadata={"description": "Deliveries in the frozen audience."})
    sent = fields.Int()
    failed = fields.Int()
    bounced = fields.Int()
    skipped = fields.Int()
    unique_human_opens = fields.Int(
        metadata={"description": "Recipients who opened, among those who allowed open tracking."}
    )
    machine_opens = fields.Int(
        metadata={
            "description": "Recipients with a machine open (privacy proxy, scanner), counted "
            "apart and never in the open rate."
        }
    )
    machine_clicks = fields.Int(
        metadata={
            "description": "Recipients with a machine click (a link scanner, a burst of links "
            "within seconds), counted apart and never in the click rate."
        }
    )
    open_tracked = fields.Int(
        metadata={
            "description": "The open rate's denominator: recipients sent the message who "
            "allowed open tracking."
        }
    )
    open_rate = fields.Float(
        allow_none=True,
        metadata={"description": "unique_human_opens / open_tracked; null when that is 0."},
    )
    unique_clicks = fields.Int(
        metadata={"description": "Recipients who clicked, among those who allowed click tracking."}
    )
    click_tracked = fields.Int(
        metadata={
            "description": "The click rate's denominator: recipients sent the message who "
            "allowed click tracking."
        }
    )
    click_rate = fields.Float(
        allow_none=True,
        metadata={"description": "unique_clicks / click_tracked; null when that is 0."},
    )
    unsubscribes = fields.Int()


class HourSchema(Schema):
    """Human opens and clicks (every hit, not unique) in one hour with any."""

    hour = fields.Str(metadata={"format": "date-time", "description": "The hour's start, UTC."})
    opens = fields.Int()
    clicks = fields.Int()


class CampaignStatsSchema(Schema):
    """The report of one campaign (as `outreach stats --json` prints it)."""

    campaign = fields.Int(metadata={"description": "The campaign's id."})
    name = fields.Str()
    groups = fields.List(fields.Nested(GroupStatsSchema))
    total = fields.Nested(GroupStatsSchema)
    hourly = fields.List(fields.Nested(HourSchema))
    failures = fields.List(fields.Nested(FailureSchema))
    suspected_duplicates = fields.Int(metadata={"description": SUSPECTED})


class LinkFiguresSchema(Schema):
    """One link's figures for one group and variant (or, as `total`, every group together)."""

    group = fields.Str(metadata={"description": GROUP})
    variant = fields.Str(metadata={"description": VARIANT})
    human_clickers = fields.Int(metadata={"description": "Recipients who clicked the link."})
    human_clicks = fields.Int(metadata={"description": "Their clicks on it, every one."})
    machine_clickers = fields.Int(
        metadata={
            "description": "Recipients whose link was followed by a machine (a link scanner, "
            "a burst of links within seconds), counted apart."
        }
    )
    machine_clicks = fields.Int(metadata={"description": "The machines' clicks on it."})


class LinkSchema(Schema):
    """One link of the campaign: its total, then each group and variant."""

    url = fields.Str(metadata={"description": "The link's target, as the message carried it."})
    total = fields.Nested(LinkFiguresSchema)
    groups = fields.List(fields.Nested(LinkFiguresSchema))


class CampaignLinksSchema(Schema):
    """The per-link report of one campaign (as `outreach stats --links --json` prints it)."""

    campaign = fields.Int(metadata={"description": "The campaign's id."})
    name = fields.Str()
    links = fields.List(
        fields.Nested(LinkSchema), metadata={"description": "Most human clicks first."}
    )


def links_report(campaign_id: int) -> CampaignLinks:
    """The per-link statistics of a campaign, read without taking a write lock."""
    with get_db().reader() as session:
        return link_stats(session, get_campaign(session, campaign_id))


def report(campaign_id: int) -> CampaignStats:
    """The statistics of a campaign, read without taking a write lock."""
    with get_db().reader() as session:
        return campaign_stats(session, get_campaign(session, campaign_id))


@blp.route(CAMPAIGN)
class CampaignStatistics(MethodView):
    @blp.response(200, CampaignStatsSchema)
    @blp.alt_response(404, response="NOT_FOUND")
    def get(self, campaign_id: int) -> Any:
        """Per group and variant: reach, human and machine opens and clicks, unsubscribes."""
        return report(campaign_id).to_dict()


@blp.route(f"{CAMPAIGN}.csv")
class CampaignStatisticsCsv(MethodView):
    @blp.response(
        200,
        {"type": "string"},
        content_type="text/csv",
        description="One row per group and variant, then the total (`all`); empty rates: "
        "nobody allowed that tracking.",
    )
    @blp.alt_response(404, response="NOT_FOUND")
    def get(self, campaign_id: int) -> Any:
        """The per-group statistics as CSV, as `outreach stats --csv` prints them."""
        stats = report(campaign_id)
        return csv_download(partial(write_csv, stats), f"campaign-{campaign_id}-statistics.csv")


@blp.route(f"{CAMPAIGN}/links")
class CampaignLinkStatistics(MethodView):
    @blp.response(200, CampaignLinksSchema)
    @blp.alt_response(404, response="NOT_FOUND")
    def get(self, campaign_id: int) -> Any:
        """Per link, most clicked first: human and machine clickers and clicks per group."""
        return links_report(campaign_id).to_dict()


@blp.route(f"{CAMPAIGN}/links.csv")
class CampaignLinkStatisticsCsv(MethodView):
    @blp.response(
        200,
        {"type": "string"},
        content_type="text/csv",
        description="Per link (most human clicks first), a row per group and variant, then "
        "the link's total (`all`).",
    )
    @blp.alt_response(404, response="NOT_FOUND")
    def get(self, campaign_id: int) -> Any:
        """The per-link statistics as CSV, as `outreach stats --links --csv` prints them."""
        links = links_report(campaign_id)
        return csv_download(partial(write_links_csv, links), f"campaign-{campaign_id}-links.csv")
