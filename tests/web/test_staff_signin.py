"""Sign-in under attack (issue #8.2, SPEC §8.3) and session fixation, each attack reproduced.

The clock of the limits is ``web.limits.now``; tests move it instead of sleeping.
"""

from __future__ import annotations

import threading
from collections import Counter

import pytest
from sqlalchemy import func, select

from identity import staff as staff_store
from ledger.db import transaction
from tests.web.conftest import PASSWORD, TestClient, add_staff, csrf_of, sign_in
from web import limits, sessions, signin
from web.security import CSRF_COOKIE, SESSION_COOKIE

WRONG = "not the password"


def _count(engine, model) -> int:
    with transaction(engine) as session:
        return session.scalar(select(func.count()).select_from(model))


def _failures(engine, key: str) -> int:
    with transaction(engine) as session:
        row = limits.counter(session, key)
        return row.failures if row else 0


@pytest.fixture
def clock(monkeypatch):
    """The limits' clock, set by the test."""

    class Clock:
        t = 1_900_000_000

        def __call__(self) -> int:
            return self.t

    fake = Clock()
    monkeypatch.setattr(limits, "now", fake)
    return fake


def _client(app, address: str) -> TestClient:
    return TestClient(app, client=(address, 1000), follow_redirects=False)


# --- anonymous forms write nothing ----------------------------------------------------------------


def test_many_sign_in_form_gets_write_no_rows(engine, app):
    add_staff(engine)
    logged = _count(engine, staff_store.AccessLog)
    with _client(app, "10.0.0.1") as c:
        first = c.get("/signin")
        cookie = first.headers["set-cookie"]
        assert cookie.startswith(f"{CSRF_COOKIE}=") and "HttpOnly" in cookie and "SameSite=Lax" in cookie
        token = csrf_of(first.text)
        for _ in range(100):
            again = c.get("/signin")
            assert "set-cookie" not in again.headers and csrf_of(again.text) == token  # one cookie, one token
    for n in range(100):  # a new visitor each time
        with _client(app, f"10.0.1.{n}") as c:
            assert c.get("/signin").status_code == 200
    assert _count(engine, sessions.WebSession) == 0
    assert _count(engine, limits.SignInCounter) == 0
    assert _count(engine, staff_store.AccessLog) == logged


def test_public_pages_set_no_csrf_cookie(engine, client):
    for path in ("/", "/api/v1/estates", "/no-such-page"):
        assert "set-cookie" not in client.get(path).headers, path


def test_anonymous_form_token_is_bound_to_its_signed_cookie(engine, app):
    add_staff(engine)
    with _client(app, "10.0.0.1") as mine, _client(app, "10.0.0.2") as other:
        token = csrf_of(mine.get("/signin").text)
        other_token = csrf_of(other.get("/signin").text)
        assert token != other_token
        data = {"username": "alice", "password": PASSWORD}
        assert mine.post("/signin", data={**data, "csrf": other_token}).status_code == 403
        nonce = mine.cookies[CSRF_COOKIE]
        mine.cookies.delete(CSRF_COOKIE)
        assert mine.post("/signin", data={**data, "csrf": token}).status_code == 403  # no cookie
        # a cookie the attacker chose, with a token computed without the server key
        mine.cookies.set(CSRF_COOKIE, "A" * 43)
        forged = sessions.sign(b"not the server key", "gongjue/v1/anon-csrf|", "A" * 43)
        assert mine.post("/signin", data={**data, "csrf": forged}).status_code == 403
        mine.cookies.set(CSRF_COOKIE, nonce)
        assert mine.post("/signin", data={**data, "csrf": token}).status_code == 303
    assert _count(engine, limits.SignInCounter) == 0  # refused before any counting


def test_csrf_cookie_over_https_is_host_prefixed_and_secure(engine, app):
    with TestClient(app, base_url="https://testserver") as c:
        cookie = c.get("/signin").headers["set-cookie"]
    assert cookie.startswith(f"__Host-{CSRF_COOKIE}=") and "Secure" in cookie and "Path=/" in cookie
    assert "Domain" not in cookie


# --- session fixation -----------------------------------------------------------------------------


