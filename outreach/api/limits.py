"""Bounds on API requests, checked before the request parser sees them.

Python's json module recurses once per nesting level: a body of 5,000 `[` made the request
parser raise RecursionError (a 500). The depth is counted over the raw bytes instead — the
brackets outside strings — and a body nested deeper than MAX_JSON_DEPTH, or larger than
MAX_JSON_BYTES, is refused with a 400 saying which bound it broke. A body of another type
is refused too (webargs read a text or form body as no JSON at all: a PATCH then changed
nothing and answered 200); multipart/form-data is the CSV import's. And U+0000 is refused
wherever a request carries text (path, query, form, JSON names and strings): PostgreSQL
text cannot hold it, so a group or campaign named "x\\u0000" was a 500 there.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from typing import Any

from flask import request

from outreach.errors import MalformedBody, ValidationError

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
    """Refuse an API request whose JSON body is too large or nested too deep, or not JSON."""
    if not request.is_json:
        _refuse_other_bodies()
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
    try:
        document = json.loads(body)
    except ValueError:
        return  # the request parser answers with its own 400
    _refuse_nul(_json_texts(document, ""))


def _refuse_other_bodies() -> None:
    has_body = (request.content_length or 0) > 0 or "chunked" in request.headers.get(
        "Transfer-Encoding", ""
    )
    if has_body and request.mimetype != "multipart/form-data":
        raise MalformedBody(
            f"the body must be JSON (Content-Type: application/json), "
            f"not {request.mimetype or 'untyped'}"
        )


def refuse_nul_characters() -> None:
    """Every request, every surface (the app's before_request): a NUL in the path, the query
    or a form field is refused naming the field (JSON bodies: bounded_json)."""
    _refuse_nul(_request_texts())


def _request_texts() -> Iterable[tuple[str, str]]:
    """(field, text) of the path, its values, the query and the form fields of the request."""
    yield "path", request.path
    yield from ((k, v) for k, v in (request.view_args or {}).items() if isinstance(v, str))
    for name, value in request.args.items(multi=True):
        yield name, name + value
    if request.mimetype in ("multipart/form-data", "application/x-www-form-urlencoded"):
        for name, value in request.form.items(multi=True):
            yield name, name + value


def _json_texts(value: Any, field: str) -> Iterable[tuple[str, str]]:
    """(field, text) of every string and member name of a JSON document (nesting bounded)."""
    if isinstance(value, str):
        yield field or "body", value
    elif isinstance(value, dict | list):
        items = value.items() if isinstance(value, dict) else enumerate(value)
        for key, item in items:
            name = f"{field}.{key}" if field else str(key)
            yield name, str(key)
            yield from _json_texts(item, name)


def _refuse_nul(texts: Iterable[tuple[str, str]]) -> None:
    for field, text in texts:
        if "\x00" in text:
            shown = field.replace("\x00", "\\x00")
            raise ValidationError(
                f"{shown} contains a NUL character (U+0000), which no text can hold",
                field=shown,
            )
