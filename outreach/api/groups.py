"""/api/v1/groups"""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from flask.views import MethodView
from marshmallow import RAISE, Schema, fields
from marshmallow.validate import Length, OneOf, Range

from outreach.api.base import api_blueprint
from outreach.api.contacts import ContactPageSchema, PageArgsSchema, contact_page
from outreach.application.sectors import DEFAULT_COLUMNS, classify
from outreach.contacts.sectors import load_rules, parse_rules, save_rules
from outreach.contacts.service import ContactQuery
from outreach.db import get_session
from outreach.errors import ValidationError
from outreach.groups.models import GroupKind
from outreach.groups.rules import Rule, describe, parse, parse_line, to_doc
from outreach.groups.service import (
    MAX_DESCRIPTION,
    add_members,
    create_group,
    get_group,
    group_count,
    list_groups,
    preview_rule,
    remove_members,
    set_rule,
    update_group,
)
from outreach.reporting.stats import group_trend

blp = api_blueprint(
    "groups",
    "Sector, affinity and rule groups (members computed from a rule). A public group is "
    "offered to subscribers (a sector in the sign-up form's list, an affinity group as a "
    "topic on the sign-up and preferences pages); a private one is seen by admins only.",
)

MAX_EMAILS = 10_000  # one request stays within every database's bound-parameter limit


class GroupSchema(Schema):
    """A group with its visibility, member and subscribed counts."""

    id = fields.Int()
    name = fields.Str()
    kind = fields.Str(metadata={"enum": ["sector", "affinity", "rule"]})
    public = fields.Bool(metadata={"description": "Offered to subscribers; else admins only."})
    description = fields.Str(metadata={"description": "Shown to subscribers with a topic."})
    members = fields.Int(metadata={"description": "A rule group's: its rule evaluated now."})
    subscribed = fields.Int()
    rule = fields.Dict(
        allow_none=True, metadata={"description": "A rule group's rule document; else null."}
    )
    rule_text = fields.Str(allow_none=True, metadata={"description": "The rule in words."})


RULE_HELP = (
    "A rule document: {all|any: [RULE, ...]}, {not: RULE}, {field, op, value} (a profile "
    "field, attributes.NAME, status or signed_up), {group, op: in|not_in} or {behaviour: "
    "received|opened|clicked|not_opened|bounced, campaign | last | within_days, link}. "
    "Opens and clicks are human ones only."
)


class RuleInputSchema(Schema):
    """A rule, as a document or in its one-line form (one of the two)."""

    class Meta:
        unknown = RAISE

    rule = fields.Dict(metadata={"description": RULE_HELP})
    text = fields.Str(
        validate=Length(min=1, max=5000),
        metadata={
            "description": 'The one-line form, e.g. "sector = Journalists and opened last 3".'
        },
    )


class GroupRuleInputSchema(RuleInputSchema):
    """A rule group's rule (and description)."""

    description = fields.Str(validate=Length(max=MAX_DESCRIPTION))


class SampleContactSchema(Schema):
    """A matching contact."""

    id = fields.Int()
    email = fields.Str()
    name = fields.Str()
    status = fields.Str()


class RulePreviewSchema(Schema):
    """What a rule matches now."""

    rule = fields.Dict()
    text = fields.Str()
    matching = fields.Int(metadata={"description": "Contacts the rule matches now."})
    subscribed = fields.Int(metadata={"description": "Of those, the subscribed ones."})
    sample = fields.List(
        fields.Nested(SampleContactSchema),
        metadata={"description": "The first matching contacts (restricted ones withheld)."},
    )


def _rule_of(data: dict[str, Any]) -> Rule:
    if ("rule" in data) == ("text" in data):
        raise ValidationError("give the rule as `rule` (a document) or as `text`", field="rule")
    return parse(data["rule"]) if "rule" in data else parse_line(data["text"])


@blp.route("/rule-preview")
class RulePreview(MethodView):
    @blp.arguments(RuleInputSchema)
    @blp.response(200, RulePreviewSchema)
    def post(self, data: dict[str, Any]) -> Any:
        """Count and sample the contacts a rule matches now (the editor's live count);
        nothing is stored."""
        session = get_session()
        rule = _rule_of(data)
        found = preview_rule(session, rule)
        return {"rule": to_doc(rule), "text": describe(rule), **asdict(found)}


