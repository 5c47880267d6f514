"""/api/v1/campaigns"""

from __future__ import annotations

import re
from dataclasses import asdict
from datetime import UTC
from functools import partial
from typing import Any

from flask import current_app, g, make_response
from flask.views import MethodView
from marshmallow import RAISE, Schema, fields
from marshmallow.validate import Length, OneOf, Range
from sqlalchemy.orm import Session

from outreach.api.base import api_blueprint
from outreach.application import campaigns as use
from outreach.campaigns.audience import FOLLOWUP_AUDIENCES, REASONS, audience_report
from outreach.campaigns.models import Campaign, CampaignStatus, Variant
from outreach.campaigns.service import (
    create_campaign,
    default_layout,
    get_campaign,
    presend_checks,
    preview,
    set_target_groups,
    set_variant,
    target_groups,
    variant_label,
    variants,
)
from outreach.db import get_db, get_session
from outreach.delivery import service as delivery
from outreach.reporting.recipients import (
    LISTED,
    MAX_PAGE,
    count_recipients,
    recipients,
    write_recipients_csv,
)
from outreach.reporting.stats import campaign_overview
from outreach.spreadsheet import csv_download

blp = api_blueprint(
    "campaigns", "Campaigns with a variant per group: write, check, preview, test, send"
)

STATUSES = [status.value for status in CampaignStatus]
FALLBACK = "fallback"
MAX_ID = 2**31 - 1  # ids are 32-bit integers; larger numbers match no route
MAX_GROUPS = 1_000
CAMPAIGN = f"/<int(max={MAX_ID}):campaign_id>"
GROUP_REF = (
    "A group name or id, or `fallback` for everyone else targeted (a group actually "
    "named fallback is addressed by its id)."
)


class CampaignSchema(Schema):
    """A campaign as the API lists it."""

    id = fields.Int()
    name = fields.Str()
    status = fields.Str(metadata={"enum": STATUSES})
    from_ = fields.Str(data_key="from", metadata={"description": "'Name <address>'."})
    reply_to = fields.Str(allow_none=True, metadata={"format": "email"})
    groups = fields.List(
        fields.Str(), metadata={"description": "Target group names in priority order."}
    )
    created_at = fields.Str(metadata={"format": "date-time"})
    followup_of = fields.Int(
        allow_none=True, metadata={"description": "A follow-up: the campaign it follows."}
    )
    followup_audience = fields.Str(
        allow_none=True,
        metadata={"enum": list(FOLLOWUP_AUDIENCES), "description": "A follow-up's recipients."},
    )


class CampaignListedSchema(CampaignSchema):
    """A campaign as the list shows it: where it stands and how it did (from the tallies)."""

    date = fields.Str(
        allow_none=True,
        metadata={"format": "date-time", "description": "Sent (or being) or scheduled for."},
    )
    scheduled_at = fields.Str(allow_none=True, metadata={"format": "date-time"})
    started_at = fields.Str(allow_none=True, metadata={"format": "date-time"})
    finished_at = fields.Str(allow_none=True, metadata={"format": "date-time"})
    recipients = fields.Int()
    sent = fields.Int()
    open_rate = fields.Float(
        allow_none=True,
        metadata={"description": "Human openers of those sent who allowed open tracking."},
    )
    click_rate = fields.Float(
        allow_none=True,
        metadata={"description": "Clickers of those sent who allowed click tracking."},
    )


class DuplicateSchema(Schema):
    """How to name the copy."""

    name = fields.Str(load_default=None, metadata={"description": "Default: 'Copy of …'."})


