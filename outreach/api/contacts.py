"""/api/v1/contacts"""

from __future__ import annotations

from typing import Any

from flask import current_app, g
from flask.views import MethodView
from flask_smorest.fields import Upload
from marshmallow import RAISE, Schema, fields
from marshmallow import ValidationError as SchemaError
from marshmallow.validate import OneOf, Range
from sqlalchemy.orm import Session
from webargs.flaskparser import FlaskParser
from werkzeug.datastructures import CombinedMultiDict, FileStorage
from werkzeug.utils import secure_filename

from outreach.api.base import api_blueprint
from outreach.api.campaigns import MAX_ID
from outreach.application.imports import history, preview, run_document, run_import
from outreach.contacts.importer import ImportOptions, parse_mapping
from outreach.contacts.models import Contact, ContactStatus
from outreach.contacts.presets import NAMES as PRESET_NAMES
from outreach.contacts.service import (
    ContactQuery,
    contact_to_dict,
    create_contact,
    delete_contact,
    get_contact,
    groups_of,
    search_contacts,
    update_contact,
)
from outreach.db import get_session


class MultipartParser(FlaskParser):
    """webargs' Flask parser plus a `multipart` location: form fields and files together."""

    __location_map__ = {**FlaskParser.__location_map__, "multipart": "load_multipart"}

    def load_multipart(self, req: Any, schema: Schema) -> Any:
        """Form fields and uploaded files of a multipart/form-data request."""
        return self._makeproxy(CombinedMultiDict([req.form, req.files]), schema)


blp = api_blueprint("contacts", "Contacts: search, create, update, delete, import")
# A multipart body is one requestBody in OpenAPI: parse and document it as one schema.
blp.ARGUMENTS_PARSER = MultipartParser()
blp.DEFAULT_LOCATION_CONTENT_TYPE_MAPPING = {
    **blp.DEFAULT_LOCATION_CONTENT_TYPE_MAPPING,
    "multipart": "multipart/form-data",
}

STATUSES = [status.value for status in ContactStatus]


class ContactSchema(Schema):
    """A contact as the API returns it."""

    id = fields.Int()
    email = fields.Str(metadata={"format": "email"})
    status = fields.Str(metadata={"enum": STATUSES})
    first_name = fields.Str()
    last_name = fields.Str()
    sector = fields.Str(allow_none=True)
    organization = fields.Str()
    language = fields.Str()
    attributes = fields.Dict(keys=fields.Str())
    groups = fields.List(fields.Str(), metadata={"description": "Group names, by name."})
    created_at = fields.Str(metadata={"format": "date-time"})
    updated_at = fields.Str(metadata={"format": "date-time"})


class ContactChangesSchema(Schema):
    """Profile fields to change; the services check values (address, lengths, language)."""

    class Meta:
        unknown = RAISE

    email = fields.Str(metadata={"format": "email"})
    first_name = fields.Str()
    last_name = fields.Str()
    sector = fields.Str(allow_none=True, metadata={"description": "Null or empty: no sector."})
    organization = fields.Str()
    language = fields.Str(metadata={"description": "A language tag such as en or fr-FR."})
    attributes = fields.Dict(
        keys=fields.Str(), metadata={"description": "Free attributes; replaces the stored ones."}
    )


class NewContactSchema(ContactChangesSchema):
    """A contact to create (pending until it opts in)."""

    email = fields.Str(required=True, metadata={"format": "email"})


class PageArgsSchema(Schema):
    """Which page of a list to return."""

    class Meta:
        unknown = RAISE

    page = fields.Int(load_default=1, validate=Range(min=1, max=MAX_ID))
    per_page = fields.Int(load_default=50, validate=Range(min=1, max=500))


class ContactSearchArgsSchema(PageArgsSchema):
    """Search and filters for the contact list."""

    search = fields.Str(metadata={"description": "Part of the address, name or organization."})
    group = fields.Str(metadata={"description": "Group name or id."})
    status = fields.Str(validate=OneOf(STATUSES))


class ContactPageSchema(Schema):
    """One page of contacts and the number of matches."""

    items = fields.List(fields.Nested(ContactSchema))
    total = fields.Int()
    page = fields.Int()
    per_page = fields.Int()


class CsvUpload(Upload):
    """A file part of a multipart body (a plain form value is refused)."""

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> Any:
        if not isinstance(value, FileStorage):
            raise SchemaError("must be a file part of a multipart/form-data body")
        return value


DELIMITERS = {"comma": ",", "semicolon": ";", "tab": "\t"}


