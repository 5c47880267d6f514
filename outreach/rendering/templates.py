"""Sandboxed Jinja for user-written templates, and the checks run when a variant is saved."""

from __future__ import annotations

import time
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from jinja2 import StrictUndefined, Template, TemplateSyntaxError, nodes
from jinja2.exceptions import SecurityError, UndefinedError
from jinja2.runtime import Context
from jinja2.sandbox import ImmutableSandboxedEnvironment

from outreach.errors import ValidationError
from outreach.rendering import bounds

MAX_TEMPLATE = 512 * 1024  # characters of MJML or text source
MAX_RENDER_SECONDS = 0.2
CONTACT_FIELDS = frozenset(
    {"first_name", "last_name", "email", "sector", "organization", "language", "attributes"}
)
TOP_LEVEL = frozenset({"contact", "group", "campaign", "unsubscribe_url", "preferences_url"})
OBJECT_FIELDS = {
    "contact": CONTACT_FIELDS,
    "group": frozenset({"name"}),
    "campaign": frozenset({"name"}),
}


class TemplateProblem(ValidationError):
    """A user template is refused; the message names the part and the line."""

    code = "template"


_RUNTIME_IMPORT = "from jinja2.runtime import "
_BOUNDED_JOINS = (
    "concat, str_join, markup_join = "
    "environment.bounded_concat, environment.bounded_str_join, environment.bounded_markup_join"
)


class BoundedSandbox(ImmutableSandboxedEnvironment):
    """Jinja's immutable sandbox, with every size-multiplying operation bounded (see bounds)."""

    intercepted_binops = frozenset({"*", "**", "+", "%"})
    bounded_concat = staticmethod(bounds.bounded_concat)
    bounded_str_join = staticmethod(bounds.bounded_str_join)
    bounded_markup_join = staticmethod(bounds.bounded_markup_join)

    def __init__(self, **options: Any) -> None:
        super().__init__(**options)
        del self.globals["lipsum"]  # n paragraphs of filler: nothing a newsletter needs
        self.filters = {name: bounds.bounded_filter(name, f) for name, f in self.filters.items()}
        self.filters["outreach_loop"] = bounds.counted_loop
        self.finalize = bounds.counted_output

    def call_binop(self, context: Context, operator: str, left: Any, right: Any) -> Any:
        """`*`, `**`, `+` and `%`, refused before computing a value over the bounds."""
        bounds.check_binop(operator, left, right)
        return bounds.checked_result(super().call_binop(context, operator, left, right))

    def call(__self, __context: Context, __obj: Any, *args: Any, **kwargs: Any) -> Any:  # noqa: N805
        """Every call in a template: string methods that grow are checked first."""
        args = bounds.check_call(__obj, args, kwargs)
        return bounds.checked_result(super().call(__context, __obj, *args, **kwargs))

    def wrap_str_format(self, value: Any) -> Any:
        """`str.format` and `format_map`, refused for a format string with huge widths."""
        wrapped = super().wrap_str_format(value)
        if wrapped is not None:
            bounds.check_format(value.__self__)
        return wrapped

    def _parse(self, source: str, name: str | None, filename: str | None) -> nodes.Template:
        tree = super()._parse(source, name, filename)
        for loop in list(tree.find_all(nodes.For)):
            loop.iter = nodes.Filter(
                loop.iter, "outreach_loop", [], [], None, None, lineno=loop.lineno
            )
        return tree

    def _generate(self, source: nodes.Template, *args: Any, **kwargs: Any) -> str:
        code = super()._generate(source, *args, **kwargs)
        head, found, rest = code.partition(_RUNTIME_IMPORT)
        line, newline, tail = rest.partition("\n")
        if not found:
            raise RuntimeError("the Jinja code generator changed: cannot bound joins")
        return f"{head}{found}{line}\n{_BOUNDED_JOINS}{newline}{tail}"


@lru_cache(maxsize=2)
def environment(html: bool) -> BoundedSandbox:
    """The sandbox: autoescaping for HTML, none for text and subjects; strict undefined."""
    return BoundedSandbox(autoescape=html, undefined=StrictUndefined, keep_trailing_newline=True)


