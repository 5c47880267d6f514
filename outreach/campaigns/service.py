"""Campaigns and variants: create, target, write, check, preview, test."""

from __future__ import annotations

from email.utils import parseaddr
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from outreach.campaigns.audience import FOLLOWUP_AUDIENCES
from outreach.campaigns.checks import (
    Problem,
    configuration_problems,
    empty_placeholder_problems,
    placeholder_text_problems,
)
from outreach.campaigns.models import Campaign, CampaignGroup, CampaignStatus, Variant
from outreach.config import Settings
from outreach.contacts.identity import normalize_email
from outreach.contacts.models import Contact
from outreach.db import as_id, settings_of
from outreach.errors import Conflict, NotFound, ValidationError
from outreach.groups.models import Group
from outreach.groups.service import get_group
from outreach.rendering.message import MessageBuilder, language_tag
from outreach.rendering.pipeline import CompiledVariant, compile_variant
from outreach.rendering.templates import ContactView, SampleContact, TemplateProblem, trial_render

if TYPE_CHECKING:
    from jinja2 import Template

EDITABLE = (CampaignStatus.DRAFT, CampaignStatus.SCHEDULED, CampaignStatus.PAUSED)


def parse_sender(value: str, field: str = "from") -> tuple[str, str]:
    """("Name", "address") from 'Name <address>' or a bare address."""
    name, address = parseaddr(value or "")
    if not address or "\r" in value or "\n" in value:
        raise ValidationError(f"{field}: expected 'Name <address>' or an address", field=field)
    if len(name.strip()) > 200:
        raise ValidationError(f"{field}: the name is longer than 200 characters", field=field)
    try:
        return name.strip(), normalize_email(address)[0]
    except ValidationError as exc:
        raise ValidationError(f"{field}: {exc.message}", field=field) from exc


def get_campaign(session: Session, ref: str | int) -> Campaign:
    """A campaign by id or exact name."""
    if isinstance(ref, int) or str(ref).isdigit():
        number = as_id(ref)
        campaign = session.get(Campaign, number) if number else None
    else:
        campaign = session.scalars(
            sa.select(Campaign).where(Campaign.name == ref).order_by(Campaign.id.desc())
        ).first()
    if campaign is None:
        raise NotFound(f"no campaign {ref!r}", field="campaign")
    return campaign


def create_campaign(
    session: Session,
    name: str,
    sender: str,
    *,
    reply_to: str | None = None,
    groups: list[str] | None = None,
) -> Campaign:
    """A new draft campaign."""
    clean = " ".join((name or "").split())
    if not clean or len(clean) > 200:
        raise ValidationError("name must be 1 to 200 characters", field="name")
    from_name, from_email = parse_sender(sender)
    campaign = Campaign(
        name=clean,
        from_name=from_name,
        from_email=from_email,
        reply_to=parse_sender(reply_to, "reply_to")[1] if reply_to else None,
    )
    session.add(campaign)
    session.flush()
    if groups:
        set_target_groups(session, campaign, groups)
    return campaign


def duplicate_campaign(session: Session, campaign: Campaign, name: str | None = None) -> Campaign:
    """A new draft with the campaign's sender, target groups (in their order) and a copy of
    each variant, to edit: a campaign in any status can be the model."""
    clean = " ".join((name or f"Copy of {campaign.name}"[:200]).split())
    if not clean or len(clean) > 200:
        raise ValidationError("name must be 1 to 200 characters", field="name")
    copy = Campaign(
        name=clean,
        from_name=campaign.from_name,
        from_email=campaign.from_email,
        reply_to=campaign.reply_to,
    )
    session.add(copy)
    session.flush()
    targets = session.scalars(
        sa.select(CampaignGroup)
        .where(CampaignGroup.campaign_id == campaign.id)
        .order_by(CampaignGroup.position)
    ).all()
    session.add_all(
        CampaignGroup(campaign_id=copy.id, group_id=t.group_id, position=t.position)
        for t in targets
    )
    for variant in session.scalars(sa.select(Variant).where(Variant.campaign_id == campaign.id)):
        session.add(
            Variant(
                campaign_id=copy.id,
                group_id=variant.group_id,
                subject=variant.subject,
                preheader=variant.preheader,
                mjml=variant.mjml,
                text_source=variant.text_source,
            )
        )
    session.flush()
    return copy


