"""URL rules whose builders are compiled once per process, not once per application."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, ClassVar

from werkzeug.routing import Rule


class SharedBuilderRule(Rule):
    """werkzeug's Rule, sharing the URL builders it compiles among the applications of one
    process.

    werkzeug writes each rule's two `url_for` builders as Python source and compiles them
    every time the rule is registered: a third of building an application (~30 ms for
    Outreach's hundred rules), paid by every test and by each app the commands build. A
    builder depends only on the rule's text, its parsed trace and its defaults, and takes
    its rule as its first argument, so one compiled builder serves every rule alike."""

    _compiled: ClassVar[dict[tuple[Any, ...], Callable[..., tuple[str, str]]]] = {}

    def _compile_builder(self, append_unknown: bool = True) -> Callable[..., tuple[str, str]]:
        key = (
            self.rule,
            self.host,
            self.subdomain,
            self.merge_slashes,
            tuple(self._trace),
            repr(sorted((self.defaults or {}).items())),
            append_unknown,
        )
        builder = self._compiled.get(key)
        if builder is None:
            builder = self._compiled[key] = super()._compile_builder(append_unknown)
        return builder
