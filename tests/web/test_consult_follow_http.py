"""Consultations and follow-through over HTTP (SPEC §10, §11; issue #12 parts 2 and 3): the staff
forms, the owners' signed answers through the API, the public results with exact numbers by
heads and by area, moderated text shown only once published, a decision followed from approval
to the owners' rating, the JSON API and the printable notices."""

from __future__ import annotations

from datetime import timedelta

from fastapi.testclient import TestClient

from ledger.db import transaction
from tests.voting import loop_fixtures as lf
from tests.web import e2e_fixtures as e2e
from tests.web.conftest import csrf_of, sign_in
from voting import consultation_store as cstore
from web import owner

SLUG = e2e.SLUG
A, B, C, F = (e2e.area_of(o) for o in "ABCF")


def _owner(app, engine, sc, who):
    with transaction(engine) as s:
        token = owner._open(s, SLUG, sc.voter[who], "sms", True)
    c = TestClient(app, follow_redirects=False)
    c.cookies.set(owner.OWNER_COOKIE, token)
    return c


def _staff(app):
    c = TestClient(app, follow_redirects=False)
    assert sign_in(c, e2e.STAFF["supervisor"]).status_code == 303
    return c


def _answer(app, engine, sc, who, consult_id, answers, text=None):
    c = lf.consult_of(sc, consult_id)
    with _owner(app, engine, sc, who) as o:
        return o.post(f"/api/v1/estates/{SLUG}/consultations/{consult_id}/responses",
                      json=lf.response(sc, who, c, answers, text))


def test_a_satisfaction_consultation_published_with_exact_numbers(engine, app, tmp_path):
    sc = e2e.build(engine, tmp_path / "w", upto=e2e.CREDENTIALS)
    with _staff(app) as st:
        page = st.get(f"/estates/{SLUG}/staff/consult")
        assert page.status_code == 200
        form = {"csrf": csrf_of(page.text), "consult": "pm-2026", "title": "2026 年度物业服务满意度",
                "questions": "评分|对物业服务的总体评价\n单选|是否续聘|续聘|不续聘|无意见", "free_text": "1",
                "anonymous": "1", "opens": "2000-01-01T08:00", "closes": "2099-01-01T08:00", "follow": ""}
        bad = st.post(f"/estates/{SLUG}/staff/consult", data={**form, "questions": "多选|x"})
        assert bad.status_code == 422 and "第 1 行" in bad.text
        r = st.post(f"/estates/{SLUG}/staff/consult", data=form)
        assert r.status_code == 303, r.text
    assert _answer(app, engine, sc, "A", "pm-2026", [5, 0], "电梯维修太慢").status_code == 201
    assert _answer(app, engine, sc, "B", "pm-2026", [2, 1], "保安很负责").status_code == 201
    assert _answer(app, engine, sc, "C", "pm-2026", [5, None]).status_code == 201
    again = _answer(app, engine, sc, "A", "pm-2026", [1, 1])
    assert again.status_code == 409 and again.json()["detail"]["code"] == "already_answered"
    with TestClient(app) as anon:
        r = anon.post(f"/api/v1/estates/{SLUG}/consultations/pm-2026/responses", json={})
        assert r.status_code == 401 and r.json()["detail"]["code"] == "no_session"
        public = anon.get(f"/estates/{SLUG}/consult/pm-2026").text
        assert "电梯维修太慢" not in public and 'id="consult-results"' not in public
    with _staff(app) as st:
        page = st.get(f"/estates/{SLUG}/staff/consult/pm-2026")
        assert "电梯维修太慢" in page.text and "保安很负责" in page.text
        seqs = {t: s for s, t in ((s, r.text) for s, r in cstore.texts(engine, sc.log_id, list(
            lf.consult_of(sc, "pm-2026").texts)).items())}
        token = csrf_of(page.text)
        r = st.post(f"/estates/{SLUG}/staff/consult/pm-2026/moderate",
                    data={"csrf": token, "response": seqs["电梯维修太慢"], "decision": "publish", "reason": ""})
        assert r.status_code == 303
        r = st.post(f"/estates/{SLUG}/staff/consult/pm-2026/moderate",
                    data={"csrf": token, "response": seqs["保安很负责"], "decision": "withhold", "reason": "重复意见"})
        assert r.status_code == 303
        refused = st.post(f"/estates/{SLUG}/staff/consult/pm-2026/close", data={"csrf": token})
        assert refused.status_code == 409  # the window is open
    cstore.close(engine, SLUG, "pm-2026", now=lf.now() + timedelta(days=40000))
    with TestClient(app) as anon:
        page = anon.get(f"/estates/{SLUG}/consult/pm-2026").text
        assert "电梯维修太慢" in page and "保安很负责" not in page
        assert f'data-heads="2" data-area="{A + C}"' in page and f'data-heads="1" data-area="{B}"' in page
        data = anon.get(f"/api/v1/estates/{SLUG}/consultations/pm-2026").json()
        res = data["results"]
        assert res["participation"] == {"heads": 3, "area": A + B + C}
        assert res["questions"][0]["answers"][4] == {"answer": "5", "heads": 2, "area": A + C}
        assert res["questions"][1]["answers"][0] == {"answer": "续聘", "heads": 1, "area": A}
        assert res["questions"][1]["skipped"] == {"heads": 1, "area": C}
        assert [t["text"] for t in res["texts"]] == ["电梯维修太慢"]
        home = anon.get(f"/estates/{SLUG}").text
        assert "意见征集" in home
        assert "/openapi.json" and "/api/v1/estates/{slug}/consultations/{consult_id}/responses" in \
            anon.get("/api/v1/openapi.json").json()["paths"]


