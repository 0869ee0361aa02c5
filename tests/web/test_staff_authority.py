"""Credential authority pages (web/staff_authority.py): the key, the signed statements, counts."""

from __future__ import annotations

import json

from sqlalchemy import func, select

from identity import authority as au
from ledger.db import transaction
from ledger.models import Entry
from tests.identity.test_authority import (
    AUTH,
    AUTH_PK,
    MALLORY,
    ORIGIN,
    SLUG,
    import_roll,
    key,
    latest_roll,
)
from tests.web.conftest import TestClient, add_staff, csrf_of, sign_in

PAGE = f"/estates/{SLUG}/staff/authority"
PUB = {"v": 1, "kind": "gongjue-authority-public-key", "name": "枫林街道办事处", "contact": "服务中心 2 号窗口",
       "public_key": AUTH_PK}


def _entries(engine) -> int:
    with transaction(engine) as session:
        return session.scalar(select(func.count()).select_from(Entry))


def _client(app, engine, username, role):
    add_staff(engine, username, role, estates=(SLUG,))
    c = TestClient(app, follow_redirects=False)
    assert sign_in(c, username).status_code == 303
    return c


def _post(c, path, document, name="file.json"):
    token = csrf_of(c.get(PAGE).text)
    body = document if isinstance(document, bytes) else json.dumps(document).encode()
    return c.post(path, data={"csrf": token}, files={"file": (name, body, "application/json")})


def test_admin_records_the_key_and_the_authority_registers_the_list(engine, app):
    import_roll(engine)
    admin = _client(app, engine, "root", "admin")
    page = admin.get(PAGE)
    assert page.status_code == 200 and 'id="authority-none"' in page.text and 'id="statement-form"' not in page.text
    r = _post(admin, f"{PAGE}/key", PUB, "KEYFILE.pub")
    assert r.status_code == 303 and r.headers["location"] == PAGE
    page = admin.get(PAGE).text
    assert au.fingerprint(AUTH_PK) in page and "枫林街道办事处" in page and "已登记凭证机构公钥" in page
    version, voters = latest_roll(engine)
    signed = au.sign_statement(au.credentials_statement(ORIGIN, AUTH_PK, version,
                                                        [(v, key(i)) for i, v in enumerate(voters[:2])]), AUTH)
    office = _client(app, engine, "office", "authority")
    assert 'id="authority-key-form"' not in office.get(PAGE).text  # only an admin records the key
    r = _post(office, f"{PAGE}/statements", signed, "credentials.json")
    assert r.status_code == 303
    page = office.get(PAGE).text
    assert "已登记 2 位表决权人的公钥" in page
    assert 'id="count-voters">3<' in page and 'id="count-with-key">2<' in page and 'id="count-without-key">1<' in page
    revoke = au.sign_statement(au.revoke_statement(ORIGIN, AUTH_PK, voters[0], key(0), "lost"), AUTH)
    assert _post(office, f"{PAGE}/statements", revoke).status_code == 303
    page = office.get(PAGE).text
    assert 'id="count-with-key">1<' in page and 'id="count-revoked">1<' in page and "遗失" in page
    statements = page.split('id="statements"')[1]
    assert statements.count("<tr>") == 3 and "发放公钥" in statements and "作废公钥" in statements
    assert "年" in statements  # Beijing time, Chinese date


def test_refusals_write_nothing(engine, app):
    import_roll(engine)
    with transaction(engine) as s:
        au.record_authority(s, SLUG, "枫林街道办事处", "", AUTH_PK)
    version, voters = latest_roll(engine)
    office = _client(app, engine, "office", "authority")
    before = _entries(engine)
    forged = au.sign_statement(au.credentials_statement(ORIGIN, MALLORY.verify_key.encode().hex(), version,
                                                        [(voters[0], key(0))]), MALLORY)
    r = _post(office, f"{PAGE}/statements", forged)
    assert r.status_code == 422 and "未登记，未写入任何内容" in r.text and "不是本小区登记的凭证机构签署的" in r.text
    r = _post(office, f"{PAGE}/statements", b"{not json")
    assert r.status_code == 422 and "不是有效的 JSON" in r.text
    token = csrf_of(office.get(PAGE).text)
    r = office.post(f"{PAGE}/statements", data={"csrf": token}, files={"file": ("", b"", "application/json")})
    assert r.status_code == 422 and "请先选择文件" in r.text
    assert _post(office, f"{PAGE}/key", PUB).status_code == 403  # not an admin
    good = au.sign_statement(au.credentials_statement(ORIGIN, AUTH_PK, version, [(voters[0], key(0))]), AUTH)
    r = office.post(f"{PAGE}/statements", files={"file": ("c.json", json.dumps(good).encode(), "application/json")})
    assert r.status_code == 403 and "表单已过期" in r.text  # no CSRF token
    assert _entries(engine) == before
    admin = _client(app, engine, "root", "admin")
    r = _post(admin, f"{PAGE}/key", {"kind": "gongjue-authority-key", "seed": "00" * 32})
    assert r.status_code == 422 and "不是凭证机构的公钥文件" in r.text
    assert _entries(engine) == before


def test_wrong_role_owner_and_public_are_refused(engine, app):
    import_roll(engine)
    scrutineer = _client(app, engine, "bob", "scrutineer")
    assert scrutineer.get(PAGE).status_code == 403
    token = csrf_of(scrutineer.get("/").text)
    r = scrutineer.post(f"{PAGE}/statements", data={"csrf": token}, files={"file": ("c.json", b"{}", "application/json")})
    assert r.status_code == 403
    with TestClient(app, follow_redirects=False) as public:
        assert public.get(PAGE).headers["location"].startswith("/signin")
        token = csrf_of(public.get("/signin").text)
        r = public.post(f"{PAGE}/statements", data={"csrf": token}, files={"file": ("c.json", b"{}", "application/json")})
        assert r.status_code == 401
    supervisor = _client(app, engine, "sue", "supervisor")
    assert supervisor.get(PAGE).status_code == 200
    assert supervisor.get("/estates/nope/staff/authority").status_code in (403, 404)
