"""/api/v1/groups"""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from flask.views import MethodView
from outreach.api import api_blueprint
from marshmallow import Schema, fields

from outreach.db import get_session
from outreach.groups.service import list_groups

blp = api_blueprint("groups", "Sector and affinity groups")


class GroupSchema(Schema):
    id = fields.Int()
    name = fields.Str()
    kind = fields.Str()
    members = fields.Int()
    subscribed = fields.Int()


@blp.route("")
class Groups(MethodView):
    @blp.response(200, GroupSchema(many=True))
    def get(self) -> Any:
        """List groups with their member and subscribed counts."""
        return [asdict(g) for g in list_groups(get_session())]
