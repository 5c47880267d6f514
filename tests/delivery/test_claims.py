"""Owned claims: a batch slower than its lease, dead workers, a database that went away,
lost broker messages, a message that cannot be built, an unsubscribe under a send rate."""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from flask import Flask
from sqlalchemy.orm import Session

from outreach.campaigns.service import create_campaign, get_campaign, set_variant
from outreach.claims import DELIVERY, Unrecorded, claims, worker_id
from outreach.config import Settings
from outreach.consent.models import Suppression
from outreach.consent.service import Evidence, unsubscribe
from outreach.contacts.models import Contact, ContactStatus
from outreach.contacts.service import delete_contact
from outreach.db import get_db, utcnow
from outreach.delivery import service
from outreach.delivery.engine import Engine
from outreach.delivery.models import Delivery, DeliveryStatus
from outreach.ops.heartbeat import Heartbeat, reap_dead_workers
from outreach.ops.models import Worker
from outreach.privacy.erasure import erase
from tests.conftest import SmtpSink, drain, queued_app
from tests.support.campaigns import MJML, one_variant_campaign, subscribe
from tests.support.contacts import run_import, write
from tests.support.delivery import send


@pytest.fixture
def slow_app(tmp_path: Path, database_url: str, smtp_sink: SmtpSink) -> Iterator[Flask]:
    """Three messages a second, a two-second lease: every batch outlives its lease (a
    one-second lease left too little margin for renewals on a loaded machine)."""
    with queued_app(
        tmp_path, database_url, smtp_sink, send_rate=3.0, lease_seconds=2, retry_base_ms=50
    ) as application:
        yield application


def _ids(app: Flask, campaign_id: int) -> list[int]:
    with get_db(app).reader() as session:
        return list(
            session.scalars(
                sa.select(Delivery.id).where(Delivery.campaign_id == campaign_id).order_by("id")
            )
        )


def _start(app: Flask, campaign_id: int) -> list[int]:
    with get_db(app).session() as session:
        service.start(session, get_campaign(session, campaign_id))
    return _ids(app, campaign_id)


def _rows(app: Flask, campaign_id: int) -> list[Delivery]:
    with get_db(app).reader() as session:
        return list(
            session.scalars(
                sa.select(Delivery).where(Delivery.campaign_id == campaign_id).order_by("id")
            )
        )


@pytest.mark.parametrize("setup_seconds", [0.0, 1.5])
def test_a_batch_slower_than_its_lease_keeps_its_claim_and_sends_each_once(
    slow_app: Flask,
    make_subscriber: Callable[..., int],
    smtp_sink: SmtpSink,
    monkeypatch: pytest.MonkeyPatch,
    setup_seconds: float,
) -> None:
    """Also when reading the batch's recipients and compiling its builders takes most of
    the lease (a loaded machine, a first compile): the lease runs from the claim, so the
    first renewal is due a third of a lease after it, not after the set-up."""
    app = slow_app
    read = Engine._recipients

    def slow_read(engine: Engine, session: object, ids: list[int]) -> object:
        time.sleep(setup_seconds)
        return read(engine, session, ids)  # type: ignore[arg-type]

    monkeypatch.setattr(Engine, "_recipients", slow_read)
    for i in range(9):
        make_subscriber(f"slow{i}@example.org", first_name=f"S{i}", sector="Thinkers")
    with get_db(app).session() as session:
        campaign = create_campaign(session, "Slow", "a@example.org", groups=["Thinkers"])
        set_variant(session, campaign, "Thinkers", subject="Hi", mjml=MJML)
        campaign_id = campaign.id
    ids = _start(app, campaign_id)
    engine = Engine(get_db(app))

    def send_it() -> None:
        engine.send_batch(campaign_id, ids[0], ids[-1])
        engine.drop_transport()  # this thread's SMTP connection

    sender = threading.Thread(target=send_it)
    sender.start()
    taken = []
    while sender.is_alive():  # another worker tries the same range all along
        time.sleep(0.3)
        with get_db(app).session() as session:
            taken += service.claim(session, campaign_id, ids[0], ids[-1], timedelta(seconds=2))
    sender.join()
    assert taken == []  # the lease was renewed while the batch went on (3 s for 2 s leases)
    counts = Counter(str(m["To"]) for m in smtp_sink.received())
    assert len(counts) == 9 and set(counts.values()) == {1}


