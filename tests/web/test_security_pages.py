"""Cross-cutting security of the pages (issue #10 "Security tests"), over every page route the app
has — found in ``app.routes``, so a page added later is covered without editing this file:

- the CSP (and the other security headers) on every page, for the public, an owner, staff and an
  admin, whatever the answer; no inline script, style or event handler in any page;
- staff pages (and the staff JSON reads) refuse the public, owners and staff without a role in
  the estate; staff POSTs refuse them too and write nothing;
- session fixation: the session token changes at sign-in, for staff (password, and password +
  two-step code) and for owners;
- rate limits: staff passwords, staff two-step codes, owners' one-time SMS codes (per code, per
  send, per voter);
- an owner never sees another owner's key, choices, tracking code or pseudonym on the pages.
"""

from __future__ import annotations

import re
import time

import pytest
from sqlalchemy import func, select

from identity import authority, factor
from identity import staff as staff_store
from ledger.db import reading, transaction
from ledger.log import Entry
from tests.web import results_fixtures as rf
from tests.web.conftest import PASSWORD, TestClient, add_staff, csrf_of, sign_in
from tests.web.owner_fixtures import SLUG, make_estate
from web import limits, owner, security
from web.app import create_app
from web.cli.simulate import Flat, owner_sign_in

PARAMS = {"slug": SLUG, "round_id": rf.ce.ROUND_ID, "seq": "1", "size": "1", "lang": "xx", "voter": "nobody"}
QUERIES = {"/estates/{slug}/vote": "?round=" + rf.ce.ROUND_ID, "/estates/{slug}/receipt.svg": "?r=1.abc"}
SCRIPT = re.compile(r"<script\b([^>]*)>", re.IGNORECASE)
STAFF_API = ("/turnout/places", "/non-voters", "/non-voters.csv", "/paper/pending")  # (…/turnout alone: public totals)


# --- the routes --------------------------------------------------------------------------------------


def routes(app) -> list[tuple[str, frozenset[str]]]:
    """(path template, methods) of every route of ``app``, routers included (FastAPI ≥ 0.120 wraps
    included routers; older versions list their routes directly)."""
    found = []

    def walk(items, prefix: str = "") -> None:
        for route in items:
            inner = getattr(route, "original_router", None)
            if inner is not None:
                walk(inner.routes, prefix + (getattr(route.include_context, "prefix", "") or ""))
            elif getattr(route, "methods", None):
                found.append((prefix + route.path, frozenset(route.methods)))

    walk(app.routes)
    return found


def page_routes(app, method: str = "GET") -> list[str]:
    """The page routes (not /api/, not /static) answering ``method``."""
    return sorted({p for p, m in routes(app) if method in m and not p.startswith(("/api/", "/static"))})


def fill(template: str) -> str:
    path = re.sub(r"\{(\w+)(?::\w+)?\}", lambda m: PARAMS.get(m.group(1), "1"), template)
    return path + QUERIES.get(template, "")


def is_staff_page(template: str) -> bool:
    return "/staff" in template or template.startswith("/admin") or template.endswith("/roll") \
        or template == "/roll/new"


STAFF_ANY_ACCOUNT = {"/staff/totp", "/roll/new"}  # any signed-in staff member (their own settings; a new estate)


# --- visitors ------------------------------------------------------------------------------------------


def _client(app, host: str = "10.9.0.1") -> TestClient:
    return TestClient(app, base_url="http://testserver.local", client=(host, 50000), follow_redirects=False)


def _owner_client(app, engine, voter: str, host: str = "10.9.0.2") -> TestClient:
    """A browser holding a verified owner session of ``voter`` (as after the SMS code)."""
    with transaction(engine) as session:
        token = owner._open(session, SLUG, voter, "sms", True)
    client = _client(app, host)
    client.cookies.set(owner.OWNER_COOKIE, token, domain="testserver.local")
    return client


def _staff_client(app, username: str, host: str) -> TestClient:
    client = _client(app, host)
    assert sign_in(client, username).status_code == 303
    return client


