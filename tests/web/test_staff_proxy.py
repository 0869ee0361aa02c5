"""Written proxies recorded by a supervisor (web/staff_proxy.py), both databases."""

from __future__ import annotations

import hashlib

from tests.voting.test_paper_entry import ROUND_ID, SLUG, build
from tests.web.conftest import TestClient, add_staff, csrf_of, sign_in

URL = f"/estates/{SLUG}/staff/rounds/{ROUND_ID}/proxies"
SCAN = b"%PDF scanned authorisation"
FORM = {"kind": "proxy.grant", "vb": "1", "vu": "1", "vr": "101", "pb": "2", "pu": "1", "pr": "101"}


def _proxy_entries(b):
    return [e for e in b.entries() if e.type in ("proxy.grant", "proxy.revoke")]


def _client(app, engine, name, role):
    add_staff(engine, name, role, estates=(SLUG,))
    c = TestClient(app, follow_redirects=False)
    assert sign_in(c, name).status_code == 303
    return c


def test_grant_by_hash_and_by_upload_then_revoke(engine, app):
    b = build(engine)
    alice = _client(app, engine, "alice", "supervisor")
    page = alice.get(URL)
    assert page.status_code == 200 and "本轮没有有效的委托" in page.text
    digest = hashlib.sha256(SCAN).hexdigest()
    r = alice.post(URL, data={**FORM, "scan_sha256": digest, "csrf": csrf_of(page.text)})
    assert r.status_code == 303, r.text[:2000]
    page = alice.get(URL).text
    assert "书面委托已记录" in page and "1-1-101" in page.split('id="proxy-grants"')[1]
    (grant,) = _proxy_entries(b)
    assert grant.body["authorisation"] == {"kind": "written", "scan_sha256": digest}
    assert grant.body["voter"] == b.pseudonym["A-01"] and grant.body["proxy"] == b.pseudonym["D-04"]
    # the revocation, hashed by the server from the uploaded scan (no script in the browser)
    other = b"%PDF the revocation"
    r = alice.post(URL, data={**FORM, "kind": "proxy.revoke", "csrf": csrf_of(page)},
                   files={"scan": ("revoke.pdf", other, "application/pdf")})
    assert r.status_code == 303
    entries = _proxy_entries(b)
    assert entries[-1].type == "proxy.revoke"
    assert entries[-1].body["authorisation"]["scan_sha256"] == hashlib.sha256(other).hexdigest()
    assert "本轮没有有效的委托" in alice.get(URL).text


def test_refusals_write_nothing(engine, app):
    b = build(engine)
    alice = _client(app, engine, "alice", "supervisor")
    token = csrf_of(alice.get(URL).text)
    digest = hashlib.sha256(SCAN).hexdigest()
    r = alice.post(URL, data={**FORM, "csrf": token})
    assert r.status_code == 422 and "请提供委托书扫描件" in r.text
    r = alice.post(URL, data={**FORM, "scan_sha256": "0" * 64, "csrf": token},
                   files={"scan": ("a.pdf", SCAN, "application/pdf")})
    assert r.status_code == 422 and "与上传的扫描件不符" in r.text
    r = alice.post(URL, data={**FORM, "pr": "999", "scan_sha256": digest, "csrf": token})
    assert r.status_code == 422 and "名册中没有房屋 2-1-999" in r.text
    r = alice.post(URL, data={**FORM, "pb": "1", "pu": "1", "pr": "101", "scan_sha256": digest, "csrf": token})
    assert r.status_code >= 400 and 'id="proxy-refused"' in r.text  # oneself as proxy
    r = alice.post(URL, data={**FORM, "kind": "proxy.revoke", "scan_sha256": digest, "csrf": token})
    assert r.status_code >= 400 and 'id="proxy-refused"' in r.text  # nothing to revoke
    assert alice.post(URL, data={**FORM, "scan_sha256": digest}).status_code == 403  # no CSRF token
    assert _proxy_entries(b) == []


def test_only_a_supervisor(engine, app):
    b = build(engine)
    digest = hashlib.sha256(SCAN).hexdigest()
    zhao = _client(app, engine, "zhao", "scrutineer")
    assert zhao.get(URL).status_code == 403
    assert zhao.post(URL, data={**FORM, "scan_sha256": digest, "csrf": csrf_of(zhao.get("/").text)}).status_code == 403
    with TestClient(app, follow_redirects=False) as public:
        assert public.get(URL).headers["location"].startswith("/signin")
        token = csrf_of(public.get("/signin").text)
        assert public.post(URL, data={**FORM, "scan_sha256": digest, "csrf": token}).status_code == 401
    assert _proxy_entries(b) == []