def test_sign_in_never_keeps_a_token_the_browser_brought(engine, app):
    add_staff(engine)
    add_staff(engine, "mallory")
    with _client(app, "10.0.0.1") as attacker:
        assert sign_in(attacker, "mallory").status_code == 303
        planted = attacker.cookies[SESSION_COOKIE]  # a live session, planted in the victim's browser
    with _client(app, "10.0.0.2") as victim:
        victim.cookies.set(SESSION_COOKIE, planted, domain="testserver.local")
        assert sign_in(victim, "alice").status_code == 303
        fresh = victim.cookies[SESSION_COOKIE]
        assert fresh != planted
        assert "alice（工作人员）" in victim.get("/").text
    with transaction(engine) as session:
        assert sessions.session_for(session, planted) is None  # closed, not adopted
        assert sessions.session_for(session, fresh).username == "alice"
    with _client(app, "10.0.0.3") as victim:
        victim.cookies.set(SESSION_COOKIE, "chosen-by-the-attacker", domain="testserver.local")
        assert sign_in(victim, "alice").status_code == 303
        assert victim.cookies[SESSION_COOKIE] != "chosen-by-the-attacker"
    with transaction(engine) as session:
        hashes = set(session.scalars(select(sessions.WebSession.token_hash)))
    assert sessions.hash_token("chosen-by-the-attacker") not in hashes and len(hashes) == 2


def test_sign_in_and_out_are_in_the_access_log(engine, app):
    add_staff(engine, "alice", "staff")
    with _client(app, "10.0.0.7") as c:
        assert sign_in(c, "alice", WRONG).status_code == 401
        assert sign_in(c, "nobody", WRONG).status_code == 401
        assert sign_in(c).status_code == 303
        assert c.post("/signout", data={"csrf": csrf_of(c.get("/").text)}).status_code == 303
    with transaction(engine) as session:
        log = [(e.action, e.username, e.client) for e in reversed(staff_store.access_log(session))]
    assert log == [("staff.add", "alice", None), ("signin.failed", "alice", "10.0.0.7"),
                   ("signin.failed", "nobody", "10.0.0.7"), ("signin", "alice", "10.0.0.7"),
                   ("signout", "alice", "10.0.0.7")]


# --- the counters ---------------------------------------------------------------------------------


def test_counter_delays_and_caps_exactly(engine):
    t = 1_000_000
    pair = limits.keys_for("alice", "1.2.3.4", None)
    assert pair == ["a:alice", "as:alice|1.2.3.4", "s:1.2.3.4"]
    with transaction(engine) as session:
        assert limits.reserve(session, pair, at=t) is None  # 1st: no wait after it
        assert limits.reserve(session, pair, at=t) is None  # 2nd: 2 s
        assert limits.reserve(session, pair, at=t + 1) == limits.Refused("as", 1)
        assert limits.reserve(session, pair, at=t + 2) is None  # 3rd: 4 s
        assert limits.reserve(session, pair, at=t + 5) == limits.Refused("as", 1)
        assert limits.reserve(session, pair, at=t + 6) is None  # 4th: 8 s
        assert limits.reserve(session, pair, at=t + 14) is None  # 5th: the cap
        cap_ends = t + 14 + 16 + limits.FAILURE_WINDOW
        assert limits.reserve(session, pair, at=t + 40) == limits.Refused("as", cap_ends - t - 40)
        assert limits.counter(session, "a:alice").failures == 5  # refusals are not counted
        assert limits.reserve(session, pair, at=cap_ends - 1) == limits.Refused("as", 1)
        assert limits.reserve(session, pair, at=cap_ends) is None  # forgotten: counting starts over
        assert limits.counter(session, "as:alice|1.2.3.4").failures == 1


def test_account_counter_spaces_tries_progressively_but_never_locks(engine):
    rule = limits.RULES["a"]
    assert [rule.delay(f) for f in range(8, 19)] == [0, 0, 15, 30, 60, 120, 240, 480, 900, 900, 900]
    t = 1_000_000
    with transaction(engine) as session:
        for n in range(limits.ACCOUNT_FREE):
            assert limits.reserve(session, limits.keys_for("alice", f"10.0.0.{n}", None), at=t) is None
        assert limits.reserve(session, limits.keys_for("alice", "10.0.1.1", None), at=t) == limits.Refused("a", 15)
        assert limits.reserve(session, limits.keys_for("alice", "10.0.1.1", None), at=t + 15) is None
        assert limits.reserve(session, limits.keys_for("alice", "10.0.1.2", None), at=t + 44) == limits.Refused("a", 1)
        assert limits.reserve(session, limits.keys_for("alice", "10.0.1.2", None), at=t + 45) is None
        assert limits.counter(session, "a:alice").failures == 12


