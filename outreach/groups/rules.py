"""Rule groups: a typed rule document, validated on save and compiled to one SQL condition.

A rule group's members are the contacts its rule matches when asked — when a campaign's
audience is frozen, when the group is counted or listed — never memberships stored by
hand. The document is JSON, one of:

* ``{"all": [RULE, ...]}``, ``{"any": [RULE, ...]}``, ``{"not": RULE}`` — nested freely;
* ``{"field": F, "op": OP, "value": V}`` — a profile field (``email``, ``first_name``,
  ``last_name``, ``organization``, ``language``, ``sector``, ``source``), an attribute
  (``attributes.city``), ``status`` or ``signed_up`` (the day the contact was added).
  Text operators: ``equals``, ``not_equals``, ``contains``, ``starts_with``, ``one_of``,
  ``not_one_of``, ``is_empty``, ``is_not_empty`` (case-insensitive); numbers: ``gt``,
  ``gte``, ``lt``, ``lte``; dates: ``before``, ``after`` (an ISO date), ``within_days``;
* ``{"group": NAME, "op": "in" | "not_in"}`` — membership of another group (a rule group
  included, never itself);
* ``{"behaviour": B, ...scope}`` — over the delivery ledger, with B one of ``received``,
  ``opened`` (a human open), ``clicked`` (a human click; ``"link": URL`` for a given one),
  ``not_opened`` (received at least one open-tracked message of the scope and opened none
  of them: without open tracking nobody can be known as a non-opener) and ``bounced``;
  scope ``"campaign": ID or NAME``, ``"last": N`` (any of the last N campaigns sent), or
  ``"within_days": N`` (messages sent in the last N days); no scope: any campaign.

Machine opens and clicks (privacy proxies, link scanners) never count as opens or clicks
here: the ledger keeps them apart (outreach.delivery.outcomes). The consent gate applies on
top of a rule when an audience is frozen, as for any group.

`parse_line` reads a one-line form for simple rules, e.g.
``sector = Journalists and opened last 3`` or ``attributes.city in Madrid, Lisbon or
signed up within 30 days``; `describe` writes any rule back in that form.
"""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.orm import Session

from outreach.campaigns.models import Campaign, CampaignStatus
from outreach.contacts.models import Contact, ContactStatus
from outreach.db import as_id, utcnow
from outreach.db_bulk import is_postgres
from outreach.delivery.models import Delivery
from outreach.delivery.outcomes import Outcome, outcome_condition
from outreach.errors import ValidationError
from outreach.groups.models import Group, GroupMembership, group_key

MAX_DEPTH = 8
MAX_CONDITIONS = 100
PROFILE_FIELDS = (
    "email",
    "first_name",
    "last_name",
    "organization",
    "language",
    "sector",
    "source",
)
TEXT_OPS = (
    "equals",
    "not_equals",
    "contains",
    "starts_with",
    "one_of",
    "not_one_of",
    "is_empty",
    "is_not_empty",
)
NUMBER_OPS = ("gt", "gte", "lt", "lte")
DATE_OPS = ("before", "after", "within_days")
STATUS_OPS = ("equals", "not_equals", "one_of", "not_one_of")
BEHAVIOURS = ("received", "opened", "clicked", "not_opened", "bounced")
_NUMBER = r"^\s*-?[0-9]+(\.[0-9]+)?\s*$"


@dataclass(frozen=True)
class FieldRule:
    """A condition on a profile field, an attribute, the status or the sign-up date."""

    field: str
    op: str
    value: Any = None


@dataclass(frozen=True)
class GroupRule:
    """Membership (or not) of another group, by name."""

    group: str
    member: bool = True


@dataclass(frozen=True)
class BehaviourRule:
    """Something the contact did (or did not do) with the messages of a scope."""

    behaviour: str
    campaign: int | str | None = None
    last: int | None = None
    within_days: int | None = None
    link: str | None = None


