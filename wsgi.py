"""WSGI entry point: `gunicorn wsgi:app`, `flask --app wsgi`."""

from __future__ import annotations

from outreach import create_app

app = create_app()