def test_staff_pages_need_the_role_and_csrf(engine, app, tmp_path):
    e2e.build(engine, tmp_path / "w", upto=e2e.CREDENTIALS)
    with TestClient(app, follow_redirects=False) as anon:
        assert anon.get(f"/estates/{SLUG}/staff/consult").status_code == 303  # to the sign-in page
        assert anon.get(f"/estates/{SLUG}/staff/follow").status_code == 303
    with _staff(app) as st:
        r = st.post(f"/estates/{SLUG}/staff/consult", data={"csrf": "wrong", "consult": "x"})
        assert r.status_code == 403


def test_a_decision_followed_from_approval_to_rating(engine, app, tmp_path):
    sc = lf.decided(engine, tmp_path / "w")
    with _staff(app) as st:
        page = st.get(f"/estates/{SLUG}/staff/follow")
        token = csrf_of(page.text)
        form = {"csrf": token, "decision": f"{sc.rid}/m1", "follow": "lift", "title": "加装电梯",
                "responsible": "业主委员会", "amount": "380000.005", "milestones": "施工|2027-03-31"}
        r = st.post(f"/estates/{SLUG}/staff/follow", data=form)
        assert r.status_code == 422  # three decimals: refused, nothing written
        r = st.post(f"/estates/{SLUG}/staff/follow", data={**form, "amount": "380000"})
        assert r.status_code == 303, r.text
        base = f"/estates/{SLUG}/staff/follow/lift"
        r = st.post(base + "/update", data={"csrf": token, "status": "done", "milestone": "m1", "text": "施工完成"},
                    files=[("documents", ("验收报告.pdf", b"%PDF acceptance", "application/pdf"))])
        assert r.status_code == 303, r.text
        r = st.post(base + "/spend", data={"csrf": token, "amount": "380000.01", "payee": "某电梯公司", "purpose": "工程款"})
        assert r.status_code == 422 and "超支" in r.text
        r = st.post(base + "/spend", data={"csrf": token, "amount": "380000.01", "payee": "某电梯公司",
                                           "purpose": "工程款", "overrun": "增加防夹装置，提请追认"})
        assert r.status_code == 303
        r = st.post(base + "/complete", data={"csrf": token, "text": "电梯已投入使用"})
        assert r.status_code == 303
        page = st.get(base)
        assert 'id="follow-rate"' in page.text
        r = st.post(f"/estates/{SLUG}/staff/consult", data={
            "csrf": token, "consult": "lift-rating", "title": "加装电梯质量评价", "questions": "评分|工程质量",
            "opens": "2000-01-01T08:00", "closes": "2099-01-01T08:00", "follow": "lift"})
        assert r.status_code == 303, r.text
    assert _answer(app, engine, sc, "A", "lift-rating", [5]).status_code == 201
    assert _answer(app, engine, sc, "F", "lift-rating", [1]).status_code == 201
    cstore.close(engine, SLUG, "lift-rating", now=lf.now() + timedelta(days=40000))
    with TestClient(app) as anon:
        page = anon.get(f"/estates/{SLUG}/decisions/{sc.rid}/m1").text
        assert 'data-fen="38000001"' in page and 'id="follow-overrun"' in page and "380000.01" in page
        assert "/consult/lift-rating" in page and "验收报告.pdf" in page
        doc = anon.get(f"/estates/{SLUG}/follow/docs/" + __import__("hashlib").sha256(b"%PDF acceptance").hexdigest())
        assert doc.status_code == 200 and doc.content == b"%PDF acceptance"
        rec = anon.get(f"/api/v1/estates/{SLUG}/follow/lift").json()
        assert rec["amount"] == 38000000 and rec["spent"] == 38000001 and rec["overrun"] is True
        res = anon.get(f"/api/v1/estates/{SLUG}/consultations/lift-rating").json()["results"]
        assert res["questions"][0]["answers"][0] == {"answer": "1", "heads": 1, "area": F}
        assert res["questions"][0]["answers"][4] == {"answer": "5", "heads": 1, "area": A}
        notices = anon.get(f"/estates/{SLUG}/notices").text
        assert "加装电梯" in notices