def test_source_counter_limits_guessing_many_names_from_one_address(engine, app, clock):
    add_staff(engine, "bob")
    with _client(app, "10.0.0.9") as c:
        for n in range(limits.SOURCE_MAX):
            assert sign_in(c, f"guess{n}", WRONG).status_code == 401
        r = sign_in(c, "bob", PASSWORD)
        assert r.status_code == 429 and "登录失败次数过多" in r.text
    with _client(app, "10.0.0.10") as c:
        assert sign_in(c, "bob", PASSWORD).status_code == 303


# --- the lockout attack, the flood, and the owner ----------------------------------------------------


def _fail_until_refused(c: TestClient, clock, username: str = "alice") -> int:
    """Wrong passwords, waiting out each delay, until the counter refuses; the number checked."""
    checked = 0
    for _ in range(50):
        r = sign_in(c, username, WRONG)
        if r.status_code == 401:
            checked += 1
            continue
        assert r.status_code == 429
        if "分钟" in r.text:
            return checked
        clock.t += int(r.headers["retry-after"])
    raise AssertionError("never refused")


def test_an_attacker_cannot_lock_the_owner_out_with_five_requests(engine, app, clock):
    """#8.2: five wrong passwords used to lock the account for everyone for 15 minutes."""
    add_staff(engine)
    with _client(app, "203.0.113.66") as attacker:
        assert _fail_until_refused(attacker, clock) == limits.MAX_FAILURES
        r = sign_in(attacker, "alice", PASSWORD)  # even the right password, from the attacker's address
        assert r.status_code == 429 and "分钟后再试" in r.text and int(r.headers["retry-after"]) > 600
    with _client(app, "198.51.100.7") as owner:  # the owner, from their office, no device cookie yet
        assert sign_in(owner, "alice", PASSWORD).status_code == 303


def test_a_flood_from_many_addresses_slows_guesses_and_the_known_device_gets_through(engine, app, clock, checks):
    add_staff(engine)
    with _client(app, "198.51.100.7") as owner:
        assert sign_in(owner).status_code == 303  # this browser now holds a device cookie
        device = owner.cookies[signin.DEVICE_COOKIE]
        assert owner.post("/signout", data={"csrf": csrf_of(owner.get("/").text)}).status_code == 303
    checks.clear()
    statuses = Counter()
    for n in range(40):  # 40 addresses, one guess each, all within one second
        with _client(app, f"10.1.0.{n}") as attacker:
            statuses[sign_in(attacker, "alice", f"guess {n}").status_code] += 1
    assert statuses == {401: limits.ACCOUNT_FREE, 429: 40 - limits.ACCOUNT_FREE}
    assert checks["checked"] == limits.ACCOUNT_FREE
    with _client(app, "198.51.100.8") as new_browser:  # the owner elsewhere must wait like anyone
        r = sign_in(new_browser, "alice", PASSWORD)
        assert r.status_code == 429 and r.headers["retry-after"] == "15"
    with _client(app, "198.51.100.7") as owner:
        owner.cookies.set(signin.DEVICE_COOKIE, device, path="/signin")
        assert sign_in(owner).status_code == 303  # the known device is not held back by the flood
    with _client(app, "10.1.1.1") as attacker:  # a device cookie of another name, or altered, is no pass
        nonce, mac, _ = device.split(".", 2)
        for forged in (f"{nonce}.{mac}.bob", f"{nonce}.{'0' * 64}.alice", f"{'B' * 43}.{mac}.alice"):
            attacker.cookies.set(signin.DEVICE_COOKIE, forged, path="/signin")
            assert sign_in(attacker, "alice", PASSWORD).status_code == 429


def test_a_device_cookie_has_its_own_limit(engine, app, clock):
    add_staff(engine)
    with _client(app, "198.51.100.7") as c:
        assert sign_in(c).status_code == 303
        assert c.post("/signout", data={"csrf": csrf_of(c.get("/").text)}).status_code == 303
        assert _fail_until_refused(c, clock) == limits.MAX_FAILURES  # a stolen laptop gets five guesses
        assert sign_in(c).status_code == 429
    with _client(app, "198.51.100.9") as other:
        assert sign_in(other).status_code == 303  # the account itself is not locked


