"""The tracking endpoints' hot path, answered in front of Flask.

A pixel or a click is a token check, a queued hit and a fixed answer: Flask's request
machinery (context, session, CSRF, hooks) cost ~0.3 ms of it. Anything unusual (a broken
click token) is handed to the Flask views, which answer it the same way as before.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from flask import Flask

from outreach.db import utcnow
from outreach.public.tracking import GIF, NO_CACHE
from outreach.tracking.links import read_click, read_open
from outreach.tracking.models import HitKind
from outreach.tracking.recorder import HitRecorder, recorder_for
from outreach.tracking.service import Hit

StartResponse = Callable[..., Any]
_HEADERS = [*NO_CACHE.items(), ("X-Content-Type-Options", "nosniff")]


class TrackingFastPath:
    """WSGI middleware for GET/HEAD /t/o/<token> and /t/c/<token>."""

    def __init__(self, wsgi_app: Callable[..., Iterable[bytes]], app: Flask) -> None:
        self.wsgi_app = wsgi_app
        self.app = app
        self.secret = app.extensions["outreach.settings"].secret_key

    def recorder(self) -> HitRecorder:
        """The app's recorder (shared with the Flask views)."""
        return recorder_for(self.app)

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Any:
        path, method = environ.get("PATH_INFO", ""), environ.get("REQUEST_METHOD", "GET")
        if method in ("GET", "HEAD") and path.startswith(("/t/o/", "/t/c/")):
            token = path[5:]
            if token and "/" not in token:
                answer = self._open if path[3] == "o" else self._click
                response = answer(environ, start_response, token, method == "HEAD")
                if response is not None:
                    return response
        return self.wsgi_app(environ, start_response)

    def _hit(
        self,
        environ: dict[str, Any],
        kind: HitKind,
        delivery_id: int,
        head: bool,
        url: str | None = None,
    ) -> None:
        self.recorder().add(
            Hit(
                kind=kind,
                delivery_id=delivery_id,
                at=utcnow(),
                user_agent=environ.get("HTTP_USER_AGENT", "")[:300],
                ip=environ.get("REMOTE_ADDR"),
                head=head,
                url=url,
            )
        )

    def _open(
        self, environ: dict[str, Any], start_response: StartResponse, token: str, head: bool
    ) -> list[bytes]:
        delivery_id = read_open(self.secret, token)
        if delivery_id is not None:
            self._hit(environ, HitKind.OPEN, delivery_id, head)
        start_response(
            "200 OK", [("Content-Type", "image/gif"), ("Content-Length", str(len(GIF))), *_HEADERS]
        )
        return [] if head else [GIF]

    def _click(
        self, environ: dict[str, Any], start_response: StartResponse, token: str, head: bool
    ) -> list[bytes] | None:
        found = read_click(self.secret, token)
        if found is None or not found[1].startswith(("https://", "http://")):
            return None  # the Flask view answers broken links with its page
        delivery_id, target = found
        self._hit(environ, HitKind.CLICK, delivery_id, head, target)
        start_response("302 Found", [("Location", target), ("Content-Length", "0"), *_HEADERS])
        return []
