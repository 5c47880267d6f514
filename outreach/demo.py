"""`outreach demo`: the main job end to end on the embedded defaults."""

from __future__ import annotations

import csv
import email
import email.policy
import mailbox
import random
import re
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from flask import Flask

from outreach.campaigns.checks import SAMPLE_CONTROLLER
from outreach.campaigns.models import Campaign
from outreach.campaigns.service import get_campaign
from outreach.config import Settings
from outreach.contacts.importer import ImportOptions, import_csv
from outreach.contacts.models import ContactStatus
from outreach.db import get_db
from outreach.delivery.service import progress
from outreach.errors import OutreachError

SECTORS = ("Consultants", "Managers", "Thinkers", "Journalists")
# The sample sender the demo's notice names when the installation has no controller yet.
DEMO_CONTROLLER = SAMPLE_CONTROLLER
FIRST = (
    "Ana",
    "Bruno",
    "Carla",
    "David",
    "Elena",
    "Farid",
    "Greta",
    "Hugo",
    "Irene",
    "Jonas",
    "Kenji",
    "Lucía",
    "Marta",
    "Nils",
    "Olga",
    "Pablo",
    "Quentin",
    "Rosa",
    "Sami",
    "Teresa",
)
LAST = (
    "García",
    "Martin",
    "Rossi",
    "Schmidt",
    "Novak",
    "Silva",
    "Dubois",
    "Jensen",
    "Kowalski",
    "Moreau",
    "Okafor",
    "Park",
    "Quint",
    "Ruiz",
    "Sato",
    "Tanaka",
    "Ulrich",
    "Vidal",
)
ORGS = (
    "Northwind",
    "Acme Partners",
    "Blue Harbor",
    "Civic Lab",
    "Daily Ledger",
    "Helix Group",
    "Open Futures",
    "Signal & Noise",
    "Tidewater Media",
    "Umbra Consulting",
)


def write_sample(path: Path, count: int = 320, seed: int = 7) -> Path:
    """A CSV of `count` realistic contacts, a few of them deliberately invalid."""
    rng = random.Random(seed)  # noqa: S311 - sample data, not secrets
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="", encoding="utf-8") as out:
        writer = csv.writer(out)
        writer.writerow(
            ["email", "first_name", "last_name", "sector", "organization", "language", "city"]
        )
        for i in range(count):
            first, last = rng.choice(FIRST), rng.choice(LAST)
            domain = rng.choice(ORGS).lower().replace(" & ", "").replace(" ", "") + ".example"
            email = f"{first}.{last}{i}@{domain}".lower().encode("ascii", "ignore").decode()
            writer.writerow(
                [
                    email,
                    first,
                    last,
                    SECTORS[i % len(SECTORS)],
                    rng.choice(ORGS),
                    rng.choice(["en", "es", "fr", "de"]),
                    rng.choice(["Madrid", "Lyon", "Berlin", "Leeds"]),
                ]
            )
        writer.writerow(["not-an-address", "Broken", "Row", "Managers", "", "en", ""])
        writer.writerow(["someone@", "Half", "Address", "Thinkers", "", "en", ""])
        writer.writerow(["dup@example.org", "Twice", "Listed", "Journalists", "", "xx_bad!", ""])
    return path


VARIANTS = {
    "Consultants": (
        "A method for your next engagement, {{ contact.first_name }}",
        "The three questions we now ask every client before the kick-off.",
    ),
    "Managers": (
        "Results first: what changed this quarter, {{ contact.first_name }}",
        "Two teams, one metric, and the meeting we stopped having.",
    ),
    "Thinkers": (
        "An idea worth arguing about, {{ contact.first_name }}",
        "Is segmentation a form of listening? A short essay and a reading list.",
    ),
    "Journalists": (
        "A story for your readers, {{ contact.first_name }}",
        "The numbers behind it, on the record, and who to call.",
    ),
}