def test_an_outcome_is_recorded_only_on_a_claim_still_its_own(app: Flask, campaign: int) -> None:
    ids = _start(app, campaign)
    with get_db(app).session() as session:
        [first, *_] = service.claim(session, campaign, ids[0], ids[0], token="mine")
    with get_db(app).session() as session:
        assert not service.record_sent(session, first.id, "theirs", service.sent_values("<x@y>"))
    [row, *_] = _rows(app, campaign)
    assert row.status is DeliveryStatus.SENDING and row.suspected_duplicate
    with get_db(app).session() as session:
        assert service.record_sent(session, first.id, "mine", service.sent_values("<x@y>"))
    [row, *_] = _rows(app, campaign)
    assert row.status is DeliveryStatus.SENT and row.claim_token is None


def test_a_last_batch_whose_recipients_all_withdrew_still_finishes_the_campaign(
    app: Flask, campaign: int, smtp_sink: SmtpSink
) -> None:
    """Everyone claimed is skipped: the batch still ends as any other (the campaign marked
    sent, its tallies refreshed), without waiting for the sweeper."""
    ids = _start(app, campaign)
    with get_db(app).session() as session:
        for contact in session.scalars(sa.select(Contact)):
            unsubscribe(session, contact, Evidence("test"))
    Engine(get_db(app)).send_batch(campaign, ids[0], ids[-1])
    assert smtp_sink.received() == []
    with get_db(app).reader() as session:
        state = service.progress(session, get_campaign(session, campaign))
    assert state.status == "sent" and state.total == len(ids)
    assert sum(g.counts["skipped"] for g in state.groups) == len(ids)


def test_a_dead_workers_claims_go_back_at_once_its_message_in_flight_suspected(
    app: Flask, campaign: int, smtp_sink: SmtpSink
) -> None:
    ids = _start(app, campaign)
    with get_db(app).session() as session:
        service.claim(session, campaign, ids[0], ids[3], token="a")
        service.claim(session, campaign, ids[4], ids[-1], token="b")
        service.record_sent(session, ids[0], "a", service.sent_values("<0@x>"))
        session.add(  # this claimer missed its beats (as a SIGKILLed worker does)
            Worker(
                id=worker_id(),
                host="h",
                pid=1,
                origin="test",
                expires_at=utcnow() - timedelta(seconds=1),
            )
        )
    with get_db(app).session() as session:
        dead = reap_dead_workers(session)
        assert dead == [worker_id()]
        assert service.reclaim_from(session, dead) == [campaign]
    with get_db(app).reader() as session:
        assert session.get(Worker, worker_id()) is None  # reaped: searched for once
    rows = _rows(app, campaign)
    assert [str(r.status) for r in rows] == ["sent"] + ["queued"] * 8
    assert [r.id for r in rows if r.suspected_duplicate] == [ids[1], ids[4]]
    from outreach import tasks

    with get_db(app).reader() as session:
        tasks.enqueue_pending(session, campaign)
    drain(app)
    assert len(smtp_sink.received()) == 8
    with get_db(app).reader() as session:
        state = service.progress(session, get_campaign(session, campaign))
    assert state.status == "sent" and state.to_dict()["suspected_duplicates"] == 2


def test_the_heartbeat_records_what_was_sent_and_gives_back_the_rest_of_a_broken_claim(
    app: Flask, campaign: int, smtp_sink: SmtpSink
) -> None:
    ids = _start(app, campaign)
    token = claims.new(DELIVERY, 300)
    with get_db(app).session() as session:
        service.claim(session, campaign, ids[0], ids[-1], token=token)
    # The server took the first message, then the database went away before the record.
    claims.abandon(token, Unrecorded(DELIVERY, ids[0], token, service.sent_values("<0@x>")))
    from outreach import tasks

    Heartbeat(get_db(app), "test", tasks.JOBS).beat()
    drain(app)  # the heartbeat enqueued the campaign again
    rows = _rows(app, campaign)
    assert {str(r.status) for r in rows} == {"sent"} and not any(
        r.suspected_duplicate for r in rows
    )
    assert len(smtp_sink.received()) == 8  # the first one was not sent again


def test_the_heartbeat_renews_the_claims_being_sent(app: Flask, campaign: int) -> None:
    ids = _start(app, campaign)
    token = claims.new(DELIVERY, 1)
    with get_db(app).session() as session:
        service.claim(session, campaign, ids[0], ids[-1], timedelta(seconds=1), token)
    from outreach import tasks

    Heartbeat(get_db(app), "test", tasks.JOBS).beat()
    assert claims.holds(token, 200)  # the lease is 300 s again, in the ledger too
    assert all(r.lease_until > utcnow() + timedelta(seconds=200) for r in _rows(app, campaign))
    with get_db(app).session() as session:
        assert service.claim(session, campaign, ids[0], ids[-1], token="other") == []
    claims.close(token)


