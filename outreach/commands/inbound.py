"""`outreach inbound`: bounces, complaints and mailed unsubscribes, from a pipe or a Maildir."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from outreach.application.inbound import process
from outreach.commands.support import (
    emit_json,
    json_option,
    outreach_command,
    session_scope,
    settings,
)


@outreach_command("inbound")
@click.option(
    "--maildir",
    type=click.Path(file_okay=False, path_type=Path),
    help="Process every message in this Maildir's new/ folder (each moves to cur/).",
)
@click.option("--once", is_flag=True, help="One pass, then exit (the default for a pipe).")
@json_option
def inbound_command(maildir: Path | None, once: bool, as_json: bool) -> None:
    """Process inbound mail: a message on standard input (an MTA's pipe alias, e.g.
    `bounces: "|outreach inbound"`), or the messages of a Maildir. Each is classified — hard
    or soft bounce, complaint, auto-reply, mailed unsubscribe — matched to its delivery by
    its signed tag, applied once, and recorded."""
    del once  # every mode makes one pass; a timer (cron, systemd) runs it again
    sources: list[tuple[str, bytes, Path | None]] = []
    if maildir is None:
        sources.append(("pipe", sys.stdin.buffer.read(), None))
    else:
        new, cur = maildir / "new", maildir / "cur"
        if not new.is_dir():
            raise click.ClickException(f"{maildir}: not a Maildir (no new/ folder)")
        cur.mkdir(exist_ok=True)
        sources += [("maildir", p.read_bytes(), p) for p in sorted(new.iterdir()) if p.is_file()]
    results = []
    for source, raw, path in sources:
        if not raw.strip():
            raise click.ClickException("no message on standard input")
        with session_scope() as session:
            done = process(session, settings(), raw, source)
            results.append(
                {
                    "id": done.record.id,
                    "kind": done.record.kind,
                    "delivery_id": done.record.delivery_id,
                    "contact_id": done.record.contact_id,
                    "decision": done.record.decision,
                    "duplicate": done.duplicate,
                }
            )
        if path is not None:  # processed and committed: out of new/
            path.rename(cur / f"{path.name}:2,S")
    if as_json:
        emit_json(results)
        return
    for r in results:
        seen = " (already processed: nothing done again)" if r["duplicate"] else ""
        click.echo(f"inbound #{r['id']}: {r['decision']}{seen}")
    if maildir is not None:
        click.echo(f"{len(results)} message{'' if len(results) == 1 else 's'} processed")