def _variant_mjml(layout: str, lead: str) -> str:
    body = (
        f"<p>{lead}</p><p>Written for {{{{ group.name }}}} at "
        "{{ contact.organization | default('your organization', true) }}.</p>"
    )
    return re.sub(
        r"<p>Write this group's message here\..*?</p>", lambda _m: body, layout, flags=re.S
    )


def run_demo(app: Flask, echo: Callable[[str], None]) -> None:
    """The main job: import, double opt-in, one campaign with a variant per sector, send."""
    from outreach.embedded import start_embedded

    settings: Settings = app.extensions["outreach.settings"]
    database = get_db(app)
    start_embedded(app, origin="outreach demo")
    if _name_a_controller(app):
        echo(
            f"0. the privacy notice names a sample controller, {DEMO_CONTROLLER['name']} "
            "(set your own in Admin › Settings before a real campaign)"
        )
    sample = write_sample(settings.instance_path / "demo" / "contacts.csv")
    with database.session() as session, sample.open("rb") as stream:
        report = import_csv(
            session,
            stream,
            ImportOptions(
                source="demo: business cards from the 2026 Lisbon conference, asked to opt in",
                status=ContactStatus.PENDING,
                file_name=sample.name,
            ),
            secret=settings.secret_key,
        )
        from outreach.groups.service import update_group

        for sector in SECTORS:  # imported sectors are private: offer these on /subscribe
            update_group(session, sector, public=True)
    echo(
        f"1. imported {sample.name}: {report.created} created, {report.updated} updated, "
        f"{report.unchanged} unchanged, {report.invalid} invalid, {report.duplicates} duplicates"
    )
    for problem in report.problems:
        echo(f"     row {problem['row']} [{problem['column']}]: {problem['reason']}")
    invited, confirmed = _as_visitor(_double_opt_in, app)
    echo(
        f"2. double opt-in: {invited} invitations sent, {confirmed} confirmed through the "
        "confirmation page (the rest stay pending and receive nothing)"
    )
    allowed = _as_visitor(_allow_tracking, app)
    echo(f"   {allowed} of them allowed open and click tracking on their preferences page")
    campaign_id = _compose(app)
    echo(f"3. campaign {campaign_id} composed: one variant per sector group")
    total = _send(app, campaign_id)
    echo(f"4. sent through the queue: {total} messages into {settings.smtp_url}")
    _as_visitor(_replay, app, campaign_id)
    from outreach.commands.stats import print_table
    from outreach.reporting.stats import campaign_stats

    with database.reader() as session:
        stats = campaign_stats(session, get_campaign(session, campaign_id))
    counted = stats.total  # the table's own figures: recipients, counted once (tracking.stats)
    echo(
        "5. replayed through the tracking endpoints (people, a mail privacy proxy, a link "
        f"scanner): {counted.unique_human_opens} human opens, {counted.machine_opens} machine "
        f"opens, {counted.unique_clicks} clicks, {counted.machine_clicks} machine clicks, "
        f"{counted.unsubscribes} one-click unsubscribes (recipients, as in the table)"
    )
    echo("")
    print_table(stats, echo)
    echo("")
    echo(f"outbox:   {settings.smtp_url.removeprefix('maildir://')}/new (one file per message)")
    echo(f"database: {settings.database_url}")
    echo(
        "admin:    .venv/bin/outreach admin create you@example.org && "
        f".venv/bin/outreach serve, then open {settings.base_url}/admin"
    )


def _name_a_controller(app: Flask) -> bool:
    """Give the notice the sample controller, unless the installation has its own: a
    campaign is not sent while the notice names nobody (True: it was set)."""
    from outreach.campaigns.checks import controller_is_set
    from outreach.consent.notice import current_notice, save_notice

    with get_db(app).session() as session:
        if controller_is_set(session):
            return False
        notice = current_notice(session)
        save_notice(session, DEMO_CONTROLLER, notice.first_layer, notice.full_text)
    return True


