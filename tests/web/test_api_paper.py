"""Paper ballots over the JSON API (SPEC §7.9): two scrutineers' entries, refusals, both databases."""

from __future__ import annotations

import warnings

import pytest

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient

from tests.voting.test_paper_entry import (
    MARKS,
    ROUND_ID,
    SCAN,
    SLUG,
    build,
    paper_entries,
    pending_rows,
)
from tests.web.conftest import add_staff, sign_in

URL = f"/api/v1/estates/{SLUG}/rounds/{ROUND_ID}/paper"


@pytest.fixture
def staff(engine, app):
    """Signed-in clients: scrutineers zhao and qian, supervisor alice, auditor sun."""
    clients = {}
    for name, role in (("zhao", "scrutineer"), ("qian", "scrutineer"), ("alice", "supervisor"), ("sun", "auditor")):
        add_staff(engine, name, role, estates=(SLUG,))
    with TestClient(app, follow_redirects=False) as z, TestClient(app, follow_redirects=False) as q, \
            TestClient(app, follow_redirects=False) as a, TestClient(app, follow_redirects=False) as s:
        for client, name in ((z, "zhao"), (q, "qian"), (a, "alice"), (s, "sun")):
            assert sign_in(client, name).status_code == 303
            clients[name] = client
        yield clients


def _post(client, body):
    return client.post(URL, json=body)


def test_two_agreeing_entries_over_http(engine, staff):
    b = build(engine)
    body = {"voter": b.pseudonym["A-01"], "marks": MARKS, "scan_sha256": SCAN}
    first = _post(staff["zhao"], body)
    assert first.status_code == 202 and first.json()["status"] == "pending"
    assert staff["alice"].get(URL + "/pending").json() == {"voters": [b.pseudonym["A-01"]],
                                                           "entries": [{"voter": b.pseudonym["A-01"], "disputed": None}]}
    # the second scrutineer names the voter by the flat on the ballot
    second = _post(staff["qian"], {"flat": {"building": "1", "unit": "1", "room": "101"},
                                   "marks": {"m1": "agree", "e1": ["K3", "K1"], "c1": "P2"}, "scan_sha256": SCAN})
    assert second.status_code == 201, second.text
    out = second.json()
    assert out["status"] == "recorded" and out["voter"] == b.pseudonym["A-01"] and out["seq"] == paper_entries(b)[0].seq
    assert len(out["short"]) == 14
    assert b.audit().counted == 1


def test_disagreement_is_shown_to_both_and_nothing_is_recorded(engine, staff):
    b = build(engine)
    voter = b.pseudonym["B-02"]
    assert _post(staff["zhao"], {"voter": voter, "marks": MARKS, "scan_sha256": SCAN}).status_code == 202
    r = _post(staff["qian"], {"voter": voter, "marks": {**MARKS, "e1": ["K1"]}, "scan_sha256": SCAN})
    assert r.status_code == 409
    assert r.json()["detail"]["code"] == "disagreement" and r.json()["detail"]["items"] == ["e1"]
    assert paper_entries(b) == []
    # the first scrutineer is told too: the waiting entry shows the differing items (never the marks)
    waiting = staff["zhao"].get(URL + "/pending").json()
    assert waiting["entries"] == [{"voter": voter, "disputed": ["e1"]}] and "K1" not in str(waiting)
    # entering again, they are refused as the same scrutineer, told the items; the first entry is dropped
    again = _post(staff["zhao"], {"voter": voter, "marks": MARKS, "scan_sha256": SCAN})
    assert again.status_code == 409 and again.json()["detail"]["code"] == "same_scrutineer"
    assert "differed from yours in e1" in again.json()["detail"]["message"]
    assert staff["zhao"].delete(f"{URL}/pending/{voter}").status_code == 204
    assert pending_rows(b) == []
    assert staff["zhao"].delete(f"{URL}/pending/{voter}").json()["detail"]["code"] == "no_pending"


def test_the_same_scrutineer_twice_is_refused(engine, staff):
    b = build(engine)
    body = {"voter": b.pseudonym["C-03"], "marks": MARKS, "scan_sha256": SCAN}
    assert _post(staff["zhao"], body).status_code == 202
    r = _post(staff["zhao"], body)
    assert r.status_code == 409 and r.json()["detail"]["code"] == "same_scrutineer"
    assert "同一位监票人" in r.json()["detail"]["message"] and paper_entries(b) == []


def test_only_scrutineers_enter_paper_ballots(engine, staff, client):
    b = build(engine)
    body = {"voter": b.pseudonym["C-03"], "marks": MARKS, "scan_sha256": SCAN}
    assert client.post(URL, json=body).status_code == 401  # nobody signed in
    for name in ("alice", "sun"):  # a supervisor and an auditor are not scrutineers
        r = _post(staff[name], body)
        assert r.status_code == 403 and "scrutineer" in r.json()["detail"]
    assert staff["sun"].get(URL + "/pending").status_code == 403
    assert pending_rows(b) == [] and paper_entries(b) == []


def test_refusals_carry_stable_codes(engine, staff):
    b = build(engine)
    cases = [({"voter": b.pseudonym["A-01"], "marks": {**MARKS, "m1": "maybe"}, "scan_sha256": SCAN}, 422, "bad_marks"),
             ({"voter": b.pseudonym["A-01"], "marks": MARKS, "scan_sha256": "abc"}, 422, "bad_scan"),
             ({"voter": "0" * 32, "marks": MARKS, "scan_sha256": SCAN}, 422, "not_eligible"),
             ({"flat": {"building": "9", "room": "1"}, "marks": MARKS, "scan_sha256": SCAN}, 422, "not_eligible")]
    for body, status, code in cases:
        r = _post(staff["zhao"], body)
        assert (r.status_code, r.json()["detail"]["code"]) == (status, code), r.text
    b.cast("D-04", {"m1": [1, 0, 0], "e1": [0, 0, 0], "c1": [1, 0, 0]})
    r = _post(staff["zhao"], {"voter": b.pseudonym["D-04"], "marks": MARKS, "scan_sha256": SCAN})
    assert (r.status_code, r.json()["detail"]["code"]) == (409, "already_voted")
    r = staff["zhao"].post(f"/api/v1/estates/{SLUG}/rounds/r9/paper",
                           json={"voter": b.pseudonym["A-01"], "marks": MARKS, "scan_sha256": SCAN})
    assert (r.status_code, r.json()["detail"]["code"]) == (404, "no_round")
    r = staff["zhao"].post(URL, content="voter=x", headers={"content-type": "application/x-www-form-urlencoded"})
    assert r.status_code == 415
    assert pending_rows(b) == [] and paper_entries(b) == []


def test_openapi_documents_the_paper_endpoints(app, client):
    doc = client.get("/api/v1/openapi.json").json()
    post = doc["paths"]["/api/v1/estates/{slug}/rounds/{round_id}/paper"]["post"]
    assert {"201", "202", "401", "403", "404", "409", "422"} <= set(post["responses"])