@pytest.fixture
def counted(engine, monkeypatch, tmp_path):
    """An estate with a counted open round, its receipts, and staff: root (admin), alice
    (supervisor here), carol (supervisor of another estate only)."""
    rnd, receipts = rf.make_round(engine, monkeypatch, tmp=tmp_path)
    add_staff(engine, "root", "admin")
    add_staff(engine, "alice", "supervisor", estates=(SLUG,))
    add_staff(engine, "carol", "supervisor", estates=("pine-garden",))
    return rnd, receipts


def _ledger_size(engine) -> int:
    with reading(engine) as session:
        return session.scalar(select(func.count()).select_from(Entry))


# --- the CSP on every page -------------------------------------------------------------------------


def _check_headers(path: str, answer) -> None:
    headers = answer.headers
    assert headers.get("content-security-policy") == security.CSP, path
    assert headers.get("x-content-type-options") == "nosniff", path
    assert headers.get("x-frame-options") == "DENY", path
    assert headers.get("referrer-policy") == "no-referrer", path
    if "text/html" in headers.get("content-type", ""):
        page = answer.text
        for attributes in SCRIPT.findall(page):  # scripts by URL, or JSON data blocks only
            assert "src=" in attributes or 'type="application/json"' in attributes, (path, attributes)
        assert "<style" not in page.lower(), path
        assert not re.search(r"<[^>]+\sstyle\s*=", page), path
        assert not re.search(r"<[^>]+\son[a-z]+\s*=", page), path
        assert "cache-control" in headers and "no-store" in headers["cache-control"], path


def test_every_page_route_sends_the_csp_to_everyone(engine, counted):
    app = create_app(engine)
    _rnd, _receipts = counted
    templates = page_routes(app)
    assert len(templates) >= 20 and "/" in templates and "/signin" in templates  # the walk found the pages
    voter = _rnd.voters["A-01"]
    visitors = {"public": _client(app), "owner": _owner_client(app, engine, voter),
                "supervisor": _staff_client(app, "alice", "10.9.0.3"), "admin": _staff_client(app, "root", "10.9.0.4")}
    seen = {}
    for who, client in visitors.items():
        with client:
            for template in templates:
                answer = client.get(fill(template))
                _check_headers(f"{who} GET {template}", answer)
                seen[(who, template)] = answer.status_code
            for path in ("/no/such/page", f"/estates/{SLUG}/no-such-page", "/estates/no-such-estate"):
                answer = client.get(path)
                assert answer.status_code == 404
                _check_headers(f"{who} GET {path}", answer)
            for template in page_routes(app, "POST"):  # no CSRF token: refused, with the headers
                answer = client.post(fill(template), data={"x": "1"})
                assert answer.status_code in (401, 403, 404, 405, 422), (who, template, answer.status_code)
                _check_headers(f"{who} POST {template}", answer)
    assert seen[("public", "/")] == 200 and seen[("supervisor", "/estates/{slug}")] == 200
    # the filled paths reach real pages: of the routes whose parameters this fixture knows (ids of
    # petitions, consultations, documents … it does not make are filled with "1" and answer 404)
    known = [t for t in templates if all(name in PARAMS for name in re.findall(r"\{(\w+)(?::\w+)?\}", t))]
    pages_ok = [t for t in known if seen[("admin", t)] == 200]
    assert len(known) >= 20 and len(pages_ok) >= len(known) // 2, seen


# --- staff pages refuse the public, owners and other estates' staff ---------------------------------


def _refused(answer) -> bool:
    if answer.status_code == 303:
        return answer.headers["location"].startswith("/signin")
    return answer.status_code in (401, 403, 404)


