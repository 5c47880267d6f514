"""MJML compiled safely: its shape bounded before the compiler sees it, the compiler apart.

mjml-python is native code that recurses over the element tree: 10,000 nested `<div>`s,
`mj-wrapper`s or unclosed `<b>`s overflow its stack and kill the process with SIGSEGV
(1,000 levels are fine). So every source is first measured by a bounded tag scanner —
nesting depth at most `MAX_DEPTH`, at most `MAX_ELEMENTS` elements — and then compiled in
a child process, where a crash the scanner did not foresee costs that child, never the web
server or the worker that asked: it is refused as a template problem and the pool restarts.
"""

from __future__ import annotations

import atexit
import os
import re
import select
import struct
import subprocess
import sys
import threading
import time
from typing import IO

from outreach.rendering.templates import TemplateProblem

MAX_DEPTH = 100
MAX_ELEMENTS = 20_000
COMPILE_SECONDS = 30.0
CHILD_MEMORY = 2 * 1024**3  # address space of the compiling child

# Tags whose end tag HTML lets one leave out: a new one closes the open one.
_SELF_CLOSING_SIBLINGS = frozenset(
    {"p", "li", "dt", "dd", "tr", "td", "th", "option", "thead", "tbody", "tfoot"}
)
_VOID = frozenset(
    {
        "area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "param",
        "source", "track", "wbr", "mj-image", "mj-divider", "mj-spacer", "mj-breakpoint",
        "mj-font", "mj-all", "mj-class",
    }
)  # fmt: skip
_TAG = re.compile(
    r"<!--.*?-->|<!\[CDATA\[.*?\]\]>|<(/?)([A-Za-z][\w:.-]*)((?:[^>\"']|\"[^\"]*\"|'[^']*')*)>",
    re.S,
)


def check_shape(source: str, part: str = "mjml") -> None:
    """Refuse MJML nested deeper than MAX_DEPTH or with more than MAX_ELEMENTS elements."""
    stack: list[str] = []
    elements = 0
    for match in _TAG.finditer(source):
        closing, name, rest = match.group(1), match.group(2), match.group(3)
        if name is None:
            continue
        name = name.lower()
        if closing:
            if name in stack:
                del stack[len(stack) - 1 - stack[::-1].index(name) :]
            continue
        elements += 1
        if elements > MAX_ELEMENTS:
            raise TemplateProblem(
                f"{part}, line {_line(source, match.start())}: more than {MAX_ELEMENTS:,} elements",
                field=part,
            )
        if name in _VOID or rest.rstrip().endswith("/"):
            continue
        if name in _SELF_CLOSING_SIBLINGS and stack and stack[-1] == name:
            stack.pop()
        stack.append(name)
        if len(stack) > MAX_DEPTH:
            raise TemplateProblem(
                f"{part}, line {_line(source, match.start())}: elements nested more than "
                f"{MAX_DEPTH} deep (<{name}> inside {len(stack) - 1} open elements)",
                field=part,
            )


def _line(source: str, at: int) -> int:
    return source.count("\n", 0, at) + 1


class _Child:
    """One long-lived `python -c serve()` process speaking length-prefixed frames on its pipes.

    Not multiprocessing: its spawn re-imports the parent's main module, and its fork would
    copy a threaded web server or worker.
    """

    def __init__(self) -> None:
        code = "from outreach.rendering.mjml_compiler import serve; serve()"
        self.process = subprocess.Popen(  # noqa: S603 - our own interpreter and code
            [sys.executable, "-c", code],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
        )
        self.pid = os.getpid()
        atexit.register(self.close)

    def compile(self, source: str, timeout: float) -> tuple[bool, str]:
        """(compiled, html or the compiler's message); OSError when the child died."""
        stdin, stdout = self.process.stdin, self.process.stdout
        if stdin is None or stdout is None:
            raise OSError("the MJML compiler has no pipes")
        _write_frame(stdin, b"", source.encode())
        deadline = time.monotonic() + timeout
        status, payload = _read_frame(stdout, deadline)
        return status == b"+", payload.decode()

    def close(self) -> None:
        """Stop the child (killed: it may be stuck); again is harmless."""
        atexit.unregister(self.close)
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait()
        for pipe in (self.process.stdin, self.process.stdout):
            if pipe is not None:
                pipe.close()


def _write_frame(pipe: IO[bytes], status: bytes, payload: bytes) -> None:
    pipe.write(status + struct.pack(">I", len(payload)) + payload)
    pipe.flush()


def _read_exactly(pipe: IO[bytes], size: int, deadline: float) -> bytes:
    data = b""
    while len(data) < size:
        if deadline and not select.select([pipe], [], [], max(deadline - time.monotonic(), 0))[0]:
            raise TimeoutError("the MJML compiler took too long")
        chunk = os.read(pipe.fileno(), size - len(data))
        if not chunk:
            raise OSError("the MJML compiler stopped")
        data += chunk
    return data


def _read_frame(pipe: IO[bytes], deadline: float = 0.0) -> tuple[bytes, bytes]:
    head = _read_exactly(pipe, 5, deadline)
    (size,) = struct.unpack(">I", head[1:])
    return head[:1], _read_exactly(pipe, size, deadline)


def serve() -> None:
    """The child's loop: MJML in, HTML (or the compiler's error) out, until stdin closes."""
    from mjml import mjml2html

    _limit_child()
    stdin, stdout = sys.stdin.buffer, sys.stdout.buffer
    while True:
        try:
            head = stdin.read(4)
        except KeyboardInterrupt:
            return
        if len(head) < 4:
            return
        (size,) = struct.unpack(">I", head)
        source = stdin.read(size).decode()
        try:
            status, out = b"+", str(mjml2html(source, fonts={}))
        except BaseException as exc:  # noqa: BLE001 - a Rust panic is a BaseException
            status, out = b"-", str(exc) or type(exc).__name__
        _write_frame(stdout, status, out.encode())


def _limit_child() -> None:
    try:
        import resource

        resource.setrlimit(resource.RLIMIT_AS, (CHILD_MEMORY, CHILD_MEMORY))
    except (ImportError, ValueError, OSError):  # pragma: no cover - platform without limits
        pass


_child: _Child | None = None  # this process's compiler (a fork makes its own)
_lock = threading.Lock()


def compile_mjml(source: str, part: str = "mjml") -> str:
    """The HTML of an MJML source (no web fonts), or a TemplateProblem saying what is wrong."""
    global _child
    check_shape(source, part)
    with _lock:
        if _child is None or _child.pid != os.getpid():
            _child = _Child()
        child = _child
        try:
            compiled, out = child.compile(source, COMPILE_SECONDS)
        except (OSError, TimeoutError) as exc:
            child.close()
            _child = None
            crashed = "took too long" if isinstance(exc, TimeoutError) else "crashed"
            raise TemplateProblem(
                f"{part}: the MJML compiler {crashed} on this source", field=part
            ) from exc
    if not compiled:
        raise TemplateProblem(f"{part}: MJML error: {out}", field=part)
    return out
