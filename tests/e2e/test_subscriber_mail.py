"""A subscriber's mail, from processes started as the README says: sign-up and
confirmation, invitations, data-subject requests, and a crash in between."""

from __future__ import annotations

import signal

import requests

from tests.conftest import SmtpSink
from tests.e2e.conftest import Product, csrf, link, mail_to, wait_for


def sign_up(product: Product, email: str) -> requests.Response:
    """Fill the public form as a visitor does."""
    visitor = requests.Session()
    form = visitor.get(f"{product.base_url}/subscribe", timeout=10)
    assert form.status_code == 200
    return visitor.post(
        f"{product.base_url}/subscribe",
        data={"email": email, "first_name": "Ana", "consent_newsletter": "on"},
        timeout=10,
    )


def events(product: Product, email: str) -> list[tuple[str, str]]:
    proof = product.json_plain("consent", "proof", email)
    return [(e["purpose"], e["action"]) for e in proof["events"]]


def test_sign_up_confirm_then_welcome_with_the_lead_magnet(
    product: Product, sink: SmtpSink
) -> None:
    product.start()
    answer = sign_up(product, "ana@example.org")
    assert answer.status_code == 200 and "Check your inbox" in answer.text
    [confirmation] = mail_to(sink, "ana@example.org")
    assert "/download/" not in confirmation.as_string()  # no marketing before consent
    confirm_url = link(confirmation, "/confirm/")
    visitor = requests.Session()
    page = visitor.get(confirm_url, timeout=10)  # a mail scanner following the link
    assert page.status_code == 200
    assert events(product, "ana@example.org") == [("newsletter", "given")]
    done = visitor.post(confirm_url, data={"csrf_token": csrf(page.text)}, timeout=10)
    assert done.status_code == 200
    assert events(product, "ana@example.org") == [
        ("newsletter", "given"),
        ("newsletter", "confirmed"),
    ]
    confirmation_and_welcome = mail_to(sink, "ana@example.org", count=2)
    welcome = confirmation_and_welcome[1]
    download = requests.get(link(welcome, "/download/"), timeout=10)
    assert download.status_code == 200 and len(download.content) > 1000


def test_invitations_from_the_command_line_arrive_once_serve_runs(
    product: Product, sink: SmtpSink
) -> None:
    path = product.root / "pending.csv"
    path.write_text("email,first_name,sector\nimp@example.org,Imp,Thinkers\n")
    product.run("contacts", "import", str(path), "--source", "cards", "--status", "pending")
    first = product.run("consent", "invite", "--group", "Thinkers").stdout
    assert first.startswith("1 invitations queued in the outbox for Thinkers")
    wait_for(lambda: True)
    assert sink.received() == []  # nothing runs yet: the invitation waits in the outbox
    product.start()
    [invitation] = mail_to(sink, "imp@example.org")
    assert "/confirm/" in link(invitation, "/confirm/")
    again = product.run("consent", "invite", "--group", "Thinkers").stdout
    assert again.startswith("0 invitations queued")
    mail_to(sink, "imp@example.org", count=1)


def test_a_privacy_request_is_verified_from_the_mail_that_arrives(
    product: Product, sink: SmtpSink
) -> None:
    product.start()
    product.subscribers("ana@example.org")
    visitor = requests.Session()
    form = visitor.get(f"{product.base_url}/privacy/request", timeout=10)
    sent = visitor.post(
        f"{product.base_url}/privacy/request",
        data={"csrf_token": csrf(form.text), "email": "ana@example.org", "kind": "access"},
        timeout=10,
    )
    assert sent.status_code == 200
    [verification] = mail_to(sink, "ana@example.org")
    verify_url = link(verification, "/privacy/verify/")
    page = visitor.get(verify_url, timeout=10)
    visitor.post(verify_url, data={"csrf_token": csrf(page.text)}, timeout=10)
    access = mail_to(sink, "ana@example.org", count=2)[1]
    export = requests.get(link(access, "/privacy/export/") + "/json", timeout=10)
    assert export.status_code == 200 and b"ana@example.org" in export.content


def test_serve_killed_between_a_sign_up_and_its_mail_sends_it_once_after_restart(
    product: Product, sink: SmtpSink
) -> None:
    sink.stop()  # the mail server is down: the confirmation waits in the outbox
    product.start()
    assert sign_up(product, "ana@example.org").status_code == 200
    product.stop(signal.SIGKILL)
    sink.start()
    product.start()
    # If the kill hit while a worker held the email, it waits out the outbox lease (60 s).
    mail_to(sink, "ana@example.org", count=1, seconds=90)