def _double_opt_in(app: Flask) -> tuple[int, int]:
    """Invite every pending contact, then confirm ~85% of them through the real pages."""
    from datetime import timedelta

    from outreach.consent.service import invitable, invite
    from outreach.groups.models import Group, GroupKind

    database = get_db(app)
    settings = app.extensions["outreach.settings"]
    with database.session() as session:
        ids: list[int] = []
        for group in session.scalars(sa.select(Group).where(Group.kind == GroupKind.SECTOR)):
            ids += invitable(session, group.id, timedelta(hours=settings.confirm_token_hours))
        outbox = _outbox(settings)
        before = set(outbox.keys())
        invite(session, ids)  # into the outbox; the worker threads send it after the commit
    _wait_for(lambda: len(outbox.keys()) >= len(before) + len(ids))
    client = app.test_client()
    rng = random.Random(11)  # noqa: S311 - who confirms is a simulation
    confirmed = 0
    for key in sorted(set(outbox.keys()) - before):
        message = email.message_from_bytes(outbox.get_bytes(key), policy=email.policy.default)
        body = message.get_body(("plain",))  # type: ignore[attr-defined]
        text = body.get_content() if body is not None else ""
        match = re.search(r"/confirm/([\w.\-]+)", text)
        if not match or rng.random() > 0.85:
            continue
        path = f"/confirm/{match.group(1)}"
        page = client.get(path, environ_base={"REMOTE_ADDR": "203.0.113.20"})
        token = re.search(r'name="csrf_token" value="([^"]+)"', page.get_data(as_text=True))
        if (
            token
            and client.post(
                path,
                data={"csrf_token": token.group(1)},
                environ_base={"REMOTE_ADDR": "203.0.113.20"},
                headers={"User-Agent": "DemoBrowser/1.0"},
            ).status_code
            == 200
        ):
            confirmed += 1
    return len(ids), confirmed


def _outbox(settings: Settings) -> mailbox.Maildir:
    from outreach.delivery.transport import MaildirTransport

    return MaildirTransport(Path(settings.smtp_url.removeprefix("maildir://"))).box


def _wait_for(condition: Callable[[], bool], seconds: float = 120) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            raise OutreachError("the queue did not finish in time")
        time.sleep(0.1)


def _compose(app: Flask) -> int:
    from outreach.campaigns.service import create_campaign, default_layout, set_variant

    with get_db(app).session() as session:
        number = (session.scalar(sa.select(sa.func.count()).select_from(Campaign)) or 0) + 1
        campaign = create_campaign(
            session,
            f"Monthly letter #{number}",
            "Ana García <ana@outreach.example>",
            groups=list(SECTORS),
        )
        layout = default_layout(session)
        for sector, (subject, lead) in VARIANTS.items():
            set_variant(
                session,
                campaign,
                sector,
                subject=subject,
                mjml=_variant_mjml(layout, lead),
                preheader=lead[:90],
            )
        return campaign.id


def _send(app: Flask, campaign_id: int) -> int:
    from outreach import tasks
    from outreach.delivery.service import start

    database = get_db(app)
    with database.session() as session:
        total = start(session, get_campaign(session, campaign_id))
    with database.reader() as session:
        tasks.enqueue_pending(session, campaign_id)

    def done() -> bool:
        with database.reader() as session:
            return progress(session, get_campaign(session, campaign_id)).remaining == 0

    _wait_for(done)
    return total


OPEN_RATES = {"Thinkers": 0.62, "Journalists": 0.48, "Consultants": 0.44, "Managers": 0.36}
BROWSER = "Mozilla/5.0 (X11; Linux x86_64; rv:132.0) Gecko/20100101 Firefox/132.0"


