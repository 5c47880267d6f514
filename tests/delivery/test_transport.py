"""The SMTP transport on the wire: PIPELINING (RFC 2920) when offered, every answer judged
in its phase, messages carried byte for byte (dots doubled only where a line begins with
one). Against aiosmtpd, Postfix's smtp-sink and a scripted server that answers a pipelined
group only once all of it has arrived."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from outreach.delivery.transport import (
    Envelope,
    SmtpTransport,
    TransportError,
    _on_the_wire,
)
from tests.conftest import REQUIRE_SERVICES, SmtpSink, free_port

MESSAGE = b"From: a@example.org\r\nTo: b@example.org\r\nSubject: hi\r\n\r\nHello\r\n"


def message(body: bytes = b"Hello\r\n", to: str = "b@example.org") -> bytes:
    return b"From: a@example.org\r\nTo: " + to.encode() + b"\r\nSubject: hi\r\n\r\n" + body


@pytest.mark.parametrize("pipelining", [True, False])
def test_messages_arrive_byte_for_byte_with_or_without_pipelining(pipelining: bool) -> None:
    sink = SmtpSink("127.0.0.1", free_port(), pipelining=pipelining)
    sink.start()
    transport = SmtpTransport(sink.url)
    try:
        dotted = b".NET and .com\r\n..two dots\r\n.\r\nend\r\n"
        transport.send(Envelope("a@example.org", ("plain@example.org",)), message())
        transport.send(
            Envelope("a@example.org", ("dots@example.org",)),
            message(dotted, to="dots@example.org"),
        )
        assert transport.connection is not None
        assert transport.connection.has_extn("pipelining") is pipelining
    finally:
        transport.close()
        sink.stop()
    plain, dots = (m.raw_bytes for m in sink.received())  # type: ignore[attr-defined]
    assert plain == message()
    assert dots == message(dotted, to="dots@example.org")


def test_dots_are_doubled_only_where_a_line_begins_with_one() -> None:
    assert _on_the_wire(b"a\r\nb\r\n") == b"a\r\nb\r\n.\r\n"
    assert _on_the_wire(b".a\r\nb.\r\n.\r\n") == b"..a\r\nb.\r\n..\r\n.\r\n"
    assert _on_the_wire(b"no final break") == b"no final break\r\n.\r\n"


@pytest.mark.parametrize("pipelining", [True, False])
def test_refusals_in_the_middle_are_judged_in_their_phase_and_the_rest_go(
    pipelining: bool,
) -> None:
    """A 4xx and a 5xx at RCPT TO among accepted recipients, on one connection: each
    refusal concerns its recipient only (transient or a bounce); the others arrive."""
    sink = SmtpSink("127.0.0.1", free_port(), pipelining=pipelining)
    sink.rules = {
        "later@example.org": ["451 4.3.0 try again later"],
        "gone@example.org": ["550 5.1.1 no such user"],
    }
    sink.start()
    transport = SmtpTransport(sink.url)
    outcomes: dict[str, TransportError | None] = {}
    try:
        for name in ("one", "later", "two", "gone", "three"):
            address = f"{name}@example.org"
            try:
                transport.send(Envelope("a@example.org", (address,)), message(to=address))
                outcomes[name] = None
            except TransportError as exc:
                outcomes[name] = exc
    finally:
        transport.close()
        sink.stop()
    later, gone = outcomes.pop("later"), outcomes.pop("gone")
    assert outcomes == {"one": None, "two": None, "three": None}
    assert later is not None and gone is not None
    assert (later.phase, later.permanent, later.bounce, later.smtp_code) == (
        "rcpt",
        False,
        False,
        451,
    )
    assert (gone.phase, gone.permanent, gone.bounce, gone.smtp_code) == ("rcpt", True, True, 550)
    assert later.concerns_recipient and gone.concerns_recipient
    assert sorted(str(m["To"]) for m in sink.received()) == [
        "one@example.org",
        "three@example.org",
        "two@example.org",
    ]


class GroupWaitingServer:
    """An SMTP server offering PIPELINING that answers MAIL, RCPT and DATA only once all
    three have arrived: a client waiting for each answer before the next command hangs.
    `rcpt_reply` is its answer to RCPT TO; after a refused RCPT its DATA gets 554."""

    def __init__(self, rcpt_reply: str = "250 2.1.5 ok") -> None:
        self.rcpt_reply = rcpt_reply
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.messages: list[bytes] = []
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        with self.listener:
            conn, _ = self.listener.accept()
        with conn, conn.makefile("rb") as lines:
            conn.sendall(b"220 scripted ESMTP\r\n")
            while True:
                line = lines.readline()
                if not line or line.upper().startswith(b"QUIT"):
                    conn.sendall(b"221 bye\r\n")
                    return
                if line.upper().startswith(b"EHLO"):
                    conn.sendall(b"250-scripted\r\n250-PIPELINING\r\n250 8BITMIME\r\n")
                elif line.upper().startswith(b"RSET"):
                    conn.sendall(b"250 2.0.0 reset\r\n")
                elif line.upper().startswith(b"MAIL"):
                    group = [line, lines.readline(), lines.readline()]  # waits for all
                    assert group[1].upper().startswith(b"RCPT"), group
                    assert group[2].upper().startswith(b"DATA"), group
                    accepted = self.rcpt_reply.startswith("2")
                    answers = ["250 2.1.0 ok", self.rcpt_reply]
                    answers.append("354 go ahead" if accepted else "554 5.5.1 no valid recipients")
                    conn.sendall("".join(f"{a}\r\n" for a in answers).encode())
                    if accepted:
                        data = b"".join(iter(lambda: lines.readline(), b".\r\n"))
                        self.messages.append(data)
                        conn.sendall(b"250 2.0.0 queued\r\n")
                else:
                    conn.sendall(b"502 5.5.2 not here\r\n")


@pytest.mark.parametrize(
    ("rcpt_reply", "refusal"),
    [
        ("250 2.1.5 ok", None),
        ("452 4.2.2 mailbox full", ("rcpt", False, 452)),
        ("550 5.1.1 no such user", ("rcpt", True, 550)),
    ],
)
def test_mail_rcpt_and_data_go_in_one_write(
    rcpt_reply: str, refusal: tuple[str, bool, int] | None
) -> None:
    server = GroupWaitingServer(rcpt_reply)
    transport = SmtpTransport(f"smtp://127.0.0.1:{server.port}?timeout=5")
    try:
        if refusal is None:
            transport.send(Envelope("a@example.org", ("b@example.org",)), MESSAGE)
            assert server.messages == [MESSAGE]
        else:
            with pytest.raises(TransportError) as caught:
                transport.send(Envelope("a@example.org", ("b@example.org",)), MESSAGE)
            error = caught.value
            assert (error.phase, error.permanent, error.smtp_code) == refusal
            assert rcpt_reply in error.message  # the first refusal, not DATA's 554
            assert transport.connection is not None  # reset (RSET), kept for the next one
            assert server.messages == []
    finally:
        transport.close()


@pytest.fixture
def smtp_sink_binary() -> str:
    """Postfix's smtp-sink (Debian package postfix), which offers PIPELINING."""
    found = shutil.which("smtp-sink") or "/usr/sbin/smtp-sink"
    if not Path(found).exists():
        if REQUIRE_SERVICES:
            pytest.fail("Postfix's smtp-sink is required (OUTREACH_REQUIRE_SERVICES=1)")
        pytest.skip("Postfix's smtp-sink not installed")
    return found


