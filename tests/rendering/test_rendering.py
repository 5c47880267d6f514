"""The rendering pipeline: golden files, surviving placeholders, headers, refusals."""

from __future__ import annotations

import binascii
import dataclasses
import email
import os
import random
import re
from email import policy
from pathlib import Path
from types import SimpleNamespace

import pytest
from jinja2 import Environment

from outreach.rendering.message import Links, MessageBuilder, Tracking
from outreach.rendering.pipeline import compile_variant
from outreach.rendering.qp import QuotedPrintableTemplate, encode
from outreach.rendering.templates import TemplateProblem
from tests.support.rendering import GOLDEN, SOURCE, contact


def build(
    subject: str = "Ideas for {{ contact.first_name }}",
    source: str = SOURCE,
    site_language: str = "en",
    **changes: object,
) -> bytes:
    compiled = compile_variant(subject, "Preview for {{ group.name }}", source, None)
    builder = MessageBuilder(
        compiled,
        language=site_language,
        campaign_id=7,
        campaign_name="June letter",
        from_name="Ana García",
        from_email="news@example.org",
        reply_to="reply@example.org",
        group_name="Thinkers",
        unsubscribe_mailto="news@example.org",
    )
    links = Links(
        "https://news.example.org/unsubscribe/TOKEN-U",
        "https://news.example.org/preferences/TOKEN-P",
    )
    return builder.build(contact(**changes), links)[1]  # type: ignore[arg-type]


def parsed(raw: bytes) -> email.message.EmailMessage:
    return email.message_from_bytes(raw, policy=policy.SMTP)  # type: ignore[return-value]


def _golden(name: str, text: str, folder: Path = GOLDEN) -> None:
    """`text` is the golden file `name`; UPDATE_GOLDEN=1 writes it instead (review the diff)."""
    path = folder / name
    text = text.replace("\r\n", "\n")
    if os.environ.get("UPDATE_GOLDEN") == "1":
        path.write_text(text, encoding="utf-8")
    elif not path.exists():
        pytest.fail(f"golden file {path} is missing: run with UPDATE_GOLDEN=1 to write it")
    assert text == path.read_text(encoding="utf-8"), f"{name} differs from its golden file"


def test_golden_html_and_text() -> None:
    message = parsed(build())
    _golden("thinkers.html", message.get_body(("html",)).get_content())
    _golden("thinkers.txt", message.get_body(("plain",)).get_content())


