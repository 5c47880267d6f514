"""Admin › Import: upload a file, see how it would be imported (preset, layout, each
column's field, the first rows, the sectors from the rules), change the mapping, import,
and the import history with each import's rejected rows as CSV.

A previewed upload is kept in the instance folder under a random name until it is
imported (or for a day), so the person does not choose the file twice.
"""

from __future__ import annotations

import secrets
import shutil
import time
from pathlib import Path
from typing import IO, Any

from flask import Response, current_app, render_template, request
from flask_login import current_user
from werkzeug.datastructures import FileStorage, MultiDict

from outreach.admin.blueprint import bp
from outreach.application import imports as use
from outreach.contacts.importer import SPECIAL_TARGETS, TARGETS, ImportOptions, parse_mapping
from outreach.contacts.models import ContactStatus
from outreach.contacts.presets import PRESETS
from outreach.db import get_session
from outreach.errors import OutreachError, ValidationError

UPLOAD_LIFETIME = 24 * 3600  # seconds a previewed upload is kept
DELIMITERS = {"comma": ",", "semicolon": ";", "tab": "\t"}
FIELDS = (*TARGETS, "name", "tags", "ignore")


def _uploads() -> Path:
    folder = Path(current_app.instance_path) / "imports"
    folder.mkdir(parents=True, exist_ok=True)
    now = time.time()
    for old in folder.glob("*.upload"):  # previews nobody imported
        if now - old.stat().st_mtime > UPLOAD_LIFETIME:
            old.unlink(missing_ok=True)
    return folder


def _keep(upload: FileStorage) -> str:
    """Keep an uploaded file for the next step; its token."""
    token = secrets.token_urlsafe(18)
    with (_uploads() / f"{token}.upload").open("wb") as out:
        shutil.copyfileobj(upload.stream, out)
    return token


def _kept(token: str) -> Path:
    if not token or not token.replace("-", "").replace("_", "").isalnum():
        raise ValidationError("choose a file to import", field="file")
    path = _uploads() / f"{token}.upload"
    if not path.exists():
        raise ValidationError("the uploaded file has expired: choose it again", field="file")
    return path


def _file_name(form: MultiDict[str, str], upload: FileStorage | None) -> str:
    # Keep only the base name: browsers may send a path, and it ends up in the evidence.
    raw = upload.filename if upload is not None and upload.filename else form.get("file_name", "")
    return (raw or "").replace("\\", "/").rsplit("/", 1)[-1][:200] or "upload.csv"


def _options(form: MultiDict[str, str], file_name: str) -> ImportOptions:
    """Import options from the form; the source is checked by the importer itself."""
    chosen = form.get("status", "")
    try:
        status = ContactStatus(chosen) if chosen else None
    except ValueError:
        status = ContactStatus.RESTRICTED  # refused below
    if status not in (None, ContactStatus.PENDING, ContactStatus.SUBSCRIBED):
        raise ValidationError("status must be pending or subscribed", field="status")
    mapping = parse_mapping(form.get("mapping", ""))
    for key, value in form.items():  # the preview's per-column choices
        if key.startswith("map:") and value:
            mapping[key[4:]] = value
    sector_from = form.get("sector_from", "").strip()
    return ImportOptions(
        source=form.get("source", "").strip(),
        status=status,
        sector_column=form.get("sector_column", "").strip() or "sector",
        file_name=file_name,
        encoding=form.get("encoding", "").strip() or None,
        delimiter=DELIMITERS.get(form.get("delimiter", "")),
        mapping=mapping,
        preset=form.get("preset", "") or None,
        sheet=form.get("sheet", "").strip() or None,
        sector_from=None
        if not sector_from
        else ()
        if sector_from.lower() == "none"
        else tuple(c.strip() for c in sector_from.split(",") if c.strip()),
    )


def _page(status: int = 200, **values: Any) -> tuple[str, int]:
    values.setdefault("form", request.form)
    values.setdefault("report", None)
    values.setdefault("preview", None)
    values.setdefault("error", None)
    values.setdefault("file_name", "")
    values.setdefault("run", None)
    values.setdefault("upload", "")
    html = render_template(
        "admin/import.html",
        presets=PRESETS,
        fields=FIELDS,
        special=SPECIAL_TARGETS,
        history=use.history(get_session()),
        **values,
    )
    return html, status


@bp.route("/contacts/import", methods=["GET", "POST"])
def import_contacts() -> Any:
    """Upload, preview (action=preview) and import; the whole file is imported in one
    transaction, or nothing is."""
    if request.method == "GET":
        return _page()
    session = get_session()
    form = request.form
    upload = request.files.get("file")
    if upload is not None and not upload.filename:
        upload = None
    token = form.get("upload", "")
    try:
        if upload is None and not token:
            raise ValidationError(
                "choose a CSV file to import (or an Excel workbook)", field="file"
            )
        file_name = _file_name(form, upload)
        options = _options(form, file_name)
        if upload is not None:
            token = _keep(upload)
        path = _kept(token)
        with path.open("rb") as stream:
            if form.get("action") == "preview":
                if not options.source:
                    raise ValidationError(
                        "the source is required: say where these contacts came from",
                        field="source",
                    )
                found = use.preview(session, stream, options)
                session.rollback()
                return _page(preview=found, file_name=file_name, upload=token)
            report, run = _import(session, stream, options)
    except OutreachError as exc:
        session.rollback()
        return _page(exc.status, error=exc.message, upload=token if token else "")
    session.commit()
    path.unlink(missing_ok=True)
    return _page(report=report, file_name=options.file_name, run=run)


def _import(session: Any, stream: IO[bytes], options: ImportOptions) -> Any:
    return use.run_import(
        session,
        stream,
        options,
        secret=current_app.extensions["outreach.settings"].secret_key,
        actor=current_user.email,
        surface="admin",
    )


@bp.route("/contacts/imports/<int:run_id>/rejected.csv")
def import_rejected(run_id: int) -> Any:
    """An import's rejected rows (line, column, problem, reason) as CSV."""
    run = use.get_run(get_session(), run_id)
    return Response(
        use.rejected_csv(run),
        mimetype="text/csv",
        headers={"Content-Disposition": f'attachment; filename="import-{run.id}-rejected.csv"'},
    )
