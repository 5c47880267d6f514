"""/api/v1/contacts"""

from __future__ import annotations

from outreach.api import api_blueprint

blp = api_blueprint("contacts", "Contacts: search, create, update, delete, import")