class FollowupSchema(Schema):
    """Whom a follow-up is for."""

    class Meta:
        unknown = RAISE

    audience = fields.Str(
        required=True,
        validate=OneOf(list(FOLLOWUP_AUDIENCES)),
        metadata={"description": "Which recipients of the campaign (human opens and clicks)."},
    )
    groups = fields.List(
        fields.Str(),
        load_default=None,
        validate=Length(max=MAX_GROUPS),
        metadata={"description": "Only these of its target groups (default: all)."},
    )
    name = fields.Str(load_default=None, validate=Length(min=1, max=200))
    include_untracked = fields.Bool(
        load_default=False,
        metadata={
            "description": "Count the recipients whose message was not tracked as "
            "non-openers or non-clickers (whether they opened is not known)."
        },
    )


class VariantSchema(Schema):
    """A variant without its sources."""

    group = fields.Str(metadata={"description": "The group's name, or fallback."})
    group_id = fields.Int(allow_none=True, metadata={"description": "Null for the fallback."})
    subject = fields.Str()
    preheader = fields.Str()
    updated_at = fields.Str(metadata={"format": "date-time"})


class CampaignDetailSchema(CampaignSchema):
    """A campaign with its variants, in priority order, the fallback last."""

    variants = fields.List(fields.Nested(VariantSchema))


class NewCampaignSchema(Schema):
    """A draft campaign to create."""

    class Meta:
        unknown = RAISE

    name = fields.Str(required=True)
    from_ = fields.Str(
        required=True, data_key="from", metadata={"description": "'Name <address>' or an address."}
    )
    reply_to = fields.Str(allow_none=True, metadata={"format": "email"})
    groups = fields.List(
        fields.Str(),
        load_default=list,
        validate=Length(max=MAX_GROUPS),
        metadata={"description": "Group names or ids to target, in priority order."},
    )


class TargetGroupsSchema(Schema):
    """The groups a campaign targets, in priority order (first wins)."""

    class Meta:
        unknown = RAISE

    groups = fields.List(fields.Str(), required=True, validate=Length(max=MAX_GROUPS))


class VariantSourceSchema(Schema):
    """What one group (or the fallback) receives; placeholders as in the CLI."""

    class Meta:
        unknown = RAISE

    # The database's own bounds (998: the longest legal header line).
    subject = fields.Str(required=True, validate=Length(max=998))
    mjml = fields.Str(required=True, metadata={"description": "MJML with Jinja placeholders."})
    text = fields.Str(
        allow_none=True, metadata={"description": "Text part; omitted: derived from the HTML."}
    )
    preheader = fields.Str(load_default="", validate=Length(max=500))


class AudienceRowSchema(Schema):
    """How many contacts one variant reaches, and who was left out and why."""

    label = fields.Str(metadata={"description": "The group's name, or fallback."})
    group_id = fields.Int(allow_none=True)
    has_variant = fields.Bool()
    recipients = fields.Int()
    excluded = fields.Dict(
        keys=fields.Str(),
        values=fields.Int(),
        metadata={
            "description": "Contacts left out, by reason: "
            + ", ".join([*REASONS, "in a higher-priority group"])
        },
    )


class ProblemSchema(Schema):
    """A pre-send finding: errors block sending, warnings are shown."""

    level = fields.Str(metadata={"enum": ["error", "warning"]})
    variant = fields.Str(
        metadata={
            "description": "The variant's label, or - for the campaign and the installation "
            "(controller identity, base URL, DKIM)."
        }
    )
    message = fields.Str()


class AudienceSchema(Schema):
    """Per variant: recipients and exclusions; and what would block sending."""

    variants = fields.List(fields.Nested(AudienceRowSchema))
    problems = fields.List(fields.Nested(ProblemSchema))


class PreviewArgsSchema(Schema):
    """Whose message to render."""

    class Meta:
        unknown = RAISE

    group = fields.Str(
        metadata={"description": "Group name or id, or fallback; omitted: the first variant."}
    )
    contact = fields.Str(
        metadata={"description": "Address or id of a real contact; omitted: a sample contact."}
    )


class SendTestSchema(Schema):
    """Where to send test messages."""

    class Meta:
        unknown = RAISE

    to = fields.Str(required=True, metadata={"format": "email"})
    group = fields.Str(
        metadata={
            "description": "Only the variant this group (or fallback) receives; omitted: "
            "one message per variant."
        }
    )