def test_a_missing_golden_file_fails_and_is_not_written(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("UPDATE_GOLDEN", raising=False)
    with pytest.raises(pytest.fail.Exception, match="missing: run with UPDATE_GOLDEN=1"):
        _golden("new.txt", "text", tmp_path)
    assert not (tmp_path / "new.txt").exists()
    monkeypatch.setenv("UPDATE_GOLDEN", "1")
    _golden("new.txt", "text", tmp_path)
    assert (tmp_path / "new.txt").read_text(encoding="utf-8") == "text"


def test_placeholders_survive_text_href_and_src() -> None:
    html = parsed(build()).get_body(("html",)).get_content()
    assert "Hello Ana" in html and "A letter for Thinkers (Madrid)" in html
    assert 'href="https://example.org/thinkers?ref=June%20letter"' in html
    assert 'src="https://img.example.org/thinkers.png"' in html
    assert 'href="https://news.example.org/unsubscribe/TOKEN-U"' in html
    assert "An essay only thinkers receive." in html and "summary" not in html
    other = parsed(build(sector="Managers")).get_body(("html",)).get_content()
    assert "A summary for everyone else." in other and "essay" not in other
    assert "{{" not in html and "{%" not in html and "ojx" not in html


def test_styles_are_inlined_and_values_escaped() -> None:
    html = parsed(build(first_name="<script>x</script>")).get_body(("html",)).get_content()
    assert re.search(r'<p class="note" style="[^"]*color:\s*#b42318', html)
    assert "<script>x" not in html and "&lt;script&gt;x" in html


def test_headers_of_a_campaign_message() -> None:
    raw = build()
    message = parsed(raw)
    assert message["From"] == "Ana García <news@example.org>"
    assert message["To"] == "Ana García <ana@example.org>"
    assert message["Reply-To"] == "reply@example.org"
    assert message["Subject"] == "Ideas for Ana"
    assert message["Date"] and message["Message-ID"].endswith("@example.org>")
    assert message["List-Id"] == "June letter <campaign-7.example.org>"
    assert message["List-Unsubscribe"].startswith("<https://news.example.org/unsubscribe/TOKEN-U>")
    assert "<mailto:news@example.org?subject=unsubscribe%20TOKEN-U>" in message["List-Unsubscribe"]
    assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert message.get_content_type() == "multipart/alternative"
    for part in message.iter_parts():
        assert part["Content-Transfer-Encoding"] == "quoted-printable"
    assert b"\n" not in raw.replace(b"\r\n", b"")  # CRLF only
    assert max(len(line) for line in raw.split(b"\r\n")) <= 998
    assert "Preview for Thinkers" in message.get_body(("html",)).get_content()


def test_message_ids_are_unique() -> None:
    ids = {parsed(build())["Message-ID"] for _ in range(50)}
    assert len(ids) == 50


def test_non_ascii_subject_and_names_are_encoded() -> None:
    raw = build(subject="Ideas para {{ contact.first_name }} ☕", first_name="Núria")
    assert raw.isascii()
    message = parsed(raw)
    assert message["Subject"] == "Ideas para Núria ☕"
    assert message["To"] == "Núria García <ana@example.org>"


def test_quoted_printable_long_lines() -> None:
    encoded = encode("x" * 5000 + "\né" * 3)
    assert all(len(line) <= 76 for line in encoded.split(b"\r\n"))


def _well_formed(encoded: bytes, text: str) -> None:
    lines = encoded.split(b"\r\n")
    assert max(len(line) for line in lines) <= 76
    assert not [line for line in lines if line.startswith(b".")]  # nothing to dot-stuff
    assert binascii.a2b_qp(encoded.replace(b"\r\n", b"\n")).decode() == text


def test_quoted_printable_never_begins_a_line_with_a_dot() -> None:
    """Dots at line starts (a text's "..." dividers, a chunk that lands at a line start)
    are written =2E, lines stay within 76 characters (b2a_qp alone lets an escaped
    trailing space reach 78), and the text decodes unchanged."""
    rng = random.Random(7)
    for text in ("." * 200, ".\n" * 5, "x" * 74 + "\n." + "y" * 80, "a" * 74 + " \nb"):
        _well_formed(encode(text), text)
    for _ in range(3000):
        text = "".join(rng.choice("ab. .\n=é\t.xyz") for _ in range(rng.randint(1, 300)))
        _well_formed(encode(text + "x"), text + "x")
    environment = Environment(autoescape=False)  # noqa: S701 - plain text, as the text part
    pieces = ["{{ a }}", ".", "\n", "text ", "..", "=", "ééé", "x" * 30]
    for _ in range(2000):
        source = "".join(rng.choice(pieces) for _ in range(rng.randint(1, 40))) + "x"
        template = environment.from_string(source)
        value = rng.choice([".", ".dot", "", "." * 90, "\n.", "éé."])
        rendered = QuotedPrintableTemplate(environment, source, template).render({"a": value})
        _well_formed(rendered, template.render(a=value))


def test_a_built_newsletter_needs_no_dot_stuffing() -> None:
    raw = build(first_name=".Ana")
    assert not raw.startswith(b".") and b"\n." not in raw


@pytest.mark.parametrize(
    ("subject", "mjml", "needle"),
    [
        ("Hi", "<mjml><mj-body><mj-section>", "MJML error"),
        (
            "Hi",
            SOURCE.replace("contact.first_name", "contact.nickname"),
            "line 6: unknown variable 'contact.nickname'",
        ),
        (
            "Hi",
            SOURCE.replace("{{ group.name }}", "{{ ''.__class__.__mro__ }}", 1),
            "access to '__mro__' is not allowed",
        ),
        ("Hi", SOURCE.replace("{% endif %}", ""), "mjml, line 12: Unexpected end of template"),
        ("Hi {{ secret }}", SOURCE, "subject, line 1: unknown variable 'secret'"),
        ("Hi\nBcc: x@example.org", SOURCE, "subject: line breaks are not allowed"),
        ("Hi", SOURCE + "<!--" + "x" * (5 * 1024 * 1024) + "-->", "larger than 512 KB"),
    ],
)
def test_bad_templates_are_refused_with_a_reason(subject: str, mjml: str, needle: str) -> None:
    with pytest.raises(TemplateProblem) as caught:
        compile_variant(subject, "", mjml, None)
    assert needle in caught.value.message


def test_sandbox_blocks_runtime_escapes() -> None:
    from outreach.campaigns.service import sample_context
    from outreach.rendering.templates import environment, trial_render

    template = environment(True).from_string("{{ contact.attributes.update({'a': 1}) }}")
    with pytest.raises(TemplateProblem, match="not allowed in a template"):
        trial_render(template, "mjml", sample_context(SimpleNamespace(name="C"), "G"))  # type: ignore[arg-type]


def test_compilation_is_cached_per_content() -> None:
    first = compile_variant("S", "", SOURCE, None)
    assert compile_variant("S", "", SOURCE, None) is first
    assert compile_variant("S2", "", SOURCE, None) is not first


def test_a_missing_attribute_renders_empty() -> None:
    html = parsed(build(attributes={})).get_body(("html",)).get_content()
    assert "A letter for Thinkers ()." in html


def _head(raw: bytes) -> str:
    html = parsed(raw).get_body(("html",)).get_content()
    return html[: html.index("</head>")]


def test_the_document_has_a_doctype_the_subject_as_title_and_the_contacts_language() -> None:
    head = _head(build(subject="Fish & chips for {{ contact.first_name }}")).replace("\r\n", "\n")
    assert head.startswith('<!DOCTYPE html>\n<html lang="es" ')
    assert "<title>Fish &amp; chips for Ana</title>" in head
    assert '<html lang="pt-BR" ' in _head(build(language="pt_BR"))
    # No language (or one that is not a tag): the site's, OUTREACH_LANGUAGE.
    assert '<html lang="en" ' in _head(build(language=""))
    assert '<html lang="en" ' in _head(build(language='"><script>'))


def test_the_layouts_own_title_and_language_are_kept() -> None:
    source = SOURCE.replace("<mjml>", '<mjml lang="fr">', 1).replace(
        "<mj-head>", "<mj-head><mj-title>La lettre</mj-title>", 1
    )
    assert "<mj-head>" in SOURCE

    head = _head(build(source=source, site_language="de"))

    assert '<html lang="fr" ' in head and "<title>La lettre</title>" in head


TRACKED_SOURCE = """<mjml><mj-body><mj-section><mj-column>
<mj-text>Hello {{ contact.first_name }},
<a href="https://example.org/read?a=1&amp;b=2">read</a>
<a href="https://example.org/again">again</a> and
<a href="{{ unsubscribe_url }}">unsubscribe</a></mj-text>
<mj-button href="https://example.org/button">Go</mj-button>
</mj-column></mj-section></mj-body></mjml>"""


def _tracked_html(compiled: object, tracking: Tracking) -> str:
    builder = MessageBuilder(
        compiled,  # type: ignore[arg-type]
        campaign_id=7,
        campaign_name="June letter",
        from_name="Ana",
        from_email="news@example.org",
        reply_to=None,
        group_name="Thinkers",
    )
    links = Links("https://news.example.org/unsubscribe/T", "https://news.example.org/p/T")
    raw = builder.build(contact(), links, tracking)[1]  # type: ignore[arg-type]
    return str(parsed(raw).get_body(("html",)).get_content())


@pytest.mark.parametrize(("opens", "clicks"), [(True, True), (True, False), (False, True)])
def test_tracked_links_and_pixel_are_placed_once_per_variant_as_a_rewrite_would(
    opens: bool, clicks: bool
) -> None:
    """A tracked message renders from the variant's tracked template (its links and pixel
    found once, when the variant compiles), and says exactly what rewriting each rendered
    message said: the same redirects, the unsubscribe link direct, the same pixel."""
    compiled = compile_variant("Hi", "", TRACKED_SOURCE, None)
    assert compiled.tracked_qp is not None
    assert compiled.targets == (
        "https://example.org/read?a=1&b=2",
        "https://example.org/again",
        "https://example.org/button",
    )
    tracking = Tracking(
        open_url="https://news.example.org/t/o/OPEN" if opens else None,
        click=(lambda target: f"https://news.example.org/t/c/{len(target)}") if clicks else None,
        keep=("https://news.example.org/unsubscribe/T", "https://news.example.org/p/T"),
    )
    placed = _tracked_html(compiled, tracking)
    rewritten = _tracked_html(dataclasses.replace(compiled, tracked_qp=None), tracking)
    assert placed == rewritten
    assert ("/t/o/OPEN" in placed) is opens
    assert (placed.count("https://news.example.org/t/c/") == 3) is clicks
    assert 'href="https://news.example.org/unsubscribe/T"' in placed


def test_a_link_whose_address_is_an_expression_is_rewritten_in_each_message() -> None:
    source = TRACKED_SOURCE.replace("/again", "/again?who={{ contact.first_name }}")
    compiled = compile_variant("Hi", "", source, None)
    assert compiled.tracked_qp is None  # the rendered message is rewritten instead
    tracking = Tracking(click=lambda target: "https://news.example.org/t/c/" + target[-3:])
    assert "https://news.example.org/t/c/Ana" in _tracked_html(compiled, tracking)
