"""Rounds over HTTP (web/api_rounds.py) on both databases: the supervisor's draft, announcement,
extension and candidates; refusals with stable codes; who may do what; the public view."""

from __future__ import annotations

import json
import warnings
from datetime import timedelta

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient

from tests.voting.rounds_fixtures import SLUG, T0, credential_key, make_estate, spec
from tests.web.conftest import add_staff, sign_in
from voting import candidates

BASE = f"/api/v1/estates/{SLUG}/rounds"
JSON = {"content-type": "application/json"}
FMT = "%Y-%m-%dT%H:%M:%SZ"


def post(c: TestClient, path: str, body: object = None, method: str = "post"):
    return getattr(c, method)(BASE + path, content=json.dumps(body if body is not None else {}), headers=JSON)


def code(r) -> str:
    return r.json()["detail"]["code"]


def test_lifecycle_over_http(engine, app, supervisor):
    est = make_estate(engine)
    clock = {"now": T0}
    app.state.clock = lambda: clock["now"]
    short = spec(opens=T0 + timedelta(days=14))
    r = post(supervisor, "", short)
    assert r.status_code == 201 and r.json() == {"round": "r1", "state": "draft"}
    assert code(post(supervisor, "", short)) == "round_exists"
    r = post(supervisor, "/r1/announce")
    assert r.status_code == 409 and code(r) == "notice_too_short" and " / " in r.json()["detail"]["message"]

    with TestClient(app) as anon:
        assert anon.get(BASE).json() == []  # drafts are not public
        assert anon.get(f"{BASE}/r1").status_code == 404
    assert [x["state"] for x in supervisor.get(BASE).json()] == ["draft"]

    assert post(supervisor, "/r1", spec(), method="put").status_code == 200  # the draft may change
    r = post(supervisor, "/r1/announce")
    assert r.status_code == 201, r.text
    assert r.json()["state"] == "announced"
    assert code(post(supervisor, "/r1", spec(), method="put")) == "agenda_locked"
    assert code(post(supervisor, "/r1/announce")) == "already_announced"

    with TestClient(app) as anon:
        shown = anon.get(f"{BASE}/r1")
        assert shown.status_code == 200
        out = shown.json()
        assert out["state"] == "announced" and out["notice"] == {"date": "2026-12-01", "days": 16, "short_reason": None}
        assert out["totals"] == {"heads": 6, "area": 58493} and out["voters"] == 6
        assert out["credentials"]["keys"] == 6 and out["announced_seq"] == r.json()["seq"]
        assert "O-1" not in shown.text and est.pseudonym["O-1"] not in shown.text  # no owner ids, no voter list
        assert [x["round"] for x in anon.get(BASE).json()] == ["r1"]

    closes = (T0 + timedelta(days=23)).strftime(FMT)
    assert out["closes"] == closes
    r = post(supervisor, "/r1/extend", {"closes": closes, "reason": "x"})
    assert r.status_code == 409 and code(r) == "not_later"
    earlier = (T0 + timedelta(days=20)).strftime(FMT)
    assert code(post(supervisor, "/r1/extend", {"closes": earlier, "reason": "x"})) == "not_later"
    assert code(post(supervisor, "/r1/extend", {"closes": "tomorrow", "reason": "x"})) == "bad_spec"
    later = (T0 + timedelta(days=25)).strftime(FMT)
    assert code(post(supervisor, "/r1/extend", {"closes": later, "reason": ""})) == "no_reason"
    clock["now"] = T0 + timedelta(days=17)  # open
    r = post(supervisor, "/r1/extend", {"closes": later, "reason": "春节 / holiday"})
    assert r.status_code == 201 and r.json()["state"] == "open"
    shown = supervisor.get(f"{BASE}/r1").json()
    assert shown["closes"] == later and shown["extensions"][0]["reason"] == "春节 / holiday"
    clock["now"] = T0 + timedelta(days=25)  # at the close: no reopening
    r = post(supervisor, "/r1/extend", {"closes": (T0 + timedelta(days=30)).strftime(FMT), "reason": "x"})
    assert r.status_code == 409 and code(r) == "round_closed"
    assert supervisor.get(f"{BASE}/r1").json()["state"] == "closed"


