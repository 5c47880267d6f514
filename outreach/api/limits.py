"""Bounds on API request bodies, checked before any JSON parser sees them.

Python's json module recurses once per nesting level: a body of 5,000 `[` made the request
parser raise RecursionError (a 500). The depth is counted over the raw bytes instead — the
brackets outside strings — and a body nested deeper than MAX_JSON_DEPTH, or larger than
MAX_JSON_BYTES, is refused with a 400 saying which bound it broke.
"""

from __future__ import annotations

import re

from flask import request

from outreach.errors import MalformedBody

MAX_JSON_DEPTH = 32  # a contact's attributes are flat; 32 leaves room for any real document
MAX_JSON_BYTES = 8 * 1024 * 1024
_STRING = re.compile(rb'"(?:\\.|[^"\\])*"')
_BRACKETS = re.compile(rb"[\[\]{}]")


def json_depth(body: bytes) -> int:
    """How deeply the arrays and objects of a JSON text nest (0 for a scalar)."""
    depth = deepest = 0
    for bracket in _BRACKETS.findall(_STRING.sub(b'""', body)):
        if bracket in (b"[", b"{"):
            depth += 1
            deepest = max(deepest, depth)
        else:
            depth -= 1
    return deepest


def bounded_json() -> None:
    """Refuse an API request whose JSON body is too large or nested too deep."""
    if not request.is_json:
        return
    if (request.content_length or 0) > MAX_JSON_BYTES:
        raise MalformedBody(f"the JSON body is over {MAX_JSON_BYTES // (1024 * 1024)} MB")
    body = request.get_data(cache=True)
    if len(body) > MAX_JSON_BYTES:
        raise MalformedBody(f"the JSON body is over {MAX_JSON_BYTES // (1024 * 1024)} MB")
    if json_depth(body) > MAX_JSON_DEPTH:
        raise MalformedBody(
            f"the JSON body nests arrays and objects more than {MAX_JSON_DEPTH} levels deep"
        )