def _allow_tracking(app: Flask) -> int:
    """About two thirds of subscribers tick both tracking boxes on their preferences page."""
    from outreach.consent.links import preferences_url
    from outreach.contacts.models import Contact

    settings: Settings = app.extensions["outreach.settings"]
    with get_db(app).reader() as session:
        ids = list(
            session.scalars(
                sa.select(Contact.id)
                .where(Contact.status == ContactStatus.SUBSCRIBED)
                .order_by(Contact.id)
            )
        )
    rng = random.Random(5)  # noqa: S311 - a simulation
    client = app.test_client()
    allowed = 0
    for contact_id in ids:
        if rng.random() > 0.66:
            continue
        path = preferences_url(settings, contact_id).removeprefix(settings.base_url)
        page = client.get(path).get_data(as_text=True)
        token = re.search(r'name="csrf_token" value="([^"]+)"', page)
        if (
            token
            and client.post(
                path,
                data={
                    "csrf_token": token.group(1),
                    "action": "save",
                    "open_tracking": "1",
                    "click_tracking": "1",
                },
                headers={"User-Agent": BROWSER},
            ).status_code
            == 200
        ):
            allowed += 1
    return allowed


def _replay(app: Flask, campaign_id: int) -> tuple[int, int, int, int]:
    """Opens, clicks and one-click unsubscribes through the real endpoints: people,
    privacy proxies, scanners."""
    from outreach.db import utcnow
    from outreach.delivery.models import Delivery
    from outreach.public.tracking import recorder

    settings: Settings = app.extensions["outreach.settings"]
    with get_db(app).reader() as session:
        last = session.scalar(
            sa.select(sa.func.max(Delivery.sent_at)).where(Delivery.campaign_id == campaign_id)
        )
    if last is not None:  # people read a little later than the server accepts the mail
        time.sleep(max(0.0, 6 - (utcnow() - last).total_seconds()))
    rng = random.Random(3)  # noqa: S311 - a simulation
    client = app.test_client()
    base = re.escape(settings.base_url)
    outbox = _outbox(settings)
    opens = machine = clicks = 0
    leaving: list[str] = []
    for key in sorted(outbox.keys()):
        message = email.message_from_bytes(outbox.get_bytes(key), policy=email.policy.default)
        if f"campaign-{campaign_id}." not in str(message.get("List-Id", "")):
            continue
        body = message.get_body(("html",))  # type: ignore[attr-defined]
        html = body.get_content() if body is not None else ""
        pixel = re.search(rf'src="{base}(/t/o/[^"]+)"', html)
        links = re.findall(rf'href="{base}(/t/c/[^"]+)"', html)
        rate = next((r for group, r in OPEN_RATES.items() if f"for {group}" in html), 0.4)
        if pixel and rng.random() < 0.22:  # a privacy proxy prefetches the images
            client.get(
                pixel.group(1),
                headers={"User-Agent": "Mozilla/5.0"},
                environ_base={"REMOTE_ADDR": "17.58.96.4"},
            )
            machine += 1
        if links and rng.random() < 0.05:  # a security scanner follows every link at once
            for path in links:
                client.get(path, headers={"User-Agent": "Mimecast URL scanner"})
            machine += 1
        if rng.random() < rate:
            if pixel:
                client.get(
                    pixel.group(1),
                    headers={"User-Agent": BROWSER},
                    environ_base={"REMOTE_ADDR": "198.51.100.23"},
                )
                opens += 1
            if links and rng.random() < 0.35:
                client.get(links[0], headers={"User-Agent": BROWSER})
                clicks += 1
        one_click = re.search(rf"<{base}(/unsubscribe/[^>]+)>", str(message["List-Unsubscribe"]))
        if one_click and rng.random() < 0.02:  # the mail client's one-click button (RFC 8058)
            leaving.append(one_click.group(1))
    with app.app_context():
        recorder().flush()
    # Later, a few leave: hits recorded after a withdrawal would be discarded.
    for path in leaving:
        client.post(path, data={"List-Unsubscribe": "One-Click"})
    return opens, machine, clicks, len(leaving)


def _as_visitor(function: Callable[..., Any], *args: Any) -> Any:
    """Run simulated visitors in their own thread: outside the command's app context, each
    request gets its own context (and CSRF state), as real browsers' requests do."""
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(function, *args).result()
