"""Who holds what: this process's worker id, and the claims its threads are sending.

A claim (a batch of deliveries, a few outbox emails) is stamped with the worker's id and a
token of its own. While a thread sends, the process's heartbeat renews the lease of every
open token, and the ledger only records an outcome on a row whose token is still the
sender's. A claim that ends on an error (the database went away mid-batch) is left
*abandoned*: the heartbeat gives its rows back once the database answers again — after
first writing down the outcome of a message the SMTP server had accepted but the ledger
could not record (*unrecorded*), so that it is not sent again.
"""

from __future__ import annotations

import os
import secrets
import socket
import threading
import time
from dataclasses import dataclass, field
from typing import Any

DELIVERY, OUTBOX = "delivery", "outbox"


@dataclass
class Unrecorded:
    """An accepted message whose outcome is not in the database yet."""

    kind: str
    row_id: int
    token: str
    values: dict[str, Any] = field(default_factory=dict)


@dataclass
class _Open:
    kind: str
    valid_until: float  # time.monotonic() until which the lease is known to hold


class Claims:
    """The claims of one process."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.open: dict[str, _Open] = {}
        self.abandoned: dict[str, str] = {}  # token -> kind
        self.unrecorded: list[Unrecorded] = []

    def new(self, kind: str, lease_seconds: float) -> str:
        """A token for a claim about to be made (its lease starts now)."""
        token = secrets.token_hex(8)
        with self.lock:
            self.open[token] = _Open(kind, time.monotonic() + lease_seconds)
        return token

    def holds(self, token: str, margin: float) -> bool:
        """Whether the claim's lease holds for `margin` seconds more (it was renewed)."""
        with self.lock:
            found = self.open.get(token)
        return found is not None and time.monotonic() + margin < found.valid_until

    def tokens(self, kind: str) -> list[str]:
        """The open claims of one kind (the heartbeat renews them)."""
        with self.lock:
            return [t for t, c in self.open.items() if c.kind == kind]

    def renewed(self, tokens: list[str], since: float, lease_seconds: float) -> None:
        """The leases of `tokens` were extended at `since` (monotonic) by `lease_seconds`."""
        with self.lock:
            for token in tokens:
                if token in self.open:
                    self.open[token].valid_until = since + lease_seconds

    def close(self, token: str) -> None:
        """The claim is over: every row of it is recorded or given back."""
        with self.lock:
            self.open.pop(token, None)

    def abandon(self, token: str, unrecorded: Unrecorded | None = None) -> None:
        """The claim ended on an error: its rows go back when the database answers."""
        with self.lock:
            found = self.open.pop(token, None)
            if found is not None:
                self.abandoned[token] = found.kind
            if unrecorded is not None:
                self.unrecorded.append(unrecorded)

    def take_abandoned(self) -> tuple[list[Unrecorded], dict[str, str]]:
        """What to mend now (put back with `give_back` if mending fails)."""
        with self.lock:
            found = self.unrecorded, self.abandoned
            self.unrecorded, self.abandoned = [], {}
        return found

    def give_back(self, unrecorded: list[Unrecorded], abandoned: dict[str, str]) -> None:
        """Mending failed: try again at the next beat."""
        with self.lock:
            self.unrecorded[:0] = unrecorded
            self.abandoned.update(abandoned)


claims = Claims()
_identity: tuple[int, str] | None = None


def worker_id() -> str:
    """This process's id in the workers table: host, pid and a random part (a new one
    after a fork, and for a pid the system gave again)."""
    global _identity
    pid = os.getpid()
    if _identity is None or _identity[0] != pid:
        _identity = (pid, f"{socket.gethostname()[:60]}:{pid}:{secrets.token_hex(4)}")
    return _identity[1]
