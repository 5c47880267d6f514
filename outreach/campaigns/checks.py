"""Pre-send checks beyond the variants themselves: who the mail says it is from, where its
links point, how it is signed, and placeholders that would render empty for recipients."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from functools import lru_cache
from html import escape
from typing import Any

import sqlalchemy as sa
from jinja2 import TemplateSyntaxError, nodes
from sqlalchemy.orm import Session

from outreach.campaigns.audience import recipients
from outreach.campaigns.models import Campaign, Variant
from outreach.config import Settings, insecure_link_reasons
from outreach.contacts.models import Contact
from outreach.errors import ConfigurationError, ValidationError
from outreach.rendering.templates import environment

# The controller identity of a fresh installation (outreach.consent.notice's defaults, as
# version 1 of every existing database stores them): never a real one.
PLACEHOLDER_CONTROLLER = {
    "name": "The newsletter's publisher",
    "address": "Set the postal address in Admin › Settings",
    "email": "privacy@example.org",
}
# The sample controller `outreach demo` names when an installation has none: fine for a
# local trial (OUTREACH_ALLOW_INSECURE_LINKS), an error on a real instance.
SAMPLE_CONTROLLER = {
    "name": "Ana García Consulting",
    "address": "Rua Augusta 100, 1100-053 Lisboa, Portugal",
    "email": "privacy@outreach.example",
}
CONTROLLER_WHAT = {
    "name": ("identity (name)", "controller_name"),
    "address": ("postal address", "postal_address"),
    "email": ("contact email", "contact_email"),
}
PROFILE_FIELDS = ("first_name", "last_name", "sector", "organization", "language")
# Filters that keep an empty value empty (so they hide nothing).
TRANSPARENT_FILTERS = frozenset(
    {"capitalize", "e", "escape", "lower", "safe", "string", "striptags", "title", "trim", "upper"}
)


@dataclass(frozen=True)
class Problem:
    """A pre-send finding: errors block sending, warnings are shown."""

    level: str
    variant: str
    message: str


def configuration_problems(
    session: Session, campaign: Campaign, settings: Settings
) -> list[Problem]:
    """The controller's identity, the links' base URL, DKIM and the mailto address."""
    controller = _controller_in_force(session)
    return [
        *_controller_problems(controller),
        *_sample_controller_problems(controller, settings),
        *_link_problems(settings),
        *_dkim_problems(settings, campaign.from_email),
        *_mailto_problems(settings),
    ]


def _placeholders() -> dict[str, set[str]]:
    from outreach.consent.notice import DEFAULT_CONTROLLER

    return {
        key: {value, str(DEFAULT_CONTROLLER.get(key) or value)}
        for key, value in PLACEHOLDER_CONTROLLER.items()
    }


def _controller_in_force(session: Session) -> dict[str, Any]:
    """The controller of the notice in force ({} before the first one), read only."""
    from outreach.consent.models import NoticeVersion
    from outreach.consent.notice import CURRENT_KEY
    from outreach.stored_settings import Setting

    setting = session.get(Setting, CURRENT_KEY)
    notice = session.get(NoticeVersion, setting.value) if setting else None
    return dict(notice.controller) if notice is not None else {}


def controller_is_set(session: Session) -> bool:
    """Whether the notice in force names a real controller (no field unset or placeholder)."""
    return not _controller_problems(_controller_in_force(session))


def _controller_problems(controller: dict[str, Any]) -> list[Problem]:
    placeholders = _placeholders()
    found = []
    for key, (what, setting) in CONTROLLER_WHAT.items():
        value = " ".join(str(controller.get(key) or "").split())
        if value and value not in placeholders[key]:
            continue
        state = f"still the placeholder {value!r}" if value else "not set"
        found.append(
            Problem(
                "error",
                "-",
                f"the controller's {what} is {state}: the privacy notice and the footer must "
                f"say who sends; set it in Admin › Settings (or `outreach settings set "
                f"{setting} …`)",
            )
        )
    return found


def _sample_controller_problems(controller: dict[str, Any], settings: Settings) -> list[Problem]:
    same = [
        CONTROLLER_WHAT[key]
        for key, value in SAMPLE_CONTROLLER.items()
        if " ".join(str(controller.get(key) or "").split()) == value
    ]
    if not same:
        return []
    what = " and ".join(", ".join(w for w, _ in same).rsplit(", ", 1))
    said = f"the controller's {what} {'is' if len(same) == 1 else 'are'} still the demo's sample"
    if settings.allow_insecure_links:
        return [Problem("warning", "-", f"{said}: allowed for a local trial")]
    return [
        Problem(
            "error",
            "-",
            f"{said}: set your own in Admin › Settings (or `outreach settings set {same[0][1]} …`)",
        )
    ]


def _link_problems(settings: Settings) -> list[Problem]:
    reasons = insecure_link_reasons(settings.base_url)
    if not reasons:
        return []
    said = f"links in the mail point at {settings.base_url} ({', '.join(reasons)})"
    if settings.allow_insecure_links:
        return [
            Problem(
                "warning",
                "-",
                f"{said}: allowed by OUTREACH_ALLOW_INSECURE_LINKS for a local trial; "
                "recipients elsewhere cannot use them",
            )
        ]
    return [
        Problem(
            "error",
            "-",
            f"{said}: recipients cannot open them and mail providers ignore such a "
            "List-Unsubscribe; set OUTREACH_BASE_URL to the public https address (or "
            "OUTREACH_ALLOW_INSECURE_LINKS=true for a local trial)",
        )
    ]


def _dkim_problems(settings: Settings, from_email: str) -> list[Problem]:
    from outreach.rendering.dkim import aligned, signer_for

    try:
        signer = signer_for(settings)
    except ConfigurationError as exc:
        return [Problem("error", "-", f"DKIM cannot sign: {exc.message}")]
    if signer is None:
        return [
            Problem(
                "warning",
                "-",
                "DKIM is not configured: receivers checking DMARC may refuse or file the "
                "mail as spam (set OUTREACH_DKIM_DOMAIN, _SELECTOR and _KEY_FILE)",
            )
        ]
    domain = from_email.rpartition("@")[2]
    if aligned(domain, settings.dkim_domain):
        return []
    return [
        Problem(
            "error",
            "-",
            f"DKIM signs as d={settings.dkim_domain} but the campaign is sent From {domain}: "
            "receivers checking DMARC will not count the signature (send From an address "
            f"in {settings.dkim_domain} or sign for the From domain)",
        )
    ]


def _mailto_problems(settings: Settings) -> list[Problem]:
    from outreach.contacts.identity import normalize_email

    if not settings.unsubscribe_mailto:
        return []
    try:
        normalize_email(settings.unsubscribe_mailto)
    except ValidationError as exc:
        return [Problem("error", "-", f"OUTREACH_UNSUBSCRIBE_MAILTO: {exc.message}")]
    return []


def placeholder_text_problems(label: str, variant: Variant) -> list[Problem]:
    """The placeholder controller identity baked into a variant (the starter layout of a
    fresh installation signs with it)."""
    sources = (variant.subject, variant.preheader or "", variant.mjml, variant.text_source or "")
    placeholders = _placeholders()
    for value in [v for key in PLACEHOLDER_CONTROLLER for v in sorted(placeholders[key])]:
        if any(value in source or escape(value) in source for source in sources):
            return [
                Problem(
                    "error",
                    label,
                    f"the message still says {value!r}: replace it with the controller's "
                    "identity (Admin › Settings, then the starter layout shows it)",
                )
            ]
    return []


def empty_placeholder_problems(
    session: Session, campaign: Campaign, labelled: list[tuple[str, Variant]]
) -> list[Problem]:
    """Warnings for `{{ contact.X }}` without a default that is empty for some of a variant's
    would-be recipients: one count per field over the audience, no render per contact."""
    uses: dict[str, dict[int, tuple[str, list[str]]]] = {}
    order = {variant.id: i for i, (_label, variant) in enumerate(labelled)}
    for label, variant in labelled:
        for field, parts in _fields_used(variant).items():
            uses.setdefault(field, {})[variant.id] = (label, parts)
    if not uses:
        return []
    audience = recipients(session, campaign).subquery("audience")
    totals: dict[int, int] = dict(
        session.execute(
            sa.select(audience.c.variant_id, sa.func.count()).group_by(audience.c.variant_id)
        ).all()
    )
    found: list[tuple[int, Problem]] = []
    for field, by_variant in uses.items():
        empty: dict[int, int] = dict(
            session.execute(
                sa.select(audience.c.variant_id, sa.func.count())
                .join(Contact, Contact.id == audience.c.contact_id)
                .where(audience.c.variant_id.in_(list(by_variant)), _is_empty(field))
                .group_by(audience.c.variant_id)
            ).all()
        )
        for variant_id, (label, parts) in by_variant.items():
            if empty.get(variant_id):
                problem = _empty_problem(label, field, parts, empty[variant_id], totals[variant_id])
                found.append((order[variant_id], problem))
    return [problem for _position, problem in sorted(found, key=lambda item: item[0])]


def _empty_problem(label: str, field: str, parts: list[str], count: int, total: int) -> Problem:
    where = " and ".join(parts)
    return Problem(
        "warning",
        label,
        f"{{{{ contact.{field} }}}} in the {where} renders empty for {count} of {total} "
        f'recipients: write {{{{ contact.{field} | default("…", true) }}}}',
    )


def _is_empty(field: str) -> sa.ColumnElement[bool]:
    if field.startswith("attributes."):
        value: Any = Contact.attributes[field.removeprefix("attributes.")].as_string()
    else:
        value = getattr(Contact, field)
    return sa.func.coalesce(sa.func.trim(value), "") == ""


def _fields_used(variant: Variant) -> dict[str, list[str]]:
    """Field -> the parts ("subject", "preheader", "body", "text") that print it unguarded."""
    used: dict[str, list[str]] = {}
    parts = (
        ("subject", variant.subject),
        ("preheader", variant.preheader or ""),
        ("body", variant.mjml),
        ("text", variant.text_source or ""),
    )
    for part, source in parts:
        for field in _unguarded_fields(source):
            if part not in used.setdefault(field, []):
                used[field].append(part)
    return used


@lru_cache(maxsize=512)
def _unguarded_fields(source: str) -> tuple[str, ...]:
    """Contact fields a template prints without a default (or an `if` testing them)."""
    if "contact" not in source:
        return ()
    try:
        tree = environment(False).parse(source)
    except TemplateSyntaxError:
        return ()  # refused when the variant is compiled, reported there
    found: list[str] = []
    for expression, guarded in _outputs(tree, frozenset()):
        field = _printed_field(expression)
        if field and field not in guarded and field not in found:
            found.append(field)
    return tuple(found)


def _outputs(
    node: nodes.Node, guarded: frozenset[str]
) -> Iterator[tuple[nodes.Expr, frozenset[str]]]:
    """Every printed expression, with the fields tested by the `if` blocks around it."""
    if isinstance(node, nodes.Output):
        for child in node.nodes:
            if not isinstance(child, nodes.TemplateData):
                yield child, guarded
        return
    if isinstance(node, nodes.If):
        tested: list[nodes.Node] = [node.test, *node.test.find_all(nodes.Expr)]
        guarded = guarded | {field for n in tested if (field := _field_of(n))}
    for inner in node.iter_child_nodes():
        yield from _outputs(inner, guarded)


def _printed_field(expression: nodes.Node) -> str | None:
    """The field an output prints as it is (through filters that keep it empty)."""
    while isinstance(expression, nodes.Filter) and expression.node is not None:
        if expression.name in ("default", "d"):
            if _replaces_empty(expression):
                return None
        elif expression.name not in TRANSPARENT_FILTERS:
            return None
        expression = expression.node
    return _field_of(expression)


def _replaces_empty(default: nodes.Filter) -> bool:
    """`default(x, true)` (or boolean=true) replaces an empty value; `default(x)` does not."""
    flags = [*default.args[1:2], *(k.value for k in default.kwargs if k.key == "boolean")]
    return any(not isinstance(flag, nodes.Const) or bool(flag.value) for flag in flags)


def _field_of(node: nodes.Node) -> str | None:
    """'organization' for contact.organization, 'attributes.city' for
    contact.attributes.city or contact.attributes["city"]; None for anything else."""
    key = _key_of(node)
    if key is None or not isinstance(node, nodes.Getattr | nodes.Getitem):
        return None
    inner = node.node
    if isinstance(inner, nodes.Name) and inner.name == "contact" and key in PROFILE_FIELDS:
        return key
    if (
        _key_of(inner) == "attributes"
        and isinstance(inner, nodes.Getattr | nodes.Getitem)
        and isinstance(inner.node, nodes.Name)
        and inner.node.name == "contact"
    ):
        return f"attributes.{key}"
    return None


def _key_of(node: nodes.Node) -> str | None:
    if isinstance(node, nodes.Getattr):
        return node.attr
    if (
        isinstance(node, nodes.Getitem)
        and isinstance(node.arg, nodes.Const)
        and isinstance(node.arg.value, str)
    ):
        return node.arg.value
    return None