def create_followup(
    session: Session,
    original: Campaign,
    audience: str,
    *,
    groups: list[str] | None = None,
    name: str | None = None,
    include_untracked: bool = False,
) -> Campaign:
    """A draft follow-up: the original's sender, target groups (only `groups`, when given)
    and variants, whose audience is the original's recipients with this outcome
    (FOLLOWUP_AUDIENCES) in those groups, found when it is sent. Who never had open (or
    click) tracking cannot be known as a non-opener (non-clicker): left out unless
    `include_untracked`."""
    if audience not in FOLLOWUP_AUDIENCES:
        raise ValidationError(
            f"unknown audience {audience!r}: use one of {', '.join(FOLLOWUP_AUDIENCES)}",
            field="audience",
        )
    if original.status not in (CampaignStatus.SENT, CampaignStatus.SENDING, CampaignStatus.PAUSED):
        raise Conflict(
            f"campaign {original.name!r} is {original.status}: a follow-up follows a campaign "
            "that was sent",
            field="campaign",
        )
    label = audience.replace("-", " ")
    copy = duplicate_campaign(session, original, name or f"{original.name} — {label}"[:200])
    if groups:
        kept = {get_group(session, g).id for g in groups}
        targeted = set(
            session.scalars(
                sa.select(CampaignGroup.group_id).where(CampaignGroup.campaign_id == copy.id)
            )
        )
        if kept - targeted:
            names = sorted(session.get_one(Group, g).name for g in kept - targeted)
            raise ValidationError(
                f"{original.name!r} did not target {', '.join(names)}", field="groups"
            )
        for table in (CampaignGroup, Variant):
            session.execute(
                sa.delete(table).where(
                    table.campaign_id == copy.id,
                    table.group_id.not_in(kept),
                    table.group_id.is_not(None),
                )
            )
    copy.followup_of = original.id
    copy.followup_audience = {"audience": audience, "include_untracked": include_untracked}
    session.flush()
    return copy


def delete_draft(session: Session, campaign: Campaign) -> None:
    """Delete a draft with its variants and targets (its test messages stay in the
    outbox's history, no longer linked); a campaign that was ever scheduled or sent keeps
    its record."""
    if campaign.status is not CampaignStatus.DRAFT:
        raise Conflict(
            f"campaign {campaign.name!r} is {campaign.status}: only a draft can be deleted"
            + (" (cancel it first)" if campaign.status in (CampaignStatus.SCHEDULED,) else ""),
            field="campaign",
        )
    session.execute(sa.delete(Variant).where(Variant.campaign_id == campaign.id))
    session.execute(sa.delete(CampaignGroup).where(CampaignGroup.campaign_id == campaign.id))
    session.delete(campaign)
    session.flush()


def _editable(campaign: Campaign) -> None:
    if campaign.status not in EDITABLE:
        raise Conflict(
            f"campaign {campaign.name!r} is {campaign.status}: it can no longer be changed",
            field="campaign",
        )


def set_target_groups(session: Session, campaign: Campaign, names: list[str]) -> list[Group]:
    """Target these groups, in this priority order (first wins)."""
    _editable(campaign)
    groups = [get_group(session, name.strip()) for name in names if name.strip()]
    if len({g.id for g in groups}) != len(groups):
        raise ValidationError("a group is listed twice", field="groups")
    session.execute(sa.delete(CampaignGroup).where(CampaignGroup.campaign_id == campaign.id))
    session.add_all(
        CampaignGroup(campaign_id=campaign.id, group_id=g.id, position=i)
        for i, g in enumerate(groups)
    )
    session.flush()
    return groups


def target_groups(session: Session, campaign: Campaign) -> list[Group]:
    """The targeted groups in priority order."""
    return list(
        session.scalars(
            sa.select(Group)
            .join(CampaignGroup, CampaignGroup.group_id == Group.id)
            .where(CampaignGroup.campaign_id == campaign.id)
            .order_by(CampaignGroup.position)
        )
    )


