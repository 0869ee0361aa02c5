"""Turnout over the JSON API (issue #9 part 6): public totals, staff places and the canvassing
list (CSV), refused to owners and the public; both databases."""

from __future__ import annotations

import csv
import io
import warnings

import pytest

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient

from ledger.db import transaction
from tests.voting.test_paper_entry import ROUND_ID, SLUG, build
from tests.web.conftest import add_staff, sign_in
from web import owner

BASE = f"/api/v1/estates/{SLUG}/rounds/{ROUND_ID}"
M = {"m1": [1, 0, 0], "e1": [0, 0, 0], "c1": [1, 0, 0]}


@pytest.fixture
def voted(engine):
    """A-01, B-02 voted electronically, C-03 and F-06 on paper: exactly two thirds (4 of 6, 360.00 of 540.00 m²)."""
    b = build(engine)
    for o in ("A-01", "B-02"):
        b.cast(o, M)
    for o in ("C-03", "F-06"):
        b.enter(o, "zhao")
        b.enter(o, "qian")
    return b


def _signed_in(app, engine, name, role):
    add_staff(engine, name, role, estates=(SLUG,))
    c = TestClient(app, follow_redirects=False)
    assert sign_in(c, name).status_code == 303
    return c


def test_public_turnout_gives_totals_only(voted, client):
    r = client.get(BASE + "/turnout")
    assert r.status_code == 200
    doc = r.json()
    assert doc["figures"] == {
        "heads": {"total": 6, "participating": 4, "needed": 4, "missing": 0, "reached": True, "percent": "66.66"},
        "area": {"total": "540.00", "participating": "360.00", "needed": "360.00", "missing": "0.00",
                 "reached": True, "percent": "66.66"},
        "reached": True}
    assert (doc["electronic"], doc["paper"]) == (2, 2)
    assert (doc["quorum"]["rules"], doc["quorum"]["formula"], doc["quorum"]["holds"]) == \
        ("civil-code-2021", "3·P ≥ 2·T", True)
    assert "buildings" not in doc and "钱七" not in r.text
    assert client.get(f"/api/v1/estates/{SLUG}/rounds/r9/turnout").status_code == 404


def test_staff_see_places_and_non_voters(voted, app, engine):
    for name, role in (("alice", "supervisor"), ("zhao", "scrutineer")):
        with _signed_in(app, engine, name, role) as c:
            places = c.get(BASE + "/turnout/places").json()
            b2 = next(p for p in places["buildings"] if p["building"] == "2")
            assert b2["figures"]["heads"] == {"total": 3, "participating": 1, "needed": 2, "missing": 1,
                                              "reached": False, "percent": "33.33"}
            assert b2["figures"]["area"]["missing"] == "70.00"
            assert [(p["building"], p["unit"]) for p in places["units"]] == [("1", "1"), ("1", "2"), ("2", "1")]
            flats = c.get(BASE + "/non-voters").json()["flats"]
            assert [(f["building"], f["unit"], f["room"], f["owner"], f["area"]) for f in flats] == [
                ("2", "1", "101", "赵六", "100.00"), ("2", "1", "102", "钱七", "50.00"), ("1", "2", "202", "钱七", "30.00")]
            r = c.get(BASE + "/non-voters.csv")
            assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv")
            assert "attachment" in r.headers["content-disposition"]
            rows = list(csv.reader(io.StringIO(r.content.decode("utf-8-sig"))))
            assert rows[1:] == [["2", "1", "101", "赵六", "100.00"], ["2", "1", "102", "钱七", "50.00"],
                                ["1", "2", "202", "钱七", "30.00"]]


def test_the_csv_neutralises_formula_names(engine, app):
    b = build(engine)  # nobody voted: B-02's name starts with "="
    with _signed_in(app, engine, "alice", "supervisor") as c:
        rows = list(csv.reader(io.StringIO(c.get(BASE + "/non-voters.csv").content.decode("utf-8-sig"))))
    assert rows[2] == ["1", "1", "102", "'=HYPERLINK(\"http://x\")", "120.00"]
    assert all(not cell.startswith(("=", "+", "-", "@")) for row in rows for cell in row)
    assert b.pseudonym


def test_owners_the_public_and_other_staff_are_refused(voted, app, engine, client):
    paths = ("/turnout/places", "/non-voters", "/non-voters.csv")
    for path in paths:  # the public
        assert client.get(BASE + path).status_code == 401
    with transaction(engine) as s:  # an owner with a verified session
        token = owner._open(s, SLUG, voted.pseudonym["D-04"], "sms", True)
    with TestClient(app, follow_redirects=False) as o:
        o.cookies.set(owner.OWNER_COOKIE, token)
        for path in paths:
            r = o.get(BASE + path)
            assert r.status_code == 401 and "钱七" not in r.text
    with _signed_in(app, engine, "sun", "auditor") as c:  # staff without the role
        for path in paths:
            r = c.get(BASE + path)
            assert r.status_code == 403 and "钱七" not in r.text


def test_openapi_documents_the_turnout_endpoints(client):
    doc = client.get("/api/v1/openapi.json").json()
    for path in ("/turnout", "/turnout/places", "/non-voters", "/non-voters.csv"):
        op = doc["paths"][f"/api/v1/estates/{{slug}}/rounds/{{round_id}}{path}"]["get"]
        assert "200" in op["responses"] and "404" in op["responses"]
    assert "401" in doc["paths"]["/api/v1/estates/{slug}/rounds/{round_id}/non-voters.csv"]["get"]["responses"]