class ImportFormSchema(Schema):
    """A CSV file and what its rows mean."""

    class Meta:
        unknown = RAISE

    file = CsvUpload(
        required=True,
        metadata={"description": "A CSV file (encoding and delimiter detected) or an .xlsx."},
    )
    source = fields.Str(
        required=True, metadata={"description": "Where these contacts came from (evidence)."}
    )
    status = fields.Str(
        load_default=None,
        validate=OneOf([ContactStatus.PENDING.value, ContactStatus.SUBSCRIBED.value]),
        metadata={
            "description": "subscribed declares consent obtained elsewhere (default: pending; "
            "subscribed for a Mailchimp export, whose opt-ins are kept)."
        },
    )
    sector_column = fields.Str(load_default="sector")
    preset = fields.Str(
        load_default=None,
        validate=OneOf([*PRESET_NAMES, "none"]),
        metadata={"description": "The tool whose export this is (detected when absent)."},
    )
    map = fields.Str(
        load_default="",
        metadata={"description": "Column mappings, one COLUMN=FIELD per line (or JSON)."},
    )
    encoding = fields.Str(load_default=None)
    delimiter = fields.Str(load_default=None, validate=OneOf(list(DELIMITERS)))
    sheet = fields.Str(load_default=None, metadata={"description": "Of an .xlsx workbook."})
    sector_from = fields.Str(
        load_default=None,
        metadata={"description": "Columns, comma-separated, for the sector rules; none: off."},
    )


class ImportProblemSchema(Schema):
    """A skipped, invalid or duplicate row."""

    row = fields.Int(metadata={"description": "Line number in the file (header is line 1)."})
    kind = fields.Str(
        metadata={
            "enum": ["skipped", "invalid", "duplicate"],
            "description": "duplicate: a later row of an address already in the file, not "
            "imported; its reason names the line whose values were kept.",
        }
    )
    column = fields.Str(allow_none=True)
    reason = fields.Str()


class ImportReportSchema(Schema):
    """What an import did."""

    rows = fields.Int()
    created = fields.Int()
    updated = fields.Int()
    unchanged = fields.Int()
    skipped = fields.Int()
    invalid = fields.Int()
    duplicates = fields.Int(
        metadata={
            "description": "Later rows of an address already in the file: not imported, the "
            "first row's values kept. rows = created + updated + unchanged + skipped + "
            "invalid + duplicates."
        }
    )
    groups_created = fields.List(fields.Str())
    tag_groups_created = fields.List(fields.Str())
    problems = fields.List(fields.Nested(ImportProblemSchema))
    layout = fields.Str(metadata={"description": "How the file was read."})
    columns = fields.Dict(keys=fields.Str(), values=fields.Str())
    preset = fields.Str()
    status = fields.Str(metadata={"description": "What the rows were imported as."})
    hint = fields.Str()
    suppressed = fields.Int()
    withdrawn = fields.Int()
    sectors_from_rules = fields.Dict(keys=fields.Str(), values=fields.Int())
    notes = fields.List(fields.Dict())
    import_id = fields.Int(metadata={"description": "The import's entry in the history."})


class PreviewColumnSchema(Schema):
    header = fields.Str()
    field = fields.Str(metadata={"description": "Where the column goes; empty when ignored."})


class PreviewRowSchema(Schema):
    """One row as it would be imported."""

    row = fields.Int(metadata={"description": "The row's line in the file."})
    email = fields.Str()
    first_name = fields.Str()
    last_name = fields.Str()
    organization = fields.Str()
    sector = fields.Str()
    language = fields.Str()
    sector_from_rule = fields.Bool(metadata={"description": "The sector comes from a rule."})
    attributes = fields.Dict()
    tags = fields.List(fields.Str())
    consent_evidence = fields.Dict(keys=fields.Str(), values=fields.Str())


class PreviewCountsSchema(Schema):
    rows = fields.Int()
    valid = fields.Int()
    invalid = fields.Int()


class ImportPreviewSchema(Schema):
    """A file as it would be imported; nothing written."""

    file_name = fields.Str()
    layout = fields.Str(metadata={"description": "How the file was read."})
    preset = fields.Str()
    preset_label = fields.Str()
    status = fields.Str()
    hint = fields.Str()
    columns = fields.List(fields.Nested(PreviewColumnSchema))
    sector_from = fields.List(fields.Str())
    rows = fields.List(fields.Nested(PreviewRowSchema))
    counts = fields.Nested(PreviewCountsSchema)
    problems = fields.List(fields.Nested(ImportProblemSchema))
    sectors_from_rules = fields.Dict(keys=fields.Str(), values=fields.Int())


class ImportRunSchema(Schema):
    """An import of the history."""

    id = fields.Int()
    file_name = fields.Str()
    source = fields.Str()
    actor = fields.Str()
    surface = fields.Str()
    status = fields.Str()
    preset = fields.Str()
    layout = fields.Str()
    created_at = fields.Str()
    counts = fields.Dict(keys=fields.Str(), values=fields.Int())
    rejected = fields.Int()


