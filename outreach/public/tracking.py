"""GET /t/o/<token> (open pixel) and GET /t/c/<token> (click redirect)."""

from __future__ import annotations

import base64
from typing import Any

from flask import Blueprint, Response, current_app, redirect, render_template, request

from outreach.db import utcnow
from outreach.tracking.links import read_click, read_open
from outreach.tracking.models import HitKind
from outreach.tracking.recorder import HitRecorder, recorder_for
from outreach.tracking.service import Hit

bp = Blueprint("tracking", __name__, url_prefix="/t")
GIF = base64.b64decode("R0lGODlhAQABAIAAAAAAAP///yH5BAEAAAAALAAAAAABAAEAAAIBRAA7")
NO_CACHE = {
    "Cache-Control": "no-store, no-cache, must-revalidate, max-age=0, private",
    "Pragma": "no-cache",
    "Expires": "0",
}


def recorder() -> HitRecorder:
    """This app's hit recorder."""
    return recorder_for(current_app._get_current_object())  # type: ignore[attr-defined]


def _hit(kind: HitKind, delivery_id: int, url: str | None = None) -> Hit:
    return Hit(
        kind=kind,
        delivery_id=delivery_id,
        at=utcnow(),
        user_agent=request.headers.get("User-Agent", "")[:300],
        ip=request.remote_addr,
        head=request.method == "HEAD",
        url=url,
    )


@bp.route("/o/<token>", methods=["GET", "HEAD"])
def open_pixel(token: str) -> Any:
    """A transparent 1×1 GIF, never cached; a broken token still gets the image."""
    delivery_id = read_open(current_app.extensions["outreach.settings"].secret_key, token)
    if delivery_id is not None:
        recorder().add(_hit(HitKind.OPEN, delivery_id))
    return Response(GIF, mimetype="image/gif", headers=NO_CACHE)


@bp.route("/c/<token>", methods=["GET", "HEAD"])
def click(token: str) -> Any:
    """Redirect to the signed target; a broken token never redirects anywhere."""
    found = read_click(current_app.extensions["outreach.settings"].secret_key, token)
    if found is None or not found[1].startswith(("https://", "http://")):
        return render_template(
            "public/link_problem.html", expired=False, message="this link is broken"
        ), 404
    delivery_id, target = found
    recorder().add(_hit(HitKind.CLICK, delivery_id, target))
    response = redirect(target, code=302)
    response.headers.update(NO_CACHE)
    return response