@dataclass(frozen=True)
class AllOf:
    """Every rule holds."""

    rules: tuple[Rule, ...]


@dataclass(frozen=True)
class AnyOf:
    """At least one rule holds."""

    rules: tuple[Rule, ...]


@dataclass(frozen=True)
class Not:
    """The rule does not hold."""

    rule: Rule


Rule = FieldRule | GroupRule | BehaviourRule | AllOf | AnyOf | Not


def _invalid(path: str, message: str) -> ValidationError:
    return ValidationError(f"rule {path}: {message}", field="rule")


def _choices(values: tuple[str, ...]) -> str:
    return ", ".join(values)


# --- parsing and validating the document ---------------------------------------------


def parse(doc: Any) -> Rule:
    """The typed rule of a JSON document; a ValidationError names the faulty condition by
    its path (``all[1].any[0]``) and says what is wrong with it."""
    counter = [0]
    return _parse(doc, "", 0, counter)


def _parse(doc: Any, path: str, depth: int, counter: list[int]) -> Rule:
    where = path or "(top level)"
    if depth > MAX_DEPTH:
        raise _invalid(where, f"nested more than {MAX_DEPTH} levels deep")
    counter[0] += 1
    if counter[0] > MAX_CONDITIONS:
        raise _invalid(where, f"a rule has at most {MAX_CONDITIONS} conditions")
    if not isinstance(doc, dict):
        raise _invalid(where, 'a condition is a JSON object such as {"all": [...]}')
    for key in ("all", "any"):
        if key in doc:
            _only(doc, {key}, where)
            items = doc[key]
            if not isinstance(items, list) or not items:
                raise _invalid(where, f'"{key}" needs a non-empty list of conditions')
            rules = tuple(
                _parse(item, f"{path}.{key}[{i}]".lstrip("."), depth + 1, counter)
                for i, item in enumerate(items)
            )
            return AllOf(rules) if key == "all" else AnyOf(rules)
    if "not" in doc:
        _only(doc, {"not"}, where)
        return Not(_parse(doc["not"], f"{path}.not".lstrip("."), depth + 1, counter))
    if "field" in doc:
        return _field_rule(doc, where)
    if "group" in doc:
        return _group_rule(doc, where)
    if "behaviour" in doc or "behavior" in doc:
        return _behaviour_rule(doc, where)
    raise _invalid(
        where,
        f"unknown condition {sorted(doc)}: use all, any, not, field, group or behaviour",
    )


def _only(doc: dict[str, Any], allowed: set[str], where: str) -> None:
    extra = sorted(set(doc) - allowed)
    if extra:
        raise _invalid(where, f"unexpected key{'s' if len(extra) > 1 else ''} {extra}")


def _field_rule(doc: dict[str, Any], where: str) -> FieldRule:
    _only(doc, {"field", "op", "value"}, where)
    name = doc["field"]
    op = doc.get("op")
    value = doc.get("value")
    if not isinstance(name, str) or not name.strip():
        raise _invalid(where, '"field" names a profile field, attributes.NAME, status or signed_up')
    name = name.strip()
    if name == "status":
        allowed: tuple[str, ...] = STATUS_OPS
    elif name == "signed_up":
        allowed = DATE_OPS
    elif name in PROFILE_FIELDS:
        allowed = TEXT_OPS
    elif name.startswith("attributes.") and name.removeprefix("attributes.").strip():
        allowed = TEXT_OPS + NUMBER_OPS + DATE_OPS
    else:
        raise _invalid(
            where,
            f"unknown field {name!r}: use one of {_choices(PROFILE_FIELDS)}, status, "
            "signed_up or attributes.NAME",
        )
    if op not in allowed:
        raise _invalid(where, f"{name} takes the operators {_choices(allowed)}, not {op!r}")
    return FieldRule(name, op, _field_value(name, op, value, where))