def test_staff_pages_refuse_the_public_owners_and_staff_without_a_role_here(engine, counted):
    app = create_app(engine)
    rnd, _receipts = counted
    staff_pages = [t for t in page_routes(app) if is_staff_page(t)]
    staff_reads = sorted({p for p, m in routes(app) if "GET" in m and p.startswith("/api/") and p.endswith(STAFF_API)})
    assert len(staff_pages) >= 8 and staff_reads
    public, owner_browser = _client(app), _owner_client(app, engine, rnd.voters["A-01"])
    carol, alice = _staff_client(app, "carol", "10.9.0.5"), _staff_client(app, "alice", "10.9.0.6")
    for template in staff_pages + staff_reads:
        path = fill(template)
        for who, client in (("public", public), ("owner", owner_browser)):
            answer = client.get(path)
            assert _refused(answer), (who, template, answer.status_code)
            assert SLUG not in answer.headers.get("location", "") or answer.status_code == 303
        if template not in STAFF_ANY_ACCOUNT:
            answer = carol.get(path)
            assert answer.status_code in (403, 404), ("carol", template, answer.status_code)
    reached = [t for t in staff_pages if alice.get(fill(t)).status_code == 200]
    assert len(reached) >= len(staff_pages) // 2, reached  # the estate's supervisor gets through


def test_staff_posts_refuse_the_public_and_owners_and_write_nothing(engine, counted):
    app = create_app(engine)
    rnd, _receipts = counted
    posts = [t for t in page_routes(app, "POST") if is_staff_page(t)]
    posts += sorted({p for p, m in routes(app) if "POST" in m and p.startswith("/api/v1/estates/{slug}/rounds")
                     and not p.endswith(("/ballots", "/proxies"))})
    assert posts
    before = _ledger_size(engine)
    with _client(app) as public, _owner_client(app, engine, rnd.voters["B-02"]) as owner_browser:
        for who, client in (("public", public), ("owner", owner_browser)):
            token = csrf_of(client.get("/signin").text)  # a valid anonymous CSRF token: the refusal is the role
            for template in posts:
                answer = client.post(fill(template), data={"csrf": token, "action": "assign", "username": "x",
                                                           "role": "supervisor"})
                assert answer.status_code in (401, 403, 404, 415, 422), (who, template, answer.status_code)
                assert answer.status_code != 200
    assert _ledger_size(engine) == before
    with reading(engine) as session:
        assert staff_store.assignments(session, slug=SLUG)[0].username == "alice"
        assert len(staff_store.assignments(session, slug=SLUG)) == 1


# --- session fixation ----------------------------------------------------------------------------------


def test_staff_session_token_changes_at_sign_in_with_and_without_the_code(engine, app):
    add_staff(engine)
    add_staff(engine, "mallory")
    with _client(app, "10.9.1.1") as attacker:
        assert sign_in(attacker, "mallory").status_code == 303
        planted = attacker.cookies[security.SESSION_COOKIE]
    with _client(app, "10.9.1.2") as victim:
        victim.cookies.set(security.SESSION_COOKIE, planted, domain="testserver.local")
        assert sign_in(victim, "alice").status_code == 303
        fresh = victim.cookies[security.SESSION_COOKIE]
        assert fresh != planted and "alice（工作人员）" in victim.get("/").text
    # with the two-step code: no session at the password step, a new one after the code
    with transaction(engine) as session:
        alice = staff_store.find_staff(session, "alice").id
        secret = staff_store.totp_start(session, alice)
        assert staff_store.totp_confirm(session, alice, staff_store.totp_code(secret, int(time.time()) - 60),
                                        at=int(time.time()) - 60)
    with _client(app, "10.9.1.3") as victim:
        victim.cookies.set(security.SESSION_COOKIE, "planted-by-someone-else", domain="testserver.local")
        page = sign_in(victim, "alice")
        assert page.status_code == 200 and victim.cookies[security.SESSION_COOKIE] == "planted-by-someone-else"
        ticket = re.search(r'name="ticket" value="([^"]+)"', page.text).group(1)
        answer = victim.post("/signin", data={"csrf": csrf_of(page.text), "ticket": ticket, "username": "alice",
                                              "code": staff_store.totp_code(secret)})
        assert answer.status_code == 303
        assert victim.cookies[security.SESSION_COOKIE] not in ("planted-by-someone-else", planted, fresh)


