"""Access export and erasure through the command line, on real sent campaigns."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from flask import Flask

from outreach.db import get_db, utcnow
from outreach.models import Base
from tests.conftest import SmtpSink
from tests.privacy.helpers import actions_of, ask_and_verify, last_link, mails, requests_of
from tests.tracking.test_tracking import BODY, pixel_path, subscriber

ANA, BO = "ana.secret@example.org", "bo@example.org"


@pytest.fixture
def history(app: Flask, smtp_sink: SmtpSink) -> int:
    """Two subscribers sharing a group and a campaign; Ana opened it."""
    from outreach.campaigns.service import create_campaign, set_variant
    from outreach.consent.models import Purpose
    from outreach.consent.notice import current_notice
    from outreach.consent.service import Evidence, confirm, sign_up
    from outreach.delivery.models import Delivery
    from outreach.groups.service import add_members, sector_group_ids
    from tests.delivery.conftest import drain, send

    with get_db(app).session() as session:  # Ana signed up on the form, seeing notice 1
        sector_group_ids(session, ["Thinkers"])
        evidence = Evidence(
            "form:https://news.example.org/subscribe",
            "198.51.100.7",
            "Firefox",
            current_notice(session).id,
        )
        signup = sign_up(
            session,
            {"email": ANA, "first_name": "Anabel", "sector": "Thinkers"},
            [Purpose.NEWSLETTER, Purpose.OPEN_TRACKING, Purpose.CLICK_TRACKING],
            evidence,
            resend_after=timedelta(0),
        )
        confirm(session, signup.contact, evidence)
    subscriber(app, BO, Purpose.OPEN_TRACKING)
    with get_db(app).session() as session:
        add_members(session, "VIP", [ANA, BO])
        campaign = create_campaign(session, "June", "a@example.org", groups=["VIP"])
        set_variant(session, campaign, "VIP", subject="S", mjml=BODY)
        campaign_id = campaign.id
    send(app, campaign_id)
    drain(app)
    with get_db(app).session() as session:
        session.execute(sa.update(Delivery).values(sent_at=utcnow() - timedelta(hours=1)))
    ana_mail = next(m for m in smtp_sink.received() if ANA in str(m["To"]))
    app.test_client().get(
        pixel_path(ana_mail),
        headers={"User-Agent": "Mozilla/5.0 Firefox"},
        environ_base={"REMOTE_ADDR": "203.0.113.77"},
    )
    app.extensions["outreach.hits"].flush()
    return campaign_id


def test_access_export_holds_everything_about_the_person_only(
    app: Flask, history: int, tmp_path: Path
) -> None:
    out = tmp_path / "ana.json"
    result = app.test_cli_runner().invoke(args=["privacy", "export", ANA, "--out", str(out)])
    assert result.exit_code == 0, result.output
    document = json.loads(out.read_text())
    assert document["profile"]["email"] == ANA and document["profile"]["groups"] == [
        "Thinkers",
        "VIP",
    ]
    purposes = {(e["purpose"], e["action"]) for e in document["consent_events"]}
    assert ("open_tracking", "confirmed") in purposes
    assert document["notices"] and document["notices"][0]["full_text"]
    [delivery] = document["deliveries"]
    assert delivery["campaign"] == "June" and delivery["human_opens"] == 1
    assert delivery["hits"][0]["kind"] == "open"
    assert BO not in out.read_text()  # nothing about anyone else
    stdout = app.test_cli_runner().invoke(args=["privacy", "export", ANA]).stdout
    assert json.loads(stdout)["profile"]["email"] == ANA


def _everything(app: Flask) -> str:
    """Every value of every table, as text."""
    chunks = []
    with get_db(app).reader() as session:
        for table in Base.metadata.sorted_tables:
            for row in session.execute(sa.select(table)):
                chunks.append(" ".join(str(v) for v in row))
    return "\n".join(chunks)


def _statistics(app: Flask, campaign_id: int) -> dict[str, object]:
    from outreach.campaigns.service import get_campaign
    from outreach.tracking.stats import campaign_stats

    with get_db(app).reader() as session:
        return campaign_stats(session, get_campaign(session, campaign_id)).to_dict()


def _assert_erased(app: Flask) -> None:
    """No table holds Ana's address, name or IP in any form but the HMAC; Bo is intact."""
    from outreach.contacts.identity import email_hmac

    everything = _everything(app)
    for trace in (ANA, ANA.upper(), "ana.secret", "Anabel", "198.51.100.7"):
        assert trace not in everything
    assert email_hmac(app.extensions["outreach.settings"].secret_key, ANA) in everything
    assert BO in everything
    audit = [line for line in everything.splitlines() if "erasure" in line]
    assert audit and ANA not in audit[0]


def test_erasure_leaves_only_the_hmac_and_keeps_statistics(app: Flask, history: int) -> None:
    before = _statistics(app, history)
    assert "203.0.113.77" not in _everything(app)  # tracking never stores IPs
    result = app.test_cli_runner().invoke(args=["privacy", "erase", ANA, "--yes"])
    assert result.exit_code == 0, result.output
    _assert_erased(app)
    assert _statistics(app, history) == before