class SentSchema(Schema):
    """How many test messages went out."""

    sent = fields.Int()


class LayoutSchema(Schema):
    """The starting MJML of a new variant."""

    mjml = fields.Str()


class SendSchema(Schema):
    """When to send: now, or at a time."""

    class Meta:
        unknown = RAISE

    at = fields.AwareDateTime(
        allow_none=True,
        metadata={
            "description": "ISO-8601 with a time zone, e.g. 2026-12-01T09:00:00+01:00; "
            "omitted: now. A time already past is refused (422), as on every surface."
        },
    )


class GroupProgressSchema(Schema):
    """Deliveries of one group, by status."""

    group = fields.Str()
    queued = fields.Int()
    sending = fields.Int()
    sent = fields.Int()
    failed = fields.Int()
    bounced = fields.Int()
    skipped = fields.Int()


class FailureSchema(Schema):
    """One reason deliveries failed, and how many."""

    reason = fields.Str(
        metadata={
            "description": "The server's answer, or why no message "
            "could be built for the recipient."
        }
    )
    count = fields.Int()


SUSPECTED = (
    "Deliveries claimed again after their message may have reached the SMTP server (a worker "
    "killed mid-send, no answer to DATA): at most this many recipients got two copies."
)


class ProgressSchema(Schema):
    """Where a campaign stands (as `outreach campaigns status --json` prints it)."""

    campaign = fields.Int(metadata={"description": "The campaign's id."})
    name = fields.Str()
    status = fields.Str(metadata={"enum": STATUSES})
    pause_reason = fields.Str(allow_none=True)
    rate_per_minute = fields.Int(metadata={"description": "Messages sent in the last minute."})
    total = fields.Int(metadata={"description": "Deliveries in the frozen audience."})
    remaining = fields.Int(metadata={"description": "Deliveries still queued or sending."})
    groups = fields.List(fields.Nested(GroupProgressSchema))
    scheduled_at = fields.Str(allow_none=True, metadata={"format": "date-time"})
    started_at = fields.Str(allow_none=True, metadata={"format": "date-time"})
    finished_at = fields.Str(allow_none=True, metadata={"format": "date-time"})
    suspected_duplicates = fields.Int(metadata={"description": SUSPECTED})
    failures = fields.List(fields.Nested(FailureSchema))


class SendResultSchema(ProgressSchema):
    """Sending: the progress document. Scheduled: campaign, status and scheduled_at only."""


_NEEDS_QUOTES = re.compile(r'[][\\()<>@,:;."]')


def sender_text(name: str, address: str) -> str:
    """'Name <address>' as it was given (unlike formataddr, no RFC 2047 encoding)."""
    if not name:
        return address
    if _NEEDS_QUOTES.search(name):
        name = '"' + name.replace("\\", "\\\\").replace('"', '\\"') + '"'
    return f"{name} <{address}>"


def campaign_document(campaign: Campaign, groups: list[str]) -> dict[str, Any]:
    """A campaign as the API returns it, with its target group names in order."""
    return {
        "id": campaign.id,
        "name": campaign.name,
        "status": str(campaign.status),
        "from_": sender_text(campaign.from_name, campaign.from_email),
        "reply_to": campaign.reply_to,
        "groups": groups,
        "created_at": campaign.created_at.isoformat(),
        "followup_of": campaign.followup_of,
        "followup_audience": (campaign.followup_audience or {}).get("audience"),
    }


def variant_document(label: str, variant: Variant) -> dict[str, Any]:
    """A variant's summary."""
    return {
        "group": label,
        "group_id": variant.group_id,
        "subject": variant.subject,
        "preheader": variant.preheader,
        "updated_at": variant.updated_at.isoformat(),
    }


