"""Bounds on what a user template may build, so that no template can exhaust memory or time.

The sandbox already refuses unsafe attributes and ranges over 100,000 items. On top:

* every operator that multiplies size (`*`, `**`, `+`, `%`, `~`), every filter and every
  call of a string method is checked *before* it allocates: no value built in a template
  may exceed `MAX_VALUE` characters (or items, counted deep);
* those operators are intercepted, so Jinja cannot fold them at compile time either;
* captured output (macros, `{% set %}` blocks) is measured before it is joined, the
  rendered output of each part is counted as it is produced, loops share an iteration
  budget, and every render inside `bounded()` has a deadline.

A template over a bound raises `LimitExceeded` (a `SecurityError`), whose message says
which bound: on save it is refused with that reason, at send time that one delivery fails
with it.
"""

from __future__ import annotations

import math
import re
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from functools import wraps
from typing import Any

from jinja2 import pass_context
from jinja2.exceptions import SecurityError
from jinja2.runtime import Context, markup_join, str_join

MAX_VALUE = 1_000_000  # characters of a string, items of a sequence (counted deep)
MAX_OUTPUT = 1_000_000  # characters of one rendered part (HTML, text)
MAX_EMITTED = 2_000_000  # characters of dynamic output of one render, captured or not
MAX_LINE_OUTPUT = 2_000  # characters of a rendered subject or preheader
MAX_ITERATIONS = 100_000  # loop iterations of one render, all loops together
MAX_INT_BITS = 100_000  # size of a number computed in a template
SEND_SECONDS = 2.0  # deadline of one message's renders
CHECK_EVERY = 64  # steps between two looks at the clock


class LimitExceeded(SecurityError):
    """A template went over one of the bounds; the message says which."""


class _Budget(threading.local):
    active = False
    deadline = math.inf
    iterations = 0
    steps = 0
    emitted = 0


_budget = _Budget()


@contextmanager
def bounded(seconds: float = SEND_SECONDS) -> Iterator[None]:
    """Renders inside share one deadline and one loop budget (re-entrant: inner keeps outer)."""
    if _budget.active:
        yield
        return
    _budget.active, _budget.deadline = True, time.monotonic() + seconds
    _budget.iterations = _budget.steps = _budget.emitted = 0
    try:
        yield
    finally:
        _budget.active, _budget.deadline = False, math.inf


def _tick() -> None:
    budget = _budget
    budget.steps += 1
    if budget.steps % CHECK_EVERY == 0 and time.monotonic() > budget.deadline:
        raise LimitExceeded("the template takes too long to render")


def _over(what: str, size: int, limit: int = MAX_VALUE) -> LimitExceeded:
    return LimitExceeded(f"{what} would be {size:,} long (the limit is {limit:,})")


def size_of(value: Any, limit: int = MAX_VALUE) -> int:
    """Characters of a string, or items of a sequence counted deep; stops once over `limit`."""
    if isinstance(value, str | bytes):
        return len(value)
    if not isinstance(value, list | tuple | dict):
        return 1
    total, stack = 0, [value]
    while stack and total <= limit:
        item = stack.pop()
        if isinstance(item, str | bytes):
            total += len(item)
        elif isinstance(item, list | tuple):
            total += 1
            stack.extend(item)
        elif isinstance(item, dict):
            total += 1
            stack.extend(item.values())
        else:
            total += 1
    return total


def _checked(value: Any, what: str = "a value") -> Any:
    if isinstance(value, str | bytes | list | tuple | dict) and len(value) > MAX_VALUE:
        raise _over(what, len(value))
    return value


_PERCENT = re.compile(r"%(?:\([^)]*\))?[#0\- +]*(\*|\d+)?(?:\.(\*|\d+))?")
_BRACE = re.compile(r"\{[^{}]*?:([^{}]*)\}")