@pytest.fixture
def postfix_sink(smtp_sink_binary: str, request: pytest.FixtureRequest) -> Iterator[int]:
    """smtp-sink on a free port, refusing what the test's `sink_refusal` parameter says."""
    callspec = getattr(request.node, "callspec", None)
    options = list(callspec.params.get("sink_refusal", ())) if callspec else []
    port = free_port()
    user = ["-u", "nobody"] if os.geteuid() == 0 else []  # it refuses to run as root
    process = subprocess.Popen(
        [smtp_sink_binary, *user, *options, f"127.0.0.1:{port}", "10"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        with socket.socket() as probe:
            if probe.connect_ex(("127.0.0.1", port)) == 0:
                break
        time.sleep(0.05)
    yield port
    process.terminate()
    process.wait(timeout=5)


def test_smtp_sink_takes_pipelined_messages(postfix_sink: int) -> None:
    transport = SmtpTransport(f"smtp://127.0.0.1:{postfix_sink}?timeout=5")
    try:
        for n in range(20):
            transport.send(Envelope("a@example.org", (f"r{n}@example.org",)), MESSAGE)
        assert transport.connection is not None
        assert transport.connection.has_extn("pipelining")
    finally:
        transport.close()


@pytest.mark.parametrize(
    ("sink_refusal", "permanent", "first_digit"),
    [(("-r", "RCPT"), False, "4"), (("-f", "RCPT"), True, "5")],
    ids=["soft", "hard"],
)
def test_smtp_sink_refusals_at_rcpt_are_judged_there(
    sink_refusal: tuple[str, str], postfix_sink: int, permanent: bool, first_digit: str
) -> None:
    """smtp-sink -r (4xx) or -f (5xx) at RCPT TO, in a pipelined group: a refusal of the
    recipient, transient or permanent; the connection stays usable after each."""
    transport = SmtpTransport(f"smtp://127.0.0.1:{postfix_sink}?timeout=5")
    try:
        for _ in range(2):
            with pytest.raises(TransportError) as caught:
                transport.send(Envelope("a@example.org", ("b@example.org",)), MESSAGE)
            assert (caught.value.phase, caught.value.permanent) == ("rcpt", permanent)
            assert str(caught.value.smtp_code).startswith(first_digit)
    finally:
        transport.close()