def campaign_detail(session: Session, campaign: Campaign) -> dict[str, Any]:
    """A campaign with its target groups and variants."""
    document = campaign_document(campaign, [g.name for g in target_groups(session, campaign)])
    document["variants"] = [variant_document(*lv) for lv in variants(session, campaign)]
    return document


def campaign_list(session: Session) -> list[dict[str, Any]]:
    """Every campaign, newest first, with its target group names, recipients, sent and
    rates (from the tallies: a few queries whatever the number of campaigns)."""
    return [
        {**campaign_document(row.campaign, row.groups), **row.to_dict()}
        for row in campaign_overview(session)
    ]


@blp.route("")
class Campaigns(MethodView):
    @blp.response(200, CampaignListedSchema(many=True))
    def get(self) -> Any:
        """List campaigns, newest first, with their date, recipients and rates."""
        return campaign_list(get_session())

    @blp.arguments(NewCampaignSchema)
    @blp.response(201, CampaignDetailSchema)
    @blp.alt_response(404, response="NOT_FOUND")
    def post(self, data: dict[str, Any]) -> Any:
        """Create a draft campaign targeting the given groups."""
        session = get_session()
        campaign = create_campaign(
            session,
            data["name"],
            data["from_"],
            reply_to=data.get("reply_to"),
            groups=data["groups"],
        )
        document = campaign_detail(session, campaign)
        session.commit()
        return document


@blp.route("/layout")
class Layout(MethodView):
    @blp.response(200, LayoutSchema)
    def get(self) -> Any:
        """The starting MJML layout for a new variant, signed with the controller's identity."""
        session = get_session()
        mjml = default_layout(session)
        session.commit()  # the first use stores the default privacy notice
        return {"mjml": mjml}


@blp.route(CAMPAIGN)
class CampaignItem(MethodView):
    @blp.response(200, CampaignDetailSchema)
    @blp.alt_response(404, response="NOT_FOUND")
    def get(self, campaign_id: int) -> Any:
        """One campaign with its target groups and variants."""
        session = get_session()
        return campaign_detail(session, get_campaign(session, campaign_id))

    @blp.response(204)
    @blp.alt_response(404, response="NOT_FOUND")
    @blp.alt_response(409, response="CONFLICT")
    def delete(self, campaign_id: int) -> Any:
        """Delete a draft with its variants (any other status: 409)."""
        session = get_session()
        use.delete(session, campaign_id, g.api_user.email)
        session.commit()
        return ""


@blp.route(f"{CAMPAIGN}/duplicate")
class CampaignDuplicate(MethodView):
    @blp.arguments(DuplicateSchema)
    @blp.response(201, CampaignDetailSchema)
    @blp.alt_response(404, response="NOT_FOUND")
    def post(self, data: dict[str, Any], campaign_id: int) -> Any:
        """A new draft from a campaign: its sender, target groups and variants, to edit."""
        session = get_session()
        copy = use.duplicate(session, campaign_id, data["name"], g.api_user.email)
        session.commit()
        return campaign_detail(session, copy)


@blp.route(f"{CAMPAIGN}/followup")
class CampaignFollowup(MethodView):
    @blp.arguments(FollowupSchema)
    @blp.response(201, CampaignDetailSchema)
    @blp.alt_response(404, response="NOT_FOUND")
    @blp.alt_response(409, response="CONFLICT")
    def post(self, data: dict[str, Any], campaign_id: int) -> Any:
        """A draft follow-up of a sent campaign for some of its recipients, its per-group
        variants copied to edit; the audience is found when it is sent."""
        session = get_session()
        draft = use.followup(
            session,
            campaign_id,
            data["audience"],
            g.api_user.email,
            groups=data["groups"],
            name=data["name"],
            include_untracked=data["include_untracked"],
        )
        session.commit()
        return campaign_detail(session, draft)


class RecipientCsvArgsSchema(Schema):
    """Which recipients."""

    class Meta:
        unknown = RAISE

    outcome = fields.Str(
        required=True,
        validate=OneOf(list(LISTED)),
        metadata={"description": "Opens and clicks are human ones; not_opened: of those tracked."},
    )
    group = fields.Str(load_default=None, metadata={"description": "Only this group's."})


