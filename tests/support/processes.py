"""`outreach worker` started as a person starts it, for the tests that need a real one."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path


def start_worker(
    database_url: str, broker_url: str, secret: str, cwd: Path, threads: int = 1
) -> subprocess.Popen[bytes]:
    """One `outreach worker` process on this database and broker, output captured."""
    env = {
        **os.environ,
        "OUTREACH_DATABASE_URL": database_url,
        "OUTREACH_BROKER_URL": broker_url,
        "OUTREACH_SECRET_KEY": secret,
        "OUTREACH_INSTANCE_PATH": str(cwd),
    }
    command = ["worker", "--processes", "1", "--threads", str(threads)]
    return subprocess.Popen(  # noqa: S603 - our own interpreter and command
        [sys.executable, "-m", "outreach.cli", *command],
        env=env,
        cwd=cwd,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