def check_format(template: Any) -> None:
    """Refuse a format string whose widths or precisions would build a huge value."""
    if not isinstance(template, str):
        return
    for match in _PERCENT.finditer(template):
        for number in match.groups():
            if number == "*" or (number and int(number) > 10_000):
                raise LimitExceeded("a format width or precision over 10,000 is not allowed")
    for spec in _BRACE.findall(template):
        if any(int(n) > 10_000 for n in re.findall(r"\d+", spec)) or "{" in spec:
            raise LimitExceeded("a format width or precision over 10,000 is not allowed")


def check_binop(operator: str, left: Any, right: Any) -> None:
    """Refuse `*`, `**`, `+` and `%` whose result would go over a bound, before computing."""
    _tick()
    if operator == "*":
        for seq, times in ((left, right), (right, left)):
            if isinstance(seq, str | bytes | list | tuple) and isinstance(times, int):
                if times > 0 and size_of(seq) * times > MAX_VALUE:
                    raise _over("a repeated value", size_of(seq) * times)
                return
        if isinstance(left, int) and isinstance(right, int):
            if abs(left).bit_length() + abs(right).bit_length() > MAX_INT_BITS:
                raise LimitExceeded("a number in the template grows too large")
    elif operator == "**":
        if isinstance(left, int) and isinstance(right, int) and abs(left) > 1 and right > 0:
            if right * abs(left).bit_length() > MAX_INT_BITS:
                raise LimitExceeded("a power in the template grows too large")
    elif operator == "+":
        if isinstance(left, str | bytes | list | tuple) and isinstance(right, type(left)):
            total = size_of(left) + size_of(right)
            if total > MAX_VALUE:
                raise _over("a joined value", total)
    elif operator == "%":
        check_format(left)


def _grown_by(obj: Any, name: str, args: tuple[Any, ...]) -> int | None:
    """The length a size-multiplying string method would return, or None."""
    if name in {"center", "ljust", "rjust", "zfill"} and args and isinstance(args[0], int):
        return max(len(obj), args[0])
    if name == "expandtabs":
        tab = args[0] if args and isinstance(args[0], int) else 8
        return len(obj) + obj.count("\t") * max(tab, 0)
    if name == "replace" and len(args) >= 2 and isinstance(args[0], str):
        return replaced_length(obj, args[0], args[1], args[2] if len(args) > 2 else -1)
    return None


def replaced_length(text: str, old: str, new: Any, count: Any = -1) -> int:
    """The length of `text.replace(old, new, count)`, computed without building it."""
    found = text.count(old) if old else len(text) + 1
    if isinstance(count, int) and count >= 0:
        found = min(found, count)
    return len(text) + found * (len(str(new)) - len(old))


