"""`outreach db …`, `worker`, `serve` and `demo`."""

from __future__ import annotations

import os
import sys

import click

from outreach.cli import OutreachGroup, outreach_command, settings
from outreach.migrate import downgrade, upgrade

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
    """Run dramatiq workers against OUTREACH_BROKER_URL."""
    current = settings()
    if current.broker_url.startswith("memory://"):
        raise click.ClickException(
            "the embedded broker (memory://) runs its workers inside `outreach serve`, "
            "`outreach demo` and `campaigns send --wait`; set OUTREACH_BROKER_URL to a "
            "redis:// or amqp:// URL to run separate workers"
        )
    from outreach import runtime, tasks
    from outreach.db import get_db

    runtime.bind_database(get_db())
    tasks.start_maintenance()  # the daily jobs; a newer worker start supersedes this chain
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
def serve_command(host: str, port: int) -> None:
    """Development server (with the embedded broker, also an in-process worker)."""
    from flask import current_app

    from outreach.web import start_workers_if_embedded

    start_workers_if_embedded(current_app)
    current_app.run(host=host, port=port, use_reloader=False, threaded=True)


@outreach_command("demo")
def demo_command() -> None:
    """The main job end to end on the embedded defaults."""
    from outreach.ops.demo import run_demo

    upgrade(settings().database_url, secret_key=settings().secret_key)
    from flask import current_app

    run_demo(current_app._get_current_object(), click.echo)  # type: ignore[attr-defined]