def contact_document(session: Session, contact: Contact) -> dict[str, Any]:
    """One contact with its group names, as the API returns it."""
    return contact_to_dict(contact, groups_of(session, [contact.id])[contact.id])


def contact_page(session: Session, query: ContactQuery) -> dict[str, Any]:
    """One page of matching contacts with their groups, and the total."""
    contacts, total = search_contacts(session, query)
    groups = groups_of(session, [c.id for c in contacts])
    items = [contact_to_dict(c, groups[c.id]) for c in contacts]
    return {"items": items, "total": total, "page": query.page, "per_page": query.per_page}


@blp.route("")
class Contacts(MethodView):
    @blp.arguments(ContactSearchArgsSchema, location="query", unknown=RAISE)
    @blp.response(200, ContactPageSchema)
    def get(self, args: dict[str, Any]) -> Any:
        """Search and filter contacts, a page at a time."""
        return contact_page(get_session(), ContactQuery(**args))

    @blp.arguments(NewContactSchema)
    @blp.response(201, ContactSchema)
    @blp.alt_response(409, response="CONFLICT")
    def post(self, data: dict[str, Any]) -> Any:
        """Create a pending contact."""
        session = get_session()
        contact = create_contact(session, data, source=f"api:{g.api_user.email}")
        document = contact_document(session, contact)
        session.commit()
        return document


@blp.route(f"/<int(max={MAX_ID}):contact_id>")
class ContactItem(MethodView):
    @blp.response(200, ContactSchema)
    @blp.alt_response(404, response="NOT_FOUND")
    def get(self, contact_id: int) -> Any:
        """One contact with its groups."""
        session = get_session()
        return contact_document(session, get_contact(session, contact_id))

    @blp.arguments(ContactChangesSchema)
    @blp.response(200, ContactSchema)
    @blp.alt_response(404, response="NOT_FOUND")
    @blp.alt_response(409, response="CONFLICT")
    def patch(self, data: dict[str, Any], contact_id: int) -> Any:
        """Change profile fields and attributes of a contact."""
        session = get_session()
        contact = update_contact(session, get_contact(session, contact_id), data)
        document = contact_document(session, contact)
        session.commit()
        return document

    @blp.response(204)
    @blp.alt_response(404, response="NOT_FOUND")
    def delete(self, contact_id: int) -> None:
        """Delete a contact with its memberships and consent ledger."""
        session = get_session()
        delete_contact(session, get_contact(session, contact_id))
        session.commit()


@blp.route("/import")
class ContactImport(MethodView):
    @blp.arguments(ImportFormSchema, location="multipart")
    @blp.response(200, ImportReportSchema)
    def post(self, form: dict[str, Any]) -> Any:
        """Import a CSV file of contacts: all of it or, on a file error, nothing."""
        upload: FileStorage = form["file"]
        options = _import_options(form, upload)
        session = get_session()
        secret = current_app.extensions["outreach.settings"].secret_key
        report, run = run_import(
            session,
            upload.stream,
            options,
            secret=secret,
            actor=f"API token of {g.api_user.email}",
            surface="api",
        )
        session.commit()
        return {**report.to_dict(), "import_id": run.id}


def _import_options(form: dict[str, Any], upload: FileStorage) -> ImportOptions:
    sector_from = form["sector_from"]
    return ImportOptions(
        source=form["source"],
        status=ContactStatus(form["status"]) if form["status"] else None,
        sector_column=form["sector_column"],
        file_name=secure_filename(upload.filename or "") or "upload.csv",
        encoding=form["encoding"],
        delimiter=DELIMITERS.get(form["delimiter"] or ""),
        mapping=parse_mapping(form["map"]),
        preset=form["preset"],
        sheet=form["sheet"],
        sector_from=None
        if sector_from is None
        else ()
        if sector_from.strip().lower() == "none"
        else tuple(c.strip() for c in sector_from.split(",") if c.strip()),
    )


@blp.route("/imports")
class ImportHistory(MethodView):
    @blp.response(200, ImportRunSchema(many=True))
    def get(self) -> Any:
        """The latest imports, newest first (file, who, when, source, counts)."""
        return [run_document(r) for r in history(get_session())]


@blp.route("/import/preview")
class ImportPreview(MethodView):
    @blp.arguments(ImportFormSchema, location="multipart")
    @blp.response(200, ImportPreviewSchema)
    def post(self, form: dict[str, Any]) -> Any:
        """The file as it would be imported (preset, layout, each column's field, the first
        20 rows mapped, counts, sectors from the rules); nothing is written."""
        upload: FileStorage = form["file"]
        return preview(get_session(), upload.stream, _import_options(form, upload))