def test_an_erasure_request_erases_like_the_command_line(
    app: Flask, history: int, smtp_sink: SmtpSink, tmp_path: Path
) -> None:
    before = _statistics(app, history)
    client = app.test_client()
    answer = ask_and_verify(app, client, smtp_sink, ANA, "erasure")
    assert "has been erased" in answer.get_data(as_text=True)
    _assert_erased(app)
    assert _statistics(app, history) == before
    assert [str(m["Subject"]) for m in mails(app, smtp_sink, ANA)][-1] == (
        "Your data has been erased"
    )
    [request] = requests_of(app)
    assert request.state == "completed" and request.email is None and request.details == {}
    assert actions_of(app, request.id) == ["submitted", "verified", "erasure"]

    csv_file = tmp_path / "again.csv"
    csv_file.write_text(f"email,first_name\n{ANA},Ana\n")
    result = app.test_cli_runner().invoke(
        args=[
            "contacts",
            "import",
            str(csv_file),
            "--source",
            "old list",
            "--status",
            "subscribed",
            "--json",
        ]
    )
    report = json.loads(result.stdout)
    assert report["created"] == 0 and "suppressed (erased)" in report["problems"][0]["reason"]


# Tables that mention a contact by id, and where the access export shows their rows.
EXPORTED = {
    "consent_events": "consent_events",
    "group_memberships": "profile.groups",
    "deliveries": "deliveries",
}


def test_the_downloaded_export_holds_every_row_about_the_person_and_nobody_else(
    app: Flask, history: int, smtp_sink: SmtpSink
) -> None:
    from outreach.contacts.identity import email_hmac
    from outreach.contacts.models import Contact
    from outreach.delivery.models import Delivery
    from outreach.privacy.models import AuditEntry, DataRequest
    from outreach.tracking.models import TrackingHit

    client = app.test_client()
    ask_and_verify(app, client, smtp_sink, ANA, "access")
    export = last_link(app, smtp_sink, ANA, "privacy/export")
    raw = client.get(f"{export}/json").get_data(as_text=True)
    document = json.loads(raw)
    digest = email_hmac(app.extensions["outreach.settings"].secret_key, ANA)
    with get_db(app).reader() as session:
        ana = session.scalar(sa.select(Contact).where(Contact.email_key == ANA))
        bo = session.scalar(sa.select(Contact).where(Contact.email_key == BO))
        for table in Base.metadata.sorted_tables:
            if "contact_id" not in table.c:
                continue
            assert table.name in EXPORTED, f"{table.name} mentions contacts: export it"
            mine = session.scalar(
                sa.select(sa.func.count()).select_from(table).where(table.c.contact_id == ana.id)
            )
            head, _, tail = EXPORTED[table.name].partition(".")
            shown = document[head][tail] if tail else document[head]
            assert mine == len(shown) > 0, table.name
        hits = session.scalar(
            sa.select(sa.func.count())
            .select_from(TrackingHit)
            .join(Delivery, Delivery.id == TrackingHit.delivery_id)
            .where(Delivery.contact_id == ana.id)
        )
        assert hits == sum(len(d["hits"]) for d in document["deliveries"]) > 0
        requests = session.scalars(
            sa.select(DataRequest.id).where(DataRequest.email_hmac == digest)
        ).all()
        assert [r["id"] for r in document["requests"]] == list(requests)
        audited = session.scalar(
            sa.select(sa.func.count())
            .select_from(AuditEntry)
            .where(AuditEntry.subject_type == "data_request", AuditEntry.subject_id.in_(requests))
        )
        # The download itself is audited just after the export is made.
        assert audited == sum(len(r["history"]) for r in document["requests"]) + 1
        bo_message = session.scalar(
            sa.select(Delivery.message_id).where(Delivery.contact_id == bo.id)
        )
    assert document["profile"]["id"] == ana.id
    assert {n["version"] for n in document["notices"]} == {
        e["notice_version"] for e in document["consent_events"] if e["notice_version"]
    }
    for other in (BO, bo.first_name, bo_message):
        assert other and other not in raw


def test_erased_address_cannot_be_imported_as_subscribed(
    app: Flask, history: int, tmp_path: Path
) -> None:
    runner = app.test_cli_runner()
    runner.invoke(args=["privacy", "erase", ANA, "--yes"])
    csv_file = tmp_path / "again.csv"
    csv_file.write_text(f"email,first_name\n{ANA},Ana\n")
    result = runner.invoke(
        args=[
            "contacts",
            "import",
            str(csv_file),
            "--source",
            "old list",
            "--status",
            "subscribed",
            "--json",
        ]
    )
    report = json.loads(result.stdout)
    assert report["created"] == 0 and report["skipped"] == 1
    assert "suppressed (erased)" in report["problems"][0]["reason"]


def test_erase_asks_for_confirmation(app: Flask, history: int) -> None:
    result = app.test_cli_runner().invoke(args=["privacy", "erase", ANA], input="n\n")
    assert result.exit_code == 1
    assert ANA in _everything(app)
