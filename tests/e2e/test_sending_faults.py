"""A campaign sent from the command line through an SMTP server that misbehaves: nobody
is failed for the sending path's faults, and everyone receives exactly one message."""

from __future__ import annotations

import datetime
import ipaddress
import re
import signal
import ssl
import subprocess
import time
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID

from tests.conftest import SmtpSink
from tests.e2e.conftest import OUTREACH, Product, wait_for

# Fault injection against real processes: `make faults`, the second step of .ci/run.
pytestmark = pytest.mark.faults
PEOPLE = [f"reader{i}@example.org" for i in range(6)]


def arrange(product: Product, people: list[str] = PEOPLE) -> str:
    """Subscribers and a campaign, from the command line; the workers running if any."""
    product.subscribers(*people)
    campaign = product.campaign()
    if not product.embedded:
        product.start()  # the real broker's workers send; `--wait` only follows
    return campaign


def everyone_once(sink: SmtpSink, people: list[str] = PEOPLE) -> None:
    """Each of `people` received exactly one message (and nobody else any)."""
    wait_for(lambda: all(sink.to(a) for a in people), 10, "a message to everyone")
    time.sleep(0.3)
    assert sorted(str(m["To"]).split("<")[-1].rstrip(">") for m in sink.received()) == sorted(
        people
    )


def restart(product: Product, **env: str) -> None:
    """Change settings, as a person edits .env, and start again what was running."""
    product.stop()
    product.env.update(env)
    if not product.embedded:
        product.start()


def test_a_wrong_password_fails_nobody_and_the_fixed_settings_send_to_everyone(
    product: Product, sink: SmtpSink
) -> None:
    sink.stop()
    sink.auth = ("outreach", "right")
    sink.start()
    product.env["OUTREACH_SMTP_URL"] = f"smtp://outreach:WRONG@127.0.0.1:{sink.port}"
    campaign = arrange(product)
    sent = product.run("campaigns", "send", campaign, "--wait")
    assert "535" in sent.stderr and f"campaigns resume {campaign}" in sent.stderr
    status = product.status(campaign)
    assert status["status"] == "paused" and "535" in status["pause_reason"]
    assert status["failed"] == 0 and status["queued"] == len(PEOPLE)
    assert sink.received() == []
    restart(product, OUTREACH_SMTP_URL=f"smtp://outreach:right@127.0.0.1:{sink.port}")
    product.run("campaigns", "resume", campaign, "--wait")
    assert product.status(campaign)["sent"] == len(PEOPLE)
    everyone_once(sink)


def test_a_connection_dropped_in_data_is_retried_once(product: Product, sink: SmtpSink) -> None:
    sink.drop_data = {PEOPLE[2]}
    campaign = arrange(product)
    sent = product.run("campaigns", "send", campaign, "--wait")
    said = rf"{len(PEOPLE)} deliveries queued in 1 batches \(audience frozen in \d+\.\d s\)"
    assert re.search(said, sent.stdout), sent.stdout
    status = product.status(campaign)
    assert status["status"] == "sent" and status["sent"] == len(PEOPLE)
    everyone_once(sink)


def _self_signed(folder: Path) -> tuple[Path, Path]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "mail.example.org")])
    now = datetime.datetime.now(datetime.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=2))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert, pem = folder / "smtp-cert.pem", folder / "smtp-key.pem"
    cert.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    pem.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert, pem


def test_an_untrusted_certificate_pauses_with_the_reason_until_it_is_trusted(
    product: Product, sink: SmtpSink
) -> None:
    cert, key = _self_signed(product.root)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    sink.stop()
    sink.tls_context = context
    sink.start()
    url = f"smtp://127.0.0.1:{sink.port}?starttls=true"
    product.env["OUTREACH_SMTP_URL"] = url
    campaign = arrange(product)
    sent = product.run("campaigns", "send", campaign, "--wait")
    assert "CERTIFICATE_VERIFY_FAILED" in sent.stderr
    status = product.status(campaign)
    assert status["status"] == "paused" and "CERTIFICATE_VERIFY_FAILED" in status["pause_reason"]
    assert status["failed"] == 0
    restart(product, OUTREACH_SMTP_URL=f"{url}&cafile={cert}")
    product.run("campaigns", "resume", campaign, "--wait")
    everyone_once(sink)


def test_ctrl_c_on_send_wait_then_send_again_reaches_everyone_once(
    product: Product, sink: SmtpSink
) -> None:
    people = [f"many{i}@example.org" for i in range(20)]
    sink.delay = 0.15
    campaign = arrange(product, people)
    following = subprocess.Popen(
        [OUTREACH, "campaigns", "send", campaign, "--wait"],
        cwd=product.root,
        env=product.env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    wait_for(lambda: len(sink.received()) >= 4, 60, "the first messages")
    following.send_signal(signal.SIGINT)
    _out, err = following.communicate(timeout=60)
    assert following.returncode == 130, err
    assert "interrupted" in err or "stopped following" in err
    if product.embedded:
        assert f"campaigns send {campaign} --wait" in err  # how to go on
    if product.embedded:
        time.sleep(0.5)
        assert len(sink.received()) < len(people)  # this process stopped sending
    if product.embedded:
        again = product.run("campaigns", "send", campaign, "--wait")
        assert "still sending" in again.stdout
    else:  # with a real broker the workers went on: following stopped, sending did not
        wait_for(lambda: product.status(campaign)["status"] == "sent", 60, "the workers")
    assert product.status(campaign)["sent"] == len(people)
    everyone_once(sink, people)


def test_retry_sends_once_more_to_a_recipient_the_server_refused(
    product: Product, sink: SmtpSink
) -> None:
    refused = PEOPLE[1]
    sink.rules[refused] = ["550 5.7.1 Mailbox disabled for now"]
    campaign = arrange(product)
    product.run("campaigns", "send", campaign, "--wait")
    status = product.status(campaign)
    assert status["status"] == "sent" and status["failed"] == 1
    assert sink.to(refused) == []
    retried = product.run("campaigns", "retry", campaign, "--reason", "mailbox back", "--wait")
    assert retried.stdout.startswith("1 failed recipients queued again")
    assert product.status(campaign)["sent"] == len(PEOPLE)
    everyone_once(sink)
    assert product.run("campaigns", "retry", campaign).stdout.strip() == (
        "no failed recipient to retry"
    )
