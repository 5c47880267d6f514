"""`outreach settings show|set`: the controller's identity and the notice texts, as in
Admin › Settings (every change of a text is a new notice version)."""

from __future__ import annotations

from typing import IO

import click

from outreach.commands.support import OutreachGroup, emit_json, json_option, session_scope
from outreach.consent.notice import (
    SETTING_KEYS,
    change_settings,
    current_notice,
    settings_document,
)

settings_cli = OutreachGroup(
    "settings", help="The controller's identity and the privacy notice texts."
)


@settings_cli.command("show")
@json_option
def show_command(as_json: bool) -> None:
    """The notice in force: its version, then every setting (KEY: VALUE)."""
    with session_scope() as session:
        document = settings_document(current_notice(session))
    if as_json:
        emit_json(document)
        return
    click.echo(
        f"notice version {document['version']} of {document['created_at'][:16]} UTC "
        f"(sha256 {document['hash'][:16]})"
    )
    for key in SETTING_KEYS:
        lines = str(document[key]).split("\n")
        if len(lines) == 1:
            click.echo(f"{key}: {lines[0]}")
            continue
        click.echo(f"{key}:")
        for line in lines:
            click.echo(f"    {line}" if line else "")


def _read(source: IO[bytes]) -> str:
    try:
        return source.read().decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise click.ClickException(f"{source.name} is not UTF-8 text ({exc.reason})") from exc


@settings_cli.command("set")
@click.argument("pairs", nargs=-1, metavar="KEY [VALUE] [KEY VALUE]...")
@click.option(
    "--file",
    "source",
    type=click.File("rb"),
    help="Read the value of the one KEY from this UTF-8 file ('-' for stdin), e.g. the "
    "full notice text.",
)
def set_command(pairs: tuple[str, ...], source: IO[bytes] | None) -> None:
    """Set KEY to VALUE (or to the text of --file); several KEY VALUE pairs change together,
    as one new version of the notice.

    KEY: controller_name, postal_address, contact_email, first_layer_responsible,
    first_layer_purpose, first_layer_legitimation, first_layer_recipients,
    first_layer_rights, first_layer_additional or full_text.
    """
    if source is not None:
        if len(pairs) != 1:
            raise click.UsageError("give either VALUE or --file PATH, for one KEY")
        changes = {pairs[0]: _read(source)}
    elif not pairs or len(pairs) % 2:
        raise click.UsageError("give KEY VALUE pairs, or one KEY and --file PATH")
    else:
        changes = dict(zip(pairs[::2], pairs[1::2], strict=True))
    for key in changes:
        if key not in SETTING_KEYS:
            raise click.UsageError(f"{key!r} is not one of: {', '.join(SETTING_KEYS)}")
    with session_scope() as session:
        notice, changed = change_settings(session, changes)
        version = notice.id
    if changed:
        click.echo(f"notice version {version} is now in force ({', '.join(changes)} changed)")
    else:
        click.echo(f"nothing changed: notice version {version} stays in force")