class RecipientArgsSchema(RecipientCsvArgsSchema):
    """Which recipients, and which page of them."""

    page = fields.Int(load_default=1, validate=Range(min=1, max=1_000_000))
    per_page = fields.Int(load_default=100, validate=Range(min=1, max=MAX_PAGE))


class RecipientSchema(Schema):
    """A recipient with that outcome (restricted: no email or name)."""

    contact_id = fields.Int()
    email = fields.Str()
    name = fields.Str()
    status = fields.Str()
    group = fields.Str()
    sent_at = fields.Str(allow_none=True, metadata={"format": "date-time"})
    human_opens = fields.Int()
    clicks = fields.Int()


class RecipientPageSchema(Schema):
    """A page of recipients."""

    items = fields.List(fields.Nested(RecipientSchema))
    total = fields.Int()
    page = fields.Int()
    per_page = fields.Int()


class RecipientGroupSchema(Schema):
    """A new affinity group of the recipients with an outcome."""

    class Meta:
        unknown = RAISE

    outcome = fields.Str(required=True, validate=OneOf(list(LISTED)))
    group = fields.Str(load_default=None, metadata={"description": "Only this group's."})
    name = fields.Str(required=True, validate=Length(min=1, max=200))


class MadeGroupSchema(Schema):
    """The group made."""

    id = fields.Int()
    name = fields.Str()
    members = fields.Int(metadata={"description": "Restricted contacts are not added."})


def _recipient_document(r: Any) -> dict[str, Any]:
    return asdict(r) | {"sent_at": r.sent_at.isoformat() if r.sent_at else None}


@blp.route(f"{CAMPAIGN}/recipients")
class CampaignRecipients(MethodView):
    @blp.arguments(RecipientArgsSchema, location="query")
    @blp.response(200, RecipientPageSchema)
    @blp.alt_response(404, response="NOT_FOUND")
    def get(self, args: dict[str, Any], campaign_id: int) -> Any:
        """The recipients behind a figure: who opened, clicked, bounced, failed,
        unsubscribed or did not open (erased contacts never; restricted without data)."""
        session = get_session()
        number = get_campaign(session, campaign_id).id
        per_page = args["per_page"]
        found = recipients(
            session,
            number,
            args["outcome"],
            args["group"],
            limit=per_page,
            offset=(args["page"] - 1) * per_page,
        )
        return {
            "items": [_recipient_document(r) for r in found],
            "total": count_recipients(session, number, args["outcome"], args["group"]),
            "page": args["page"],
            "per_page": per_page,
        }


@blp.route(f"{CAMPAIGN}/recipients.csv")
class CampaignRecipientsCsv(MethodView):
    @blp.arguments(RecipientCsvArgsSchema, location="query")
    @blp.response(200, {"type": "string"}, content_type="text/csv", description="One a line.")
    @blp.alt_response(404, response="NOT_FOUND")
    def get(self, args: dict[str, Any], campaign_id: int) -> Any:
        """Those recipients as CSV (every one of them)."""
        session = get_session()
        number = get_campaign(session, campaign_id).id
        found = recipients(session, number, args["outcome"], args["group"])
        return csv_download(
            partial(write_recipients_csv, found), f"campaign-{number}-{args['outcome']}.csv"
        )


@blp.route(f"{CAMPAIGN}/recipients/group")
class CampaignRecipientsGroup(MethodView):
    @blp.arguments(RecipientGroupSchema)
    @blp.response(201, MadeGroupSchema)
    @blp.alt_response(404, response="NOT_FOUND")
    @blp.alt_response(409, response="CONFLICT")
    def post(self, data: dict[str, Any], campaign_id: int) -> Any:
        """Make the recipients with an outcome (of one group) a new affinity group."""
        session = get_session()
        made, count = use.group_from_outcome(
            session, campaign_id, data["outcome"], data["group"], data["name"], g.api_user.email
        )
        session.commit()
        return {"id": made.id, "name": made.name, "members": count}


