"""Render benchmark: personalized messages per second for a ~10 KB variant, one core.

Engine: the per-contact path of a real send — Jinja render of the compiled variant
(subject, preheader, HTML, text), signed unsubscribe and preferences links, hand-assembled
MIME with quoted-printable parts. Baseline, same run: a bare Jinja render of the same HTML.

    python bench/render.py [--messages 20000]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path
from types import SimpleNamespace

from jinja2 import Environment

from outreach.config import Settings
from outreach.consent import links as link_builder
from outreach.rendering.message import Links, MessageBuilder
from outreach.rendering.pipeline import compile_variant

PARAGRAPH = (
    "<p>This month we look at how a small team can turn five thousand contacts into a "
    "handful of real conversations: segment by sector, write one letter per group, and "
    'measure honestly. <a href="https://example.org/read/{n}">Read the full piece</a>.</p>\n'
)
PERSONAL = (
    "<p>Dear {{ contact.first_name }}, this is the {{ group.name }} edition, written for "
    "{{ contact.organization | default('your team', true) }}.</p>\n"
    "{% if contact.attributes.city %}<p>See you in {{ contact.attributes.city }}.</p>"
    "{% endif %}\n"
)


def newsletter(target_bytes: int = 10_000) -> str:
    """An MJML newsletter of roughly `target_bytes` of source, personalized in a few places
    like a real one (greeting, edition, organization, a conditional block, links)."""
    body = PERSONAL
    while len(body) < target_bytes - 600:
        body += PARAGRAPH.format(n=len(body))
    return (
        "<mjml><mj-head><mj-style>p { margin: 0 0 12px; } a { color: #2459d6; }</mj-style>"
        "</mj-head><mj-body><mj-section><mj-column>"
        "<mj-text><h1>Hello {{ contact.first_name }}</h1>"
        + body
        + '<p><a href="{{ unsubscribe_url }}">Unsubscribe</a> · '
        '<a href="{{ preferences_url }}">Preferences</a></p></mj-text>'
        "</mj-column></mj-section></mj-body></mjml>"
    )


def contacts(n: int) -> list[SimpleNamespace]:
    return [
        SimpleNamespace(
            id=i,
            email=f"user{i}@example.org",
            first_name=f"First{i % 97}",
            last_name="Last",
            sector="Thinkers",
            organization=f"Org {i % 50}",
            language="en",
            attributes={"city": "Madrid"},
        )
        for i in range(n)
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=20_000)
    args = parser.parse_args()
    source = newsletter()
    compiled = compile_variant(
        "News for {{ contact.first_name }}", "This month: {{ group.name }}", source, None
    )
    settings = Settings(
        secret_key="bench" * 10,
        instance_path=Path(tempfile.mkdtemp()),
        base_url="https://news.example.org",
    ).resolved()
    builder = MessageBuilder(
        compiled,
        campaign_id=1,
        campaign_name="Bench",
        from_name="Bench",
        from_email="news@example.org",
        reply_to=None,
        group_name="Thinkers",
        unsubscribe_mailto="news@example.org",
    )
    people = contacts(args.messages)

    bare = Environment(autoescape=True).from_string(compiled.html_source)
    start = time.perf_counter()
    for person in people:
        bare.render(
            contact=person,
            group={"name": "Thinkers"},
            campaign={"name": "Bench"},
            unsubscribe_url="u",
            preferences_url="p",
            preheader="",
        )
    baseline = args.messages / (time.perf_counter() - start)

    fixed = Links("https://news.example.org/unsubscribe/x", "https://news.example.org/p/x")
    start = time.perf_counter()
    size = 0
    for person in people:
        size += len(builder.build(person, fixed)[1])
    assembly = args.messages / (time.perf_counter() - start)

    start = time.perf_counter()
    for person in people:
        links = Links(*link_builder.message_links(settings, person.id, 1))
        builder.build(person, links)
    full = args.messages / (time.perf_counter() - start)

    print(
        f"variant: {len(source):,} bytes of MJML -> {len(compiled.html_source):,} bytes of "
        f"HTML; message {size // args.messages:,} bytes"
    )
    print(f"{'bare Jinja render of the same HTML (baseline)':<52}{baseline:>10,.0f} /s")
    print(
        f"{'engine: render + MIME assembly':<52}{assembly:>10,.0f} msg/s "
        f"({assembly / baseline:.2f} x baseline; target >= 10,000)"
    )
    print(
        f"{'engine: + signed unsubscribe/preferences links':<52}{full:>10,.0f} msg/s "
        f"({full / baseline:.2f} x baseline)"
    )


if __name__ == "__main__":
    main()
