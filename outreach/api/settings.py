"""/api/v1/settings: the controller's identity and the notice texts, as in Admin › Settings
(every change of a text is a new notice version)."""

from __future__ import annotations

from typing import Any

from flask.views import MethodView
from marshmallow import RAISE, Schema, fields

from outreach.api.base import api_blueprint
from outreach.consent.notice import (
    change_settings,
    current_notice,
    settings_document,
)
from outreach.db import get_session

blp = api_blueprint(
    "settings", "The controller's identity and the privacy notice texts (notice versions)"
)


def _text(description: str, **options: Any) -> fields.Str:
    return fields.Str(metadata={"description": description}, **options)


class SettingsTextsSchema(Schema):
    """Every setting, one per text of the notice (see outreach.consent.notice.SETTING_KEYS)."""

    controller_name = _text("The controller: who is responsible for the data.")
    postal_address = _text("The controller's postal address.")
    contact_email = _text("Where people write about their data (an email address).")
    first_layer_responsible = _text("First layer (shown with the sign-up form): Responsible.")
    first_layer_purpose = _text("First layer: Purpose.")
    first_layer_legitimation = _text("First layer: Legitimation.")
    first_layer_recipients = _text("First layer: Recipients.")
    first_layer_rights = _text("First layer: Rights.")
    first_layer_additional = _text("First layer: Additional information.")
    full_text = _text(
        "The full notice (second layer) at /privacy; a blank line separates paragraphs."
    )


class SettingsSchema(SettingsTextsSchema):
    """The notice in force: its version and every setting."""

    version = fields.Int(metadata={"description": "The notice version in force."})
    hash = fields.Str(metadata={"description": "SHA-256 of the version's texts."})
    created_at = fields.Str(metadata={"format": "date-time"})


class ChangedSettingsSchema(SettingsSchema):
    """The notice in force after a change."""

    changed = fields.Bool(
        metadata={"description": "Whether another notice version is now in force."}
    )


class SettingsChangeSchema(SettingsTextsSchema):
    """The settings to change (the others keep their value). Texts are normalized: LF line
    endings, no trailing spaces. A notice whose texts differ becomes a new version (or the
    identical earlier one); each text is required and at most 50,000 characters."""

    class Meta:
        unknown = RAISE


@blp.route("")
class Settings(MethodView):
    @blp.response(200, SettingsSchema)
    def get(self) -> Any:
        """The notice in force: the controller's identity and the notice texts."""
        session = get_session()
        document = settings_document(current_notice(session))
        session.commit()  # the defaults become version 1 on first use
        return document

    @blp.arguments(SettingsChangeSchema)
    @blp.response(200, ChangedSettingsSchema)
    def patch(self, data: dict[str, Any]) -> Any:
        """Change settings, as `outreach settings set` and Admin › Settings do: changed
        texts become a new notice version, cited by the consents given from then on."""
        session = get_session()
        notice, changed = change_settings(session, data)
        document = {**settings_document(notice), "changed": changed}
        session.commit()
        return document
