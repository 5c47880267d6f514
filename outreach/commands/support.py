"""What the command groups share: the OutreachError handler, the session, JSON output,
progress bars and the app with its pages. Imports no command group and no surface."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import click
from flask import Flask, current_app
from flask.cli import AppGroup, with_appcontext
from sqlalchemy.orm import Session

from outreach.config import Settings
from outreach.db import get_db
from outreach.errors import OutreachError


class OutreachCommand(click.Command):
    """A command that turns OutreachError into a readable message and exit status 1."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except OutreachError as exc:
            where = f" ({exc.field})" if exc.field and exc.field not in exc.message else ""
            raise click.ClickException(f"{exc.message}{where}") from exc


class OutreachGroup(AppGroup):
    """A command group whose commands run in the app context and report OutreachError."""

    command_class = OutreachCommand


def outreach_command(name: str) -> Callable[[Callable[..., Any]], click.Command]:
    """A top-level command: app context and the OutreachError handler."""

    def decorate(callback: Callable[..., Any]) -> click.Command:
        return click.command(name, cls=OutreachCommand)(with_appcontext(callback))

    return decorate


def settings() -> Settings:
    """The settings of the current app."""
    return current_app.extensions["outreach.settings"]  # type: ignore[no-any-return]


@contextmanager
def session_scope() -> Iterator[Session]:
    """A session for one command; it commits when the command succeeds."""
    with get_db().session() as session:
        yield session


def emit_json(document: Any) -> None:
    """Print one JSON document on stdout."""
    click.echo(json.dumps(document, indent=2, ensure_ascii=False, default=str))


json_option = click.option("--json", "as_json", is_flag=True, help="Print one JSON document.")


@contextmanager
def progress(total: int, label: str, quiet: bool) -> Iterator[Callable[[int], None]]:
    """A progress bar on stderr when it is a terminal; a no-op otherwise."""
    if quiet or not sys.stderr.isatty():
        yield lambda _done: None
        return
    from rich.console import Console
    from rich.progress import BarColumn, Progress, TaskProgressColumn, TimeRemainingColumn

    columns = (
        *Progress.get_default_columns()[:1],
        BarColumn(),
        TaskProgressColumn(),
        TimeRemainingColumn(),
    )
    with Progress(*columns, console=Console(stderr=True), transient=False) as bar:
        task = bar.add_task(label, total=total)
        yield lambda done: bar.update(task, completed=done)


def web_app() -> Flask:
    """The current app if it has its pages and API, otherwise a whole one with the same
    settings (commands run on an app without them, see outreach.cli._make_app)."""
    app: Flask = current_app._get_current_object()  # type: ignore[attr-defined]
    if "admin" in app.blueprints:
        return app
    whole: Flask = app.extensions["outreach.factory"](app.extensions["outreach.settings"])
    whole.extensions["outreach.db"] = app.extensions["outreach.db"]  # one engine, one pool
    return whole
