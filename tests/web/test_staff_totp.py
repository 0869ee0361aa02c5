"""Staff two-step sign-in (TOTP, RFC 6238): enrolment with a QR code, the code at sign-in, replay
and rate limits, turning it off (by the account with a code, by an admin), the migration."""

from __future__ import annotations

import re
import time

import pyotp
from sqlalchemy import inspect, select

from identity import staff as staff_store
from ledger.db import transaction
from tests.web.conftest import PASSWORD, TestClient, add_staff, csrf_of, sign_in
from web import limits, sessions, signin
from web.security import SESSION_COOKIE

TICKET = re.compile(r'name="ticket" value="([^"]+)"')


def _client(app, host: str = "10.0.0.1") -> TestClient:
    return TestClient(app, base_url="http://testserver.local", client=(host, 50000), follow_redirects=False)


def _account(engine, username: str = "alice") -> staff_store.Staff:
    with transaction(engine) as session:
        found = staff_store.find_staff(session, username)
        session.expunge(found)
        return found


def _enrol(engine, username: str = "alice") -> str:
    """Turn TOTP on for ``username`` directly; returns the secret. The step used is in the past."""
    with transaction(engine) as session:
        staff_id = staff_store.find_staff(session, username).id
        secret = staff_store.totp_start(session, staff_id)
        assert staff_store.totp_confirm(session, staff_id, staff_store.totp_code(secret, int(time.time()) - 60),
                                        at=int(time.time()) - 60)
    return secret


def _password_step(client: TestClient, username: str = "alice"):
    return sign_in(client, username)


def _code_step(client: TestClient, page: str, code: str, username: str = "alice", next_path: str = "/"):
    return client.post("/signin", data={"csrf": csrf_of(page), "ticket": TICKET.search(page).group(1),
                                        "username": username, "code": code, "next": next_path})


def _totp_post(client: TestClient, **fields):
    token = csrf_of(client.get("/staff/totp").text)
    return client.post("/staff/totp", data={"csrf": token, **fields})


def test_enrol_shows_a_qr_code_and_turns_on_only_with_the_apps_code(engine, app):
    add_staff(engine)
    with _client(app) as c:
        assert sign_in(c).status_code == 303
        page = c.get("/staff/totp").text
        assert "设置两步验证" in page and "<svg" not in page
        assert _totp_post(c, action="start").headers["location"] == "/staff/totp"
        pending = _account(engine).totp_pending
        assert pending and _account(engine).totp_secret is None
        page = c.get("/staff/totp").text
        assert '<svg' in page and 'class="qr"' in page and pending in page
        assert "<script" not in page and not re.search(r"\sstyle\s*=", page)
        wrong = f"{(int(staff_store.totp_code(pending)) + 1) % 1000000:06d}"
        r = _totp_post(c, action="confirm", code=wrong)
        assert r.status_code == 422 and "验证码不对" in r.text
        assert _account(engine).totp_secret is None
        r = _totp_post(c, action="confirm", code=staff_store.totp_code(pending))
        assert r.status_code == 303
        account = _account(engine)
        assert account.totp_secret == pending and account.totp_pending is None and account.totp_since
        page = c.get("/staff/totp").text
        assert "两步验证已开启。" in page and pending not in page and "<svg" not in page
    with transaction(engine) as session:
        log = staff_store.access_log(session, limit=10)
    assert log[0].action == "totp.on" and log[0].username == "alice"
    assert all(pending not in str(vars(row)) for row in log)  # the secret is never logged
    assert pending not in repr(account)


def test_enrolment_can_be_cancelled_and_a_secret_pending_is_not_a_second_factor(engine, app):
    add_staff(engine)
    with _client(app) as c:
        assert sign_in(c).status_code == 303
        _totp_post(c, action="start")
        assert _account(engine).totp_pending
        assert _totp_post(c, action="cancel").status_code == 303
        assert _account(engine).totp_pending is None
        _totp_post(c, action="start")
    with _client(app, "10.0.0.2") as other:  # a pending secret does not ask for a code
        assert sign_in(other).status_code == 303