def test_batches_whose_broker_messages_were_lost_are_enqueued_again(
    app: Flask, campaign: int, smtp_sink: SmtpSink
) -> None:
    from outreach.delivery.tasks import sweep

    _start(app, campaign)  # started, but its batches never reached the broker
    assert sweep()["resumed"] == 0  # just started: nothing is lost yet
    with get_db(app).session() as session:
        get_campaign(session, campaign).progress_at = utcnow() - service.QUIET_AFTER
    assert sweep()["resumed"] == 1  # quiet, nothing in flight, deliveries waiting
    drain(app)
    assert len(smtp_sink.received()) == 9


def test_the_sweeper_finishes_a_campaign_whose_last_batch_did_not(
    app: Flask, campaign: int
) -> None:
    from outreach.delivery.tasks import sweep

    ids = _start(app, campaign)
    with get_db(app).session() as session:  # every message went, then the batch died
        service.claim(session, campaign, ids[0], ids[-1], token="t")
        for delivery_id in ids:
            service.record_sent(session, delivery_id, "t", service.sent_values("<m@x>"))
    assert sweep() == {"started": 0, "resumed": 0, "batches": 0}
    with get_db(app).reader() as session:
        assert str(get_campaign(session, campaign).status) == "sent"


def test_a_retry_waits_out_its_backoff_in_the_ledger(
    app: Flask, campaign: int, people: dict[str, int], smtp_sink: SmtpSink
) -> None:
    address = next(iter(people))
    smtp_sink.rules[address] = ["451 4.3.0 try later"]
    send(app, campaign)
    drain(app)
    assert len(smtp_sink.to(address)) == 1  # retried after its backoff, once
    [row] = [r for r in _rows(app, campaign) if r.contact_id == people[address]]
    assert row.attempts == 2 and str(row.status) == "sent"


def test_a_retry_is_not_claimed_before_its_time(app: Flask, campaign: int) -> None:
    ids = _start(app, campaign)
    with get_db(app).session() as session:
        [item] = service.claim(session, campaign, ids[0], ids[0], token="t")
        service.record_failure(
            session,
            item,
            "451 later",
            permanent=False,
            bounce=False,
            retry_at=utcnow() + timedelta(minutes=1),
        )
    with get_db(app).session() as session:
        assert service.claim(session, campaign, ids[0], ids[0]) == []


def test_a_message_that_cannot_be_built_fails_alone_with_the_reason(
    app: Flask, make_subscriber: Callable[..., int], smtp_sink: SmtpSink
) -> None:
    people = [make_subscriber(f"city{i}@example.org", sector="Thinkers") for i in range(6)]
    with get_db(app).session() as session:
        for contact_id in people:
            session.get(Contact, contact_id).attributes = {"city": "Paris"}
        poisoned = session.get(Contact, people[2])
        poisoned.attributes = {"city": "Paris\r\nBcc: victim@evil.example"}
        campaign = create_campaign(session, "Cities", "a@example.org", groups=["Thinkers"])
        set_variant(
            session,
            campaign,
            "Thinkers",
            subject="News from {{ contact.attributes.city }}",
            mjml=MJML,
        )
        campaign_id = campaign.id
    send(app, campaign_id)
    drain(app)
    assert sorted(str(m["To"]).split("<")[-1][:-1] for m in smtp_sink.received()) == sorted(
        f"city{i}@example.org" for i in range(6) if i != 2
    )
    assert not any("victim" in str(m) for m in smtp_sink.received())
    with get_db(app).reader() as session:
        state = service.progress(session, get_campaign(session, campaign_id))
    assert state.status == "sent"
    [(reason, count)] = state.failures
    assert count == 1 and reason.startswith("cannot build message: ")
    done = app.test_cli_runner().invoke(args=["campaigns", "status", str(campaign_id)])
    assert done.exit_code == 0, done.output
    assert f"failed × 1: {reason}" in done.output


