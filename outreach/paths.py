"""Where the project's files are: templates, migrations and bundled assets live under ROOT."""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