class NewGroupSchema(Schema):
    """A group to create: an affinity group by default, or a sector to add to the list
    before any contact has it (sector membership follows the contacts' sector)."""

    class Meta:
        unknown = RAISE

    name = fields.Str(required=True)
    description = fields.Str(load_default="", validate=Length(max=MAX_DESCRIPTION))
    kind = fields.Str(load_default="affinity", validate=OneOf(["affinity", "sector"]))
    public = fields.Bool(load_default=False)


class GroupChangesSchema(Schema):
    """What to change: publish (`public: true`) or unpublish a group, its description."""

    class Meta:
        unknown = RAISE

    public = fields.Bool()
    description = fields.Str(validate=Length(max=MAX_DESCRIPTION))


class EmailsSchema(Schema):
    """Addresses of existing contacts."""

    class Meta:
        unknown = RAISE

    emails = fields.List(fields.Str(), required=True, validate=Length(min=1, max=MAX_EMAILS))


class AddedSchema(Schema):
    """How many contacts an addition brought in."""

    added = fields.Int(metadata={"description": "Contacts that were not members yet."})


class RemovedSchema(Schema):
    """How many contacts a removal took out."""

    removed = fields.Int(metadata={"description": "Contacts that were members."})


@blp.route("")
class Groups(MethodView):
    @blp.response(200, GroupSchema(many=True))
    def get(self) -> Any:
        """List groups with their visibility, member and subscribed counts."""
        return [asdict(g) for g in list_groups(get_session())]

    @blp.arguments(NewGroupSchema)
    @blp.response(201, GroupSchema)
    @blp.alt_response(409, response="CONFLICT")
    def post(self, data: dict[str, Any]) -> Any:
        """Create a group (an affinity group unless `kind` is `sector`; private unless
        `public`)."""
        session = get_session()
        group = create_group(
            session,
            data["name"],
            data["description"],
            kind=GroupKind(data["kind"]),
            public=data["public"],
        )
        document = asdict(group_count(session, group))
        session.commit()
        return document


class SectorRuleSchema(Schema):
    """Contacts whose job title or company holds one of the keywords get the sector."""

    class Meta:
        unknown = RAISE

    sector = fields.Str(required=True)
    keywords = fields.List(fields.Str(), required=True)


class SectorRulesSchema(Schema):
    """The sector rules in order (the first that matches wins)."""

    class Meta:
        unknown = RAISE

    rules = fields.List(fields.Nested(SectorRuleSchema), required=True)


class ClassifyArgsSchema(Schema):
    class Meta:
        unknown = RAISE

    apply = fields.Bool(
        load_default=False, metadata={"description": "Change the contacts (else a preview)."}
    )
    columns = fields.List(fields.Str(), load_default=list(DEFAULT_COLUMNS))


class ClassificationSchema(Schema):
    """What the sector rules do (or did, with `apply`) to the contacts."""

    sectors = fields.Dict(
        keys=fields.Str(), values=fields.Int(), metadata={"description": "Contacts per sector."}
    )
    keywords = fields.Dict(
        keys=fields.Str(),
        values=fields.Dict(keys=fields.Str(), values=fields.Int()),
        metadata={"description": "Per sector, the contacts each keyword matched."},
    )
    changed = fields.Int(metadata={"description": "Contacts whose sector changes (or changed)."})
    hand_set = fields.Int(metadata={"description": "Contacts with a hand-set sector, untouched."})
    kept = fields.Int(
        metadata={
            "description": "Contacts keeping the sector an earlier rule gave them, which no "
            "rule matches from the columns read now."
        }
    )
    unclassified = fields.Int()
    unclassified_sample = fields.List(fields.Str())
    applied = fields.Bool()


@blp.route("/sector-rules")
class SectorRules(MethodView):
    @blp.response(200, SectorRulesSchema)
    def get(self) -> Any:
        """The sector rules in force (the defaults until someone edits them)."""
        return {"rules": load_rules(get_session()).to_list()}

    @blp.arguments(SectorRulesSchema)
    @blp.response(200, SectorRulesSchema)
    def put(self, data: dict[str, Any]) -> Any:
        """Replace the sector rules (validated; a bad rule is refused naming it)."""
        session = get_session()
        rules = parse_rules(data["rules"])
        save_rules(session, rules)
        session.commit()
        return {"rules": rules.to_list()}


