"""The `outreach` command line (equivalent to `flask --app wsgi`): the entry point only.
The command groups are registered by create_app (outreach.commands); what they share is
in outreach.commands.support."""

from __future__ import annotations

import os

from flask import Flask
from flask.cli import FlaskGroup


def _make_app() -> Flask:
    from outreach import create_app

    # Commands that serve pages (serve, demo) build the whole app themselves: web_app().
    return create_app(web=False)


cli = FlaskGroup(
    create_app=_make_app,
    add_default_commands=True,
    load_dotenv=False,
    set_debug_flag=False,
    help="Outreach: segmented newsletters with provable consent.",
)


def main(argv: list[str] | None = None) -> None:
    """Console-script entry point."""
    os.environ.setdefault("FLASK_RUN_FROM_CLI", "false")
    cli.main(args=argv, prog_name="outreach")


if __name__ == "__main__":
    main()