def test_an_unsubscribe_under_a_send_rate_stops_the_next_message(
    tmp_path: Path, database_url: str, smtp_sink: SmtpSink
) -> None:
    """The consent re-check comes after the pacer's wait, right before the message goes:
    an unsubscribe the moment the first message arrives spares the second recipient."""
    with queued_app(tmp_path, database_url, smtp_sink, send_rate=1.5, worker_threads=1) as app:
        people = [
            subscribe(app, f"r{i}@example.org", first_name="", sector="Thinkers") for i in range(3)
        ]
        with get_db(app).session() as session:
            campaign = create_campaign(session, "Paced", "a@example.org", groups=["Thinkers"])
            set_variant(session, campaign, "Thinkers", subject="Hi", mjml=MJML)
            campaign_id = campaign.id
        send(app, campaign_id)
        deadline = time.monotonic() + 10
        while not smtp_sink.received() and time.monotonic() < deadline:
            time.sleep(0.01)
        assert [str(m["To"]) for m in smtp_sink.received()] == ["r0@example.org"]
        with get_db(app).session() as session:  # 0.67 s before the second one's slot
            unsubscribe(session, session.get(Contact, people[1]), Evidence("test"))
        drain(app)
    assert [str(m["To"]) for m in smtp_sink.received()] == ["r0@example.org", "r2@example.org"]


def test_a_batch_is_smaller_under_a_send_rate(tmp_path: Path) -> None:
    plain = Settings(instance_path=tmp_path)
    assert service.batch_size(plain) == 500
    slow = Settings(instance_path=tmp_path, send_rate=2, lease_seconds=30, worker_threads=4)
    assert service.batch_size(slow) == 5  # half a message a second per thread, 10 s a batch


def _change(session: Session, kind: str, contact: Contact) -> None:
    """One way a contact stops being mailable, as the product records it."""
    if kind == "withdrawn":
        unsubscribe(session, contact, Evidence("test"))
    elif kind == "suppressed":
        session.add(Suppression(email_hmac=contact.email_hmac, reason="test"))
    elif kind == "restricted":
        contact.status = ContactStatus.RESTRICTED
    elif kind == "deleted":
        delete_contact(session, contact)
    else:
        erase(session, contact.email, actor="test")


@pytest.mark.parametrize("kind", ["withdrawn", "suppressed", "restricted", "deleted", "erased"])
def test_a_look_asks_what_changed_since_the_claim_and_looks_again_at_those_only(
    tmp_path: Path,
    database_url: str,
    smtp_sink: SmtpSink,
    monkeypatch: pytest.MonkeyPatch,
    kind: str,
) -> None:
    """The claim looks at the whole batch; after it, each look (every half second) asks
    what changed since the claim, and looks again in full at those contacts only: one
    contact changed in the middle of a batch of 150 is the only one looked at again, and
    the only one not mailed."""
    people = 150
    smtp_sink.delay = 0.01  # about a second and a half for the batch, on one thread
    asked: list[list[int]] = []
    looks: list[int] = []
    full, changes = service.skip_unmailable, service.changes_since

    def counting(session: object, claimed: list[service.Claimed]) -> list[service.Claimed]:
        asked.append([c.contact_id for c in claimed])
        return full(session, claimed)  # type: ignore[arg-type]

    def looking(*args: object) -> service.Changes:
        looks.append(len(smtp_sink.received()))
        return changes(*args)  # type: ignore[arg-type]

    monkeypatch.setattr(service, "skip_unmailable", counting)
    monkeypatch.setattr(service, "changes_since", looking)
    with queued_app(tmp_path, database_url, smtp_sink, worker_threads=1) as app:
        rows = "".join(f"p{i}@example.org,Thinkers\n" for i in range(people))
        run_import(
            app.test_cli_runner(),
            write(tmp_path, "email,sector\n" + rows),
            "--status",
            "subscribed",
        )
        campaign_id = one_variant_campaign(app, "Looks", "Thinkers")
        with get_db(app).reader() as session:
            victim = session.scalar(
                sa.select(Contact.id).where(Contact.email == "p140@example.org")
            )
        done = threading.Event()

        def change_when_sending() -> None:
            deadline = time.monotonic() + 30
            while len(smtp_sink.received()) < 20 and time.monotonic() < deadline:
                time.sleep(0.005)
            with get_db(app).session() as session:
                _change(session, kind, session.get(Contact, victim))
            done.set()

        changer = threading.Thread(target=change_when_sending)
        changer.start()
        send(app, campaign_id)
        drain(app)
        changer.join()
    received = {str(m["To"]) for m in smtp_sink.received()}
    assert done.is_set() and len(looks) >= 2  # the batch took longer than half a second
    assert "p140@example.org" not in received and len(received) == people - 1
    assert asked == [[victim]]  # looked at again in full: the changed contact only