def check_source(source: str, part: str, *, html: bool) -> None:
    """Refuse oversize sources, syntax errors and unknown variables, naming the line."""
    if len(source) > MAX_TEMPLATE:
        raise TemplateProblem(
            f"{part}: template is larger than {MAX_TEMPLATE // 1024} KB", field=part
        )
    try:
        tree = environment(html).parse(source)
    except TemplateSyntaxError as exc:
        raise TemplateProblem(f"{part}, line {exc.lineno}: {exc.message}", field=part) from exc
    _check_names(tree, part)


def _check_names(tree: nodes.Template, part: str) -> None:
    assigned = {n.name for n in tree.find_all(nodes.Name) if n.ctx in ("store", "param")}
    assigned |= {macro.name for macro in tree.find_all(nodes.Macro)}
    for name in tree.find_all(nodes.Name):
        if name.ctx == "load" and name.name not in TOP_LEVEL | assigned | _BUILTINS:
            raise TemplateProblem(
                f"{part}, line {name.lineno}: unknown variable {name.name!r} (use one of "
                f"{', '.join(sorted(TOP_LEVEL))})",
                field=part,
            )
    for attr in tree.find_all(nodes.Getattr):
        if attr.attr.startswith("_"):
            raise TemplateProblem(
                f"{part}, line {attr.lineno}: access to {attr.attr!r} is not allowed", field=part
            )
        if (
            isinstance(attr.node, nodes.Name)
            and attr.node.name in OBJECT_FIELDS
            and attr.attr not in OBJECT_FIELDS[attr.node.name]
        ):
            allowed = ", ".join(sorted(OBJECT_FIELDS[attr.node.name]))
            raise TemplateProblem(
                f"{part}, line {attr.lineno}: unknown variable "
                f"'{attr.node.name}.{attr.attr}' ({attr.node.name} has {allowed})",
                field=part,
            )


_BUILTINS = frozenset(
    {
        "range",
        "loop",
        "true",
        "false",
        "none",
        "True",
        "False",
        "None",
        "dict",
        "cycler",
        "joiner",
        "namespace",
        "super",
        "varargs",
        "kwargs",
        "caller",
    }
)


def trial_render(template: Template, part: str, context: dict[str, Any]) -> str:
    """Render once with a sample context: sandbox violations and slow templates are refused
    (slow twice in a row: a garbage collection can pause any one render)."""
    result, spent = _timed_render(template, part, context)
    if (
        spent > MAX_RENDER_SECONDS
        and _timed_render(template, part, context)[1] > MAX_RENDER_SECONDS
    ):
        raise TemplateProblem(f"{part}: takes too long to render", field=part)
    return result


def _timed_render(template: Template, part: str, context: dict[str, Any]) -> tuple[str, float]:
    started = time.thread_time()  # CPU time: a busy machine is not a slow template
    limit = bounds.MAX_LINE_OUTPUT if part in {"subject", "preheader"} else bounds.MAX_OUTPUT
    try:
        with bounds.bounded(MAX_RENDER_SECONDS * 5):
            result = bounds.render_bounded(template.generate(context), limit, part)
    except SecurityError as exc:
        raise TemplateProblem(f"{part}: not allowed in a template: {exc}", field=part) from exc
    except UndefinedError as exc:
        raise TemplateProblem(f"{part}: {exc.message}", field=part) from exc
    except Exception as exc:  # noqa: BLE001 - any other runtime error is the template's
        raise TemplateProblem(f"{part}: cannot be rendered: {exc}", field=part) from exc
    return result, time.thread_time() - started


@dataclass(frozen=True)
class SampleContact:
    """A stand-in contact for previews and checks."""

    first_name: str = "Alex"
    last_name: str = "Sample"
    email: str = "alex.sample@example.org"
    sector: str = "Consultants"
    organization: str = "Example Ltd"
    language: str = "en"
    attributes: dict[str, Any] | None = None


class Attributes(dict[str, Any]):
    """A contact's free attributes: a missing one renders as "" (and `default` applies)."""

    def __missing__(self, key: str) -> str:
        return ""


@dataclass(frozen=True)
class ContactView:
    """What templates see of a contact (`contact.*` of PRODUCT.md)."""

    first_name: str
    last_name: str
    email: str
    sector: str
    organization: str
    language: str
    attributes: Attributes

    @classmethod
    def of(cls, contact: Any) -> ContactView:
        """The template view of any contact-like object."""
        return cls(
            contact.first_name or "",
            contact.last_name or "",
            contact.email,
            contact.sector or "",
            contact.organization or "",
            contact.language or "",
            Attributes(contact.attributes or {}),
        )
