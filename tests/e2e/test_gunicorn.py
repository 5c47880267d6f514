"""`gunicorn wsgi:app` as the README shows it: it serves, and with the embedded broker its
one process also sends; several processes around one in-memory queue are refused."""

from __future__ import annotations

import subprocess

import pytest
import requests

from tests.conftest import SmtpSink
from tests.e2e.conftest import GUNICORN, PROJECT, Product, free_port, link, mail_to, wait_for
from tests.e2e.test_subscriber_mail import sign_up


def test_gunicorn_serves_and_the_confirmation_is_sent(product: Product, sink: SmtpSink) -> None:
    product.start_gunicorn(workers=1 if product.embedded else 2)

    answer = sign_up(product, "ana@example.org")

    assert answer.status_code == 200 and "Check your inbox" in answer.text
    [confirmation] = mail_to(sink, "ana@example.org")  # sent by gunicorn's process, or the worker
    assert link(confirmation, "/confirm/").startswith(product.base_url)


@pytest.mark.parametrize("backend", ["sqlite"])
def test_gunicorn_refuses_two_processes_on_the_embedded_broker(product: Product) -> None:
    command = [GUNICORN, "-w", "2", "-b", f"127.0.0.1:{free_port()}", "wsgi:app"]
    done = subprocess.run(
        command, cwd=PROJECT, env=product.env, capture_output=True, text=True, timeout=60
    )

    assert done.returncode != 0
    assert "the embedded broker (memory://) lives in one process" in done.stdout + done.stderr


@pytest.mark.parametrize("backend", ["sqlite"])
def test_gunicorn_conf_leaves_another_wsgi_app_of_the_folder_alone(product: Product) -> None:
    """The bench's bare GIF app, served from the project folder with its gunicorn.conf.py:
    its hooks start Outreach's runtime only for Outreach's app."""
    port = free_port()
    command = [GUNICORN, "--pythonpath", "bench", "-b", f"127.0.0.1:{port}", "_pixel_app:app"]
    server = subprocess.Popen(
        command,
        cwd=PROJECT,
        env=product.env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        answer = wait_for(lambda: _get(f"http://127.0.0.1:{port}/t/o/x"), 30, "gunicorn")
        assert answer.status_code == 200 and answer.content.startswith(b"GIF")
    finally:
        server.terminate()
        output = server.communicate(timeout=30)[0].decode(errors="replace")
    assert "Exception in worker process" not in output, output


def _get(url: str) -> requests.Response | None:
    try:
        return requests.get(url, timeout=2)
    except requests.ConnectionError:
        return None
