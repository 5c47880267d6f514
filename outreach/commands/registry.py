"""The registry of command groups: every `outreach …` command, added to an app by
create_app. Imports the command groups; nothing imports it but the app factory."""

from __future__ import annotations

from flask import Flask


def register(app: Flask) -> None:
    """Add every command group to the app's CLI."""
    from outreach.commands.admin import admin_cli
    from outreach.commands.campaigns import campaigns_cli
    from outreach.commands.consent import consent_cli
    from outreach.commands.contacts import contacts_cli
    from outreach.commands.groups import groups_cli
    from outreach.commands.inbound import inbound_command
    from outreach.commands.ops import db_cli, demo_command, serve_command, worker_command
    from outreach.commands.privacy import privacy_cli
    from outreach.commands.settings import settings_cli
    from outreach.commands.stats import stats_command

    for command in (
        db_cli,
        admin_cli,
        contacts_cli,
        groups_cli,
        consent_cli,
        campaigns_cli,
        worker_command,
        serve_command,
        demo_command,
        stats_command,
        inbound_command,
        privacy_cli,
        settings_cli,
    ):
        app.cli.add_command(command)