@blp.route("/sector-rules/classify")
class Classify(MethodView):
    @blp.arguments(ClassifyArgsSchema)
    @blp.response(200, ClassificationSchema)
    def post(self, data: dict[str, Any]) -> Any:
        """What the rules do to the contacts without a hand-set sector: counts per sector
        and keyword, the unclassified; applied only with `apply`."""
        session = get_session()
        result = classify(
            session, load_rules(session), columns=tuple(data["columns"]), apply=data["apply"]
        )
        if data["apply"]:
            session.commit()
        return result.to_dict()


# `path`: group names may contain a slash (sector names come from imported files).
@blp.route("/<path:name_or_id>")
class GroupItem(MethodView):
    @blp.response(200, GroupSchema)
    @blp.alt_response(404, response="NOT_FOUND")
    def get(self, name_or_id: str) -> Any:
        """One group, by id or name, with its visibility and counts."""
        session = get_session()
        return asdict(group_count(session, get_group(session, name_or_id)))

    @blp.arguments(GroupChangesSchema)
    @blp.response(200, GroupSchema)
    @blp.alt_response(404, response="NOT_FOUND")
    def patch(self, data: dict[str, Any], name_or_id: str) -> Any:
        """Publish or unpublish a group, or change its description; members stay."""
        session = get_session()
        group = update_group(session, name_or_id, **data)
        document = asdict(group_count(session, group))
        session.commit()
        return document


# `path`: group names may contain a slash (sector names come from imported files).
@blp.route("/<path:name_or_id>/rule")
class GroupRule(MethodView):
    @blp.arguments(GroupRuleInputSchema)
    @blp.response(200, GroupSchema)
    @blp.alt_response(409, response="CONFLICT")
    def put(self, data: dict[str, Any], name_or_id: str) -> Any:
        """Define a rule group (created when new) or replace its rule; its members are the
        contacts the rule matches when a campaign's audience is frozen."""
        session = get_session()
        group, _ = set_rule(
            session, name_or_id, _rule_of(data), description=data.get("description")
        )
        document = asdict(group_count(session, group))
        session.commit()
        return document


class TrendArgsSchema(Schema):
    """How far back."""

    last = fields.Int(load_default=12, validate=Range(min=1, max=200))


class GroupCampaignSchema(Schema):
    """One campaign of a group's history."""

    campaign_id = fields.Int()
    name = fields.Str()
    sent_at = fields.Str(allow_none=True, metadata={"format": "date-time"})
    sent = fields.Int()
    open_tracked = fields.Int()
    human_openers = fields.Int()
    open_rate = fields.Float(allow_none=True)
    click_tracked = fields.Int()
    clickers = fields.Int()
    click_rate = fields.Float(allow_none=True)


@blp.route("/<path:name_or_id>/trend")
class GroupTrend(MethodView):
    @blp.arguments(TrendArgsSchema, location="query", unknown=RAISE)
    @blp.response(200, GroupCampaignSchema(many=True))
    @blp.alt_response(404, response="NOT_FOUND")
    def get(self, args: dict[str, Any], name_or_id: str) -> Any:
        """The group's human open and click rates over its last campaigns, oldest first."""
        session = get_session()
        history = group_trend(session, get_group(session, name_or_id).name, args["last"])
        return [
            asdict(h) | {"sent_at": h.sent_at.isoformat() if h.sent_at else None} for h in history
        ]


# `path`: group names may contain a slash (sector names come from imported files).
@blp.route("/<path:name_or_id>/members")
class GroupMembers(MethodView):
    @blp.arguments(PageArgsSchema, location="query", unknown=RAISE)
    @blp.response(200, ContactPageSchema)
    @blp.alt_response(404, response="NOT_FOUND")
    def get(self, args: dict[str, Any], name_or_id: str) -> Any:
        """List the contacts of a group, a page at a time."""
        return contact_page(get_session(), ContactQuery(group=name_or_id, **args))

    @blp.arguments(EmailsSchema)
    @blp.response(200, AddedSchema)
    @blp.alt_response(404, response="NOT_FOUND")
    def post(self, data: dict[str, Any], name_or_id: str) -> Any:
        """Add contacts to an affinity group, creating the group if it is new."""
        session = get_session()
        added = add_members(session, name_or_id, data["emails"])
        session.commit()
        return {"added": added}

    @blp.arguments(EmailsSchema)
    @blp.response(200, RemovedSchema)
    @blp.alt_response(404, response="NOT_FOUND")
    def delete(self, data: dict[str, Any], name_or_id: str) -> Any:
        """Remove contacts from an affinity group."""
        session = get_session()
        removed = remove_members(session, name_or_id, data["emails"])
        session.commit()
        return {"removed": removed}