def sample_context(
    campaign: Campaign, group_name: str, contact: Any = None, site_language: str = "en"
) -> dict[str, Any]:
    """The template variables for a preview (links point nowhere)."""
    return {
        "contact": ContactView.of(contact or SampleContact(sector=group_name, attributes={})),
        "group": {"name": group_name},
        "campaign": {"name": campaign.name},
        "unsubscribe_url": "https://example.invalid/unsubscribe/preview",
        "preferences_url": "https://example.invalid/preferences/preview",
        "preheader": "",
        # What the message builder adds for the document's head (rendering.pipeline).
        "subject": "",
        "language": language_tag(getattr(contact, "language", "")) or site_language,
    }


def message_builder(
    campaign: Campaign,
    variant: Variant,
    label: str,
    group_name: str,
    settings: Settings,
    *,
    test: bool = False,
) -> MessageBuilder:
    """What every message of one variant is built with (campaigns and test sends alike)."""
    return MessageBuilder(
        compile_checked(campaign, variant, label),
        campaign_id=campaign.id,
        campaign_name=campaign.name,
        from_name=campaign.from_name,
        from_email=campaign.from_email,
        reply_to=campaign.reply_to,
        group_name=group_name,
        # Only an address Outreach (or a person) reads: never the From by default.
        unsubscribe_mailto=settings.unsubscribe_mailto or None,
        language=settings.language,
        test=test,
    )


def variant_label(session: Session, variant: Variant) -> str:
    """The name of the group a variant is for; "fallback" for the fallback variant."""
    group = session.get(Group, variant.group_id) if variant.group_id is not None else None
    return group.name if group is not None else "fallback"


def compile_checked(campaign: Campaign, variant: Variant, label: str) -> CompiledVariant:
    """Compile a variant and render it once for a sample contact; errors name the variant."""
    try:
        compiled = compile_variant(
            variant.subject, variant.preheader or "", variant.mjml, variant.text_source
        )
        context = sample_context(campaign, label)
        for part, template in _parts(compiled):
            trial_render(template, part, context)
    except TemplateProblem as exc:
        raise TemplateProblem(f"variant {label}: {exc.message}", field=exc.field) from exc
    return compiled


def set_variant(
    session: Session,
    campaign: Campaign,
    group: str | None,
    *,
    subject: str,
    mjml: str,
    text: str | None = None,
    preheader: str = "",
) -> Variant:
    """Create or replace the variant of a targeted group (None: the fallback)."""
    _editable(campaign)
    group_id, label = None, "fallback"
    if group is not None:
        target = get_group(session, group)
        if target.id not in {g.id for g in target_groups(session, campaign)}:
            raise ValidationError(
                f"group {target.name!r} is not targeted by this campaign", field="group"
            )
        group_id, label = target.id, target.name
    if not (subject or "").strip():
        raise ValidationError(f"variant {label}: the subject is empty", field="subject")
    if len(subject) > 998 or len(preheader or "") > 500:
        raise ValidationError(
            f"variant {label}: the subject (998) or preheader (500) is too long",
            field="subject" if len(subject) > 998 else "preheader",
        )
    variant = session.scalar(
        sa.select(Variant).where(
            Variant.campaign_id == campaign.id,
            Variant.group_id.is_(None) if group_id is None else Variant.group_id == group_id,
        )
    )
    if variant is None:
        variant = Variant(campaign_id=campaign.id, group_id=group_id)
        session.add(variant)
    variant.subject, variant.mjml = subject.strip(), mjml
    variant.text_source, variant.preheader = (text or None), preheader or ""
    compiled = compile_checked(campaign, variant, label)
    check_with_members(session, campaign, compiled, label, group_id)
    session.flush()
    return variant


MEMBER_SAMPLE = 25