def test_sign_in_asks_for_the_code_and_opens_the_session_only_after_it(engine, app):
    add_staff(engine)
    secret = _enrol(engine)
    with _client(app) as c:
        r = _password_step(c)
        assert r.status_code == 200 and SESSION_COOKIE not in c.cookies
        assert 'autocomplete="one-time-code"' in r.text and "正在登录：alice" in r.text
        assert 'name="password"' not in r.text and PASSWORD not in r.text
        assert c.get("/staff/totp").headers["location"].startswith("/signin")  # not signed in yet
        wrong = f"{(int(staff_store.totp_code(secret)) + 1) % 1000000:06d}"
        r2 = _code_step(c, r.text, wrong)
        assert r2.status_code == 401 and "验证码不对" in r2.text and SESSION_COOKIE not in c.cookies
        r3 = _code_step(c, r2.text, staff_store.totp_code(secret), next_path="/admin/staff")
        assert r3.status_code == 303 and r3.headers["location"] == "/admin/staff"
        assert c.cookies[SESSION_COOKIE]
        assert "alice（工作人员）" in c.get("/").text
    with transaction(engine) as session:
        actions = [e.action for e in staff_store.access_log(session, limit=3)]
    assert actions[:2] == ["signin", "signin.code_failed"]


def test_full_width_digits_and_spaces_are_accepted(engine, app):
    add_staff(engine)
    secret = _enrol(engine)
    code = staff_store.totp_code(secret)
    typed = " ".join([code[:3], code[3:]]).translate({ord(d): ord("０") + int(d) for d in "0123456789"})
    with _client(app) as c:
        r = _password_step(c)
        assert _code_step(c, r.text, typed).status_code == 303


def test_a_code_is_accepted_once(engine, app):
    add_staff(engine)
    secret = _enrol(engine)
    code = staff_store.totp_code(secret)
    with _client(app) as first:
        assert _code_step(first, _password_step(first).text, code).status_code == 303
    with _client(app, "10.0.0.2") as second:  # the same code seen over a shoulder
        r = _code_step(second, _password_step(second).text, code)
        assert r.status_code == 401 and SESSION_COOKIE not in second.cookies


def test_a_forged_expired_or_borrowed_ticket_is_refused(engine, app):
    add_staff(engine)
    add_staff(engine, "mallory")
    secret = _enrol(engine)
    key = sessions.server_key(engine)
    alice = _account(engine).id
    with _client(app) as c:
        page = _password_step(c).text
        ticket = TICKET.search(page).group(1)
        assert signin.read_ticket(key, ticket, "alice") == alice
        assert signin.read_ticket(key, ticket, "mallory") is None  # bound to the name
        assert signin.read_ticket(key, ticket, "alice", at=int(time.time()) + signin.TICKET_SECONDS + 1) is None
        expired = signin.make_ticket(key, alice, "alice", at=int(time.time()) - signin.TICKET_SECONDS - 1)
        forged = ticket[:-1] + ("0" if ticket[-1] != "0" else "1")
        for bad in (expired, forged, "1.2.3", "x" * 300):
            r = c.post("/signin", data={"csrf": csrf_of(page), "ticket": bad, "username": "alice",
                                        "code": staff_store.totp_code(secret)})
            assert r.status_code == 401 and "输入密码后等待太久" in r.text and SESSION_COOKIE not in c.cookies
        r = c.post("/signin", data={"ticket": ticket, "username": "alice", "code": staff_store.totp_code(secret)})
        assert r.status_code == 403  # no CSRF token


def test_codes_are_rate_limited_like_passwords(engine, app):
    add_staff(engine)
    secret = _enrol(engine)
    right = staff_store.totp_code(secret)
    wrong = f"{(int(right) + 1) % 1000000:06d}"
    with _client(app) as c:
        page = _password_step(c).text
        statuses = []
        for _ in range(limits.MAX_FAILURES + 1):
            with transaction(engine) as session:  # skip the waits between tries (2, 4, 8 s)
                for row in session.scalars(select(limits.SignInCounter)):
                    row.next_at = 0
            r = _code_step(c, page, wrong)
            statuses.append(r.status_code)
            page = r.text if TICKET.search(r.text) else page
        assert statuses == [401] * limits.MAX_FAILURES + [429]
        r = _code_step(c, page, right)  # even the right code waits now
        assert r.status_code == 429 and "Retry-After" in r.headers and "登录失败次数过多" in r.text
        assert SESSION_COOKIE not in c.cookies
    with transaction(engine) as session:
        keys = [row.key for row in session.scalars(select(limits.SignInCounter))]
    assert "as:totp:alice|10.0.0.1" in keys and "a:totp:alice" in keys