def test_bad_requests(engine, app, supervisor):
    make_estate(engine)
    r = post(supervisor, "", spec() | {"secrecy": "hidden"})
    assert r.status_code == 422 and code(r) == "bad_spec" and "secrecy" in r.json()["detail"]["message"]
    r = supervisor.post(BASE, content=json.dumps(spec()), headers={"content-type": "text/plain"})
    assert r.status_code == 415 and code(r) == "not_json"
    r = supervisor.post(BASE, data={"round": "r1"})  # a cross-site form
    assert r.status_code == 415
    assert code(post(supervisor, "/r9/announce")) == "no_such_round"
    assert code(post(supervisor, "/r9/extend", {"closes": "2027-01-01T00:00:00Z", "reason": "x"})) == "no_such_round"
    assert supervisor.get(f"{BASE}/r9").status_code == 404
    assert supervisor.get("/api/v1/estates/nope/rounds").status_code == 404


def test_who_may_do_what(engine, app):
    make_estate(engine)
    add_staff(engine, "alice", "supervisor")
    add_staff(engine, "bob", "auditor")  # a staff member without the role
    add_staff(engine, "carol", "supervisor", estates=("pine-garden",))  # another estate's supervisor
    add_staff(engine, "root", "admin")
    with TestClient(app) as anon:
        assert post(anon, "", spec()).status_code == 401
        assert post(anon, "/r1/announce").status_code == 401
        assert post(anon, "/r1/announce", {"junk": 1}).status_code == 401  # the role first, then the body
        assert anon.post(BASE, content=b"x", headers={"content-type": "text/plain"}).status_code == 401
    for name in ("bob", "carol", "root"):
        with TestClient(app, follow_redirects=False) as c:
            assert sign_in(c, name).status_code == 303
            r = post(c, "", spec())
            assert r.status_code == 403, (name, r.text)
            assert "supervisor" in r.json()["detail"]
            for path in ("/r1/announce", "/r1/extend"):
                assert post(c, path, {"closes": "2027-01-01T00:00:00Z", "reason": "x"}).status_code == 403
            assert post(c, "/r1", spec(), method="put").status_code == 403
            assert post(c, "/r1/candidates", {"item": "e1", "candidate": "A", "nominated_by": "organiser"}
                        ).status_code == 403
            assert c.get(BASE).json() == []
    with TestClient(app, follow_redirects=False) as alice:
        assert sign_in(alice, "alice").status_code == 303
        assert post(alice, "", spec()).status_code == 201
    with TestClient(app, follow_redirects=False) as bob:  # the draft stays hidden from other staff
        assert sign_in(bob, "bob").status_code == 303
        assert bob.get(f"{BASE}/r1").status_code == 404