@pytest.fixture
def sms(tmp_path, monkeypatch):
    box = tmp_path / "sms"
    monkeypatch.setenv(factor.GATEWAY_ENV, f"file:{box}")
    return box


FLAT_A, PHONE_A = Flat("1", "1", "101", 8850), "13812345678"
FLAT_B, PHONE_B = Flat("2", "", "201", 10005), "13987654321"


def test_owner_session_token_changes_at_sign_in(engine, app, sms):
    estate = make_estate(engine)
    with _client(app, "10.9.2.1") as attacker:
        owner_sign_in(attacker, SLUG, FLAT_B, PHONE_B, sms)  # B's own live session …
        planted = attacker.cookies[owner.OWNER_COOKIE]
    with _client(app, "10.9.2.2") as victim:
        victim.cookies.set(owner.OWNER_COOKIE, planted, domain="testserver.local")  # … planted in A's browser
        owner_sign_in(victim, SLUG, FLAT_A, PHONE_A, sms)
        fresh = victim.cookies[owner.OWNER_COOKIE]
        assert fresh != planted
        page = victim.get(f"/estates/{SLUG}/owner").text
        assert authority.fingerprint(estate.keys["A"]) in page
        assert authority.fingerprint(estate.keys["B"]) not in page


# --- rate limits -------------------------------------------------------------------------------------


def test_staff_password_attempts_are_limited(engine, app):
    add_staff(engine)
    with _client(app, "10.9.3.1") as c:
        for _ in range(limits.MAX_FAILURES):
            with transaction(engine) as session:  # no waiting between the tries (2, 4, 8 s)
                for row in session.scalars(select(limits.SignInCounter)):
                    row.next_at = 0
            assert sign_in(c, "alice", "wrong password!").status_code == 401
        answer = sign_in(c, "alice", PASSWORD)
        assert answer.status_code == 429 and int(answer.headers["retry-after"]) > 0
        assert security.SESSION_COOKIE not in c.cookies


def test_staff_two_step_codes_are_limited(engine, app):
    add_staff(engine)
    with transaction(engine) as session:
        alice = staff_store.find_staff(session, "alice").id
        secret = staff_store.totp_start(session, alice)
        assert staff_store.totp_confirm(session, alice, staff_store.totp_code(secret, int(time.time()) - 60),
                                        at=int(time.time()) - 60)
    right = staff_store.totp_code(secret)
    wrong = f"{(int(right) + 1) % 10**6:06d}"
    with _client(app, "10.9.3.2") as c:
        page = sign_in(c, "alice").text
        ticket = re.search(r'name="ticket" value="([^"]+)"', page).group(1)
        statuses = []
        for code in [wrong] * limits.MAX_FAILURES + [right]:
            with transaction(engine) as session:
                for row in session.scalars(select(limits.SignInCounter)):
                    row.next_at = 0
            statuses.append(c.post("/signin", data={"csrf": csrf_of(page), "ticket": ticket, "username": "alice",
                                                    "code": code}).status_code)
        assert statuses == [401] * limits.MAX_FAILURES + [429]
        assert security.SESSION_COOKIE not in c.cookies


def _identify(client, flat: Flat):
    token = csrf_of(client.get(f"/estates/{SLUG}/owner").text)
    return client.post(f"/estates/{SLUG}/owner/identify", data={"csrf": token, "building": flat.building,
                                                               "unit": flat.unit, "room": flat.room})


def _submit(client, secret: str):
    token = csrf_of(client.get(f"/estates/{SLUG}/owner/verify").text)
    return client.post(f"/estates/{SLUG}/owner/verify", data={"csrf": token, "secret": secret})


def _sms_codes(box) -> list[str]:
    import json
    return [re.search(r"(\d{6})", json.loads(p.read_text("utf-8"))["text"]).group(1)
            for p in sorted(box.iterdir())] if box.exists() else []


