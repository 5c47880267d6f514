"""`outreach db …`, `worker`, `serve` and `demo`."""

from __future__ import annotations

import os
import sys
from typing import Any

import click

from outreach.commands.support import OutreachGroup, outreach_command, settings, web_app
from outreach.migrate import downgrade, upgrade
from outreach.ops.checks import startup_warnings

db_cli = OutreachGroup("db", help="Create or migrate the database.")


@db_cli.command("upgrade")
@click.argument("revision", default="head")
def upgrade_command(revision: str) -> None:
    """Create or migrate the database (Alembic) to REVISION (default: head)."""
    upgrade(settings().database_url, revision, settings().secret_key)
    click.echo(f"database at {revision}")


@db_cli.command("downgrade")
@click.argument("revision")
def downgrade_command(revision: str) -> None:
    """Migrate the database down to REVISION ('base' empties it)."""
    downgrade(settings().database_url, revision)
    click.echo(f"database at {revision}")


@outreach_command("worker")
@click.option("--processes", type=int, default=os.cpu_count() or 1, show_default=True)
@click.option("--threads", type=int, default=None, help="Threads per process.")
def worker_command(processes: int, threads: int | None) -> None:
    """Run dramatiq workers against OUTREACH_BROKER_URL (with memory://: this process's
    worker threads, sweeper and maintenance, without the web app)."""
    from flask import current_app

    current = settings()
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    for warning in startup_warnings(current):
        click.echo(f"warning: {warning}", err=True)
    if current.broker_url.startswith("memory://"):
        _run_embedded_until_stopped(app, None)
        return
    # Each dramatiq process beats, ticks and sweeps on its own (ops.heartbeat): what waited
    # while no worker ran is sent from its first beat.
    argv = [
        sys.executable,
        "-m",
        "dramatiq",
        "outreach.tasks",
        "--processes",
        str(processes),
        "--threads",
        str(threads or current.worker_threads),
    ]
    os.execv(sys.executable, argv)  # noqa: S606 - replaces this process with dramatiq's


@outreach_command("serve")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", type=int, default=5000, show_default=True)
@click.option("--threads", type=int, default=8, show_default=True, help="Web threads.")
def serve_command(host: str, port: int, threads: int) -> None:
    """Serve the web app (waitress); with the embedded broker, also send from this process."""
    from waitress import create_server

    app = web_app()
    current = settings()
    for warning in startup_warnings(current):
        click.echo(f"warning: {warning}", err=True)
    try:
        server = create_server(app, host=host, port=port, threads=threads, ident="Outreach")
    except OSError as exc:
        raise click.ClickException(f"cannot listen on {host}:{port}: {exc.strerror}") from exc
    click.echo(f"Outreach is serving on http://{host}:{port}/ (admin: /admin); Ctrl-C stops it")
    if current.broker_url.startswith("memory://"):
        click.echo("embedded queue: campaigns and every other email are sent by this process")
    else:
        click.echo("broker configured: `outreach worker` processes send the mail")
    _run_embedded_until_stopped(app, server)


def _run_embedded_until_stopped(app: Any, server: Any) -> None:
    """Run the embedded runtime (and the web server, if any) until Ctrl-C or SIGTERM, then
    give back what was claimed so that the next process resumes at once."""
    import signal
    import threading

    from outreach.embedded import start_embedded, stop_embedded

    def _stop(_signum: int, _frame: Any) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)  # also when started from a shell that ignores it
    embedded = start_embedded(app, origin="outreach serve" if server else "outreach worker")
    if server is None and embedded:
        click.echo("embedded queue: this process sends campaigns and the outbox; Ctrl-C stops")
    try:
        if server is not None:
            server.run()
        else:
            threading.Event().wait()
    except KeyboardInterrupt:
        click.echo("stopping: giving back what was claimed…", err=True)
    finally:
        if server is not None:
            server.close()
        if embedded:
            stop_embedded()


@outreach_command("demo")
def demo_command() -> None:
    """The main job end to end on the embedded defaults."""
    from outreach.demo import run_demo
    from outreach.embedded import stop_embedded

    upgrade(settings().database_url, secret_key=settings().secret_key)
    app, own = _demo_app()
    try:
        run_demo(app, click.echo)
    finally:
        stop_embedded()  # the workers table says this process stopped
        if own:
            from outreach.db import get_db

            get_db(app).engine.dispose()


def _demo_app() -> tuple[Any, bool]:
    """The whole app, allowed to put links to this machine in mail (a local trial: its
    base URL is http://127.0.0.1 unless configured); True when it was built here."""
    from dataclasses import replace

    from flask import current_app

    current = settings()
    if current.allow_insecure_links:
        return web_app(), False
    factory = current_app.extensions["outreach.factory"]
    return factory(replace(current, allow_insecure_links=True)), True
