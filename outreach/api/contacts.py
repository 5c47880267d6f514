"""/api/v1/contacts"""

from __future__ import annotations

from flask_smorest import Blueprint

blp = Blueprint("contacts", __name__, url_prefix="/api/v1/contacts",
                description="Contacts: search, create, update, delete, import")
