"""Paper ballot double entry pages (web/staff_paper.py), both databases."""

from __future__ import annotations

import re

import pytest

from ledger.db import transaction
from tests.voting.test_paper_entry import (
    ROUND_ID,
    SCAN,
    SLUG,
    build,
    paper_entries,
    pending_rows,
)
from tests.web.conftest import TestClient, add_staff, csrf_of, sign_in

URL = f"/estates/{SLUG}/staff/rounds/{ROUND_ID}/paper"
FORM = {"building": "1", "unit": "1", "room": "101", "m:m1": "agree", "m:e1": ["K1", "K3"], "m:c1": "P2",
        "scan_sha256": SCAN}


@pytest.fixture
def staff(engine, app):
    clients = {}
    for name, role in (("zhao", "scrutineer"), ("qian", "scrutineer"), ("alice", "supervisor"), ("sun", "auditor")):
        add_staff(engine, name, role, estates=(SLUG,))
    with TestClient(app, follow_redirects=False) as z, TestClient(app, follow_redirects=False) as q, \
            TestClient(app, follow_redirects=False) as a, TestClient(app, follow_redirects=False) as s:
        for client, name in ((z, "zhao"), (q, "qian"), (a, "alice"), (s, "sun")):
            assert sign_in(client, name).status_code == 303
            clients[name] = client
        yield clients


def _enter(client, **changes):
    token = csrf_of(client.get(URL).text)
    return client.post(URL, data={**FORM, **changes, "csrf": token})


@pytest.mark.parametrize("secrecy", ["secret", "open"])
def test_two_agreeing_entries_record_the_ballot(engine, staff, secrecy):
    b = build(engine, secrecy)
    page = staff["zhao"].get(URL)
    assert page.status_code == 200 and 'id="paper-form"' in page.text
    assert ('本轮为秘密投票' in page.text) == (secrecy == "secret")
    r = _enter(staff["zhao"])
    assert r.status_code == 303 and r.headers["location"] == URL
    page = staff["zhao"].get(URL).text
    assert "第一次录入已保存" in page and 'id="count-waiting">1<' in page and 'id="count-recorded">0<' in page
    assert "1-1-101" in page and "由您录入" in page
    assert "由另一位监票人录入" in staff["qian"].get(URL).text
    assert paper_entries(b) == []
    r = _enter(staff["qian"], **{"m:e1": ["K3", "K1"]})  # the same marks in another order
    assert r.status_code == 303
    page = staff["qian"].get(URL).text
    assert "两次录入一致：纸质选票已记录" in page and 'id="count-recorded">1<' in page and 'id="count-waiting">0<' in page
    assert len(paper_entries(b)) == 1 and pending_rows(b) == []
    assert b.audit().counted == 1


def test_same_scrutineer_twice_is_refused(engine, staff):
    b = build(engine)
    assert _enter(staff["zhao"]).status_code == 303
    r = _enter(staff["zhao"])
    assert r.status_code == 409 and "同一位监票人不能录入同一张纸质选票两次" in r.text
    assert paper_entries(b) == [] and len(pending_rows(b)) == 1


def test_disagreement_names_the_items_and_records_nothing(engine, staff):
    b = build(engine)
    assert _enter(staff["zhao"]).status_code == 303
    r = _enter(staff["qian"], **{"m:e1": ["K1"], "m:m1": "oppose"})
    assert r.status_code == 409 and "两次录入不一致，未记录" in r.text
    refused = r.text.split('id="paper-refused"')[1].split("</div>")[0]
    assert "制定和修改业主大会议事规则" not in refused and len(re.findall("<li>", refused)) == 2
    assert 'value="oppose" required checked' in r.text  # the form keeps what was entered
    assert paper_entries(b) == []
    first = staff["zhao"].get(URL).text
    assert "第二次录入不一致的事项" in first and "K1" not in first.split('id="paper-waiting"')[1].split("</ul>")[0]
    token = csrf_of(first)
    r = staff["zhao"].post(URL + "/discard", data={"csrf": token, "voter": b.pseudonym["A-01"]})
    assert r.status_code == 303 and pending_rows(b) == []
    assert "已删除待核对的录入" in staff["zhao"].get(URL).text


