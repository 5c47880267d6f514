"""A readable plain-text part derived from HTML: headings, paragraphs, "text (url)" links."""

from __future__ import annotations

import re
import textwrap

import lxml.html
from lxml import etree

BLOCKS = {
    "p",
    "div",
    "table",
    "tr",
    "ul",
    "ol",
    "section",
    "article",
    "header",
    "footer",
    "blockquote",
    "center",
}
HEADINGS = {"h1", "h2", "h3", "h4", "h5", "h6"}
SKIP = {"head", "style", "script", "title", "meta"}
_TOKEN_COMMENT = re.compile(r"^ojs\d{6}z$")


def _hidden(element: lxml.html.HtmlElement) -> bool:
    style = (element.get("style") or "").replace(" ", "").lower()
    return "display:none" in style


def _walk(element: lxml.html.HtmlElement, out: list[str]) -> None:
    if isinstance(element, etree._Comment):
        if _TOKEN_COMMENT.match(element.text or ""):
            out.append(f"<!--{element.text}-->")  # a template statement: keep it in place
        out.append(element.tail or "")
        return
    tag = element.tag if isinstance(element.tag, str) else ""
    if tag in SKIP or _hidden(element):
        # Invisible, but template statements inside must stay balanced in the text.
        out.extend(
            f"<!--{c.text}-->"
            for c in element.iter(etree.Comment)
            if _TOKEN_COMMENT.match(c.text or "")
        )
        out.append(element.tail or "")
        return
    if tag in BLOCKS or tag in HEADINGS or tag == "li":
        out.append("\n\n" if tag != "li" else "\n- ")
    if tag == "br":
        out.append("\n")
    if tag == "img" and element.get("alt"):
        out.append(f"[{element.get('alt')}]")
    start = len(out)
    out.append(element.text or "")
    for child in element:
        _walk(child, out)
    if tag == "a" and element.get("href"):
        label = "".join(out[start:]).strip()
        href = element.get("href", "")
        out[start:] = [f"{label} ({href})" if label and label != href else href]
    if tag in BLOCKS or tag in HEADINGS:
        out.append("\n\n")
    out.append(element.tail or "")


def html_to_text(html: str, width: int = 76) -> str:
    """Plain text for the text/plain part of a message."""
    document = lxml.html.document_fromstring(html)
    body = document.find("body")
    out: list[str] = []
    _walk(body if body is not None else document, out)
    text = re.sub(r"[ \t\r\f\v]+", " ", "".join(out))
    paragraphs = _attach_statements([p.strip() for p in re.split(r"\n\s*\n", text)])
    wrapped = []
    for paragraph in paragraphs:
        if not paragraph:
            continue
        lines = [line.strip() for line in paragraph.split("\n")]
        wrapped.append(
            "\n".join(
                textwrap.fill(line, width, break_long_words=False, break_on_hyphens=False)
                if not line.startswith("- ")
                else line
                for line in lines
                if line
            )
        )
    return "\n\n".join(wrapped) + "\n"


_ONLY_STATEMENTS = re.compile(r"^(?:<!--ojs\d{6}z-->\s*)+$")


def _attach_statements(paragraphs: list[str]) -> list[str]:
    """Glue paragraphs made only of template statements to the next paragraph, so that a
    false `{% if %}` leaves no empty paragraph behind in the rendered text."""
    merged: list[str] = []
    pending = ""
    for paragraph in paragraphs:
        if not paragraph:
            continue
        if _ONLY_STATEMENTS.match(paragraph):
            pending += re.sub(r"\s+", "", paragraph)
            continue
        merged.append(pending + paragraph)
        pending = ""
    if pending:
        if merged:
            merged[-1] += pending
        else:
            merged.append(pending)
    return merged
