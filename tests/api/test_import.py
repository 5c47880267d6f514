"""/api/v1/contacts/import: a multipart CSV upload answered with the import report."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from flask import Flask
from flask.testing import FlaskClient
from werkzeug.test import TestResponse

from outreach.contacts.fields import MAX_ATTRIBUTES, MAX_IMPORT_COLUMNS
from outreach.contacts.models import Contact
from outreach.db import get_db
from tests.support.api import Json, error_of

Upload = Callable[..., TestResponse]

CSV = (
    "email,first_name,sector,city\n"
    "ann@example.org,Ann,Health,Lyon\n"  # line 2
    "not-an-address,Bob,Health,\n"  # line 3
    "cid@example.org,Cid,Education,Nice\n"  # line 4
    "dee@example.org,Dee,,\n"  # line 5
    "eve@example.org,Eve,Health,Paris,extra cell\n"  # line 6
)


def listed(client: FlaskClient, headers: dict[str, str], **query: str) -> Json:
    response = client.get("/api/v1/contacts", query_string=query, headers=headers)
    assert response.status_code == 200, response.get_json()
    return response.get_json()  # type: ignore[no-any-return]


def test_import_reports_counts_and_the_rows_it_refused(
    app: Flask, client: FlaskClient, api_headers: dict[str, str], upload_csv: Upload
) -> None:
    response = upload_csv(CSV, source="trade fair 2024")

    assert response.status_code == 200, response.get_json()
    report = response.get_json()
    assert (report["rows"], report["created"], report["updated"], report["invalid"]) == (5, 3, 0, 2)
    assert report["groups_created"] == ["Education", "Health"]
    assert [(p["row"], p["kind"], p["column"]) for p in report["problems"]] == [
        (3, "invalid", "email"),
        (6, "invalid", None),
    ]
    contacts = listed(client, api_headers, status="pending")
    assert [c["email"] for c in contacts["items"]] == [
        "ann@example.org",
        "cid@example.org",
        "dee@example.org",
    ]
    assert contacts["items"][0]["attributes"] == {"city": "Lyon"}
    assert contacts["items"][0]["groups"] == ["Health"]
    with get_db(app).session() as db_session:
        source = db_session.get(Contact, contacts["items"][0]["id"]).source  # type: ignore[union-attr]
    assert source == "import:contacts.csv (trade fair 2024)"


def test_importing_again_updates_and_can_declare_subscription(
    client: FlaskClient, api_headers: dict[str, str], upload_csv: Upload
) -> None:
    upload_csv(CSV, source="trade fair 2024")

    again = upload_csv(
        "email,first_name\nann@example.org,Annie\ncid@example.org,Cid\n",
        source="signed paper forms",
        status="subscribed",
    )

    assert again.status_code == 200, again.get_json()
    assert (again.get_json()["created"], again.get_json()["updated"]) == (0, 2)
    subscribed = listed(client, api_headers, status="subscribed")
    assert [(c["email"], c["first_name"]) for c in subscribed["items"]] == [
        ("ann@example.org", "Annie"),
        ("cid@example.org", "Cid"),
    ]


def test_sector_column_names_the_column_holding_the_sector(
    client: FlaskClient, api_headers: dict[str, str], upload_csv: Upload
) -> None:
    response = upload_csv(
        "email,industry\nann@example.org,Retail\n", source="crm", sector_column="industry"
    )

    assert response.get_json()["groups_created"] == ["Retail"]
    assert listed(client, api_headers, group="Retail")["items"][0]["sector"] == "Retail"


@pytest.mark.parametrize(
    ("form", "field"),
    [
        ({}, "source"),
        ({"source": "   "}, "source"),
        ({"source": "crm", "status": "unsubscribed"}, "status"),
        ({"source": "crm", "owner": "me"}, "owner"),
    ],
)
def test_bad_form_fields_are_422_naming_the_field(
    client: FlaskClient,
    api_headers: dict[str, str],
    upload_csv: Upload,
    form: dict[str, str],
    field: str,
) -> None:
    response = upload_csv(CSV, **form)

    assert error_of(response, 422)["field"] == field
    assert listed(client, api_headers)["total"] == 0


def test_the_file_must_be_a_file_part(client: FlaskClient, api_headers: dict[str, str]) -> None:
    url = "/api/v1/contacts/import"

    missing = client.post(
        url, data={"source": "crm"}, headers=api_headers, content_type="multipart/form-data"
    )
    as_text = client.post(
        url,
        data={"source": "crm", "file": CSV},
        headers=api_headers,
        content_type="multipart/form-data",
    )
    as_json = client.post(url, json={"source": "crm", "file": CSV}, headers=api_headers)

    for response in (missing, as_text, as_json):
        assert error_of(response, 422)["field"] == "file"
    assert listed(client, api_headers)["total"] == 0


def test_a_file_without_an_email_column_is_refused(
    client: FlaskClient, api_headers: dict[str, str], upload_csv: Upload
) -> None:
    response = upload_csv("name,city\nAnn,Lyon\n", source="crm")

    error = error_of(response, 422)
    assert (error["code"], error["field"]) == ("import_file", "email")
    assert "no email column" in error["message"]


def test_a_file_error_after_the_first_chunk_imports_nothing(
    client: FlaskClient, api_headers: dict[str, str], upload_csv: Upload
) -> None:
    rows = "".join(f"person{n}@example.org,Person {n}\n" for n in range(2100))
    content = b"email,first_name\n" + rows.encode() + b"late@example.org,\xff\xfe\n"

    response = upload_csv(content, source="crm")

    error = error_of(response, 422)
    assert error["code"] == "import_file"
    assert "not UTF-8" in error["message"]
    assert listed(client, api_headers)["total"] == 0


def test_the_uploaded_file_name_cannot_smuggle_a_path(
    app: Flask, client: FlaskClient, api_headers: dict[str, str], upload_csv: Upload
) -> None:
    response = upload_csv("email\nann@example.org\n", name="../../tmp/x.csv", source="crm")

    assert response.status_code == 200, response.get_json()
    contact_id = listed(client, api_headers)["items"][0]["id"]
    with get_db(app).session() as db_session:
        source = db_session.get(Contact, contact_id).source  # type: ignore[union-attr]
    assert source == "import:tmp_x.csv (crm)"


def test_the_api_attribute_limits_hold_for_csv_files(
    client: FlaskClient, api_headers: dict[str, str], upload_csv: Upload
) -> None:
    header = "email," + ",".join(f"a{i}" for i in range(9999)) + "\n"
    wide = upload_csv(header + "wide@example.org" + ",v" * 9999 + "\n", source="crm")

    error = error_of(wide, 422)
    assert error["code"] == "import_file"
    assert f"10000 columns, more than the {MAX_IMPORT_COLUMNS}" in error["message"]
    assert listed(client, api_headers)["total"] == 0

    header = "email," + ",".join(f"a{i}" for i in range(MAX_ATTRIBUTES + 1)) + "\n"
    many = upload_csv(
        header + "many@example.org" + ",v" * (MAX_ATTRIBUTES + 1) + "\n"
        "few@example.org,v" + "," * MAX_ATTRIBUTES + "\n",
        source="crm",
    )

    assert many.status_code == 200, many.get_json()
    assert [(p["row"], p["column"]) for p in many.get_json()["problems"]] == [(2, None)]
    assert [c["email"] for c in listed(client, api_headers)["items"]] == ["few@example.org"]


def test_a_repeated_address_is_counted_and_its_first_row_kept(
    app: Flask, client: FlaskClient, api_headers: dict[str, str], upload_csv: Upload
) -> None:
    response = upload_csv(
        "email,first_name,city\n"
        "ann@example.org,Ann,Lyon\n"  # line 2
        "bob@example.org,Bob,\n"  # line 3
        "ANN@example.org,Annie,Lyon\n",  # line 4: same address, another first name
        source="trade fair 2024",
    )

    report = response.get_json()
    assert response.status_code == 200, report
    assert (report["rows"], report["created"], report["duplicates"]) == (3, 2, 1)
    assert report["problems"] == [
        {
            "row": 4,
            "kind": "duplicate",
            "column": "email",
            "reason": "same address as line 2; kept line 2's values "
            "(this line's first_name not imported)",
        }
    ]
    (ann,) = [c for c in listed(client, api_headers)["items"] if c["email"] == "ann@example.org"]
    assert ann["first_name"] == "Ann"
    document = client.get("/api/v1/openapi.json").get_json()
    schema = document["components"]["schemas"]["ImportReport"]["properties"]
    assert schema["duplicates"]["type"] == "integer"