def test_bad_input_is_refused_with_a_clear_message(engine, staff):
    b = build(engine)
    r = _enter(staff["zhao"], room="999")
    assert r.status_code == 422 and "名册中没有房屋 1-1-999 的表决权人" in r.text
    r = _enter(staff["zhao"], scan_sha256="abc")
    assert r.status_code == 422 and "64 位十六进制" in r.text
    r = _enter(staff["zhao"], **{"m:c1": "P9"})
    assert r.status_code == 422 and "P9" in r.text
    assert pending_rows(b) == []


def test_roles_csrf_and_the_public(engine, app, staff):
    b = build(engine)
    assert staff["sun"].get(URL).status_code == 403  # an auditor
    page = staff["alice"].get(URL)  # a supervisor sees the counts, cannot enter
    assert page.status_code == 200 and 'id="paper-form"' not in page.text and "只有监票人可以录入" in page.text
    token = csrf_of(page.text)
    assert staff["alice"].post(URL, data={**FORM, "csrf": token}).status_code == 403
    assert staff["zhao"].post(URL, data=FORM).status_code == 403  # no CSRF token
    with TestClient(app, follow_redirects=False) as public:
        assert public.get(URL).headers["location"].startswith("/signin")
        token = csrf_of(public.get("/signin").text)
        assert public.post(URL, data={**FORM, "csrf": token}).status_code == 401
    assert pending_rows(b) == []
    assert staff["zhao"].get(f"/estates/{SLUG}/staff/rounds/r9/paper").status_code == 404


def _station(b, marks_selections, key=None):
    """What paper.js sends in a secret round: the station ballot and its reveal, made here."""
    import json

    import nacl.signing

    from voting import paper_entry
    from voting.crypto import ballot as ballots_
    from voting.paper_entry import paper_shapes

    with transaction(b.engine) as session:
        ann = paper_entry.load_round(session, SLUG, ROUND_ID).rec.announcement
    signed, reveal = ballots_.encrypt_ballot(fingerprint=bytes.fromhex(ann.fingerprint),
                                             joint_key=bytes.fromhex(ann.joint_key), items=paper_shapes(ann.agenda),
                                             choices=marks_selections, signing_key=key or nacl.signing.SigningKey.generate())
    return signed, json.dumps({"signed": signed, "reveal": reveal.to_json()})


AGREED = {"m1": [1, 0, 0], "e1": [1, 0, 1], "c1": [0, 1, 0]}  # FORM's marks as paper selections


def test_secret_round_station_ballot_made_in_the_browser_is_recorded(engine, staff):
    b = build(engine)
    assert _enter(staff["zhao"]).status_code == 303
    signed, station = _station(b, AGREED)
    r = _enter(staff["qian"], station=station)
    assert r.status_code == 303
    (entry,) = paper_entries(b)
    assert entry.body["ballot"] == signed  # the browser's ballot, not one the server made
    assert b.audit().counted == 1


def test_station_ballot_of_other_marks_is_refused(engine, staff):
    b = build(engine)
    assert _enter(staff["zhao"]).status_code == 303
    _, station = _station(b, {**AGREED, "m1": [0, 1, 0]})  # the entered marks say agree
    r = _enter(staff["qian"], station=station)
    assert r.status_code == 422 and "监票站的加密选票与录入的标记不符" in r.text
    r = _enter(staff["qian"], station='{"signed": {}, "reveal": {}}')
    assert r.status_code == 422 and "监票站的加密选票与录入的标记不符" in r.text
    assert paper_entries(b) == [] and len(pending_rows(b)) == 1
