"""MJML source → compiled, sandboxed templates, once per variant (cached by content hash).

Placeholders are swapped for opaque tokens before MJML and premailer (both would mangle
`{{ }}`, premailer even inside href), and restored afterwards. Expressions become bare
tokens (safe in attributes); statements become HTML comments (kept in place by both).
"""

from __future__ import annotations

import hashlib
import logging
import re
from dataclasses import dataclass
from functools import lru_cache

from jinja2 import Template

from outreach.rendering.mjml_compiler import compile_mjml
from outreach.rendering.qp import QuotedPrintableTemplate
from outreach.rendering.templates import TemplateProblem, check_source, environment
from outreach.rendering.text import html_to_text
from outreach.rendering.tracked import track_source

_JINJA = re.compile(r"\{\{.*?\}\}|\{%.*?%\}|\{#.*?#\}", re.S)
_TOKEN = re.compile(r"<!--(ojs\d{6}z)-->|(ojx\d{6}z)")


@dataclass(frozen=True)
class CompiledVariant:
    """What every message of one variant is rendered from."""

    subject: Template
    preheader: Template
    html: Template
    text: Template
    html_source: str
    text_source: str
    html_qp: QuotedPrintableTemplate
    text_qp: QuotedPrintableTemplate
    # The HTML of tracked messages (rendering.tracked.track_source), its links' targets
    # and the links as written; None when a link's address is a template expression.
    tracked_qp: QuotedPrintableTemplate | None = None
    targets: tuple[str, ...] = ()
    written: tuple[str, ...] = ()


def protect(source: str) -> tuple[str, dict[str, str]]:
    """Replace every Jinja tag with an opaque token; return the text and the token map."""
    tokens: dict[str, str] = {}

    def swap(match: re.Match[str]) -> str:
        tag = match.group(0)
        if tag.startswith("{#"):
            return ""
        n = len(tokens)
        if tag.startswith("{{"):
            token = f"ojx{n:06d}z"
            tokens[token] = tag
            return token
        token = f"ojs{n:06d}z"
        tokens[token] = tag
        return f"<!--{token}-->"

    return _JINJA.sub(swap, source), tokens


def restore(text: str, tokens: dict[str, str], part: str, *, require_all: bool = True) -> str:
    """Put the Jinja tags back; a lost tag is an error naming it (the derived text part
    legitimately drops expressions that only stood in attributes)."""
    seen: set[str] = set()

    def back(match: re.Match[str]) -> str:
        token = match.group(1) or match.group(2)
        seen.add(token)
        return tokens[token]

    restored = _TOKEN.sub(back, text)
    lost = [tokens[t] for t in tokens if t not in seen and (require_all or t.startswith("ojs"))]
    if lost:
        raise TemplateProblem(
            f"{part}: the MJML layout dropped {lost[0]!r}; put template tags "
            "inside mj-text, mj-button, mj-raw or attributes",
            field=part,
        )
    return restored


def mjml_to_html(mjml_source: str, part: str = "mjml") -> str:
    """Compile MJML (no web fonts fetched) and inline its CSS (no network)."""
    from premailer import Premailer  # imported on first use: ~0.1 s of every start-up

    html = compile_mjml(mjml_source, part)
    return str(
        Premailer(
            html,
            allow_network=False,
            keep_style_tags=True,
            strip_important=False,
            cssutils_logging_level=logging.CRITICAL,
            disable_validation=True,
        ).transform()
    )


_BODY = re.compile(r"<body[^>]*>", re.I)
PREHEADER = (
    '<div style="display:none;font-size:1px;line-height:1px;max-height:0;max-width:0;'
    'opacity:0;overflow:hidden;mso-hide:all">{{ preheader }}</div>'
)


def _with_preheader(html: str) -> str:
    """Put the (per-contact) preheader at the top of the body, hidden: inbox preview text."""
    match = _BODY.search(html)
    at = match.end() if match else 0
    return html[:at] + PREHEADER + html[at:]


_DOCTYPE = re.compile(r"\s*<!doctype", re.I)
_UNDETERMINED = re.compile(r'(<html\b[^>]*?\slang=")und(")', re.I)
_EMPTY_TITLE = re.compile(r"<title>\s*</title>", re.I)


def _with_head(html: str) -> str:
    """A document screen readers and clients can name: a doctype, the language (the
    layout's `<mjml lang>`, else the contact's or the site's: `{{ language }}`) and the
    subject as its title (`{{ subject }}`) unless the layout has an `mj-title`."""
    html = _UNDETERMINED.sub(r"\1{{ language }}\2", html, count=1)
    html = _EMPTY_TITLE.sub("<title>{{ subject }}</title>", html, count=1)
    return html if _DOCTYPE.match(html) else "<!DOCTYPE html>\n" + html


def compile_variant(
    subject: str, preheader: str, mjml_source: str, text_source: str | None
) -> CompiledVariant:
    """Check and compile one variant (cached: identical content compiles once)."""
    digest = hashlib.sha256(
        "\x00".join((subject, preheader, mjml_source, text_source or "\x01")).encode()
    ).hexdigest()
    return _compile(digest, subject, preheader, mjml_source, text_source)


@lru_cache(maxsize=256)
def _compile(
    _digest: str, subject: str, preheader: str, mjml_source: str, text_source: str | None
) -> CompiledVariant:
    if "\r" in subject or "\n" in subject:
        raise TemplateProblem("subject: line breaks are not allowed", field="subject")
    check_source(subject, "subject", html=False)
    check_source(preheader, "preheader", html=False)
    check_source(mjml_source, "mjml", html=True)
    protected, tokens = protect(mjml_source)
    inlined = mjml_to_html(protected)
    html_source = _with_head(_with_preheader(restore(inlined, tokens, "mjml")))
    if text_source is None:
        text_source = restore(html_to_text(inlined), tokens, "text", require_all=False)
    else:
        check_source(text_source, "text", html=False)
    text_env, html_env = environment(False), environment(True)
    html, text = html_env.from_string(html_source), text_env.from_string(text_source)
    tracked = track_source(html_source)
    tracked_qp: QuotedPrintableTemplate | None = None
    targets: tuple[str, ...] = ()
    written: tuple[str, ...] = ()
    if tracked is not None:
        tracked_source, targets, written = tracked
        tracked_template = html_env.from_string(tracked_source)
        tracked_qp = QuotedPrintableTemplate(html_env, tracked_source, tracked_template)
    return CompiledVariant(
        subject=text_env.from_string(subject),
        preheader=text_env.from_string(preheader),
        html=html,
        text=text,
        html_source=html_source,
        text_source=text_source,
        html_qp=QuotedPrintableTemplate(html_env, html_source, html),
        text_qp=QuotedPrintableTemplate(text_env, text_source, text),
        tracked_qp=tracked_qp,
        targets=targets,
        written=written,
    )