def test_owner_one_time_codes_are_limited_per_code_per_send_and_per_voter(engine, app, sms, monkeypatch):
    make_estate(engine)
    with _client(app, "10.9.4.1") as c:
        _identify(c, FLAT_A)
        code = _sms_codes(sms)[-1]
        for i in range(factor.MAX_CODE_ATTEMPTS):
            assert _submit(c, f"{(int(code) + 1 + i) % 10**6:06d}").status_code == 401
        assert _submit(c, code).status_code == 401  # the code died: guessing stops here
        sent = len(_sms_codes(sms))
        _identify(c, FLAT_A)  # at once again: no new message (RESEND_SECONDS)
        assert len(_sms_codes(sms)) == sent
        assert owner.OWNER_COOKIE not in c.cookies or "name=\"building\"" in c.get(f"/estates/{SLUG}/owner").text
    # per voter, over codes: after MAX_VOTER_FAILURES wrong tries even a fresh right code is refused
    monkeypatch.setattr(factor, "RESEND_SECONDS", 0)
    monkeypatch.setattr(factor, "MAX_SENDS", 1000)
    monkeypatch.setattr(factor, "MAX_CLIENT_SENDS", 1000)
    failures = factor.MAX_CODE_ATTEMPTS
    with _client(app, "10.9.4.2") as c:
        while failures < factor.MAX_VOTER_FAILURES:
            _identify(c, FLAT_A)
            code = _sms_codes(sms)[-1]
            answer = _submit(c, f"{(int(code) + 1) % 10**6:06d}")
            assert answer.status_code in (401, 429)
            failures += 1
        _identify(c, FLAT_A)
        code = _sms_codes(sms)[-1]
        answer = _submit(c, code)
        assert answer.status_code in (401, 429) and "尝试次数过多" in answer.text
        assert 'name="building"' in c.get(f"/estates/{SLUG}/owner").text  # not signed in


# --- an owner sees only their own --------------------------------------------------------------------


def test_an_owner_never_sees_another_owners_key(engine, app, sms):
    estate = make_estate(engine)
    pages = (f"/estates/{SLUG}", f"/estates/{SLUG}/owner", f"/estates/{SLUG}/owner/proxies")
    for me, flat, phone, other in (("A", FLAT_A, PHONE_A, "B"), ("B", FLAT_B, PHONE_B, "A")):
        with _client(app, f"10.9.5.{ord(me)}") as c:
            owner_sign_in(c, SLUG, flat, phone, sms)
            mine = c.get(f"/estates/{SLUG}/owner").text
            assert authority.fingerprint(estate.keys[me]) in mine
            for path in pages:
                text = c.get(path).text
                for secret in (authority.fingerprint(estate.keys[other]), estate.keys[other],
                               estate.voters[other], estate.codes[other], estate.codes[me]):
                    assert secret not in text, (me, path)
                assert (PHONE_B if me == "A" else PHONE_A) not in text


def test_an_owner_never_sees_another_owners_choices_or_tracking_code(engine, counted):
    app = create_app(engine)
    rnd, receipts = counted
    assert set(receipts) >= {"A-01", "B-02"}

    def secrets_of(who: str) -> set[str]:
        receipt = receipts[who]
        return {rnd.voters[who], receipt["tracking"], receipt["short"], receipt["leaf_hash"]}

    pages = [t for t in page_routes(app) if t.startswith("/estates/{slug}") and "/audit" not in t
             and "/check" not in t and not is_staff_page(t) and "{seq}" not in t and "{size}" not in t]
    assert pages
    for me in ("A-01", "E-05"):  # a voter and one who did not vote
        others = set().union(*(secrets_of(o) for o in receipts if o != me))
        with _owner_client(app, engine, rnd.voters[me], host=f"10.9.6.{len(me)}") as c:
            for template in pages:
                text = c.get(fill(template)).text
                leaked = [s for s in others if s in text]
                assert not leaked, (me, template, leaked)
