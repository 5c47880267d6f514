"""Access export and erasure through the command line, on real sent campaigns."""

from __future__ import annotations

import json
from pathlib import Path

import sqlalchemy as sa
from flask import Flask

from outreach.db import get_db
from outreach.models import Base
from tests.conftest import SmtpSink
from tests.support.privacy import (
    ANA,
    BO,
    actions_of,
    ask_and_verify,
    last_link,
    mails,
    requests_of,
)


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
    # Both tallies of machine traffic, as the statistics count them.
    assert delivery["machine_opens"] == 0 and delivery["machine_clicks"] == 0
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
    from outreach.reporting.stats import campaign_stats

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
    "outbox": "emails",
    "inbound_messages": "inbound_messages",
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
