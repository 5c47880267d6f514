"""Outreach: a self-hosted, segmented newsletter engine."""

from __future__ import annotations

from typing import Any

from flask import Flask

from outreach.config import Settings
from outreach.paths import ROOT
from outreach.url_rules import SharedBuilderRule

__all__ = ["ROOT", "create_app"]


def create_app(settings: Settings | None = None, *, web: bool = True, **overrides: Any) -> Flask:
    """Build the Flask application; no migrations, no network, no worker threads.

    `web=False` leaves out the pages and the API (the command line does not need them, and
    importing them is half of a command's start-up time); the commands are there either way.
    """
    settings = settings or Settings.from_env(**overrides)
    app = Flask(
        __name__,
        template_folder=str(ROOT / "templates"),
        static_folder=str(ROOT / "templates" / "static"),
        instance_path=str(settings.instance_path),
    )
    app.url_rule_class = SharedBuilderRule
    app.config.update(settings.flask_config())
    app.extensions["outreach.settings"] = settings

    import outreach.models  # noqa: F401  (every mapper is known before the first query)
    from outreach import db
    from outreach.commands.registry import register

    db.init_app(app, settings)
    if web:
        from outreach import web as surfaces

        surfaces.init_app(app)
    register(app)
    # Commands that need the whole app (serve, demo) build it with this, not by importing
    # the package root: command groups never import what registers them.
    app.extensions["outreach.factory"] = create_app
    return app