def _field_value(name: str, op: str, value: Any, where: str) -> Any:
    if op in ("is_empty", "is_not_empty"):
        if value not in (None, "", True):
            raise _invalid(where, f"{op} takes no value")
        return None
    if op in ("one_of", "not_one_of"):
        if not isinstance(value, list) or not value or len(value) > 1000:
            raise _invalid(where, f"{op} needs a list of 1 to 1000 values")
        values = [_text(v, where) for v in value]
        if name == "status":
            for v in values:
                _status(v, where)
        return values
    if op in NUMBER_OPS:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise _invalid(where, f"{op} compares with a number, not {value!r}")
        if not -1e15 <= value <= 1e15:  # NaN fails both
            raise _invalid(where, f"{op} compares with a number from -1e15 to 1e15")
        return value
    if op == "within_days":
        return _days(value, where, "within_days")
    if op in ("before", "after"):
        return _date(value, where).isoformat()
    text = _text(value, where)
    if name == "status":
        _status(text, where)
    return text


def _text(value: Any, where: str) -> str:
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise _invalid(where, f"the value must be text or a number, not {value!r}")
    text = str(value)
    if len(text) > 1000:
        raise _invalid(where, "a value is at most 1000 characters")
    return text


def _status(value: str, where: str) -> None:
    known = tuple(s.value for s in ContactStatus)
    if value not in known:
        raise _invalid(where, f"unknown status {value!r}: use one of {_choices(known)}")


