"""The import page: the CLI's report in the browser, and all-or-nothing files."""

from __future__ import annotations

import io

import pytest
import sqlalchemy as sa
from flask.testing import FlaskClient

from outreach.consent.models import ConsentAction, ConsentEvent
from outreach.contacts.fields import MAX_ATTRIBUTE_VALUE, MAX_ATTRIBUTES, MAX_IMPORT_COLUMNS
from outreach.contacts.importer import CHUNK
from outreach.contacts.models import Contact, ContactStatus
from outreach.groups.models import Group
from tests.conftest import csrf_from
from tests.support.pages import Transaction, rows_of

GOOD = (
    "email,first_name,sector,organization,city\n"
    "ana@example.org,Ana,Consultants,Acme,Madrid\n"
    "not-an-address,Bad,Consultants,,\n"
    "dora@example.org,Dora,Journalists,Daily,Lyon,extra\n"
    "bruno@example.org,Bruno,Journalists,Daily,Lyon\n"
    "carla@example.org,Carla,,,\n"
    "ANA@example.org,Ana,Consultants,Acme,Madrid\n"
)


def upload(
    auth: FlaskClient, content: bytes, name: str = "fair.csv", **fields: str
) -> tuple[int, str]:
    token = csrf_from(auth.get("/admin/contacts/import").get_data(as_text=True))
    data = {
        "csrf_token": token,
        "source": "Madrid fair 2024",
        "status": "pending",
        "sector_column": "sector",
        **fields,
        "file": (io.BytesIO(content), name),
    }
    response = auth.post("/admin/contacts/import", data=data, content_type="multipart/form-data")
    return response.status_code, response.get_data(as_text=True)


def counts(db: Transaction) -> tuple[int, int, int]:
    with db() as session:
        return tuple(
            session.scalar(sa.select(sa.func.count()).select_from(model)) or 0
            for model in (Contact, Group, ConsentEvent)
        )  # type: ignore[return-value]


def test_import_page_shows_the_form(auth: FlaskClient) -> None:
    html = auth.get("/admin/contacts/import").get_data(as_text=True)
    assert 'enctype="multipart/form-data"' in html and 'name="csrf_token"' in html
    assert 'name="source"' in html and 'value="subscribed"' in html


def test_import_reports_numbers_and_problem_rows(auth: FlaskClient, db: Transaction) -> None:
    status, html = upload(auth, GOOD.encode(), name="exports/2024/fair.csv", status="subscribed")
    assert status == 200
    report = html.split('id="report"', 1)[1]
    for number, label in [
        (6, "rows"),
        (3, "created"),
        (0, "updated"),
        (0, "unchanged"),
        (0, "skipped"),
        (2, "invalid"),
        (1, "duplicates"),  # 6 rows = 3 + 2 + 1: the repeated address is counted too
    ]:
        assert f"<strong>{number}</strong> {label}" in report, label
    assert "Imported fair.csv" in report
    assert "New sector groups: Consultants, Journalists" in report
    problems = rows_of(report, "problems")
    assert len(problems) == 3
    assert problems[0].startswith("3 email invalid")
    assert problems[1] == "4 invalid more cells than header columns"
    assert problems[2] == "7 email duplicate same address as line 2; kept line 2&#39;s values"

    with db() as session:
        found = {c.email_key: c for c in session.scalars(sa.select(Contact))}
        assert set(found) == {"ana@example.org", "bruno@example.org", "carla@example.org"}
        assert found["ana@example.org"].status is ContactStatus.SUBSCRIBED
        assert found["ana@example.org"].attributes == {"city": "Madrid"}
        assert found["ana@example.org"].source == "import:fair.csv (Madrid fair 2024)"
        events = session.scalars(sa.select(ConsentEvent)).all()
        assert {e.action for e in events} == {ConsentAction.CONFIRMED}
        assert len(events) == 3


def test_a_bad_file_imports_nothing(auth: FlaskClient, db: Transaction) -> None:
    status, html = upload(auth, b"name,city\nAna,Lyon\n")
    assert status == 422
    assert "no email column in the header" in html and "Nothing was imported." in html
    assert 'value="Madrid fair 2024"' in html  # the form keeps what was typed
    assert 'id="report"' not in html

    # Bad bytes after a full chunk: the rows already merged are rolled back too.
    # (Past the first 64 KB, which tell the encoding: UTF-8 until then.)
    rows = "".join(f"p{i}@example.org,Consultants,{'x' * 40}\n" for i in range(CHUNK + 10))
    body = b"email,sector,note\n" + rows.encode() + b"bad\xff@example.org,x,y\n"
    status, html = upload(auth, body)
    assert status == 422 and "not UTF-8 text" in html
    assert counts(db) == (0, 0, 0)


@pytest.mark.parametrize(
    "fields, message",
    [
        ({"source": "  "}, "source is required"),
        ({"status": "bounced"}, "status must be pending or subscribed"),
    ],
)
def test_form_errors_are_shown_with_422(
    auth: FlaskClient, db: Transaction, fields: dict[str, str], message: str
) -> None:
    status, html = upload(auth, GOOD.encode(), **fields)
    assert status == 422 and message in html
    assert counts(db) == (0, 0, 0)


def test_a_missing_file_is_explained(auth: FlaskClient) -> None:
    token = csrf_from(auth.get("/admin/contacts/import").get_data(as_text=True))
    response = auth.post(
        "/admin/contacts/import",
        data={"csrf_token": token, "source": "x"},
        content_type="multipart/form-data",
    )
    assert response.status_code == 422
    assert "choose a CSV file to import" in response.get_data(as_text=True)


def test_import_without_csrf_token_is_refused(auth: FlaskClient, db: Transaction) -> None:
    response = auth.post(
        "/admin/contacts/import",
        content_type="multipart/form-data",
        data={"source": "x", "file": (io.BytesIO(GOOD.encode()), "fair.csv")},
    )
    assert response.status_code == 400
    assert counts(db) == (0, 0, 0)


def test_the_api_limits_hold_for_uploads(auth: FlaskClient, db: Transaction) -> None:
    # A file of 10,000 columns is refused at its header: nothing is imported.
    header = "email," + ",".join(f"a{i}" for i in range(9999)) + "\n"
    status, html = upload(auth, (header + "wide@example.org" + ",v" * 9999 + "\n").encode())
    assert status == 422
    assert f"line 1: 10000 columns, more than the {MAX_IMPORT_COLUMNS}" in html
    assert counts(db) == (0, 0, 0)

    # Rows over a limit are reported by line; the others are imported.
    width = MAX_IMPORT_COLUMNS - 1
    content = (
        "email,"
        + ",".join(f"a{i}" for i in range(width))
        + "\n"
        + "many@example.org"
        + ",v" * (MAX_ATTRIBUTES + 1)
        + "," * (width - 101)
        + "\n"
        + "big@example.org,"
        + "n" * 200 * 1024
        + "," * (width - 1)
        + "\n"
        + "ok@example.org,fine"
        + "," * (width - 1)
        + "\n"
    )
    status, html = upload(auth, content.encode())
    assert status == 200
    assert rows_of(html, "problems") == [
        "2 invalid 101 attributes, more than the 100 a contact may have",
        f"3 a0 invalid a0 is longer than {MAX_ATTRIBUTE_VALUE} characters",
    ]
    with db() as session:
        assert session.scalars(sa.select(Contact.email)).all() == ["ok@example.org"]
