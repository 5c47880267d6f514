"""Sectors from job titles: an editable list of rules mapping keywords to sectors,
matched without case or accents on word boundaries over chosen columns (a LinkedIn
Position, a company name).

The rules are a setting (`sector_rules`), edited in Admin › Groups › Sector rules, through
the API or `outreach contacts classify --rules FILE`; until someone edits them these
defaults hold. A sector set by hand (or by a file's sector column) is never overwritten
by a rule: a contact's `sector_source` is "rule" only when a rule set it.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from outreach.errors import ValidationError
from outreach.stored_settings import Setting

SETTING = "sector_rules"
MAX_RULES = 200
MAX_KEYWORDS = 200
DEFAULT_RULES: tuple[tuple[str, tuple[str, ...]], ...] = (
    (
        "Journalists",
        (
            "journalist",
            "periodista",
            "editor",
            "editora",
            "reporter",
            "reportera",
            "reportero",
            "columnist",
            "columnista",
            "correspondent",
            "corresponsal",
            "redactor",
            "redactora",
        ),
    ),
    (
        "Consultants",
        ("consultant", "consultor", "consultora", "advisor", "adviser", "asesor", "asesora"),
    ),
    (
        "Thinkers",
        (
            "researcher",
            "research fellow",
            "professor",
            "profesor",
            "profesora",
            "author",
            "autor",
            "autora",
            "speaker",
            "investigador",
            "investigadora",
            "catedratico",
            "catedratica",
            "writer",
            "escritor",
            "escritora",
        ),
    ),
    (
        "Managers",
        (
            "manager",
            "director",
            "directora",
            "head of",
            "gerente",
            "ceo",
            "cfo",
            "coo",
            "cto",
            "managing director",
            "jefe",
            "jefa",
            "responsable",
            "vp",
            "vice president",
            "president",
            "presidente",
            "founder",
            "fundador",
            "fundadora",
        ),
    ),
)


def fold(text: str) -> str:
    """Text compared without case or accents, words separated by single spaces."""
    plain = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode().lower()
    return " ".join(re.findall(r"[a-z0-9]+", plain))


@dataclass(frozen=True)
class SectorRule:
    """Contacts whose chosen columns hold one of `keywords` belong to `sector`."""

    sector: str
    keywords: tuple[str, ...]

    def to_dict(self) -> dict[str, Any]:
        return {"sector": self.sector, "keywords": list(self.keywords)}


class SectorRules:
    """The rules in order: for each column in turn, the first rule with a keyword in it
    wins (a Position says more than a Company)."""

    def __init__(self, rules: Iterable[SectorRule]) -> None:
        self.rules = tuple(rules)
        self._patterns = [
            (
                rule,
                re.compile(
                    r"(?<![a-z0-9])("
                    + "|".join(re.escape(fold(k)) for k in rule.keywords if fold(k))
                    + r")(?![a-z0-9])"
                ),
            )
            for rule in self.rules
            if any(fold(k) for k in rule.keywords)
        ]

    def match(self, texts: Iterable[str]) -> tuple[str, str] | None:
        """(sector, the keyword found) for the first text a rule matches, or None."""
        for text in texts:
            folded = fold(text or "")
            if not folded:
                continue
            for rule, pattern in self._patterns:
                found = pattern.search(folded)
                if found:
                    return rule.sector, found.group(1)
        return None

    def to_list(self) -> list[dict[str, Any]]:
        return [r.to_dict() for r in self.rules]

    def to_text(self) -> str:
        """One line per rule: `Consultants: consultant, consultor, advisor`."""
        return "\n".join(f"{r.sector}: {', '.join(r.keywords)}" for r in self.rules)


DEFAULTS = SectorRules(SectorRule(s, k) for s, k in DEFAULT_RULES)


def parse_rules(document: Any) -> SectorRules:
    """Rules from a list of {"sector", "keywords"} or from their text form (one line per
    sector, `Sector: keyword, keyword`); a bad rule is refused naming its place."""
    if isinstance(document, str):
        items: list[Any] = []
        for number, line in enumerate(document.splitlines(), start=1):
            if not line.strip() or line.lstrip().startswith("#"):
                continue
            sector, colon, words = line.partition(":")
            if not colon:
                raise ValidationError(
                    f"sector rules, line {number}: {line.strip()!r} is not "
                    "'Sector: keyword, keyword'",
                    field="rules",
                )
            items.append(
                {"sector": sector, "keywords": words.split(","), "where": f"line {number}"}
            )
    elif isinstance(document, list):
        items = document
    else:
        raise ValidationError("sector rules: a list of {sector, keywords}", field="rules")
    if len(items) > MAX_RULES:
        raise ValidationError(f"sector rules: more than {MAX_RULES} rules", field="rules")
    rules = []
    for index, item in enumerate(items, start=1):
        where = item.get("where", f"rule {index}") if isinstance(item, dict) else f"rule {index}"
        if not isinstance(item, dict) or not isinstance(item.get("keywords"), list):
            raise ValidationError(
                f"sector rules, {where}: needs a sector and a list of keywords", field="rules"
            )
        sector = " ".join(str(item.get("sector") or "").split())
        keywords = tuple(" ".join(str(k).split()) for k in item["keywords"] if str(k).strip())
        if not sector or len(sector) > 200:
            raise ValidationError(
                f"sector rules, {where}: the sector name is empty or longer than 200 characters",
                field="rules",
            )
        if not keywords or len(keywords) > MAX_KEYWORDS:
            raise ValidationError(
                f"sector rules, {where} ({sector}): between 1 and {MAX_KEYWORDS} keywords",
                field="rules",
            )
        unreadable = [k for k in keywords if not fold(k)]
        if unreadable:
            raise ValidationError(
                f"sector rules, {where} ({sector}): {unreadable[0]!r} has no letter or digit",
                field="rules",
            )
        rules.append(SectorRule(sector, keywords))
    return SectorRules(rules)


def load_rules(session: Session) -> SectorRules:
    """The rules in force: the saved ones, else the defaults."""
    saved = session.scalar(sa.select(Setting.value).where(Setting.key == SETTING))
    return DEFAULTS if saved is None else parse_rules(saved)


def save_rules(session: Session, rules: SectorRules) -> None:
    """Keep these rules as the ones in force."""
    row = session.get(Setting, SETTING)
    if row is None:
        session.add(Setting(key=SETTING, value=rules.to_list()))
    else:
        row.value = rules.to_list()
    session.flush()
