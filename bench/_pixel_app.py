"""The baseline of bench/tracking.py: a bare WSGI app that answers every request with the
same 1×1 GIF and headers as the open pixel, without reading the token or recording a hit.

    gunicorn -w 2 --threads 4 -b 127.0.0.1:PORT --pythonpath bench _pixel_app:app
"""

from __future__ import annotations

import base64
from collections.abc import Callable, Iterable
from typing import Any

GIF = base64.b64decode("R0lGODlhAQABAIAAAAAAAP///yH5BAEAAAAALAAAAAABAAEAAAIBRAA7")
HEADERS = [
    ("Content-Type", "image/gif"),
    ("Content-Length", str(len(GIF))),
    ("Cache-Control", "no-store, no-cache, must-revalidate, max-age=0, private"),
    ("Pragma", "no-cache"),
    ("Expires", "0"),
]


def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
    """Every request gets the pixel."""
    start_response("200 OK", HEADERS)
    return [GIF]
