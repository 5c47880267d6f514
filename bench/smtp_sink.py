"""A local SMTP sink for the benchmarks: accepts everything, counts, keeps nothing.

python bench/smtp_sink.py PORT      (prints "ready" when listening, then "mesg=N" lines as
                                     messages arrive, at most every 0.2 s; SIGTERM stops it)

A Python sink measures itself (ENGINEERING.md): bench/send.py uses Postfix's smtp-sink
when it is installed and this one only when asked (--sink aiosmtpd) or when it is not.
"""

from __future__ import annotations

import signal
import sys
import threading
from typing import Any

from aiosmtpd.controller import Controller


class Counter:
    """Counts delivered messages."""

    def __init__(self) -> None:
        self.messages = 0

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
        self.messages += 1
        return "250 OK"


def main() -> None:
    port = int(sys.argv[1])
    counter = Counter()
    controller = Controller(counter, hostname="127.0.0.1", port=port)
    controller.start()
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    print("ready", flush=True)
    told = -1
    while not stop.wait(0.2):
        if counter.messages != told:
            told = counter.messages
            print(f"mesg={told}", flush=True)
    controller.stop()
    print(f"mesg={counter.messages}", flush=True)


if __name__ == "__main__":
    main()