def check_with_members(
    session: Session,
    campaign: Campaign,
    compiled: CompiledVariant,
    label: str,
    group_id: int | None,
) -> None:
    """Render a variant for the group's contacts with the most data (any contacts for the
    fallback): a template that only goes over a bound on real data is refused on save."""
    from outreach.groups.service import members_condition

    query = sa.select(Contact)
    if group_id is not None:
        query = query.where(members_condition(session, session.get_one(Group, group_id)))
    size = sa.func.length(sa.cast(Contact.attributes, sa.Text))
    for contact in session.scalars(query.order_by(size.desc(), Contact.id).limit(MEMBER_SAMPLE)):
        context = sample_context(campaign, label, contact)
        try:
            for part, template in _parts(compiled):
                trial_render(template, part, context)
        except TemplateProblem as exc:
            raise TemplateProblem(
                f"variant {label}, for contact #{contact.id}: {exc.message}", field=exc.field
            ) from exc


def _parts(compiled: CompiledVariant) -> tuple[tuple[str, Template], ...]:
    return (
        ("subject", compiled.subject),
        ("preheader", compiled.preheader),
        ("mjml", compiled.html),
        ("text", compiled.text),
    )


def variants(session: Session, campaign: Campaign) -> list[tuple[str, Variant]]:
    """(label, variant) in priority order, the fallback last; variants of groups no longer
    targeted are kept (in case they come back) but left out."""
    order = {g.id: (i, g.name) for i, g in enumerate(target_groups(session, campaign))}
    found = session.scalars(sa.select(Variant).where(Variant.campaign_id == campaign.id)).all()
    labelled = []
    for variant in found:
        if variant.group_id is None:
            labelled.append(((10**6, "fallback"), variant))
        elif variant.group_id in order:
            labelled.append((order[variant.group_id], variant))
    return [(label, v) for (_, label), v in sorted(labelled, key=lambda item: item[0][0])]


def presend_checks(
    session: Session, campaign: Campaign, *, audience_warnings: bool = True
) -> list[Problem]:
    """What would go wrong if this campaign were sent now (errors block sending).
    `audience_warnings`: also count, over the whole audience, the placeholders that
    render empty (warnings only: a pass over every recipient, 7 s for a million)."""
    problems: list[Problem] = []
    have = {v.group_id for _, v in variants(session, campaign)}
    targets = target_groups(session, campaign)
    if not targets:
        problems.append(Problem("error", "-", "the campaign targets no group"))
    for group in targets:
        if group.id not in have and None not in have:
            problems.append(
                Problem("error", group.name, "no variant for this group and no fallback variant")
            )
    labelled = variants(session, campaign)
    for label, variant in labelled:
        problems += _variant_problems(campaign, label, variant)
    if audience_warnings:
        problems += empty_placeholder_problems(session, campaign, labelled)
    return problems + configuration_problems(session, campaign, settings_of(session))


def _variant_problems(campaign: Campaign, label: str, variant: Variant) -> list[Problem]:
    try:
        compiled = compile_checked(campaign, variant, label)
    except TemplateProblem as exc:
        return [Problem("error", label, exc.message)]
    found = []
    if not variant.subject.strip():
        found.append(Problem("error", label, "the subject is empty"))
    if "unsubscribe_url" not in compiled.html_source:
        found.append(
            Problem("error", label, "no visible unsubscribe link: add {{ unsubscribe_url }}")
        )
    import re

    for tag in re.findall(r"<img\b[^>]*>", compiled.html_source):
        if not re.search(r'\balt="[^"]+"', tag):
            found.append(Problem("warning", label, "an image has no alt text"))
            break
    return found + placeholder_text_problems(label, variant)


def _variant_for(session: Session, campaign: Campaign, group: str | None) -> tuple[str, Variant]:
    """The variant a member of `group` receives (None: the first variant)."""
    found = variants(session, campaign)
    if not found:
        raise ValidationError("the campaign has no variant yet", field="group")
    if group is None:
        return found[0]
    if group == "fallback":
        for label, variant in found:
            if variant.group_id is None:
                return label, variant
        raise ValidationError("the campaign has no fallback variant", field="group")
    target = get_group(session, group)
    for label, variant in found:
        if variant.group_id == target.id:
            return label, variant
    for label, variant in found:
        if variant.group_id is None:
            return label, variant
    raise ValidationError(f"no variant for {target.name!r} and no fallback", field="group")