def _days(value: Any, where: str, key: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 36500:
        raise _invalid(where, f"{key} is a whole number of days from 1 to 36500, not {value!r}")
    return value


def _date(value: Any, where: str) -> date:
    try:
        return date.fromisoformat(str(value)[:10])
    except ValueError:
        raise _invalid(where, f"{value!r} is not a date (YYYY-MM-DD)") from None


def _group_rule(doc: dict[str, Any], where: str) -> GroupRule:
    _only(doc, {"group", "op"}, where)
    name = doc["group"]
    if not isinstance(name, str | int) or isinstance(name, bool) or not str(name).strip():
        raise _invalid(where, '"group" names a group')
    op = doc.get("op", "in")
    if op not in ("in", "not_in"):
        raise _invalid(where, f'a group condition takes "op": "in" or "not_in", not {op!r}')
    return GroupRule(" ".join(str(name).split()), op == "in")


def _behaviour_rule(doc: dict[str, Any], where: str) -> BehaviourRule:
    doc = {("behaviour" if k == "behavior" else k): v for k, v in doc.items()}
    _only(doc, {"behaviour", "campaign", "last", "within_days", "link"}, where)
    behaviour = doc["behaviour"]
    if behaviour not in BEHAVIOURS:
        raise _invalid(where, f"unknown behaviour {behaviour!r}: use one of {_choices(BEHAVIOURS)}")
    scopes = [k for k in ("campaign", "last", "within_days") if doc.get(k) is not None]
    if len(scopes) > 1:
        raise _invalid(where, f"choose one scope, not {' and '.join(scopes)}")
    campaign = doc.get("campaign")
    if campaign is not None:
        if (
            isinstance(campaign, bool)
            or not isinstance(campaign, int | str)
            or not 1 <= len(str(campaign)) <= 200
        ):
            raise _invalid(where, '"campaign" is a campaign id or name')
    last = doc.get("last")
    if last is not None and (
        isinstance(last, bool) or not isinstance(last, int) or not 1 <= last <= 1000
    ):
        raise _invalid(where, f'"last" is a number of campaigns from 1 to 1000, not {last!r}')
    within = doc.get("within_days")
    link = doc.get("link")
    if link is not None:
        if behaviour != "clicked":
            raise _invalid(where, '"link" goes with the behaviour "clicked" only')
        if not isinstance(link, str) or not link.strip() or len(link) > 2000:
            raise _invalid(where, '"link" is the URL of a link in the message')
    return BehaviourRule(
        behaviour,
        campaign=campaign,
        last=last,
        within_days=None if within is None else _days(within, where, "within_days"),
        link=link.strip() if link else None,
    )


def to_doc(rule: Rule) -> dict[str, Any]:
    """The JSON document of a rule (as stored, and as `parse` reads it back)."""
    if isinstance(rule, AllOf):
        return {"all": [to_doc(r) for r in rule.rules]}
    if isinstance(rule, AnyOf):
        return {"any": [to_doc(r) for r in rule.rules]}
    if isinstance(rule, Not):
        return {"not": to_doc(rule.rule)}
    if isinstance(rule, FieldRule):
        doc: dict[str, Any] = {"field": rule.field, "op": rule.op}
        if rule.value is not None:
            doc["value"] = rule.value
        return doc
    if isinstance(rule, GroupRule):
        return {"group": rule.group, "op": "in" if rule.member else "not_in"}
    doc = {"behaviour": rule.behaviour}
    for key in ("campaign", "last", "within_days", "link"):
        if getattr(rule, key) is not None:
            doc[key] = getattr(rule, key)
    return doc


# --- the one-line form ------------------------------------------------------------------

_LINE_OPS = {
    "=": "equals",
    "==": "equals",
    "is": "equals",
    "!=": "not_equals",
    "contains": "contains",
    "starts with": "starts_with",
    "in": "one_of",
    "not in": "not_one_of",
    ">": "gt",
    ">=": "gte",
    "<": "lt",
    "<=": "lte",
    "before": "before",
    "after": "after",
}
_OP_WORDS = {v: k for k, v in reversed(list(_LINE_OPS.items()))}


def parse_line(text: str) -> Rule:
    """A rule from its one-line form: conditions joined by ``and`` or by ``or`` (not both:
    a rule that mixes them is written as JSON), each one of

    ``FIELD = VALUE`` (also ``!=``, ``contains``, ``starts with``, ``in A, B``, ``not in``,
    ``>``, ``>=``, ``<``, ``<=``, ``before DATE``, ``after DATE``, ``within N days``,
    ``is empty``, ``is not empty``), ``signed up within 30 days``, ``in group NAME``,
    ``not in group NAME``, ``BEHAVIOUR [link URL] [campaign REF | last N | within N days]``
    with BEHAVIOUR ``received``, ``opened``, ``clicked``, ``not opened`` or ``bounced``,
    and ``not CONDITION``. Values with spaces are quoted."""
    try:
        tokens = shlex.split(text.strip())
    except ValueError as exc:
        raise ValidationError(f"rule: {exc}", field="rule") from None
    if not tokens:
        raise ValidationError("rule: the rule is empty", field="rule")
    parts: list[list[str]] = [[]]
    joiners = set()
    for token in tokens:
        if token.lower() in ("and", "or"):
            joiners.add(token.lower())
            parts.append([])
        else:
            parts[-1].append(token)
    if len(joiners) > 1:
        raise ValidationError(
            "rule: a one-line rule joins its conditions by 'and' or by 'or', not both; "
            "write rules that mix them as JSON (--file)",
            field="rule",
        )
    rules = tuple(_line_term(words, i) for i, words in enumerate(parts))
    if len(rules) == 1:
        return rules[0]
    return AnyOf(rules) if joiners == {"or"} else AllOf(rules)


def _line_term(words: list[str], index: int) -> Rule:
    where = f"condition {index + 1}"
    if not words:
        raise _invalid(where, "is empty (two joiners in a row, or one at an end)")
    lowered = [w.lower() for w in words]
    if lowered[0] == "not" and not (len(lowered) > 1 and lowered[1] in ("in", "opened")):
        return Not(_line_term(words[1:], index))
    if lowered[:2] == ["in", "group"]:
        return _group_rule({"group": " ".join(words[2:])}, where)
    if lowered[:3] == ["not", "in", "group"]:
        return _group_rule({"group": " ".join(words[3:]), "op": "not_in"}, where)
    if lowered[:2] in (["not", "opened"], ["did", "not"]):
        behaviour, rest = "not_opened", words[2:]
        if lowered[:2] == ["did", "not"]:
            rest = words[3:] if lowered[2:3] == ["open"] else words[2:]
        return _line_behaviour(behaviour, rest, where)
    if lowered[0] in BEHAVIOURS:
        return _line_behaviour(lowered[0], words[1:], where)
    if lowered[:2] == ["signed", "up"]:
        words, lowered = ["signed_up", *words[2:]], ["signed_up", *lowered[2:]]
    return _line_field(words, lowered, where)


def _line_behaviour(behaviour: str, words: list[str], where: str) -> Rule:
    doc: dict[str, Any] = {"behaviour": behaviour}
    lowered = [w.lower() for w in words]
    i = 0
    while i < len(words):
        word = lowered[i]
        if word == "link" and i + 1 < len(words):
            doc["link"], i = words[i + 1], i + 2
        elif word == "campaign" and i + 1 < len(words):
            ref = " ".join(words[i + 1 :])
            doc["campaign"], i = (int(ref) if ref.isdigit() else ref), len(words)
        elif word == "last" and i + 1 < len(words) and lowered[i + 1].isdigit():
            doc["last"] = int(lowered[i + 1])
            i += 3 if lowered[i + 2 : i + 3] in (["campaigns"], ["campaign"]) else 2
        elif word == "within" and i + 1 < len(words) and lowered[i + 1].isdigit():
            doc["within_days"] = int(lowered[i + 1])
            i += 3 if lowered[i + 2 : i + 3] in (["days"], ["day"]) else 2
        else:
            raise _invalid(
                where,
                f"after {behaviour!r}, expected link URL, campaign REF, last N or "
                f"within N days, not {words[i]!r}",
            )
    return _behaviour_rule(doc, where)


def _line_field(words: list[str], lowered: list[str], where: str) -> Rule:
    name = words[0]
    rest, low = words[1:], lowered[1:]
    if low in (["is", "empty"], ["is", "not", "empty"]):
        return _field_rule({"field": name, "op": "_".join(low)}, where)
    if low[:1] == ["within"] and len(low) >= 2 and low[1].isdigit():
        return _field_rule({"field": name, "op": "within_days", "value": int(low[1])}, where)
    for size in (2, 1):
        op = " ".join(low[:size])
        if op in _LINE_OPS and len(rest) > size:
            value_words = rest[size:]
            kind = _LINE_OPS[op]
            doc: dict[str, Any] = {"field": name, "op": kind}
            joined = " ".join(value_words)
            if kind in ("one_of", "not_one_of"):
                doc["value"] = [v.strip() for v in joined.split(",") if v.strip()]
            elif kind in NUMBER_OPS:
                try:
                    doc["value"] = float(joined) if "." in joined else int(joined)
                except ValueError:
                    raise _invalid(where, f"{op} compares with a number, not {joined!r}") from None
            else:
                doc["value"] = joined
            return _field_rule(doc, where)
    raise _invalid(
        where,
        f"cannot read {' '.join(words)!r}: expected FIELD OPERATOR VALUE, in group NAME, "
        "or a behaviour (received, opened, clicked, not opened, bounced)",
    )


def _quoted(value: Any) -> str:
    text = str(value)
    return (
        shlex.quote(text)
        if re.search(r"[\s'\"]", text)
        or text.lower()
        in (
            "and",
            "or",
        )
        else text
    )


def describe(rule: Rule, *, nested: bool = False) -> str:
    """A rule in words (its one-line form where it has one; parentheses where it nests)."""
    if isinstance(rule, AllOf | AnyOf):
        joiner = " and " if isinstance(rule, AllOf) else " or "
        text = joiner.join(describe(r, nested=True) for r in rule.rules)
        return f"({text})" if nested else text
    if isinstance(rule, Not):
        return f"not {describe(rule.rule, nested=True)}"
    if isinstance(rule, GroupRule):
        return f"{'in' if rule.member else 'not in'} group {_quoted(rule.group)}"
    if isinstance(rule, BehaviourRule):
        words = [rule.behaviour.replace("_", " ")]
        if rule.link:
            words += ["link", _quoted(rule.link)]
        if rule.campaign is not None:
            words += ["campaign", _quoted(rule.campaign)]
        if rule.last is not None:
            words += ["last", str(rule.last)]
        if rule.within_days is not None:
            words += ["within", str(rule.within_days), "days"]
        return " ".join(words)
    name = "signed up" if rule.field == "signed_up" else rule.field
    if rule.op in ("is_empty", "is_not_empty"):
        return f"{name} {rule.op.replace('_', ' ')}"
    if rule.op == "within_days":
        return f"{name} within {rule.value} days"
    if isinstance(rule.value, list):
        return f"{name} {_OP_WORDS[rule.op]} {', '.join(_quoted(v) for v in rule.value)}"
    return f"{name} {_OP_WORDS[rule.op]} {_quoted(rule.value)}"


# --- compiling to SQL -------------------------------------------------------------------


@dataclass
class Compiler:
    """Compiles rules to conditions over `contacts`, resolving the groups and campaigns
    they name in `session`. `now` fixes "the last N days"; `excluded_campaign` (the
    campaign whose audience is being frozen) is never one of "the last N campaigns"."""

    session: Session
    now: datetime | None = None
    excluded_campaign: int | None = None
    # For the audience freeze, run once per chunk of contact ids (parameters low, high).
    ranged: bool = False
    # For a query that stops at its first few contacts (a sample): a lookup per contact
    # rather than a set of all the matching ones.
    per_contact: bool = False

    def __post_init__(self) -> None:
        self._now = self.now or utcnow()
        self._postgres = is_postgres(self.session)
        self._visiting: list[int] = []

    def condition(self, rule: Rule) -> sa.ColumnElement[bool]:
        """The condition a contact's row meets when the rule matches it."""
        if isinstance(rule, AllOf):
            return self._all(rule)
        if isinstance(rule, AnyOf):
            return sa.or_(*(self.condition(r) for r in rule.rules))
        if isinstance(rule, Not):
            return sa.not_(self.condition(rule.rule))
        if isinstance(rule, FieldRule):
            # NULL (an absent attribute) is "not matching", so that NOT makes it a match.
            return sa.func.coalesce(_field_condition(rule, self._now), sa.false())
        if isinstance(rule, GroupRule):
            return self._group_condition(rule)
        return self._behaviour_condition(rule)

    def group_condition(
        self, group_id: int, rule_doc: dict[str, Any] | None
    ) -> sa.ColumnElement[bool]:
        """The members of a group: its rule for a rule group, else its memberships."""
        if rule_doc is None:
            return Contact.id.in_(
                sa.select(GroupMembership.contact_id).where(GroupMembership.group_id == group_id)
            )
        if group_id in self._visiting:
            raise ValidationError(
                "rule: a rule group cannot include itself, directly or through another group",
                field="rule",
            )
        self._visiting.append(group_id)
        try:
            return self.condition(parse(rule_doc))
        finally:
            self._visiting.pop()

    def _group_condition(self, rule: GroupRule) -> sa.ColumnElement[bool]:
        ref = rule.group
        number = as_id(ref)
        group = (
            (self.session.get(Group, number) if number else None)
            if ref.isdigit()
            else self.session.scalar(sa.select(Group).where(Group.name_key == group_key(ref)))
        )
        if group is None:
            raise ValidationError(f"rule: no group named {ref!r}", field="rule")
        inside = self.group_condition(group.id, group.rule)
        return inside if rule.member else sa.not_(inside)

    def _all(self, rule: AllOf) -> sa.ColumnElement[bool]:
        """Every rule: the profile conditions first; when there are any, the others look
        up each contact they leave (a set of every matching contact would be built for
        a few of them: 72 ms against 189 ms for a mixed rule at 100,000 on SQLite)."""
        profile = [r for r in rule.rules if isinstance(r, FieldRule)]
        others = [r for r in rule.rules if not isinstance(r, FieldRule)]
        if not profile or self.per_contact or self._postgres:
            return sa.and_(*(self.condition(r) for r in [*profile, *others]))
        looking = replace(self, per_contact=True, now=self._now)
        looking._visiting = self._visiting
        return sa.and_(
            *(self.condition(r) for r in profile), *(looking.condition(r) for r in others)
        )

    def _behaviour_condition(self, rule: BehaviourRule) -> sa.ColumnElement[bool]:
        if rule.behaviour == "not_opened":
            tracked = self._some(rule, outcome_condition(Outcome.NOT_OPENED))
            opened = self._some(rule, outcome_condition(Outcome.OPENED))
            return sa.and_(tracked, sa.not_(opened))
        outcome = {
            "received": Outcome.RECEIVED,
            "opened": Outcome.OPENED,
            "clicked": Outcome.CLICKED,
            "bounced": Outcome.BOUNCED,
        }[rule.behaviour]
        if not rule.link:
            return self._some(rule, outcome_condition(outcome))
        from outreach.tracking.models import LinkClick

        clicked = (
            sa.select(LinkClick.id)
            .where(
                LinkClick.delivery_id == Delivery.id,
                LinkClick.url == rule.link,
                LinkClick.human_clicks > 0,
            )
            .exists()
        )
        return self._some(rule, sa.and_(outcome_condition(outcome), clicked))

    def _some(self, rule: BehaviourRule, outcome: sa.ColumnElement[bool]) -> sa.ColumnElement[bool]:
        """The contact has a delivery of the rule's scope with this outcome. On PostgreSQL a
        correlated EXISTS, which its planner runs as a semi-join (NOT EXISTS as an
        anti-join); on SQLite, which runs EXISTS as a lookup per contact (8x slower over
        100,000 of them), membership of the set of those contacts, read once — unless the
        query stops at its first few (`per_contact`). With `ranged`, only the contacts of
        the chunk being frozen."""
        where = self._where(rule, outcome)
        if self._postgres or self.per_contact:
            return (
                sa.select(Delivery.id)
                .where(Delivery.contact_id == Contact.id, *where)
                .correlate(Contact)
                .exists()
            )
        return Contact.id.in_(
            sa.select(Delivery.contact_id).where(Delivery.contact_id.is_not(None), *where)
        )

    def _where(
        self, rule: BehaviourRule, outcome: sa.ColumnElement[bool]
    ) -> list[sa.ColumnElement[bool]]:
        """The deliveries of the rule's scope with this outcome (of the chunk's contacts,
        `ranged`)."""
        where = [*self._scope(rule), outcome]
        if self.ranged:
            where += [
                Delivery.contact_id > sa.bindparam("low"),
                Delivery.contact_id <= sa.bindparam("high"),
            ]
        return where

    def _scope(self, rule: BehaviourRule) -> list[sa.ColumnElement[bool]]:
        if rule.campaign is not None:
            return [Delivery.campaign_id == self._campaign_id(rule.campaign)]
        if rule.last is not None:
            recent = (
                sa.select(Campaign.id)
                .where(
                    Campaign.started_at.is_not(None),
                    Campaign.status.in_(
                        (CampaignStatus.SENDING, CampaignStatus.PAUSED, CampaignStatus.SENT)
                    ),
                )
                .order_by(Campaign.started_at.desc(), Campaign.id.desc())
                .limit(rule.last)
            )
            if self.excluded_campaign is not None:
                recent = recent.where(Campaign.id != self.excluded_campaign)
            # Materialized: a LIMIT inside IN is not allowed everywhere.
            return [Delivery.campaign_id.in_(list(self.session.scalars(recent)))]
        if rule.within_days is not None:
            return [Delivery.sent_at >= self._now - timedelta(days=rule.within_days)]
        return []

    def _campaign_id(self, ref: int | str) -> int:
        if isinstance(ref, int) or str(ref).isdigit():
            number = as_id(ref)
            found = self.session.get(Campaign, number) if number else None
        else:
            found = self.session.scalar(
                sa.select(Campaign)
                .where(sa.func.lower(Campaign.name) == str(ref).lower())
                .order_by(Campaign.id.desc())
                .limit(1)
            )
        if found is None:
            raise ValidationError(f"rule: no campaign {ref!r}", field="rule")
        return found.id


class _Number(sa.sql.functions.FunctionElement[float]):
    """A text value as a number, NULL when it does not read as one."""

    type = sa.Float()
    inherit_cache = True


@compiles(_Number, "postgresql")
def _number_postgresql(element: _Number, compiler: Any, **kw: Any) -> str:
    value = compiler.process(element.clauses, **kw)
    return f"CASE WHEN {value} ~ '{_NUMBER}' THEN CAST({value} AS DOUBLE PRECISION) END"


@compiles(_Number)
def _number_sqlite(element: _Number, compiler: Any, **kw: Any) -> str:
    # GLOB, not the REGEXP of a Python function: it runs once a row over 10⁶ rows.
    value = f"trim({compiler.process(element.clauses, **kw)})"
    return (
        f"CASE WHEN {value} GLOB '*[0-9]*' AND {value} NOT GLOB '*[^0-9.-]*' "
        f"THEN CAST({value} AS REAL) END"
    )


def _column(name: str) -> sa.ColumnElement[Any]:
    if name.startswith("attributes."):
        return Contact.attributes[name.removeprefix("attributes.").strip()].as_string()
    return getattr(Contact, name)  # type: ignore[no-any-return]


def _day_start(iso: str) -> datetime:
    return datetime.combine(date.fromisoformat(iso), time(), tzinfo=UTC)


def _field_condition(rule: FieldRule, now: datetime) -> sa.ColumnElement[bool]:
    if rule.field == "status":
        values = rule.value if isinstance(rule.value, list) else [rule.value]
        statuses = [ContactStatus(v) for v in values]
        inside = Contact.status.in_(statuses)
        return sa.not_(inside) if rule.op in ("not_equals", "not_one_of") else inside
    if rule.field == "signed_up":
        if rule.op == "within_days":
            return Contact.created_at >= now - timedelta(days=rule.value)
        if rule.op == "before":
            return Contact.created_at < _day_start(rule.value)
        return Contact.created_at >= _day_start(rule.value) + timedelta(days=1)
    column = _column(rule.field)
    text = sa.func.lower(sa.func.coalesce(column, ""))
    op = rule.op
    if op == "is_empty":
        return sa.func.coalesce(column, "") == ""
    if op == "is_not_empty":
        return sa.func.coalesce(column, "") != ""
    if op in NUMBER_OPS:
        number = _Number(column)
        compare = {"gt": number > rule.value, "gte": number >= rule.value}
        compare |= {"lt": number < rule.value, "lte": number <= rule.value}
        return compare[op]
    if op in DATE_OPS:
        dated = column.like("____-__-__%")
        if op == "within_days":
            since = (now - timedelta(days=rule.value)).date().isoformat()
            return sa.and_(dated, column >= since)
        if op == "before":
            return sa.and_(dated, column < rule.value)
        after = (date.fromisoformat(rule.value) + timedelta(days=1)).isoformat()
        return sa.and_(dated, column >= after)
    if op in ("one_of", "not_one_of"):
        inside = text.in_([v.lower() for v in rule.value])
        return sa.not_(inside) if op == "not_one_of" else inside
    value = str(rule.value).lower()
    if op == "equals":
        return text == value
    if op == "not_equals":
        return text != value
    if op == "contains":
        return text.contains(value, autoescape=True)
    return text.startswith(value, autoescape=True)