def test_turning_it_off_needs_a_current_code(engine, app):
    add_staff(engine)
    secret = _enrol(engine)
    with _client(app) as c:
        r = _password_step(c)
        assert _code_step(c, r.text, staff_store.totp_code(secret)).status_code == 303
        r = _totp_post(c, action="off", code="000000" if staff_store.totp_code(secret) != "000000" else "111111")
        assert r.status_code == 422 and _account(engine).totp_secret == secret
        # the step used at sign-in is spent: the next one is needed
        later = int(time.time()) + staff_store.TOTP_STEP
        r = _totp_post(c, action="off", code=staff_store.totp_code(secret, later))
        assert r.status_code == 303 and _account(engine).totp_secret is None
        assert "两步验证已关闭。" in c.get("/staff/totp").text


def test_an_admin_turns_off_an_accounts_totp_others_cannot(engine, app):
    add_staff(engine, "root", "admin")
    add_staff(engine)
    add_staff(engine, "dave", "supervisor", estates=("maple-court",))
    _enrol(engine)
    with _client(app) as admin:
        assert sign_in(admin, "root").status_code == 303
        page = admin.get("/admin/staff").text
        assert "已开启两步验证" in page and 'value="totp_off"' in page
        r = admin.post("/admin/staff", data={"csrf": csrf_of(page), "action": "totp_off", "username": "alice"})
        assert r.status_code == 303 and _account(engine).totp_secret is None
        assert "已关闭 alice 的两步验证。" in admin.get("/admin/staff").text
    _enrol(engine)
    with _client(app, "10.0.0.3") as dave:
        assert sign_in(dave, "dave").status_code == 303
        r = dave.post("/admin/staff", data={"csrf": csrf_of(dave.get("/").text), "action": "totp_off",
                                            "username": "alice"})
        assert r.status_code == 403 and _account(engine).totp_secret is not None


def test_the_public_cannot_open_or_post_the_totp_page(engine, app):
    add_staff(engine)
    with _client(app) as c:
        assert c.get("/staff/totp").headers["location"] == "/signin?next=/staff/totp"
        token = csrf_of(c.get("/signin").text)
        assert c.post("/staff/totp", data={"csrf": token, "action": "start"}).status_code == 401
        assert sign_in(c).status_code == 303
        assert c.post("/staff/totp", data={"action": "start"}).status_code == 403  # no CSRF token
    assert _account(engine).totp_pending is None


def test_rfc6238_codes_and_drift():
    secret = staff_store.new_totp_secret()
    assert len(secret) == 32 and pyotp.TOTP(secret).now() == staff_store.totp_code(secret)
    at = 1_700_000_000
    step = at // 30
    assert staff_store._matching_step(secret, staff_store.totp_code(secret, at - 30), at, None) == step - 1
    assert staff_store._matching_step(secret, staff_store.totp_code(secret, at + 30), at, None) == step + 1
    assert staff_store._matching_step(secret, staff_store.totp_code(secret, at - 60), at, None) is None
    assert staff_store._matching_step(secret, staff_store.totp_code(secret, at), at, step) is None  # used
    assert staff_store._matching_step(secret, "12345", at, None) is None
    assert staff_store._matching_step(secret, "abcdef", at, None) is None
    # RFC 6238 appendix B (SHA-1, 8 digits, secret "12345678901234567890")
    rfc = pyotp.TOTP("GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ", digits=8)
    assert rfc.at(59) == "94287082" and rfc.at(1111111109) == "07081804"
    uri = staff_store.totp_uri(secret, "alice")
    assert uri.startswith("otpauth://totp/") and f"secret={secret}" in uri and "alice" in uri


def test_migration_adds_the_columns(engine):
    columns = {c["name"] for c in inspect(engine).get_columns("identity_staff")}
    assert {"totp_secret", "totp_since", "totp_last_step", "totp_pending"} <= columns