def preview(
    session: Session, campaign: Campaign, group: str | None, contact_email: str | None = None
) -> str:
    """The HTML that a member of `group` (or the given real contact) would receive."""
    from outreach.contacts.service import get_contact

    label, variant = _variant_for(session, campaign, group)
    compiled = compile_checked(campaign, variant, label)
    contact = get_contact(session, contact_email) if contact_email else None
    group_name = label if label != "fallback" else (group or "fallback")
    context = sample_context(campaign, group_name, contact, settings_of(session).language)
    try:
        context["subject"] = trial_render(compiled.subject, "subject", context)
        context["preheader"] = trial_render(compiled.preheader, "preheader", context)
        return trial_render(compiled.html, "mjml", context)
    except TemplateProblem as exc:
        raise TemplateProblem(f"variant {label}: {exc.message}", field=exc.field) from exc


def queue_test_messages(
    session: Session, campaign: Campaign, to: str, group: str | None
) -> list[int]:
    """Write the test messages to the outbox (sent and signed like every email); their ids."""
    from outreach.delivery.transport import Envelope
    from outreach.outbox.service import queue_email

    messages = test_messages(session, campaign, to, group, settings_of(session))
    address = normalize_email(to)[0]
    rows = [
        queue_email(
            session,
            "test",
            Envelope(campaign.from_email, (address,)),
            message,
            subject=f"[TEST] {campaign.name}",
            message_id=message_id,
            campaign_id=campaign.id,
            nudge_workers=False,  # the surface sends them at once and reports the outcome
        )
        for message_id, message in messages
    ]
    session.flush()
    return [row.id for row in rows]


def test_messages(
    session: Session, campaign: Campaign, to: str, group: str | None, settings: Any
) -> list[tuple[str, bytes]]:
    """Test messages to `to`: one per variant (or the given group's), marked as tests."""
    from outreach.consent import links as link_builder
    from outreach.rendering.message import Links

    try:
        address = normalize_email(to)[0]
    except ValidationError as exc:
        raise ValidationError(exc.message, field="to") from exc
    chosen = [_variant_for(session, campaign, group)] if group else variants(session, campaign)
    messages = []
    # Contact id 0 exists nowhere: the links work and change nothing.
    links = Links(
        link_builder.unsubscribe_url(settings, 0, campaign.id),
        link_builder.preferences_url(settings, 0),
    )
    for label, variant in chosen:
        group_name = label if label != "fallback" else (group or "fallback")
        builder = message_builder(campaign, variant, label, group_name, settings, test=True)
        recipient = SampleContact(sector=label, attributes={}, email=address)
        messages.append(builder.build(_TestRecipient(recipient), links))
    return messages


class _TestRecipient:
    """A sample contact with the id the builder wants."""

    def __init__(self, sample: SampleContact) -> None:
        self.id = 0
        self.email = sample.email
        self.first_name = sample.first_name
        self.last_name = sample.last_name
        self.sector = sample.sector
        self.organization = sample.organization
        self.language = sample.language
        self.attributes = sample.attributes or {}


def default_layout(session: Session) -> str:
    """The starting MJML of a new variant, signed with the controller's identity."""
    from outreach.consent.notice import current_notice
    from outreach.paths import ROOT

    controller = current_notice(session).controller
    lines = [line.strip() for line in str(controller["address"]).splitlines()]
    address = ", ".join(line for line in lines if line)
    identity = _as_markup_text(f"{controller['name']} · {address}")
    layout = (ROOT / "templates" / "email" / "newsletter.mjml").read_text(encoding="utf-8")
    return layout.replace("__CONTROLLER__", identity)


def _as_markup_text(text: str) -> str:
    """Text that reads the same in the editor and in the mail: only what markup or Jinja
    would take for its own is escaped (`<`, `>`, an `&` that starts an entity, braces)."""
    import re

    text = re.sub(r"&(?=#?\w+;)", "&amp;", text).replace("<", "&lt;").replace(">", "&gt;")
    return re.sub(r"([{}])(?=[{%#}])", lambda m: "&#123;" if m.group(1) == "{" else "&#125;", text)