@blp.route(f"{CAMPAIGN}/groups")
class CampaignGroups(MethodView):
    @blp.arguments(TargetGroupsSchema)
    @blp.response(200, CampaignDetailSchema)
    @blp.alt_response(404, response="NOT_FOUND")
    @blp.alt_response(409, response="CONFLICT")
    def put(self, data: dict[str, Any], campaign_id: int) -> Any:
        """Replace the target groups, in priority order (a contact gets the first match)."""
        session = get_session()
        campaign = get_campaign(session, campaign_id)
        set_target_groups(session, campaign, data["groups"])
        document = campaign_detail(session, campaign)
        session.commit()
        return document


# `path`: group names may contain a slash (sector names come from imported files).
@blp.route(
    f"{CAMPAIGN}/variants/<path:group>",
    parameters=[{"in": "path", "name": "group", "description": GROUP_REF}],
)
class CampaignVariant(MethodView):
    @blp.arguments(VariantSourceSchema)
    @blp.response(200, VariantSchema)
    @blp.alt_response(404, response="NOT_FOUND")
    @blp.alt_response(409, response="CONFLICT")
    def put(self, data: dict[str, Any], campaign_id: int, group: str) -> Any:
        """Create or replace a variant; templates are checked and rendered once first."""
        session = get_session()
        campaign = get_campaign(session, campaign_id)
        target = None if group == FALLBACK else group
        variant = set_variant(session, campaign, target, **data)
        document = variant_document(variant_label(session, variant), variant)
        session.commit()
        return document


@blp.route(f"{CAMPAIGN}/audience")
class CampaignAudience(MethodView):
    @blp.response(200, AudienceSchema)
    @blp.alt_response(404, response="NOT_FOUND")
    def get(self, campaign_id: int) -> Any:
        """Per variant: how many contacts would receive it, who is excluded and why; checks."""
        session = get_session()
        campaign = get_campaign(session, campaign_id)
        return {
            "variants": [asdict(row) for row in audience_report(session, campaign)],
            "problems": [asdict(problem) for problem in presend_checks(session, campaign)],
        }


@blp.route(f"{CAMPAIGN}/preview")
class CampaignPreview(MethodView):
    @blp.arguments(PreviewArgsSchema, location="query", unknown=RAISE)
    @blp.response(
        200,
        {"type": "string"},
        content_type="text/html",
        description="The HTML message a member of the group would receive.",
    )
    @blp.alt_response(404, response="NOT_FOUND")
    def get(self, args: dict[str, Any], campaign_id: int) -> Any:
        """The HTML of a group's variant, rendered for a real or a sample contact."""
        session = get_session()
        campaign = get_campaign(session, campaign_id)
        html = preview(session, campaign, args.get("group"), args.get("contact"))
        response = make_response(html)
        response.mimetype = "text/html"
        # User-written HTML on the API's origin: no scripts, no same-origin access.
        response.headers["Content-Security-Policy"] = "sandbox"
        return response


@blp.route(f"{CAMPAIGN}/test")
class CampaignTest(MethodView):
    @blp.arguments(SendTestSchema)
    @blp.response(200, SentSchema)
    @blp.alt_response(404, response="NOT_FOUND")
    @blp.alt_response(502, response="BAD_GATEWAY")
    def post(self, data: dict[str, Any], campaign_id: int) -> Any:
        """Send test messages (marked [TEST], counted nowhere) to one address."""
        session = get_session()
        ids = use.queue_tests(session, campaign_id, data["to"], data.get("group"))
        session.commit()  # in the outbox; no database lock held while talking to the server
        return {"sent": use.send_tests(current_app, ids)}


# ---------------------------------------------------------------- sending