def check_call(func: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> tuple[Any, ...]:
    """Refuse a string method call that would build a huge value; its (possibly listed) args."""
    _tick()
    owner = getattr(func, "__self__", None)
    if not isinstance(owner, str):
        return args
    name = getattr(func, "__name__", "")
    if name in {"format", "format_map"}:
        check_format(owner)
    elif name == "join" and args:
        items = list(args[0])
        if len(items) > MAX_VALUE:
            raise _over("a joined value", len(items))
        total = sum(len(i) for i in items if isinstance(i, str)) + len(owner) * len(items)
        if total > MAX_VALUE:
            raise _over("a joined value", total)
        return (items, *args[1:])
    else:
        grown = _grown_by(owner, name, args)
        if grown is not None and grown > MAX_VALUE:
            raise _over(f"the result of {name}()", grown)
    return args


def checked_result(value: Any) -> Any:
    """A call's or filter's result, refused when over the bound."""
    return _checked(value)


SIZED_FILTERS = frozenset({"batch", "center", "indent", "slice", "truncate", "wordwrap"})


def bounded_filter(name: str, func: Callable[..., Any]) -> Callable[..., Any]:
    """A filter that refuses huge numeric arguments and results, and the growth of some."""

    @wraps(func)
    def guarded(*args: Any, **kwargs: Any) -> Any:
        _tick()
        values = list(args[1:] if _passes_first(func) else args)
        if name in SIZED_FILTERS:
            for arg in (*values[1:], *kwargs.values()):
                if isinstance(arg, int) and not isinstance(arg, bool) and abs(arg) > MAX_VALUE:
                    raise LimitExceeded(f"the {name} filter was given a size over {MAX_VALUE:,}")
        _filter_growth(name, values, kwargs)
        return _checked(func(*args, **kwargs), f"the result of the {name} filter")

    return guarded


def _passes_first(func: Callable[..., Any]) -> bool:
    return getattr(func, "jinja_pass_arg", None) is not None


def _filter_growth(name: str, values: list[Any], kwargs: dict[str, Any]) -> None:
    if not values:
        return
    value = values[0]
    if name == "format":
        check_format(value)
    elif name == "replace" and len(values) >= 3 and isinstance(value, str):
        grown = replaced_length(value, str(values[1]), values[2], *values[3:4])
        if grown > MAX_VALUE:
            raise _over("the result of the replace filter", grown)
    elif name == "indent" and isinstance(value, str):
        width = values[1] if len(values) > 1 else kwargs.get("width", 4)
        step = len(width) if isinstance(width, str) else width if isinstance(width, int) else 0
        grown = len(value) + (value.count("\n") + 1) * step
        if grown > MAX_VALUE:
            raise _over("the result of the indent filter", grown)
    elif name == "wordwrap" and isinstance(value, str):
        wrap = values[3] if len(values) > 3 else kwargs.get("wrapstring") or "\n"
        width = values[1] if len(values) > 1 else kwargs.get("width", 79)
        lines = len(value) // max(width if isinstance(width, int) else 79, 1) + 1
        if len(value) + lines * len(str(wrap)) > MAX_VALUE:
            raise _over("the result of the wordwrap filter", len(value) + lines * len(wrap))


def _bounded_join(join: Callable[[Iterable[Any]], str]) -> Callable[[Iterable[Any]], str]:
    def joined(parts: Iterable[Any]) -> str:
        parts = list(parts)
        total = sum(len(p) if isinstance(p, str) else size_of(p) for p in parts)
        if total > MAX_VALUE:
            raise _over("joined output", total)
        return join(parts)

    return joined


bounded_concat = _bounded_join("".join)
bounded_str_join = _bounded_join(str_join)
bounded_markup_join = _bounded_join(markup_join)


@pass_context
def counted_loop(_context: Context, iterable: Any) -> Iterator[Any]:
    """Every `{% for %}` iterates through this: loops share the render's iteration budget."""
    budget = _budget
    for item in iterable:
        if budget.active:
            budget.iterations += 1
            if budget.iterations > MAX_ITERATIONS:
                raise LimitExceeded(f"the loops run more than {MAX_ITERATIONS:,} times")
            if budget.iterations % CHECK_EVERY == 0 and time.monotonic() > budget.deadline:
                raise LimitExceeded("the template takes too long to render")
        yield item


def counted_output(value: Any) -> Any:
    """Jinja's finalize: every `{{ }}` printed, in macros and `{% set %}` blocks too, counts."""
    budget = _budget
    if budget.active and not isinstance(value, int | float):
        budget.emitted += len(value) if isinstance(value, str) else size_of(value)
        if budget.emitted > MAX_EMITTED:
            raise LimitExceeded(f"the template prints more than {MAX_EMITTED:,} characters")
    return value


def render_bounded(chunks: Iterable[str], limit: int = MAX_OUTPUT, part: str = "output") -> str:
    """Join a template's generated chunks, refusing output over `limit` characters."""
    out: list[str] = []
    size = 0
    for chunk in chunks:
        size += len(chunk)
        if size > limit:
            raise LimitExceeded(f"the rendered {part} is longer than {limit:,} characters")
        out.append(chunk)
    return "".join(out)
