"""Import use cases: preview a file as it would be imported, import it and keep it in the
import history, sector rules applied to the contacts already there.

Each takes a session and plain values, returns a plain result and never commits: the
page, the API resource or the command that called it does.
"""

from __future__ import annotations

import io
from collections.abc import Callable
from dataclasses import replace
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from outreach.contacts import importer
from outreach.contacts.importer import ImportOptions, ImportReport, import_csv, open_table
from outreach.contacts.models import ImportRun
from outreach.contacts.sectors import SectorRules, load_rules
from outreach.contacts.table import ByteLines
from outreach.errors import NotFound
from outreach.spreadsheet import SafeWriter

PREVIEW_ROWS = 20
HISTORY = 50


def run_import(
    session: Session,
    stream: ByteLines,
    options: ImportOptions,
    *,
    secret: str,
    actor: str,
    surface: str,
    checkpoint: Callable[[], None] | None = None,
) -> tuple[ImportReport, ImportRun]:
    """Import a file and record it in the import history (who, when, source, how it was
    read, the counts and the rejected rows)."""
    report = import_csv(session, stream, options, secret=secret, checkpoint=checkpoint)
    summary = {k: v for k, v in report.to_dict().items() if k not in ("problems", "notes")}
    run = ImportRun(
        file_name=options.file_name[:300],
        source=options.source[:500],
        actor=actor[:320],
        surface=surface,
        status=report.status,
        preset=report.preset[:60],
        layout=report.layout[:300],
        summary=summary,
        rejected=report.problems,
    )
    session.add(run)
    session.flush()
    return report, run


def preview(
    session: Session, stream: ByteLines, options: ImportOptions, limit: int = PREVIEW_ROWS
) -> dict[str, Any]:
    """The file as it would be imported, without writing anything: how it was read, the
    preset, each column's field, the first rows mapped, the counts of valid and invalid
    rows and the sectors the rules would give (over the whole file)."""
    table = open_table(stream, options)
    status = importer.effective_status(options, table.preset)
    report = ImportReport()
    rules: SectorRules | None = load_rules(session) if table.columns.sector_from else None
    shown: list[dict[str, Any]] = []
    valid = 0
    sectors: dict[str, int] = {}
    for row in importer.read_rows(table, report, rules):
        valid += 1
        if row.sector_rule:
            sectors[row.profile["sector"]] = sectors.get(row.profile["sector"], 0) + 1
        if len(shown) < limit:
            shown.append(
                {
                    "row": row.number,
                    "email": row.email,
                    **{f: row.profile.get(f, "") for f in importer.PROFILE_FIELDS},
                    "sector_from_rule": row.sector_rule,
                    "attributes": row.attributes,
                    "tags": row.tags,
                    "consent_evidence": {k: str(v) for k, v in row.evidence.items()},
                }
            )
    columns = table.columns
    return {
        "file_name": options.file_name,
        "layout": table.layout,
        "preset": table.preset.name if table.preset else "",
        "preset_label": table.preset.label if table.preset else "",
        "status": str(status),
        "hint": importer.consent_hint(status, table.preset),
        "columns": [{"header": n, "field": columns.described.get(n, "")} for n in columns.names],
        "sector_from": [columns.names[i] for i in columns.sector_from],
        "rows": shown,
        "counts": {"rows": report.rows, "valid": valid, "invalid": report.invalid},
        "problems": report.problems[:limit],
        "sectors_from_rules": dict(sorted(sectors.items())),
    }


def history(session: Session, limit: int = HISTORY) -> list[ImportRun]:
    """The latest imports, newest first."""
    return list(session.scalars(sa.select(ImportRun).order_by(ImportRun.id.desc()).limit(limit)))


def get_run(session: Session, run_id: int) -> ImportRun:
    """One import of the history."""
    run = session.get(ImportRun, run_id)
    if run is None:
        raise NotFound(f"no import with id {run_id}", field="id")
    return run


def run_document(run: ImportRun) -> dict[str, Any]:
    """An import of the history as the API and `--json` give it."""
    return {
        "id": run.id,
        "file_name": run.file_name,
        "source": run.source,
        "actor": run.actor,
        "surface": run.surface,
        "status": run.status,
        "preset": run.preset,
        "layout": run.layout,
        "created_at": run.created_at.isoformat(),
        "counts": {
            k: run.summary.get(k, 0)
            for k in (
                "rows",
                "created",
                "updated",
                "unchanged",
                "skipped",
                "invalid",
                "duplicates",
                "withdrawn",
                "suppressed",
            )
        },
        "rejected": len(run.rejected),
    }


def rejected_csv(run: ImportRun) -> str:
    """The rows an import did not take, with why (line, column, problem, reason)."""
    out = io.StringIO()
    writer = SafeWriter(out)
    writer.writerow(["line", "column", "problem", "reason"])
    for problem in run.rejected:
        writer.writerow(
            [problem["row"], problem.get("column") or "", problem["kind"], problem["reason"]]
        )
    return out.getvalue()


def with_mapping(options: ImportOptions, mapping: dict[str, str]) -> ImportOptions:
    """The same options with the columns a person mapped in a preview."""
    return replace(options, mapping={**options.mapping, **mapping})