def test_candidates_over_http(engine, app, supervisor):
    est = make_estate(engine)
    app.state.clock = lambda: T0
    items = [{"id": "e1", "kind": "election", "matter": "elect_committee", "seats": 1, "candidates": ["张三", "李四"]}]
    assert post(supervisor, "", spec(items=items, cosigners=2)).status_code == 201
    stmt = "愿为业主服务"
    sigs = [candidates.sign_nomination(credential_key(o), est.origin, "r1", "e1", "张三", stmt) for o in ("O-1", "O-2")]
    r = post(supervisor, "/r1/candidates", {"item": "e1", "candidate": "张三", "nominated_by": "owners",
                                            "statement": stmt, "signatures": sigs[:1]})
    assert r.status_code == 422 and code(r) == "not_enough_signatures"
    assert post(supervisor, "/r1/candidates", {"item": "e1", "candidate": "张三", "nominated_by": "owners",
                                               "statement": stmt, "signatures": sigs}).status_code == 201
    assert post(supervisor, "/r1/candidates", {"item": "e1", "candidate": "李四", "nominated_by": "organiser",
                                               "statement": "..."}).status_code == 201
    assert code(post(supervisor, "/r1/announce")) == "candidates_not_vetted"
    for name in ("张三", "李四"):
        assert post(supervisor, "/r1/candidates/vet", {"item": "e1", "candidate": name, "status": "approved"}
                    ).status_code == 200
    draft = supervisor.get(f"{BASE}/r1").json()
    assert [(c["candidate"], c["status"], c["signatures"]) for c in draft["candidates"]] == [
        ("张三", "approved", 2), ("李四", "approved", 0)]
    assert post(supervisor, "/r1/announce").status_code == 201
    with TestClient(app) as anon:
        out = anon.get(f"{BASE}/r1").json()
    assert out["cosigners"] == 2
    assert [(c["candidate"], c["by"], c["statement"]) for c in out["candidates"]] == [
        ("张三", "owners", stmt), ("李四", "organiser", "...")]
    r = post(supervisor, "/r1/candidates", {"item": "e1", "candidate": "王五", "nominated_by": "organiser"})
    assert r.status_code == 409 and code(r) == "agenda_locked"


def test_openapi_documents_the_round_endpoints(app):
    doc = app.openapi()
    for path, method in ((BASE.replace(SLUG, "{slug}"), "post"), (f"{BASE}/{{round_id}}/announce", "post"),
                         (f"{BASE}/{{round_id}}/extend", "post")):
        op = doc["paths"][path.replace(SLUG, "{slug}")][method]
        assert {"401", "403", "409", "415", "422"} <= set(op["responses"])
        assert "requestBody" in op and "201" in op["responses"]
    for path in (BASE, f"{BASE}/{{round_id}}"):
        op = doc["paths"][path.replace(SLUG, "{slug}")]["get"]
        assert "404" in op["responses"] and "$ref" in json.dumps(op["responses"]["200"])


def test_scrutineers_submit_their_trustee_keys(engine, app):
    est = make_estate(engine)
    app.state.clock = lambda: T0
    add_staff(engine, "alice", "supervisor")
    add_staff(engine, "sam", "scrutineer")
    add_staff(engine, "bob", "auditor")
    keys = est.trustees("r1")["keys"]
    with TestClient(app, follow_redirects=False) as alice, TestClient(app, follow_redirects=False) as sam, \
            TestClient(app, follow_redirects=False) as bob:
        for c, name in ((alice, "alice"), (sam, "sam"), (bob, "bob")):
            assert sign_in(c, name).status_code == 303
        assert post(alice, "", spec(secrecy="secret")).status_code == 201
        assert code(post(alice, "/r1/announce")) == "no_trustees"
        assert post(bob, "/r1/trustees", keys[0]).status_code == 403
        wrong = est.trustees("r2")["keys"][0]
        r = post(sam, "/r1/trustees", wrong)
        assert r.status_code == 422 and code(r) == "bad_trustees" and "maple-court/r1" in r.json()["detail"]["message"]
        r = post(sam, "/r1/trustees", keys[1])
        assert r.status_code == 201 and r.json()["trustees"] == [2]
        assert post(sam, "/r1/trustees", keys[0]).json()["trustees"] == [1, 2]
        assert post(sam, "/r1/trustees", keys[0]).json()["trustees"] == [1, 2]  # replaced, not doubled
        assert alice.get(f"{BASE}/r1").json()["trustees"] == [1, 2]
        r = post(alice, "/r1/announce")
        assert r.status_code == 201, r.text
        assert code(post(sam, "/r1/trustees", keys[0])) == "agenda_locked"
        assert len(alice.get(f"{BASE}/r1").json()["joint_key"]) == 64
        assert post(alice, "", spec("o1")).status_code == 201
        assert code(post(sam, "/o1/trustees", keys[0])) == "bad_spec"  # an open round has no trustees