def test_the_staff_json_api(engine, app, tmp_path):
    """Every staff step also over the JSON API (supervisor session, application/json): a
    consultation announced, a text moderated, a record opened, updated, paid beyond its amount only
    with a reason, completed; refusals carry their codes and write nothing."""
    sc = lf.decided(engine, tmp_path / "w")
    api = f"/api/v1/estates/{SLUG}"
    with TestClient(app) as anon:
        r = anon.post(f"{api}/consultations", json={"consult": "x", "title": "t", "questions": [],
                                                     "opens": "2020-01-01T00:00:00Z", "closes": "2099-01-01T00:00:00Z"})
        assert r.status_code in (401, 403)
    with _staff(app) as st:
        r = st.post(f"{api}/consultations", json={
            "consult": "clean", "title": "保洁满意度", "free_text": True,
            "questions": [{"id": "q1", "kind": "rating", "text": "保洁"}],
            "opens": "2020-01-01T00:00:00Z", "closes": "2099-01-01T00:00:00Z"})
        assert r.status_code == 201, r.text
        r = st.post(f"{api}/consultations", json={
            "consult": "clean", "title": "again", "questions": [{"id": "q1", "kind": "rating", "text": "x"}],
            "opens": "2020-01-01T00:00:00Z", "closes": "2099-01-01T00:00:00Z"})
        assert r.status_code == 409 and r.json()["detail"]["code"] == "duplicate"
    seq = _answer(app, engine, sc, "C", "clean", [4], "楼道很干净").json()["seq"]
    with _staff(app) as st:
        r = st.post(f"{api}/consultations/clean/moderation", json={"response": seq, "decision": "withhold"})
        assert r.status_code == 422  # no reason
        r = st.post(f"{api}/consultations/clean/moderation", json={"response": seq, "decision": "publish"})
        assert r.status_code == 201
        r = st.post(f"{api}/follow", json={"follow": "fee", "round": sc.rid, "item": "c2", "title": "更换物业公司",
                                           "responsible": "业主委员会", "amount": 100000})
        assert r.status_code == 201, r.text
        r = st.post(f"{api}/follow", json={"follow": "fee2", "round": sc.rid, "item": "c2", "title": "x",
                                           "responsible": "y"})
        assert r.status_code == 422 and r.json()["detail"]["code"] == "duplicate"
        r = st.post(f"{api}/follow/fee/payments", json={"amount": 100001, "payee": "某公司", "purpose": "交接"})
        assert r.status_code == 422 and r.json()["detail"]["code"] == "overrun"
        r = st.post(f"{api}/follow/fee/payments", json={"amount": 100000, "payee": "某公司", "purpose": "交接"})
        assert r.status_code == 201 and r.json()["seq"] > seq
        r = st.post(f"{api}/follow/fee/updates", json={"status": "note", "text": "新物业公司已进场"})
        assert r.status_code == 201
        r = st.post(f"{api}/follow/fee/completion", json={"text": "交接完成"})
        assert r.status_code == 201
        rec = st.get(f"{api}/follow/fee").json()
        assert rec["status"] == "complete" and rec["spent"] == 100000 and rec["overrun"] is False
        paths = st.get("/api/v1/openapi.json").json()["paths"]
        for path in ("/api/v1/estates/{slug}/follow/{follow_id}/payments", "/api/v1/estates/{slug}/consultations",
                     "/api/v1/estates/{slug}/consultations/{consult_id}/moderation"):
            assert "post" in paths[path]