@pytest.mark.parametrize("spread", ["one address", "many addresses"])
def test_a_concurrent_burst_checks_at_most_the_limit(engine, app, checks, spread):
    """#8.2: check and record were separate transactions; a burst of 40 got ~20 guesses, not 5."""
    add_staff(engine)
    clients = [_client(app, "10.2.0.1" if spread == "one address" else f"10.2.0.{n}").__enter__() for n in range(40)]
    try:
        tokens = [csrf_of(c.get("/signin").text) for c in clients]
        barrier = threading.Barrier(len(clients))
        statuses = Counter()
        lock = threading.Lock()

        def attempt(c: TestClient, token: str) -> None:
            barrier.wait()
            status = c.post("/signin", data={"csrf": token, "username": "alice", "password": WRONG}).status_code
            with lock:
                statuses[status] += 1

        threads = [threading.Thread(target=attempt, args=pair) for pair in zip(clients, tokens, strict=True)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    finally:
        for c in clients:
            c.__exit__(None, None, None)
    limit = limits.MAX_FAILURES if spread == "one address" else limits.ACCOUNT_FREE
    assert sum(statuses.values()) == 40 and set(statuses) <= {401, 429, 503}
    assert 1 <= checks["checked"] == statuses[401] <= limit
    assert _failures(engine, "a:alice") == checks["checked"]  # 503s were refunded


def test_argon2_runs_outside_any_transaction(engine, app, monkeypatch):
    add_staff(engine)
    held = []
    real = staff_store.password_matches

    def watching(password_hash, password):
        held.append(engine.pool.checkedout())
        return real(password_hash, password)

    monkeypatch.setattr(staff_store, "password_matches", watching)
    with _client(app, "10.0.0.1") as c:
        assert sign_in(c, "alice", WRONG).status_code == 401
        assert sign_in(c).status_code == 303
    assert held == [0, 0]


def test_a_busy_gate_answers_503_and_refunds_the_attempt(engine, app, monkeypatch):
    add_staff(engine)
    monkeypatch.setattr(signin, "GATE_WAIT", 0.01)
    monkeypatch.setattr(signin, "UNTRUSTED_REST", 0.0)
    with _client(app, "198.51.100.7") as owner:
        assert sign_in(owner).status_code == 303
        device = owner.cookies[signin.DEVICE_COOKIE]
    gate = signin._gate(app, trusted=False)
    assert gate.acquire(timeout=1)  # another sign-in is running argon2
    try:
        with _client(app, "10.3.0.1") as c:
            r = sign_in(c, "alice", PASSWORD)
            assert r.status_code == 503 and r.headers["retry-after"] == "2" and "服务器繁忙" in r.text
        assert _failures(engine, "a:alice") == 0 and _failures(engine, "s:10.3.0.1") == 0
        with _client(app, "198.51.100.7") as owner:  # the device cookie's gate is its own
            owner.cookies.set(signin.DEVICE_COOKIE, device, path="/signin")
            assert sign_in(owner).status_code == 303
    finally:
        gate.release()
    with _client(app, "10.3.0.1") as c:
        assert sign_in(c).status_code == 303


@pytest.mark.parametrize(("time_cost", "memory_cost", "parallelism"), [(1, 8, 1), (2, 64, 3), (3, 65536, 4)])
def test_the_one_thread_check_agrees_with_argon2s_own_verify(time_cost, memory_cost, parallelism):
    from argon2 import PasswordHasher
    from argon2.exceptions import VerificationError

    hasher = PasswordHasher(time_cost=time_cost, memory_cost=memory_cost, parallelism=parallelism)
    for password in ("correct horse battery staple", "密码 一二三四五六", "x" * 1024):
        encoded = hasher.hash(password)
        for attempt in (password, password + " ", password[:-1], "", password.upper()):
            try:
                expected = hasher.verify(encoded, attempt)
            except VerificationError:
                expected = False
            assert staff_store.password_matches(encoded, attempt) is expected
        assert staff_store._verify_on_one_thread(encoded, password.encode())
    assert staff_store.password_matches(None, PASSWORD) is False  # unknown account: same work, never true
    longest = "y" * staff_store.MAX_PASSWORD
    encoded = hasher.hash(longest)
    assert staff_store.password_matches(encoded, longest) is True
    assert staff_store.password_matches(encoded, longest + "y") is False  # too long: never right, not cut


def test_the_gate_rests_after_each_check():
    resting = signin.Gate(rest=3600.0)
    assert resting.acquire(timeout=1)
    assert not resting.acquire(timeout=0.01)  # one check at a time
    resting.release()
    assert not resting.acquire(timeout=0.01)  # resting: the next check would start too soon
    eager = signin.Gate(rest=0.0)
    for _ in range(3):
        assert eager.acquire(timeout=1)
        eager.release()
