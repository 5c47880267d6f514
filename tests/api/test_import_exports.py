"""Every export of the catalog (tests/support/exports.py) imported through the API, with
its preview first: the report, the contacts, their groups and their consent ledger."""

from __future__ import annotations

import io

import pytest
from flask.testing import FlaskClient
from sqlalchemy.orm import Session

from tests.support.exports import EXPORTS, SOURCE, Export, check, check_report


@pytest.mark.parametrize("export", EXPORTS, ids=lambda e: e.key)
def test_an_export_previews_and_imports_through_the_api(
    export: Export, client: FlaskClient, api_headers: dict[str, str], session: Session
) -> None:
    def post(path: str) -> dict:
        response = client.post(
            path,
            data={
                "file": (io.BytesIO(export.data), export.file_name),
                "source": SOURCE,
                **export.options,
            },
            headers=api_headers,
            content_type="multipart/form-data",
        )
        assert response.status_code == 200, response.get_json()
        return response.get_json()  # type: ignore[no-any-return]

    preview = post("/api/v1/contacts/import/preview")
    assert preview["preset_label"] == export.preset and preview["layout"] == export.layout
    assert set(export.people) <= {r["email"] for r in preview["rows"]}
    check_report(post("/api/v1/contacts/import"), export)
    check(session, export)