def progress_document(campaign_id: int) -> dict[str, Any]:
    """The progress of a campaign, read without taking a write lock."""
    with get_db().reader() as session:
        return delivery.progress(session, get_campaign(session, campaign_id)).to_dict()


@blp.route(f"{CAMPAIGN}/send")
class CampaignSend(MethodView):
    @blp.arguments(SendSchema, required=False)
    @blp.response(202, SendResultSchema)
    @blp.alt_response(404, response="NOT_FOUND")
    @blp.alt_response(409, response="CONFLICT")
    def post(self, data: dict[str, Any], campaign_id: int) -> Any:
        """Check, then send now or schedule; 422 lists what blocks sending."""
        session = get_session()
        outcome = use.send(session, campaign_id, data.get("at"))
        session.commit()
        if outcome.scheduled_at is not None:
            return {
                "campaign": campaign_id,
                "status": "scheduled",
                "scheduled_at": outcome.scheduled_at.astimezone(UTC).isoformat(),
            }
        use.enqueue(current_app, outcome)
        return progress_document(campaign_id)


@blp.route(f"{CAMPAIGN}/status")
class CampaignProgress(MethodView):
    @blp.response(200, ProgressSchema)
    @blp.alt_response(404, response="NOT_FOUND")
    def get(self, campaign_id: int) -> Any:
        """Progress per group (queued, sending, sent, failed, bounced, skipped) and rate."""
        return progress_document(campaign_id)


@blp.route(f"{CAMPAIGN}/pause")
class CampaignPause(MethodView):
    @blp.response(200, ProgressSchema)
    @blp.alt_response(404, response="NOT_FOUND")
    @blp.alt_response(409, response="CONFLICT")
    def post(self, campaign_id: int) -> Any:
        """Pause a sending or scheduled campaign: workers stop claiming batches."""
        session = get_session()
        use.pause(session, campaign_id)
        session.commit()
        return progress_document(campaign_id)


@blp.route(f"{CAMPAIGN}/resume")
class CampaignResume(MethodView):
    @blp.response(200, ProgressSchema)
    @blp.alt_response(404, response="NOT_FOUND")
    @blp.alt_response(409, response="CONFLICT")
    def post(self, campaign_id: int) -> Any:
        """Resume a paused campaign from its ledger (one never started starts now)."""
        session = get_session()
        outcome = use.resume(session, campaign_id)
        session.commit()
        use.enqueue(current_app, outcome)
        return progress_document(campaign_id)


class RetrySchema(Schema):
    """Why failed recipients are retried (kept in the audit log)."""

    class Meta:
        unknown = RAISE

    reason = fields.Str(load_default=None, validate=Length(max=500))


class RetriedSchema(Schema):
    """How many failed recipients were queued again, and where the campaign stands."""

    retried = fields.Int()
    progress = fields.Nested(ProgressSchema)


@blp.route(f"{CAMPAIGN}/retry")
class CampaignRetry(MethodView):
    @blp.arguments(RetrySchema)
    @blp.response(200, RetriedSchema)
    @blp.alt_response(404, response="NOT_FOUND")
    @blp.alt_response(409, response="CONFLICT")
    def post(self, data: dict[str, Any], campaign_id: int) -> Any:
        """Queue the failed recipients again (bounced and no longer mailable ones stay)."""
        session = get_session()
        outcome = use.retry(session, campaign_id, data["reason"], g.api_user.email)
        session.commit()
        use.enqueue(current_app, outcome)
        return {"retried": outcome.retried, "progress": progress_document(campaign_id)}


@blp.route(f"{CAMPAIGN}/cancel")
class CampaignCancel(MethodView):
    @blp.response(200, ProgressSchema)
    @blp.alt_response(404, response="NOT_FOUND")
    @blp.alt_response(409, response="CONFLICT")
    def post(self, campaign_id: int) -> Any:
        """Stop for good: deliveries not yet sent become skipped (cancelled)."""
        session = get_session()
        use.cancel(session, campaign_id)
        session.commit()
        return progress_document(campaign_id)
